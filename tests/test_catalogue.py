"""The catalogue (reports/catalogue.md): every declared divergence with reason, source lines and parity
mapping, classified; technique coverage from tags and spec keys, gaps listed; every accepted spec value with
its cases; the committed file current with cases/; the ``catalogue`` command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from equivalence.report import md_text

from equivalence import catalogue, cli
from equivalence.runner import load_all
from equivalence.spec import Case

from .casefiles import load, tiny, write

pytestmark = pytest.mark.harness

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "reports" / "catalogue.md"


def real_cases() -> tuple[list[Case], list]:
    return catalogue.split(load_all([REPO / "cases"]))


def divergent(implementations, compared_with="reference", parity="", reason="they differ"):
    d = {"implementations": implementations, "reason": reason, "references": ["x.py:1"],
         "compared_with": compared_with}
    if parity:
        d["parity"] = parity
    return d


# ------------------------------------------------------------------------------------------------ the real cases

def test_committed_catalogue_is_current():
    cases, errors = real_cases()
    assert not errors, errors
    expected = catalogue.render(cases, errors, out_dir=COMMITTED.parent)
    current = COMMITTED.read_text(encoding="utf-8") if COMMITTED.is_file() else ""
    assert current == expected, ("reports/catalogue.md is not what cases/ generate; regenerate it: "
                                 "python -m equivalence catalogue")


def test_every_declared_divergence_is_listed_with_reason_sources_and_parity():
    cases, _ = real_cases()
    text = catalogue.render(cases, out_dir=COMMITTED.parent)
    declared = [(c, d) for c in cases for d in c.expect.divergent]
    assert len(declared) >= 6, declared
    for case, d in declared:
        # A case whose divergences fall in both sections (framework difference, claim) has a block in each.
        block = "\n".join(part.split("\n### ", 1)[0].split("\n## ", 1)[0]
                          for part in text.split(f"### {case.id}\n")[1:])
        assert md_text(d.reason) in block, f"{case.id}: reason missing"
        for ref in d.references:
            assert f"`{ref}`" in block, f"{case.id}: source {ref!r} missing"
        assert md_text(d.parity or "no mapping known") in block, f"{case.id}: parity missing"
        link = re.search(r"\]\(([^)]+)\)", block).group(1)
        assert (COMMITTED.parent / link).resolve() == Path(case.path).resolve(), link


def test_the_float32_attribute_difference_states_its_parity_mapping():
    """The README's finding: float32-representable mu and c restore parity; each mapping names a real case."""
    cases, _ = real_cases()
    ids = {c.id for c in cases}
    by_id = {c.id: c for c in cases}
    for case_id in ("l2decay-vs-penalty-momentum-float64", "l2decay-momentum-float64-paddle-flavour"):
        for d in by_id[case_id].expect.divergent:
            assert "0.875" in d.parity and "l2decay-momentum-float64-representable" in d.parity, (case_id, d)
    for c in cases:
        for d in c.expect.divergent:
            for named in re.findall(r"\(case ([\w.-]+)\)", d.parity):
                assert named in ids, f"{c.id}: parity names {named!r}, which is no case"


# ------------------------------------------------------------------------------------------------ classification

def test_classification(tmp_path):
    paddle_only = load(tmp_path, tiny(id="a", expect={"divergent": [divergent(["paddle/optimizer"])]}), "a.toml")
    direct = load(tmp_path, tiny(id="b", expect={"divergent": [divergent(["torch/optimizer"], "paddle")]}), "b.toml")
    claim = load(tmp_path, tiny(id="c", expect={"divergent": [divergent(["paddle/optimizer", "torch/optimizer"])]}),
                 "c.toml")
    rounding = load(tmp_path, tiny(id="d", dtype="float32", expect={"divergent": [divergent(["reference/float32"])]}),
                    "d.toml")
    got = {c.id: catalogue.classify(c, c.expect.divergent[0]) for c in (paddle_only, direct, claim, rounding)}
    assert got == {"a": "framework", "b": "framework", "c": "claim", "d": "other"}, got
    text = catalogue.render([paddle_only, direct, claim, rounding], out_dir=tmp_path)
    sections = re.split(r"^## ", text, flags=re.M)
    listed = {s.splitlines()[0]: re.findall(r"^### (\S+)", s, flags=re.M) for s in sections[1:]}
    assert listed["Differences between Paddle and Torch"] == ["a", "b"], listed
    assert listed["Claims both frameworks contradict"] == ["c"], listed
    assert listed["Other expected divergences"] == ["d"], listed


# ------------------------------------------------------------------------------------------------ coverage

def coverage(text: str) -> dict[str, str]:
    part = text.split("## Coverage of training techniques", 1)[1].split("\n## ", 1)[0]
    return {row.split("|")[1].strip(): row.split("|")[2].strip() for row in part.splitlines()
            if row.startswith("| ") and not row.startswith("| technique")}


def test_coverage_from_tags_and_keys_with_gaps(tmp_path):
    cases = [load(tmp_path, tiny(id="clipped", tags=["Grad_Clip"]), "1.toml"),  # normalized to grad-clip
             load(tmp_path, tiny(id="plain", tags=["misc-tag"]), "2.toml"),
             load(tmp_path, tiny(id="mse-untagged", loss="mse"), "3.toml"),  # a case key, no tag
             load(tmp_path, tiny(id="decayed", regularization={"l2": 0.1}), "4.toml")]
    text = catalogue.render(cases, out_dir=tmp_path)
    rows = coverage(text)
    assert set(rows) == {t.name for t in catalogue.TECHNIQUES}, rows
    assert rows["gradient clipping"] == "1: `clipped`", rows
    assert rows["losses"] == "1: `mse-untagged`", rows
    assert rows["regularizers"] == "1: `decayed`", rows
    gaps = [name for name, cell in rows.items() if cell.startswith("0:")]
    assert all("none (gap)" in rows[g] for g in gaps) and "EMA of weights" in gaps, rows
    assert f"Gaps: {', '.join(gaps)}." in text, text
    assert "Tags that count for no technique: misc-tag." in text, text


def test_techniques_the_issue_names_are_all_in_the_table():
    names = " ".join(t.name.lower() for t in catalogue.TECHNIQUES)
    for word in ("optimizer", "regulariz", "schedule", "dropout", "normalization", "loss", "clipping",
                 "loss scaling", "ema"):
        assert word in names, f"no technique for {word!r}: {names}"


def test_every_accepted_value_is_listed_with_its_cases(tmp_path):
    case = load(tmp_path, tiny(id="sgd-mse", loss="mse"))
    text = catalogue.render([case], out_dir=tmp_path)
    table = text.split("## Accepted values of the case schema", 1)[1]
    keys = catalogue.accepted_keys()
    assert {k for k, _, _ in keys} >= {"optimizer.name", "loss", "dropout.mode", "dtype", "model.activation"}, keys
    assert not [k for k, _, _ in keys if k.startswith("expect.")], "expectations are no configuration"
    for key, accepted, _ in keys:
        for value in accepted:
            assert re.search(rf"^\| `{re.escape(key)}` \| `{re.escape(value)}`", table, flags=re.M), (key, value)
    assert "| `loss` | `mse` | 1: `sgd-mse` |" in table, table
    assert "| `loss` | `cross_entropy` | 0 |" in table, table
    assert "| `dtype` | `float64` (default) | 1 |" in table, table


def test_case_text_is_inert_markdown(tmp_path):
    case = load(tmp_path, tiny(id="evil", description="a | b <script>alert(1)</script>\nsecond line",
                               expect={"divergent": [divergent(["fake/optimizer"], reason="<b>r</b> | x",
                                                               parity="<img src=x>")]}))
    text = catalogue.render([case], out_dir=tmp_path)
    assert "<script>" not in text and "<b>" not in text and "<img" not in text, text
    assert "a \\| b &lt;script&gt;alert(1)&lt;/script&gt; second line" in text, text
    assert "parity: &lt;img src=x&gt;" in text, text


def test_rendering_is_deterministic_and_names_unreadable_files(tmp_path):
    write(tmp_path, tiny(id="one"), "one.toml")
    write(tmp_path, tiny(id="two", optimiser={"name": "sgd"}), "two.toml")
    cases, errors = catalogue.split(load_all([tmp_path]))
    first = catalogue.render(cases, errors, out_dir=tmp_path)
    assert first == catalogue.render(list(reversed(cases)), errors, out_dir=tmp_path)
    assert "two.toml: optimiser: unknown key" in first, first


# ------------------------------------------------------------------------------------------------ command

def test_catalogue_command_writes_checks_and_prints(tmp_path, capsys):
    cases = tmp_path / "cases"
    write(cases, tiny(id="one", tags=["dropout"]), "one.toml")
    out = tmp_path / "docs" / "catalogue.md"

    def run(*argv):
        code = cli.main([str(a) for a in argv])
        return (code, *capsys.readouterr())

    code, stdout, stderr = run("catalogue", "--cases", cases, "--out", out, "--check")
    assert code == 1 and "missing" in stderr and "python -m equivalence catalogue" in stderr, (code, stderr)
    code, stdout, stderr = run("catalogue", "--cases", cases, "--out", out)
    assert code == 0 and out.is_file() and str(out) in stdout, (code, stdout, stderr)
    assert "| dropout | 1: `one` |" in out.read_text(encoding="utf-8")
    code, stdout, stderr = run("catalogue", "--cases", cases, "--out", out, "--check")
    assert code == 0 and "up to date" in stdout, (code, stdout, stderr)
    write(cases, tiny(id="two"), "two.toml")
    code, stdout, stderr = run("catalogue", "--cases", cases, "--out", out, "--check")
    assert code == 1 and "out of date" in stderr, (code, stderr)
    code, stdout, stderr = run("catalogue", "--cases", cases, "--out", "-")
    assert code == 0 and stdout.startswith("# Catalogue") and "`two`" in stdout, stdout[:200]
