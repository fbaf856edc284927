"""The [optimizer] table, checked against the optimizer registry in equivalence/reference/optimizers."""

from __future__ import annotations

import difflib
import fnmatch
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field

from .base import SpecError, _convert, _doc, _join

if typing.TYPE_CHECKING:  # for annotations only: case.py imports this module
    from .case import Case


def _optimizer_registry() -> dict:
    # Imported when first needed: the registry lives in the reference package, which imports this module.
    from ..reference.optimizers.registry import REGISTRY
    return REGISTRY


class _OptimizerNames(Sequence):
    """The registry's optimizer names, read when first used (see _optimizer_registry)."""

    def __getitem__(self, index):
        return tuple(_optimizer_registry())[index]

    def __len__(self) -> int:
        return len(_optimizer_registry())


OPTIMIZERS = _OptimizerNames()


def _hyper_keys() -> dict[str, str]:
    """optimizer.<key> -> its documentation, for every hyper-parameter in the registry (for `schema`)."""
    docs: dict[str, dict[tuple[str, str], list[str]]] = {}
    for info in _optimizer_registry().values():
        for key in info.settable:
            hyper = info.hypers[key]
            docs.setdefault(key, {}).setdefault((hyper.kind, hyper.doc), []).append(info.name)
    return {key: "; ".join(f"{', '.join(names)}: {doc} ({kind})" for (kind, doc), names in by_doc.items())
            for key, by_doc in docs.items()}


def _convert_hypers(fields: dict, raw: dict, file, prefix: str) -> dict[str, object]:
    """Check the hyper-parameters of [optimizer] against the registry entry of optimizer.name."""
    registry = _optimizer_registry()
    info = registry[fields["name"]]
    result = {}
    for key, value in raw.items():
        dotted = _join(prefix, key)
        if key not in info.settable:
            everywhere = {k: [i.name for i in registry.values() if k in i.settable]
                          for i in registry.values() for k in i.settable}
            close = difflib.get_close_matches(key, list(everywhere), n=1)
            hint = (f" (did you mean {close[0]!r}, a hyper-parameter of {', '.join(everywhere[close[0]])}?)"
                    if close else "")
            raise SpecError(file, dotted, f"unknown key: {info.name} has no hyper-parameter {key!r}{hint}",
                            ", ".join(("name", "lr") + info.settable))
        hyper = info.hypers[key]
        result[key] = _convert_hyper(hyper.kind, value, file, dotted)
        if hyper.kind in ("number", "integer") and not hyper.valid(result[key]):
            raise SpecError(file, dotted, f"{result[key]!r} is out of range", hyper.valid_text)
    return result


def _convert_hyper(kind: str, value, file, key):
    if kind == "number":
        return _convert(float, value, file, key)
    if kind == "integer":
        return _convert(int, value, file, key)
    if kind == "boolean":
        return _convert(bool, value, file, key)
    if kind == "patterns":
        return _convert(tuple[str, ...], value, file, key)
    ratios = _convert(dict[str, float], value, file, key)
    for pattern, ratio in ratios.items():
        if ratio <= 0:
            raise SpecError(file, _join(key, pattern), f"{ratio} is not a learning-rate ratio", "a number > 0")
    return ratios


@dataclass(frozen=True)
class OptimizerSpec:
    """``name`` and ``lr``, then hyper-parameters under neutral names, accepted per optimizer by the
    registry in equivalence/reference/optimizers. A hyper-parameter left out means each framework's own
    default: the backends do not pass it, and the reference takes the default of reference.follows."""

    name: str = field(metadata=_doc("Optimizer.", OPTIMIZERS))
    lr: float | None = field(default=None, metadata=_doc(
        "Learning rate, > 0; left out: each framework's default learning rate."))
    hyper: dict[str, object] = field(default_factory=dict, metadata=_doc(
        "Hyper-parameters by neutral name, written as flat keys of [optimizer].", rest=_hyper_keys,
        convert=_convert_hypers))


def _validate_optimizer(case: Case, need) -> None:
    """Per-parameter patterns must match a parameter; a left-out hyper-parameter whose defaults differ, or
    an optimizer the frameworks compute differently, needs reference.follows to say whose the reference
    takes."""
    o, follows = case.optimizer, case.reference.follows
    info = _optimizer_registry()[o.name]
    names = case.parameter_names()
    for key, value in o.hyper.items():
        patterns = value if info.hypers[key].kind == "patterns" else (
            tuple(value) if info.hypers[key].kind == "ratios" else ())
        for pattern in patterns:
            need(any(fnmatch.fnmatchcase(n, pattern) for n in names), f"optimizer.{key}",
                 f"{pattern!r} matches no parameter", ", ".join(names))
    given = set(o.hyper) | ({"lr"} if o.lr is not None else set())
    for key, hyper in info.hypers.items():
        if key in given:
            continue
        p, t = hyper.paddle.default, hyper.torch.default
        need(not hyper.defaults_differ() or follows is not None, "reference.follows",
             f"optimizer.{key} is left to each framework's default and they differ (paddle {p!r}, torch {t!r}); "
             "say whose default the reference takes, or set the key", "paddle, torch")
        side = hyper.side(follows or "torch")
        need(side.name is None or side.default is not None, f"optimizer.{key}",
             f"{follows or 'torch'} has no default for it ({side.source}); the reference cannot follow it",
             f"a value for optimizer.{key}")
    need(not info.differs or follows is not None, "reference.follows",
         f"{o.name}: Paddle and Torch compute different updates ({info.differs}); say whose formula the "
         "reference follows", "paddle, torch")
