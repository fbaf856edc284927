"""JSON Schemas (draft 2020-12) of what the suite reads and writes, generated, never written by hand:

- ``schemas/case.schema.json``: a case file (TOML; editors with a TOML language server, e.g. Taplo through
  ``.taplo.toml``, complete and check keys against it). Built from the spec's own dataclasses: every key,
  its type, whether it is required, its default, its accepted values and, as ``description``, the field's
  documentation, so a key documented in ``equivalence/spec/`` appears here by itself. The optimizer's flat
  hyper-parameter keys come from the optimizer registry. Rules between keys (a dropout case needs a
  [dropout] table, a schedule's own keys) stay the loader's: the schema checks names, types and values.
- ``schemas/report.schema.json``: a report, as ``run`` writes it (``latest.json``, the contract of
  reports/README.md) or as ``baseline`` compacts it (the committed ``reports/baselines/*.json``).

``python -m equivalence schema --json case|report`` prints one; ``--write`` regenerates the files (a test
keeps them equal to what the code generates).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path

from .spec import Case

DRAFT = "https://json-schema.org/draft/2020-12/schema"
FOLDER = Path("schemas")
FILES = {"case": FOLDER / "case.schema.json", "report": FOLDER / "report.schema.json"}
COMMAND = "python -m equivalence schema --write"


# ------------------------------------------------------------------------------------------------ case files

def _jsonable(value):
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return dataclasses.MISSING  # a default the schema cannot state (a nested table's defaults are its own)


# Tables that contain themselves (a schedule composed of schedules) are built once, under $defs, and referred
# to by name from where they nest; the others are written in place, where editors show them best.
_DEFS: dict[str, dict] = {}
_BUILDING: list = []


def _type(tp) -> dict:
    if tp is typing.Any:  # a framework's own constructor argument: any TOML scalar, passed as written
        return {"type": ["string", "number", "boolean"]}
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):  # Optional[X]: TOML has no null, a key is left out
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        return _type(inner)
    if dataclasses.is_dataclass(tp):
        if tp in _BUILDING:  # recursion: refer to the table by name
            _DEFS.setdefault(tp.__name__, {})
            return {"$ref": f"#/$defs/{tp.__name__}"}
        _BUILDING.append(tp)
        try:
            table = _table(tp)
        finally:
            _BUILDING.pop()
        if tp.__name__ in _DEFS:
            _DEFS[tp.__name__] = table
            return {"$ref": f"#/$defs/{tp.__name__}"}
        return table
    if origin is tuple:
        return {"type": "array", "items": _type(typing.get_args(tp)[0])}
    if origin is dict:
        return {"type": "object", "additionalProperties": _type(typing.get_args(tp)[1])}
    simple = {float: "number", int: "integer", bool: "boolean", str: "string"}
    if tp in simple:
        return {"type": simple[tp]}
    raise TypeError(f"spec field type {tp!r} has no JSON Schema")


HYPER_KINDS = {"number": {"type": "number"}, "integer": {"type": "integer"}, "boolean": {"type": "boolean"},
               "text": {"type": "string"}, "patterns": {"type": "array", "items": {"type": "string"}},
               "ratios": {"type": "object", "additionalProperties": {"type": "number"}}}


def _hyper_properties() -> dict:
    """The optimizer registry's hyper-parameters: each key with its type(s) and, per optimizer, its meaning."""
    from .reference.optimizers.registry import REGISTRY
    kinds: dict[str, list[str]] = {}
    docs: dict[str, list[str]] = {}
    for info in REGISTRY.values():
        for key in info.settable:
            hyper = info.hypers[key]
            if hyper.kind not in kinds.setdefault(key, []):
                kinds[key].append(hyper.kind)
            docs.setdefault(key, []).append(f"{info.name}: {hyper.doc}" + (
                f" ({hyper.valid_text})" if hyper.valid_text else ""))
    out = {}
    for key in sorted(kinds):
        types_ = [HYPER_KINDS[k if k in HYPER_KINDS else "ratios"] for k in kinds[key]]  # as _convert_hyper
        schema = types_[0] if len(types_) == 1 else {"anyOf": types_}
        out[key] = {**schema, "description": "; ".join(docs[key])}
    return out


def _table(cls) -> dict:
    hints = typing.get_type_hints(cls)
    properties, required = {}, []
    rest = False
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal"):
            continue
        if f.metadata.get("rest"):
            rest = True
            continue
        schema = dict(_type(hints[f.name]))
        accepted = f.metadata.get("accepted")
        if accepted is not None:
            target = schema["items"] if schema.get("type") == "array" else schema
            target["enum"] = list(accepted)
        if f.metadata.get("doc"):
            schema["description"] = f.metadata["doc"]
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
        else:
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            value = _jsonable(default)
            if value is not dataclasses.MISSING and value is not None:
                schema["default"] = value
        properties[f.name] = schema
    if rest:
        properties.update({k: v for k, v in _hyper_properties().items() if k not in properties})
    table = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        table["required"] = required
    if cls.__doc__ and not cls.__doc__.startswith(f"{cls.__name__}("):  # not the dataclass's generated one
        table["description"] = " ".join(cls.__doc__.split())
    return table


def case_schema() -> dict:
    _DEFS.clear()
    schema = _type(Case)
    defs = {name: table for name, table in sorted(_DEFS.items())}
    _DEFS.clear()
    return {"$schema": DRAFT, "$id": "https://equivalence.invalid/schemas/case.schema.json",
            "title": "equivalence case file",
            "description": "One case of the Paddle/Torch equivalence suite (a TOML file under cases/). Generated "
                           f"from equivalence/spec/ by `{COMMAND}`; `python -m equivalence schema` lists the "
                           "same keys as text. Rules between keys are checked by the loader.",
            **{k: v for k, v in schema.items() if k != "description"}, **({"$defs": defs} if defs else {})}


# ------------------------------------------------------------------------------------------------ reports

NUMBER_OR_NONFINITE = {"anyOf": [{"type": "number"}, {"enum": ["nan", "inf", "-inf"]}]}
STATUS = {"enum": ["pass", "fail", "error", "skipped", "not-applicable"]}
KIND = {"enum": ["equivalence", "direct", "rounding", "sensitivity", "spec"]}
EXPECTED = {"enum": ["equal", "divergent"]}
OBSERVED = {"enum": ["equal", "divergent", "not-applicable", "error", "skipped"]}
COUNTS = {"type": "object", "properties": {s: {"type": "integer", "minimum": 0} for s in STATUS["enum"]},
          "required": ["pass", "fail", "error", "skipped"], "additionalProperties": False}  # not-applicable: newer
ENVIRONMENT = {"type": "object", "required": ["python", "numpy", "machine", "device"],
               "additionalProperties": {"type": "string"},
               "description": "python, numpy, machine, device, every framework's version (or why it is "
                              "unavailable); a full report also has platform, time and executable."}


REPORT_SCHEMA_VERSION = 2  # equivalence.runner.SCHEMA_VERSION (a test keeps the two equal)
# Every divergent result's explanation (equivalence/explain.py); null for the others.
EXPLANATION = {"type": "object", "properties": {
    "kind": {"enum": ["precision", "formula", "unexplained"]},
    "flavours": {"type": "array", "items": {"type": "string"},
                 "description": "the reference flavours that reproduce the implementation, e.g. attributes=float32"},
    "text": {"type": "string"}}, "required": ["kind", "flavours", "text"], "additionalProperties": False}


def _nullable(schema: dict) -> dict:
    return {"anyOf": [schema, {"type": "null"}]}


def report_schema() -> dict:
    where = {"step": {"type": "integer", "minimum": 0}, "quantity": {"type": "string"},
             "parameter": {"type": "string"}}
    first = {"type": "object", "properties": {
        **where, "index": {"type": "array", "items": {"type": "integer"}}, "actual": _nullable(NUMBER_OR_NONFINITE),
        "expected": _nullable(NUMBER_OR_NONFINITE), "problem": {"type": "string"}},
        "required": [*where, "index", "actual", "expected", "problem"], "additionalProperties": False}
    verdict = {"case": {"type": "string"}, "implementation": {"type": "string"}, "compared_with": {"type": "string"},
               "kind": KIND, "expected": EXPECTED, "observed": OBSERVED, "status": STATUS}
    result = {"type": "object", "properties": {
        **verdict, "max_abs_error": _nullable(NUMBER_OR_NONFINITE), "max_rel_error": _nullable(NUMBER_OR_NONFINITE),
        "mismatches": _nullable({"type": "integer", "minimum": 0}),
        "compared_elements": _nullable({"type": "integer", "minimum": 0}),
        "first_divergence": _nullable({"$ref": "#/$defs/first_divergence"}),
        "explanation": _nullable({"$ref": "#/$defs/explanation"}), "message": {"type": "string"},
        "reason": {"type": "string"}, "references": {"type": "array", "items": {"type": "string"}},
        "tags": {"type": "array", "items": {"type": "string"}}, "file": {"type": "string"}},
        "required": [*verdict, "max_abs_error", "max_rel_error", "mismatches", "compared_elements",
                     "first_divergence", "explanation", "message", "reason", "references", "tags", "file"],
        "additionalProperties": False}
    compact = {"type": "object", "properties": {
        **verdict, "max_abs_error": NUMBER_OR_NONFINITE, "mismatches": {"type": "integer", "minimum": 1},
        "first_divergence": {"type": "object", "properties": where, "required": list(where),
                             "additionalProperties": False},
        "message": {"type": "string", "maxLength": 160}},
        "required": list(verdict), "additionalProperties": False}
    full = {"type": "object", "description": "A report as `python -m equivalence run` writes it (latest.json).",
            "properties": {"schema_version": {"const": REPORT_SCHEMA_VERSION},
                           "environment": {**ENVIRONMENT, "required": ENVIRONMENT["required"] + ["time"]},
                           "summary": COUNTS, "results": {"type": "array", "items": {"$ref": "#/$defs/result"}}},
            "required": ["schema_version", "environment", "summary", "results"], "additionalProperties": False}
    baseline = {"type": "object", "description": "A compact baseline (`python -m equivalence baseline`): "
                                                 "verdicts and worst errors, nothing that changes between runs.",
                "properties": {"format": {"const": "equivalence-baseline"}, "generated_by": {"type": "string"},
                               "environment": {**ENVIRONMENT, "not": {"anyOf": [
                                   {"required": ["time"]}, {"required": ["executable"]}, {"required": ["platform"]}]}},
                               "summary": COUNTS,
                               "results": {"type": "array", "items": {"$ref": "#/$defs/compact_result"}}},
                "required": ["format", "environment", "summary", "results"], "additionalProperties": False}
    return {"$schema": DRAFT, "$id": "https://equivalence.invalid/schemas/report.schema.json",
            "title": "equivalence report",
            "description": "A report of the equivalence suite: latest.json (reports/README.md) or a compact "
                           f"baseline (reports/baselines/). Generated by `{COMMAND}`.",
            "oneOf": [{"$ref": "#/$defs/report"}, {"$ref": "#/$defs/baseline"}],
            "$defs": {"report": full, "baseline": baseline, "result": result, "compact_result": compact,
                      "first_divergence": first, "explanation": EXPLANATION}}


SCHEMAS = {"case": case_schema, "report": report_schema}


def render(name: str) -> str:
    return json.dumps(SCHEMAS[name](), indent=1, ensure_ascii=False) + "\n"
