"""JSON Schemas of case files and reports (equivalence/schemas.py): generated from the spec's own field docs,
committed under schemas/, and every committed case file and report validates against them; files the
loader refuses are refused by the schema too."""

from __future__ import annotations

import copy
import functools
import json
import tomllib
from pathlib import Path

import jsonschema
import pytest

from equivalence import schemas
from equivalence.report import to_json
from equivalence.runner import Runner, load_all
from equivalence.spec import Case, SpecError, load_case

from .casefiles import tiny, write
from .test_cli import _all_keys
from .test_report import CRASHY, write_cases

pytestmark = pytest.mark.harness

REPO = Path(__file__).resolve().parents[1]
CASE_FILES = sorted((REPO / "cases").rglob("*.toml"))
BASELINES = sorted((REPO / "reports" / "baselines").glob("*.json"))


@functools.cache
def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((REPO / schemas.FILES[name]).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def errors(name: str, document) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator(name).iter_errors(document)]


@pytest.mark.parametrize("name", sorted(schemas.FILES))
def test_committed_schemas_are_generated(name):
    text = (REPO / schemas.FILES[name]).read_text(encoding="utf-8")
    assert text == schemas.render(name), f"{schemas.FILES[name]} is stale; run: {schemas.COMMAND}"


def test_every_committed_case_file_validates():
    assert len(CASE_FILES) > 100, CASE_FILES
    found = {str(path.relative_to(REPO)): errors("case", tomllib.loads(path.read_text(encoding="utf-8")))
             for path in CASE_FILES}
    assert not any(found.values()), {k: v for k, v in found.items() if v}


def test_every_documented_key_is_in_the_schema_with_its_doc():
    schema = schemas.case_schema()

    def resolve(node: dict) -> dict:
        while "$ref" in node:  # a table that contains itself lives under $defs
            node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
        return node

    def at(dotted: str) -> dict:
        node = schema
        for part in dotted.replace("[]", "").split("."):
            node = resolve(node)
            if node.get("type") == "array":
                node = resolve(node["items"])
            if part == "<name>":
                node = node["additionalProperties"]
                continue
            node = node["properties"][part]
        return resolve(node)

    keys = _all_keys(Case)
    assert len(keys) > 150, len(keys)
    missing = [k for k in keys if not _present(at, k)]
    assert not missing, missing
    assert at("dropout.variant")["enum"][:2] == ["dropout", "dropout1d"], at("dropout.variant")
    assert at("optimizer.name")["enum"] and "adamw" in at("optimizer.name")["enum"]
    assert "momentum" in at("optimizer.momentum")["description"], at("optimizer.momentum")
    assert schema["required"] == ["id", "description"] and schema["additionalProperties"] is False


def _present(at, key) -> bool:
    try:
        return bool(at(key).get("description")) or "type" in at(key)
    except KeyError:
        return False


# Each broken variant of a valid case, and the loader's key it names: the schema refuses what the loader does.
BROKEN = {
    "unknown key": (lambda d: d.update(stepz=3), "stepz"),
    "wrong type": (lambda d: d.update(steps="three"), "steps"),
    "unknown value": (lambda d: d.update(dtype="float16"), "dtype"),
    "missing key": (lambda d: d.pop("description"), "description"),
    "nested unknown key": (lambda d: d["optimizer"].update(momentun=0.9), "optimizer.momentun"),
    "nested wrong type": (lambda d: d["model"].update(sizes=[3, "4"]), "model.sizes[1]"),
}


@pytest.mark.parametrize("problem", sorted(BROKEN))
def test_the_schema_refuses_what_the_loader_refuses(tmp_path, problem):
    doc = tiny(id="good")
    assert not errors("case", doc), errors("case", doc)
    load_case(write(tmp_path, doc, "good.toml"))
    change, key = BROKEN[problem]
    broken = copy.deepcopy(doc)
    change(broken)
    assert errors("case", broken), f"the schema accepts a case with a {problem}"
    with pytest.raises(SpecError) as caught:
        load_case(write(tmp_path, broken, "broken.toml"))
    assert caught.value.key == key, (problem, str(caught.value))


@pytest.fixture(scope="module")
def full_report(tmp_path_factory) -> dict:
    """A report as run writes it, from the fake backend (passes, a stale expectation, a crash, a spec error)."""
    items = load_all([write_cases(tmp_path_factory.mktemp("cases"))])
    with Runner(backends={"fake": CRASHY}, timeout=60.0) as runner:
        report = runner.run(items)
    return json.loads(json.dumps(to_json(report), allow_nan=False))


def test_reports_and_committed_baselines_validate(full_report):
    assert {r["status"] for r in full_report["results"]} >= {"pass", "fail", "error"}, "a report of every kind"
    assert not errors("report", full_report), errors("report", full_report)
    assert len(BASELINES) >= 4, BASELINES
    for path in BASELINES:
        assert not errors("report", json.loads(path.read_text(encoding="utf-8"))), path


@pytest.mark.parametrize("breakage", ["status", "missing", "nonfinite", "baseline time"])
def test_the_report_schema_can_fail(full_report, breakage):
    doc = copy.deepcopy(full_report)
    if breakage == "status":
        doc["results"][0]["status"] = "maybe"
    elif breakage == "missing":
        del doc["results"][0]["observed"]
    elif breakage == "nonfinite":
        doc["results"][0]["max_abs_error"] = "NaN"
    else:
        doc = json.loads(BASELINES[0].read_text(encoding="utf-8"))
        doc["environment"]["time"] = "2026-01-01"
    assert errors("report", doc), f"a report with a broken {breakage} validates"
