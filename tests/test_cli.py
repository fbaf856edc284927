"""The command line, called in-process: exit codes 0/1/2, the reports it writes and what it prints.

No real framework starts: the ``fake_only`` fixture (tests/conftest.py) empties
``equivalence.backends.BACKENDS`` (the one dict the CLI's Runner, ``list`` and the planner read) and puts the
fake backend in it.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing

import pytest

from equivalence import cli
from equivalence.record import QUANTITY_ORDER
from equivalence.runner import Runner
from equivalence.spec import Case

from .casefiles import tiny, write

pytestmark = pytest.mark.harness


def test_fake_only_reaches_the_default_runner(fake_only):
    with Runner() as runner:  # the default Runner, as cli builds it
        assert runner.backend_modules == {"fake": fake_only}, f"Runner() would start {runner.backend_modules}"


def good_case(folder, name="good.toml", **top):
    doc = tiny(id="good", tags=["alpha", "beta"], routes=["optimizer", "loss_penalty"], steps=2)
    doc.update(top)
    return write(folder, doc, name)


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def load_json(out_dir) -> dict:
    return json.loads((out_dir / "latest.json").read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------------------------ run

def test_run_all_pass_exits_0_and_writes_the_reports_and_catalogue(fake_only, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # ./cases is the default folder: this is the full default run
    cases, out = tmp_path / "cases", tmp_path / "out"
    good_case(cases)
    code, stdout, stderr = run_cli(capsys, "run", "--out", out)
    assert code == 0, f"exit {code}\n{stdout}\n{stderr}"
    assert sorted(p.name for p in out.iterdir()) == ["catalogue.md", "latest.html", "latest.json", "latest.md"], \
        list(out.iterdir())
    assert "### good" not in (out / "catalogue.md").read_text(encoding="utf-8")  # no declared divergence
    assert "`good`" in (out / "catalogue.md").read_text(encoding="utf-8")  # but in the coverage tables
    assert 'data-case="good"' in (out / "latest.html").read_text(encoding="utf-8")
    doc = load_json(out)
    assert doc["summary"] == {"pass": 2, "fail": 0, "error": 0, "skipped": 0, "not-applicable": 1}, doc["summary"]
    assert doc["environment"]["fake"] == "0.0.1", doc["environment"]
    assert "2 pass, 0 fail, 0 error, 0 skipped, 1 not-applicable" in stdout and str(out / "latest.md") in stdout, stdout
    assert "FAIL" not in stdout and "ERROR" not in stdout, stdout
    md = (out / "latest.md").read_text(encoding="utf-8")
    assert "good" in md and "fake/loss_penalty" in md, md


def test_only_the_full_default_run_writes_the_catalogue(fake_only, tmp_path, capsys, monkeypatch):
    """The catalogue describes every case: a run of a subset (or of another folder) must not rewrite it,
    while naming every case of ./cases explicitly is still the full run."""
    monkeypatch.chdir(tmp_path)
    good_case(tmp_path / "cases" / "a")
    write(tmp_path / "cases" / "b", tiny(id="other"), "other.toml")
    runs = ((["--cases", "cases/a"], False), (["--cases", tmp_path / "cases" / "b"], False),
            (["--cases", "cases/a", "cases/b"], True), ([], True))
    for i, (argv, written) in enumerate(runs):
        out = tmp_path / f"out{i}"
        code, stdout, stderr = run_cli(capsys, "run", "--out", out, *argv)
        assert code == 0, f"exit {code}\n{stdout}\n{stderr}"
        assert (out / "catalogue.md").exists() == written, (argv, sorted(p.name for p in out.iterdir()))
        assert (out / "latest.json").exists(), argv


def test_run_with_readme_refreshes_its_block(fake_only, tmp_path, capsys):
    from equivalence.report import README_END, README_START
    cases = tmp_path / "cases"
    good_case(cases)
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_START}\nold\n{README_END}\noutro\n", encoding="utf-8")
    code, stdout, stderr = run_cli(capsys, "run", "--cases", cases, "--out", tmp_path / "out", "--readme", readme)
    text = readme.read_text(encoding="utf-8")
    assert code == 0, f"exit {code}\n{stdout}\n{stderr}"
    assert text.startswith("intro\n") and text.endswith("\noutro\n") and "old" not in text, text
    assert "`good`" in text and "2 pass, 0 fail, 0 error, 0 skipped, 1 not-applicable" in text, text


def test_run_stale_expected_divergence_exits_1(fake_only, tmp_path, capsys):
    cases, out = tmp_path / "cases", tmp_path / "out"
    good_case(cases)
    write(cases, tiny(id="stale", expect={"divergent": [
        {"implementations": ["fake/optimizer"], "reason": "said to differ", "references": ["fake.py:1"]}]}),
        "stale.toml")
    code, stdout, stderr = run_cli(capsys, "run", "--cases", cases, "--out", out)
    assert code == 1, f"exit {code}\n{stdout}\n{stderr}"
    assert "FAIL stale[fake/optimizer]: stale:" in stdout, stdout
    results = {(r["case"], r["implementation"]): r for r in load_json(out)["results"]}
    stale = results[("stale", "fake/optimizer")]
    assert stale["status"] == "fail" and "stale" in stale["message"] and "said to differ" in stale["message"], stale
    assert results[("good", "fake/optimizer")]["status"] == "pass", results[("good", "fake/optimizer")]


def test_run_malformed_case_among_good_ones_exits_1(fake_only, tmp_path, capsys):
    cases, out = tmp_path / "cases", tmp_path / "out"
    good_case(cases)
    bad = write(cases, tiny(id="broken", optimizer={"name": "sgd", "lr": 0.1, "momentun": 0.9}), "broken.toml")
    code, stdout, stderr = run_cli(capsys, "run", "--cases", cases, "--out", out)
    assert code == 1, f"exit {code}\n{stdout}\n{stderr}"
    doc = load_json(out)
    errors = [r for r in doc["results"] if r["status"] == "error"]
    assert len(errors) == 1, errors
    error = errors[0]
    assert error["file"] == str(bad) and str(bad) in error["message"], error
    assert "optimizer.momentun" in error["message"] and "momentum" in error["message"], error["message"]
    assert f"ERROR broken[spec]: {error['message']}" in stdout, stdout
    good = {r["implementation"]: r["status"] for r in doc["results"] if r["case"] == "good"}
    assert good == {"fake/optimizer": "pass", "fake/loss_penalty": "not-applicable", "perturbed/lr": "pass"}, good


def test_missing_cases_path_exits_2(fake_only, tmp_path, capsys):
    missing = tmp_path / "nowhere"
    for command in (["run", "--out", tmp_path / "out"], ["list"], ["show", "good"]):
        code, stdout, stderr = run_cli(capsys, *command, "--cases", missing)
        assert code == 2, f"{command}: exit {code}\n{stdout}\n{stderr}"
        assert f"no case file or folder at {missing}" in stderr, f"{command}: {stderr!r}"
    assert not (tmp_path / "out").exists(), "a usage error wrote reports"


@pytest.mark.parametrize("argv", [["frobnicate"], [], ["run", "--no-such-option"], ["show"]])
def test_usage_errors_exit_2(capsys, argv):
    code, stdout, stderr = run_cli(capsys, *argv)
    assert code == 2, f"{argv}: exit {code}\n{stdout}\n{stderr}"
    assert "usage:" in stderr, f"{argv}: {stderr!r}"


def test_help_exits_0(capsys):
    code, stdout, _ = run_cli(capsys, "--help")
    assert code == 0 and all(c in stdout for c in ("run", "list", "show", "schema")), (code, stdout)


# ------------------------------------------------------------------------------------------------ list

def test_list_prints_ids_tags_and_check_counts(fake_only, tmp_path, capsys):
    cases = tmp_path / "cases"
    good_case(cases)
    write(cases, tiny(id="other", tags=["gamma"]), "other.toml")
    code, stdout, stderr = run_cli(capsys, "list", "--cases", cases)
    assert code == 0, f"exit {code}\n{stdout}\n{stderr}"
    rows = {line.split()[0]: line for line in stdout.splitlines()[2:] if line.strip()}
    assert set(rows) == {"good", "other"}, stdout
    # good: fake/optimizer, fake/loss_penalty, perturbed/lr; other: fake/optimizer, perturbed/lr
    assert rows["good"].split()[1:4] == ["alpha,", "beta", "3"], rows["good"]
    assert rows["other"].split()[1:3] == ["gamma", "2"], rows["other"]


def test_list_reports_a_malformed_file_and_exits_1(fake_only, tmp_path, capsys):
    cases = tmp_path / "cases"
    good_case(cases)
    write(cases, "id = \"half\"\nsteps = [", "half.toml")
    code, stdout, stderr = run_cli(capsys, "list", "--cases", cases)
    assert code == 1, f"exit {code}\n{stdout}\n{stderr}"
    assert "ERROR" in stdout and "half" in stdout and "good" in stdout, stdout


# ------------------------------------------------------------------------------------------------ show

def _show_table(stdout: str, test_id: str) -> list[list[str]]:
    """The per-step rows printed under '## <test_id>:'."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"## {test_id}:"))
    rows = []
    for line in lines[start + 1:]:
        if line.startswith("## "):
            break
        cells = line.split()
        if cells and cells[0].isdigit():
            rows.append(cells)
    return rows


def test_show_prints_every_quantity_at_every_step(fake_only, tmp_path, capsys):
    cases = tmp_path / "cases"
    good_case(cases)
    code, stdout, stderr = run_cli(capsys, "show", "good", "--cases", cases, "--all")
    assert code == 0, f"exit {code}\n{stdout}\n{stderr}"
    assert stdout.startswith("good: a tiny non-square two-layer model"), stdout[:200]
    for test_id in ("good[fake/optimizer]", "good[fake/loss_penalty]", "good[perturbed/lr]"):
        assert f"## {test_id}:" in stdout, f"{test_id} missing:\n{stdout}"
    assert "fake has no loss penalty" in stdout, stdout

    rows = _show_table(stdout, "good[fake/optimizer]")
    seen = {(int(r[0]), r[1], r[2]) for r in rows}
    params = ["linear0.weight", "linear0.bias", "linear1.weight", "linear1.bias"]
    want = {(0, "param", p) for p in params}
    for step in (1, 2):
        want |= {(step, "loss", "-"), (step, "lr", "-")}
        want |= {(step, q, p) for q in ("grad", "grad_regularized", "update", "param") for p in params}
    assert want <= seen, f"rows missing: {sorted(want - seen)}"
    assert all(r[4] == "0" for r in rows), [r for r in rows if r[4] != "0"]  # mismatches: fake is the reference

    perturbed = _show_table(stdout, "good[perturbed/lr]")
    assert any(int(r[4]) > 0 for r in perturbed), f"perturbed/lr shows no mismatching row: {perturbed}"


def test_show_is_short_by_default_and_filters_by_step_quantity_and_status(fake_only, tmp_path, capsys):
    cases = tmp_path / "cases"
    write(cases, tiny(id="stale", steps=3, expect={"divergent": [
        {"implementations": ["fake/optimizer"], "reason": "said to differ", "references": ["fake.py:1"]}]}),
        "stale.toml")
    _, full, _ = run_cli(capsys, "show", "stale", "--cases", cases, "--all")
    code, short, _ = run_cli(capsys, "show", "stale", "--cases", cases)
    assert code == 1 and len(short.splitlines()) * 4 < len(full.splitlines()), (len(short.splitlines()),
                                                                                 len(full.splitlines()))
    # The failing check (stale) is detailed; the sensitivity check diverges by design and is only in the table.
    assert "## stale[fake/optimizer]: fail" in short and "## stale[perturbed/lr]" not in short, short
    assert "perturbed/lr" in short.split("## ")[0], "every check stays in the table"
    assert "every one of the" in short and "--step N, --quantity NAME" in short, short

    code, only, _ = run_cli(capsys, "show", "stale", "--cases", cases, "--step", "2", "--quantity", "grad")
    rows = _show_table(only, "stale[perturbed/lr]")
    assert rows and {(r[0], r[1]) for r in rows} == {("2", "grad")}, rows  # grad, not grad_regularized
    code, state, _ = run_cli(capsys, "show", "stale", "--cases", cases, "--quantity", "update", "param", "--step", "0")
    assert {(r[0], r[1]) for r in _show_table(state, "stale[perturbed/lr]")} == {("0", "param")}

    code, failing, _ = run_cli(capsys, "show", "stale", "--cases", cases, "--failing")
    assert code == 1 and [line for line in failing.splitlines() if line.startswith("## ")] == \
        ["## stale[fake/optimizer]: fail (equal, expected divergent)"], failing
    good_case(cases)
    code, none, _ = run_cli(capsys, "show", "good", "--cases", cases, "--failing")
    assert code == 0 and "No check fails or errs." in none and "## " not in none, none


def test_show_unknown_case_exits_2_with_known_ids(fake_only, tmp_path, capsys):
    cases = tmp_path / "cases"
    good_case(cases)
    write(cases, tiny(id="another"), "another.toml")
    code, stdout, stderr = run_cli(capsys, "show", "unknown-id", "--cases", cases)
    assert code == 2, f"exit {code}\n{stdout}\n{stderr}"
    assert "no case 'unknown-id'; known: another, good" in stderr, stderr


def test_show_failing_case_exits_1(fake_only, tmp_path, capsys):
    cases = tmp_path / "cases"
    write(cases, tiny(id="stale", expect={"divergent": [
        {"implementations": ["fake/optimizer"], "reason": "said to differ", "references": ["fake.py:1"]}]}),
        "stale.toml")
    code, stdout, stderr = run_cli(capsys, "show", "stale", "--cases", cases)
    assert code == 1 and "## stale[fake/optimizer]: fail" in stdout and "stale:" in stdout, (code, stdout, stderr)


# ------------------------------------------------------------------------------------------------ schema

def _nested(tp) -> tuple[type, str] | None:
    """The dataclass a field holds and the key suffix leading into it: '.' for a table, '[].' for an array
    of tables, '.<name>.' for a table of tables; None for a plain value."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):  # Optional[X]
        return next(filter(None, (_nested(a) for a in args if a is not type(None))), None)
    if origin is tuple:
        return (args[0], "[].") if dataclasses.is_dataclass(args[0]) else None
    if origin is dict:
        return (args[1], ".<name>.") if dataclasses.is_dataclass(args[1]) else None
    return (tp, ".") if dataclasses.is_dataclass(tp) else None


def _all_keys(cls, prefix="") -> list[str]:
    """Every documented key of a case, walked independently of cli._schema_lines."""
    keys = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal"):
            continue
        if f.metadata.get("rest"):  # optimizer hyper-parameters: flat keys from the registry
            keys += [prefix + name for name in f.metadata["rest"]()]
            continue
        keys.append(prefix + f.name)
        nested = _nested(hints[f.name])
        if nested is not None and nested[0] is not cls:  # a table nested in itself ([schedule.then]) once
            keys += _all_keys(nested[0], prefix + f.name + nested[1])
    return keys


def test_schema_lists_every_key(capsys):
    code, stdout, stderr = run_cli(capsys, "schema")
    assert code == 0, f"exit {code}\n{stderr}"
    keys_part, _, quantities_part = stdout.partition("Recorded quantities")
    printed = {line.split("`")[1] for line in keys_part.splitlines() if line.lstrip().startswith("- `")}
    quantities = [line.split("`")[1] for line in quantities_part.splitlines() if line.startswith("- `")]
    assert quantities == list(QUANTITY_ORDER), f"schema's quantity list {quantities} vs {QUANTITY_ORDER}"
    for key in ("id", "description", "tags", "steps", "dtype", "routes", "model.sizes", "model.bias",
                "data.seed", "data.batch_size", "optimizer.name", "optimizer.lr", "optimizer.momentum",
                "regularization.l1", "regularization.l2", "dropout.p", "tolerance.rtol",
                "expect.divergent", "expect.divergent[].implementations", "expect.divergent[].reason",
                "expect.divergent[].references", "expect.divergent[].compared_with",
                "tolerance.quantities.<name>.rtol", "regularization.overrides.<name>.l2"):
        assert key in printed, f"schema lacks {key!r}; printed: {sorted(printed)}"
    walked = _all_keys(Case)
    assert len(walked) > 30, walked
    assert set(walked) == printed, \
        f"schema lacks {sorted(set(walked) - printed)}; prints unknown keys {sorted(printed - set(walked))}"
    assert "path" not in printed, "an internal field is offered as a key"
    assert "Accepted: sgd" in stdout or "Accepted: momentum" in stdout, stdout  # optimizer.name's accepted names
