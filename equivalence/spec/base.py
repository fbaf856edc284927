"""What every spec module shares: SpecError, field documentation, and the TOML-to-dataclass conversion."""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from pathlib import Path

from .limits import MAX_INT, MAX_LIST_ITEMS

if typing.TYPE_CHECKING:  # for annotations only: case.py imports this module
    from .case import Case


class SpecError(ValueError):
    """A case file that cannot be used: names the file, the key and what would be accepted."""

    def __init__(self, file: str | Path, key: str, problem: str, accepted: str | None = None):
        self.file, self.key, self.problem, self.accepted = str(file), key, problem, accepted
        text = f"{file}: {key or '<file>'}: {problem}"
        if accepted:
            text += f"; accepted: {accepted}"
        super().__init__(text)


def _short(value, width: int = 80) -> str:
    """A value for an error message: its repr, cut (a list of a million rows is not quoted whole)."""
    text = repr(value)
    return text if len(text) <= width else text[:width - 3] + "..."


def _doc(text: str, accepted: tuple | None = None, **extra) -> dict:
    return {"doc": text, "accepted": accepted, **extra}


def _type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp) if a is not type(None))
    if origin is tuple:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return f"table of {_type_name(typing.get_args(tp)[1])}"
    if dataclasses.is_dataclass(tp):
        return "table"
    if tp is typing.Any:
        return "string, number or boolean"
    return {int: "integer", float: "number", bool: "boolean", str: "string"}.get(tp, str(tp))


@functools.cache  # every table of every case file is built with its class's hints: resolving them is slow
def type_hints(cls) -> dict:
    """typing.get_type_hints of a spec dataclass (read-only)."""
    return typing.get_type_hints(cls)


def _build(cls, raw, file, prefix):
    if not isinstance(raw, dict):
        raise SpecError(file, prefix, f"expected a table, got {type(raw).__name__}")
    hints = type_hints(cls)
    public = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    # A field with ``rest`` metadata takes every key the other fields do not (optimizer hyper-parameters);
    # its ``convert`` checks them once the other fields are known.
    rest = next((f for f in public.values() if f.metadata.get("rest")), None)
    declared = {name: f for name, f in public.items() if f is not rest}
    if rest is None:
        for key in raw:
            if key not in public:
                raise SpecError(file, _join(prefix, key), "unknown key", ", ".join(public))
    values = {}
    for name, f in declared.items():
        key = _join(prefix, name)
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise SpecError(file, key, "missing required key", _type_name(hints[name]))
            continue
        parse = f.metadata.get("parse")  # a field whose values the generic conversion refuses (non-finite)
        value = parse(raw[name], file, key) if parse else _convert(hints[name], raw[name], file, key)
        accepted = f.metadata.get("accepted")
        if accepted is not None:
            for item in value if isinstance(value, tuple) else (value,):
                if item not in accepted:
                    raise SpecError(file, key, f"{item!r} is not known", ", ".join(accepted))
        values[name] = value
    if rest is not None:
        extra = {k: v for k, v in raw.items() if k not in declared}
        values[rest.name] = rest.metadata["convert"](values, extra, file, prefix)
    return cls(**values)


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _convert(tp, value, file, key):
    if tp is typing.Any:  # a framework's own argument: any TOML scalar, passed as written
        if isinstance(value, (str, int, float, bool)):
            return value
        raise SpecError(file, key, f"expected a string, number or boolean, got {type(value).__name__}")
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert(inner, value, file, key)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, file, key)
    if origin is tuple:
        if not isinstance(value, list):
            raise SpecError(file, key, f"expected a list, got {type(value).__name__} {_short(value)}")
        if len(value) > MAX_LIST_ITEMS:
            raise SpecError(file, key, f"{len(value)} items is over the limit", f"at most {MAX_LIST_ITEMS} items")
        item_tp = typing.get_args(tp)[0]
        return tuple(_convert(item_tp, v, file, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise SpecError(file, key, f"expected a table, got {type(value).__name__}")
        item_tp = typing.get_args(tp)[1]
        return {k: _convert(item_tp, v, file, _join(key, k)) for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError(file, key, f"expected a number, got {type(value).__name__} {_short(value)}")
        if not math.isfinite(value):
            raise SpecError(file, key, f"{value!r} is not finite", "a finite number")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(file, key, f"expected an integer, got {type(value).__name__} {_short(value)}")
        if abs(value) > MAX_INT:
            raise SpecError(file, key, f"{value} is over the limit", f"an integer between -{MAX_INT} and {MAX_INT}")
        return value
    if tp in (bool, str):
        if not isinstance(value, tp):
            raise SpecError(file, key, f"expected a {_type_name(tp)}, got {type(value).__name__} {_short(value)}")
        return value
    raise TypeError(f"spec field type {tp!r} has no converter")  # a bug in this module, not in a case


def literal_numbers(value, file, key) -> tuple[float, ...]:
    """A literal probe input: a list of numbers where nan, inf and -inf are meant (everywhere else the spec
    refuses non-finite numbers)."""
    if not isinstance(value, list):
        raise SpecError(file, key, f"expected a list, got {type(value).__name__} {value!r}")
    for i, v in enumerate(value):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise SpecError(file, f"{key}[{i}]", f"expected a number, got {type(v).__name__} {v!r}",
                            "numbers, nan, inf, -inf")
    return tuple(float(v) for v in value)


# A probe case (dropout, normalization, loss) holds its own table and none of a training case's.
def _only_table(case: Case, table: str, need) -> None:
    need(getattr(case, table) is not None, table, f"a {case.kind} case needs a [{table}] table", f"[{table}]")
    for key in ("model", "data", "optimizer", "regularization", "dropout", "normalization", "clip", "schedule",
                "loss_scaling", "ema", "loss_probe", "gradients"):
        if key != table:
            need(getattr(case, key) is None, key, f"does not apply to a {case.kind} case", f"[{table}] only")
    need(not case.lr_multipliers, "lr_multipliers", f"does not apply to a {case.kind} case", f"[{table}] only")
