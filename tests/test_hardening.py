"""Hostile and broken input (issue 13): each test names the fault it guards against.

- duplicate ids, in the CLI and in pytest;
- per-quantity tolerances that would let a perturbation pass through a bookkeeping scalar;
- diff inputs and options;
- gates that compared nothing;
- ids and report names that would become paths;
- text from case files escaped for Markdown, HTML and the terminal;
- the report set replaced as one; outputs checked before a run;
- TOML nested hundreds of levels deep; sizes and CLI numbers bounded;
- workers outliving a killed harness; `show` into a closed pipe and on a malformed case;
- the corpus of malformed case files in tests/malformed/ (one fault each, named in its first lines).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from equivalence import cli, report as report_module
from equivalence.backends import BACKENDS
from equivalence.report import md_code, md_text
from equivalence.runner import SCHEMA_VERSION
from equivalence.runner import Runner, load_all
from equivalence.spec import Case, SpecError, limits

from .casefiles import dumps, load, tiny, write

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.harness

REPO = Path(__file__).resolve().parents[1]
MALFORMED = Path(__file__).parent / "malformed"
CRASHY = "tests.fake_backends.crashy"
UNIMPORTABLE = "tests.fake_backends.unimportable"


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def unimportable_only():
    """A backend that cannot be imported as the only one: every framework check is skipped."""
    saved = dict(BACKENDS)
    BACKENDS.clear()
    BACKENDS["fake"] = UNIMPORTABLE
    try:
        yield
    finally:
        BACKENDS.clear()
        BACKENDS.update(saved)


# ------------------------------------------------------------------------------------------ duplicate ids

def test_duplicate_ids_are_errors_in_both_files_and_neither_runs(fake_only, tmp_path, capsys):
    first = write(tmp_path / "cases", tiny(id="same"), "a.toml")
    second = write(tmp_path / "cases", tiny(id="same", optimizer={"name": "sgd", "lr": 0.2}), "b.toml")
    code, out, err = run_cli(capsys, "run", "--cases", tmp_path / "cases", "--out", tmp_path / "out")
    assert code == 1, (code, out, err)
    results = json.loads((tmp_path / "out" / "latest.json").read_text(encoding="utf-8"))["results"]
    assert {r["kind"] for r in results} == {"spec"}, "neither copy may run under the shared id"
    by_file = {r["file"]: r["message"] for r in results}
    assert str(second) in by_file[str(first)] and str(first) in by_file[str(second)], by_file


def test_duplicate_ids_fail_in_pytest_naming_the_other_file(pytester, fake_only):
    pytester.makeconftest('pytest_plugins = ["equivalence.pytest_plugin"]\n')
    pytester.makepyprojecttoml('[tool.pytest.ini_options]\nmarkers = ["fake: fake backend"]\n')
    (pytester.path / "cases").mkdir()
    # The second copy expects a divergence that does not occur: before, it replaced the first silently.
    (pytester.path / "cases" / "one.toml").write_text(dumps(tiny(id="same")), encoding="utf-8")
    (pytester.path / "cases" / "two.toml").write_text(dumps(tiny(id="same", expect={"divergent": [
        {"implementations": ["fake/optimizer"], "reason": "r", "references": ["f.py:1"]}]})), encoding="utf-8")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(failed=2)
    text = result.stdout.str()
    assert "one[spec]" in text and "two[spec]" in text, text
    assert re.search(r"one\.toml: id: 'same' is also the id of \S*two\.toml", text), text
    assert re.search(r"two\.toml: id: 'same' is also the id of \S*one\.toml", text), text


# --------------------------------------------------------------------------------------------- sensitivity

def test_loose_state_tolerances_fail_the_sensitivity_check_even_with_a_strict_lr(tmp_path):
    """The issue's example: every quantity that carries the training state loosened, lr left strict. The lr
    perturbation still shows on `lr`, but no verdict on the training could fail: the check must fail."""
    from equivalence import reference
    recorded = reference.run(load(tmp_path, tiny(steps=3))).quantities()
    state = sorted(q for q in recorded if q != "lr" and not q.startswith("hyper."))
    assert {"param", "update", "grad", "loss"} <= set(state), state
    loose = {"rtol": 1.0, "atol": 1.0}
    case = load(tmp_path, tiny(steps=3, tolerance={"quantities": {q: loose for q in state}}))
    with Runner(backends={}) as runner:
        results = {r.implementation: r for r in runner.run([case]).results}
    lr = results["perturbed/lr"]
    assert lr.status == "fail" and lr.observed == "equal", (lr.status, lr.observed, lr.message)
    assert "bookkeeping" in lr.message and "lr" in lr.message, lr.message


def test_sensitivity_still_passes_when_the_state_detects_it(tmp_path):
    case = load(tmp_path, tiny(steps=3))
    with Runner(backends={}) as runner:
        results = {r.implementation: r for r in runner.run([case]).results}
    assert results["perturbed/lr"].status == "pass", results["perturbed/lr"].message


# ----------------------------------------------------------------------------------------------------- diff

def _report(path: Path, results, **top) -> Path:
    doc = {"schema_version": SCHEMA_VERSION, "environment": {"paddle": "3.3.1"}, "summary": {}, "results": results}
    doc.update(top)
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def _result(**extra) -> dict:
    r = {"case": "c", "implementation": "paddle/optimizer", "compared_with": "reference", "kind": "equivalence",
         "expected": "equal", "observed": "equal", "status": "pass", "max_abs_error": 1e-9, "message": ""}
    r.update(extra)
    return r


@pytest.mark.parametrize("fault, new_doc, problem", [
    ("empty results", dict(results=[]), "'results' is empty"),
    ("another schema version", dict(schema_version=SCHEMA_VERSION + 1), f"schema_version {SCHEMA_VERSION + 1} is not one of"),
    ("a baseline of another format", dict(format="other-baseline"), "format 'other-baseline'"),
    ("first_divergence not an object", dict(results=[_result(first_divergence=5)]), "first_divergence is not"),
    ("first_divergence without step", dict(results=[_result(first_divergence={"quantity": "param"})]),
     "first_divergence.step"),
    ("an unknown status", dict(results=[_result(status="maybe")]), "status = 'maybe'"),
    ("an error that is not a number", dict(results=[_result(max_abs_error=[1])]), "max_abs_error"),
])
def test_diff_refuses_a_malformed_input_with_exit_2(tmp_path, capsys, fault, new_doc, problem):
    old = _report(tmp_path / "old.json", [_result()])
    doc = {"results": [_result()]}
    doc.update(new_doc)
    new = _report(tmp_path / "new.json", **doc)
    code, out, err = run_cli(capsys, "diff", old, new)
    assert code == 2 and problem in err and "Traceback" not in err + out, (fault, code, out, err)
    code, out, err = run_cli(capsys, "diff", new, old)  # either side
    assert code == 2 and problem in err, (fault, code, err)


@pytest.mark.parametrize("option, value", [("--factor", "nan"), ("--factor", "inf"), ("--factor", "0.5"),
                                           ("--floor", "nan"), ("--floor", "-1")])
def test_diff_refuses_non_finite_or_meaningless_noise_settings(tmp_path, capsys, option, value):
    old = _report(tmp_path / "old.json", [_result()])
    code, out, err = run_cli(capsys, "diff", old, old, option, value)
    assert code == 2 and option in err, (option, value, code, err)


# ------------------------------------------------------------------------------------------- empty gates

def test_run_with_no_case_exits_3_unless_allowed(fake_only, tmp_path, capsys):
    (tmp_path / "cases").mkdir()
    code, out, err = run_cli(capsys, "run", "--cases", tmp_path / "cases", "--out", tmp_path / "out")
    assert code == 3 and "NOTHING COMPARED" in err and "no case" in err, (code, out, err)
    code, out, err = run_cli(capsys, "run", "--cases", tmp_path / "cases", "--out", tmp_path / "out",
                             "--allow-empty")
    assert code == 0, (code, out, err)


def test_run_where_every_framework_check_is_skipped_exits_3(unimportable_only, tmp_path, capsys):
    write(tmp_path / "cases", tiny(id="one"), "one.toml")
    code, out, err = run_cli(capsys, "run", "--cases", tmp_path / "cases", "--out", tmp_path / "out")
    assert code == 3 and "NOTHING COMPARED" in err and "framework checks compared anything" in err, (code, out, err)
    assert "0 fail" in out, out  # the reports are still written and say what ran
    code, _, err = run_cli(capsys, "run", "--cases", tmp_path / "cases", "--out", tmp_path / "out", "--allow-empty")
    assert code == 0, err


def test_pytest_run_where_nothing_was_compared_does_not_pass(pytester, unimportable_only):
    pytester.makeconftest('pytest_plugins = ["equivalence.pytest_plugin"]\n')
    pytester.makepyprojecttoml('[tool.pytest.ini_options]\nmarkers = ["fake: fake backend"]\n')
    (pytester.path / "cases").mkdir()
    (pytester.path / "cases" / "one.toml").write_text(dumps(tiny(id="one")), encoding="utf-8")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED, result.stdout.str()
    assert "NOTHING COMPARED" in result.stdout.str(), result.stdout.str()
    allowed = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--equivalence-allow-empty")
    assert allowed.ret == pytest.ExitCode.OK, allowed.stdout.str()


# ------------------------------------------------------------------------------------------- ids and paths

@pytest.mark.parametrize("bad_id", ["a/../../README", "../x", "A-case", "a_b", "a--b", "-a", "a-", "a`b", "a|b",
                                    "a\x1b[31mb", "a\nb", "a.b", "x" * 101])
def test_ids_outside_the_safe_alphabet_are_spec_errors(tmp_path, bad_id):
    with pytest.raises(SpecError) as info:
        load(tmp_path, tiny(id=bad_id))
    assert info.value.key == "id" and "lowercase" in str(info.value), str(info.value)


def test_every_shipped_case_id_is_in_the_safe_alphabet():
    for item in load_all([REPO / "cases"]):
        assert isinstance(item, Case), str(item)
        assert limits.is_safe_id(item.id), item.id


def test_sweep_report_never_writes_outside_its_folder(tmp_path):
    from equivalence import sweep_report
    case = load(tmp_path, tiny(id="fine"))
    hostile = type("Outcome", (), {"case": Case(**{**case.__dict__, "id": "a/../../README"})})()
    with pytest.raises(ValueError):
        sweep_report.write_sweep_reports(hostile, tmp_path / "reports")
    assert not (tmp_path / "README.json").exists() and not (tmp_path / "reports").exists()


@pytest.mark.parametrize("stem", ["../README", "a/b", "..", ""])
def test_run_refuses_a_stem_that_is_a_path(capsys, tmp_path, stem):
    code, _, err = run_cli(capsys, "run", "--cases", tmp_path, "--out", tmp_path / "out", "--stem", stem)
    assert code == 2 and "--stem" in err, (code, err)


# ------------------------------------------------------------------------------------------------ escaping

HOSTILE = "evil` | `<b>x</b>\n| row | \x1b[2J\x1b[31mred\u202e"


def test_markdown_helpers_make_text_inert():
    text = md_text(HOSTILE)
    assert "\n" not in text and "\x1b" not in text and "\u202e" not in text and "<b>" not in text, text
    assert re.search(r"(?<!\\)\|", text) is None, f"an unescaped pipe breaks a table row: {text!r}"
    code = md_code("a``b`c")
    assert code.startswith("``` ") and code.endswith(" ```"), code


def test_hostile_reason_and_description_reach_no_output_raw(fake_only, tmp_path, capsys):
    doc = tiny(id="hostile", description=HOSTILE, tags=["ok"], expect={"divergent": [
        {"implementations": ["fake/optimizer"], "reason": HOSTILE, "references": [HOSTILE]}]})
    write(tmp_path / "cases", doc, "hostile.toml")
    out_dir = tmp_path / "out"
    code, out, err = run_cli(capsys, "run", "--cases", tmp_path / "cases", "--out", out_dir)
    assert code == 1, (code, out, err)  # the declared divergence is stale
    # `run` writes the catalogue only for the full default run; the command writes it for any cases.
    assert run_cli(capsys, "catalogue", "--cases", tmp_path / "cases", "--out", out_dir / "catalogue.md")[0] == 0
    for name in ("latest.md", "catalogue.md", "latest.html"):
        text = (out_dir / name).read_text(encoding="utf-8")
        assert "\x1b" not in text and "\u202e" not in text, f"{name} holds a raw control character"
        outside_code = re.sub(r"(`+) .*? \1", "", text) if name == "catalogue.md" else text
        assert "<b>x</b>" not in outside_code, f"{name} holds the raw HTML of the reason"
    md = (out_dir / "latest.md").read_text(encoding="utf-8")
    table = md[md.index("## All results"):].splitlines()[2:]
    assert all(line.count("|") - line.count("\\|") == 10 for line in table if line.startswith("|")), table
    assert "\x1b" not in out + err and "\u202e" not in out + err, "the terminal got a raw escape code"
    code, out, err = run_cli(capsys, "show", "hostile", "--cases", tmp_path / "cases", "--in-process")
    assert "\x1b" not in out + err and "\\x1b" in out, out


# --------------------------------------------------------------------------------------- the report set

def test_a_failure_while_replacing_the_report_set_keeps_the_old_set(fake_only, tmp_path, capsys, monkeypatch):
    write(tmp_path / "cases", tiny(id="one"), "one.toml")
    out_dir = tmp_path / "out"
    assert run_cli(capsys, "run", "--cases", tmp_path / "cases", "--out", out_dir)[0] == 0
    before = {p.name: p.read_bytes() for p in out_dir.iterdir()}
    assert {"latest.html", "latest.json", "latest.md"} <= set(before), sorted(before)
    write(tmp_path / "cases", tiny(id="two"), "two.toml")
    real_replace, calls = os.replace, []

    def failing_replace(src, dst):
        calls.append(dst)
        if len(calls) == 3:
            raise OSError("disk full (simulated)")
        return real_replace(src, dst)

    monkeypatch.setattr(report_module.os, "replace", failing_replace)
    with pytest.raises(OSError):
        cli.main(["run", "--cases", str(tmp_path / "cases"), "--out", str(out_dir)])
    after = {p.name: p.read_bytes() for p in out_dir.iterdir()}
    assert after == before, "a failure while replacing left a mix of old and new reports"


def test_out_naming_a_file_is_refused_before_running(fake_only, tmp_path, capsys, monkeypatch):
    write(tmp_path / "cases", tiny(id="one"), "one.toml")
    (tmp_path / "taken").write_text("keep me", encoding="utf-8")
    monkeypatch.setattr(cli.Runner, "run", lambda *a: pytest.fail("ran before checking --out"))
    code, _, err = run_cli(capsys, "run", "--cases", tmp_path / "cases", "--out", tmp_path / "taken")
    assert code == 2 and "is a file" in err, (code, err)
    assert (tmp_path / "taken").read_text(encoding="utf-8") == "keep me"
    code, _, err = run_cli(capsys, "run", "--cases", tmp_path / "cases", "--out", tmp_path / "out",
                           "--readme", tmp_path / "taken")
    assert code == 2 and "results block" in err, (code, err)


# ------------------------------------------------------------------------------------------ deep nesting

DEEP = {"arrays": "source = " + "[" * 500 + "]" * 500 + "\n",
        "inline tables": "requires = " + "{a = " * 500 + "1" + "}" * 500 + "\n"}


@pytest.mark.parametrize("shape", sorted(DEEP))
def test_toml_nested_500_deep_is_a_spec_error_and_the_others_run(fake_only, tmp_path, capsys, shape):
    cases = tmp_path / "cases"
    write(cases, dumps(tiny(id="deep")) + DEEP[shape], "deep.toml")
    write(cases, tiny(id="fine"), "fine.toml")
    loaded = load_all([cases])
    assert [type(i).__name__ for i in loaded] == ["SpecError", "Case"], loaded
    assert "nested too deeply" in str(loaded[0]) and loaded[0].file.endswith("deep.toml"), str(loaded[0])
    code, out, err = run_cli(capsys, "list", "--cases", cases)
    assert code == 1 and "nested too deeply" in out and "fine" in out, (code, out, err)
    code, out, err = run_cli(capsys, "catalogue", "--cases", cases, "--out", tmp_path / "catalogue.md")
    assert code == 0 and "nested too deeply" in (tmp_path / "catalogue.md").read_text(encoding="utf-8"), err
    code, out, err = run_cli(capsys, "run", "--cases", cases, "--out", tmp_path / "out")
    results = json.loads((tmp_path / "out" / "latest.json").read_text(encoding="utf-8"))["results"]
    assert code == 1 and any(r["case"] == "fine" and r["status"] == "pass" for r in results), (code, out)


def test_toml_nested_500_deep_is_one_failed_item_in_pytest(pytester, fake_only):
    pytester.makeconftest('pytest_plugins = ["equivalence.pytest_plugin"]\n')
    pytester.makepyprojecttoml('[tool.pytest.ini_options]\nmarkers = ["fake: fake backend"]\n')
    (pytester.path / "cases").mkdir()
    (pytester.path / "cases" / "deep.toml").write_text(dumps(tiny(id="deep")) + DEEP["arrays"], encoding="utf-8")
    (pytester.path / "cases" / "fine.toml").write_text(dumps(tiny(id="fine")), encoding="utf-8")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(failed=1, passed=2)
    assert "deep[spec]" in result.stdout.str() and "nested too deeply" in result.stdout.str(), result.stdout.str()


# ---------------------------------------------------------------------------------------------------- sizes

@pytest.mark.parametrize("top, key", [
    (dict(steps=10**16), "steps"),
    (dict(steps=limits.MAX_STEPS + 1), "steps"),
    (dict(model={"sizes": [3, 2], "init_bound": 1e308}), "model.init_bound"),
    (dict(data={"seed": -1, "batch_size": 2}), "data.seed"),
    (dict(data={"seed": 2**40, "batch_size": 2}), "data.seed"),
    (dict(data={"seed": 0, "batch_size": 10**9}), "data.batch_size"),
    (dict(data={"seed": 0, "batch_size": 2, "batches": 10**6}), "data.batches"),
    (dict(model={"sizes": [100_000, 100_000, 10]}), "model.sizes"),
    (dict(model={"sizes": [1000, 10_000]}, steps=101), "steps"),  # 10^7 parameters x 101 steps
])
def test_sizes_over_the_limits_name_the_key_and_the_limit(tmp_path, top, key):
    with pytest.raises(SpecError) as info:
        load(tmp_path, tiny(**top))
    assert info.value.key == key and info.value.accepted, str(info.value)


def test_a_case_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "MAX_FILE_BYTES", 100)
    with pytest.raises(SpecError) as info:
        load(tmp_path, tiny(description="x" * 200))
    assert "over the limit" in str(info.value) and "at most 100 bytes" in str(info.value), str(info.value)


@pytest.mark.parametrize("top", [dict(model={"sizes": [1000, 10_000]}, steps=20),  # 10^7 parameters, 20 steps
                                 dict(model={"sizes": [1000, 1000]}, steps=100),  # 10^6 parameters, 100 steps
                                 dict(steps=1000)])
def test_realistic_sizes_are_within_the_limits(tmp_path, top):
    load(tmp_path, tiny(**top))


@pytest.mark.parametrize("argv", [["run", "--timeout", "-5"], ["run", "--timeout", "nan"], ["run", "--timeout", "0"],
                                  ["show", "x", "--timeout", "inf"], ["sweep", "--examples", "0"],
                                  ["sweep", "--examples", "10000000"], ["sweep", "--seed", "-1"],
                                  ["sweep", "--max-seconds", "-1"], ["sweep", "--max-seconds", "nan"]])
def test_cli_numbers_out_of_range_exit_2_naming_the_option(capsys, tmp_path, argv):
    # Empty cases and a private report folder: were the number accepted, nothing real would run or be written.
    where = ["--cases", tmp_path] + (["--out", tmp_path / "out"] if argv[0] in ("run", "sweep") else [])
    code, _, err = run_cli(capsys, *argv, *where)
    option = next(a for a in argv if a.startswith("--"))
    assert code == 2 and option in err, (argv, code, err)


# --------------------------------------------------------------------------------------------------- workers

def test_a_busy_worker_exits_when_its_harness_is_killed(tmp_path):
    pid_file = tmp_path / "worker.pid"
    script = (
        "import sys\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        "from equivalence.workers import WorkerBackend\n"
        "from tests.casefiles import tiny, load\n"
        "if __name__ == '__main__':\n"
        f"    case = load({str(tmp_path)!r}, tiny())\n"
        "    WorkerBackend('sleepy', 'tests.fake_backends.sleepy', timeout=120).run(case, 'optimizer')\n"
    )
    env = {**os.environ, "EQUIVALENCE_TEST_PID_FILE": str(pid_file), "PYTHONPATH": str(REPO)}
    harness = subprocess.Popen([sys.executable, "-c", script], env=env)
    try:
        deadline = time.monotonic() + 60
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        worker = int(pid_file.read_text())
        harness.send_signal(signal.SIGKILL)
        harness.wait(10)
        deadline = time.monotonic() + 10
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        alive = _alive(worker)
        if alive:
            os.kill(worker, signal.SIGKILL)
        assert not alive, "the worker outlived its killed harness"
    finally:
        if harness.poll() is None:
            harness.kill()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split(") ")[-1].startswith("Z"))  # a zombie has exited


# ------------------------------------------------------------------------------------------------------ show

class _ClosedPipe:
    """stdout of `... | head -1`: accepts a little, then the reader is gone."""

    def __init__(self):
        self.written = 0

    def write(self, text):
        self.written += len(text)
        if self.written > 40:
            raise BrokenPipeError(32, "Broken pipe")
        return len(text)

    def flush(self):
        pass


def test_show_into_a_closed_pipe_ends_quietly(fake_only, tmp_path, capsys, monkeypatch):
    write(tmp_path / "cases", tiny(id="one", steps=3), "one.toml")
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    code = cli.main(["show", "one", "--cases", str(tmp_path / "cases"), "--in-process"])
    assert code == cli.EXIT_BROKEN_PIPE, code
    assert "Traceback" not in capsys.readouterr().err


def test_show_on_a_malformed_case_prints_its_spec_error(fake_only, tmp_path, capsys):
    write(tmp_path / "cases", tiny(id="broken", model={"sizes": [3, 2], "bais": True}), "broken.toml")
    code, out, err = run_cli(capsys, "show", "broken", "--cases", tmp_path / "cases")
    assert code == 1 and "model.bais: unknown key" in err and "no case" not in err, (code, out, err)


# ------------------------------------------------------------------------------------------- the corpus

def _expected_key(path: Path) -> str:
    head = path.read_bytes().decode("utf-8", "replace")
    fault = re.search(r"^# fault: (.+)$", head, re.M)
    key = re.search(r"^# expected key: (.+)$", head, re.M)
    assert fault and key, f"{path.name}: the first lines name the fault and the expected key"
    return "" if key.group(1).strip() == "<file>" else key.group(1).strip()


def test_every_malformed_file_is_a_clear_error_and_good_cases_still_run(tmp_path):
    files = sorted(MALFORMED.glob("*.toml"))
    assert len(files) >= 80, len(files)
    write(tmp_path, tiny(id="good-beside-them"), "good.toml")
    items = load_all([MALFORMED, tmp_path])
    with Runner(backends={"fake": CRASHY}, in_process=True) as runner:
        results = runner.run(items).results
    spec = {Path(r.file).name: r.message for r in results if r.kind == "spec"}
    problems = []
    for path in files:
        key = _expected_key(path)
        message = spec.get(path.name)
        where = f"{path}: {key}" if key else f"{path}: <file>"
        if message is None:
            problems.append(f"{path.name}: no spec error")
        elif not (message.startswith(where + ":") or message.startswith(where + ".")):
            problems.append(f"{path.name}: expected {where!r}, got {message[:160]!r}")
    assert not problems, "\n".join(problems)
    good = [r for r in results if r.case == "good-beside-them"]
    assert good and all(r.status == "pass" for r in good), [(r.test_id, r.status, r.message) for r in good]
