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
            hint = _unknown_key_hint(key, info, everywhere)
            raise SpecError(file, dotted, f"unknown key: {info.name} has no hyper-parameter {key!r}{hint}",
                            ", ".join(("name", "lr") + info.settable))
        hyper = info.hypers[key]
        result[key] = _convert_hyper(hyper.kind, value, file, dotted)
        if hyper.kind in ("number", "integer", "text") and not hyper.valid(result[key]):
            raise SpecError(file, dotted, f"{result[key]!r} is out of range", hyper.valid_text)
    return result


# Keys people carry over from another optimizer's signature, and where their meaning lives in a case.
_REDIRECTS = {
    "weight_decay": ("coupled L2 (added to the gradient: Torch {torch}(weight_decay=c), Paddle "
                     "weight_decay=L2Decay(c)) is [regularization] l2 = c; decoupled decay (Paddle and Torch "
                     "AdamW) is [optimizer] name = 'adamw' with weight_decay = c"),
}


def _unknown_key_hint(key: str, info, everywhere: dict[str, list[str]]) -> str:
    """Where a key the optimizer does not take belongs: the table that expresses it, the optimizers that
    take it (when it is one's own key), or the closest key name (when it is a typo)."""
    if key in _REDIRECTS:
        return f" ({_REDIRECTS[key].format(torch=info.torch or 'Adam')})"
    if key in everywhere:
        return f" ({key!r} is a hyper-parameter of {', '.join(everywhere[key])}, not of {info.name})"
    close = difflib.get_close_matches(key, list(everywhere), n=1)
    return f" (did you mean {close[0]!r}, a hyper-parameter of {', '.join(everywhere[close[0]])}?)" if close else ""


def _convert_hyper(kind: str, value, file, key):
    if kind == "number":
        return _convert(float, value, file, key)
    if kind == "integer":
        return _convert(int, value, file, key)
    if kind == "boolean":
        return _convert(bool, value, file, key)
    if kind == "text":
        return _convert(str, value, file, key)
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
    as_tensor: tuple[str, ...] = field(default=(), metadata=_doc(
        "Hyper-parameters (neutral names, e.g. beta1, beta2) passed as 0-d tensors, as each framework's tensor "
        "constructor makes them from a Python float: paddle.to_tensor(v) (the default dtype, the case dtype "
        "here) and torch.tensor(v) (float32 unless torch's default dtype is changed). A tuple argument "
        "(Torch betas) gets tensors for all its elements, as Torch requires."))
    paddle: dict[str, typing.Any] = field(default_factory=dict, metadata=_doc(
        "Paddle constructor arguments passed as written, under Paddle's names, e.g. use_multi_tensor = true; "
        "the string \"None\" passes None. An argument with a neutral key must use it; one that changes the "
        "update may only be named at its default; implementation arguments (use_multi_tensor, "
        "multi_precision, lazy_mode, name) take any value. Torch runs as usual."))
    torch: dict[str, typing.Any] = field(default_factory=dict, metadata=_doc(
        "Torch constructor arguments passed as written, under Torch's names, e.g. foreach = \"None\" (the "
        "string \"None\" passes None), fused = true. Same rules as [optimizer.paddle]; the implementation "
        "arguments are foreach, fused, capturable, differentiable. Paddle runs as usual."))
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
    for framework in ("paddle", "torch"):
        taken = {}
        for key, hyper in info.hypers.items():
            if hyper.side(framework).name:
                taken[hyper.side(framework).name.split("[")[0]] = key
        for arg in getattr(o, framework):
            need(arg not in taken, f"optimizer.{framework}.{arg}",
                 f"is the neutral key optimizer.{taken.get(arg)}; give it there, so the reference uses it too",
                 f"optimizer.{taken.get(arg)}")
            need(arg not in ("params", "parameters"), f"optimizer.{framework}.{arg}", "the case's model supplies it",
                 "another constructor argument")
    for i, key in enumerate(o.as_tensor):
        need(key in o.hyper and info.hypers[key].kind == "number", f"optimizer.as_tensor[{i}]",
             f"{key!r} is not a number hyper-parameter the case sets",
             ", ".join(k for k in o.hyper if info.hypers[k].kind == "number") or "set the hyper-parameter first")
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
    if info.closure:
        _validate_closure_optimizer(case, need)
    if o.hyper.get("maximize"):
        for key in ("regularization", "clip", "loss_scaling"):
            need(getattr(case, key) is None, key, "maximize = true with it is not modelled by the reference "
                 "(Torch negates the gradient before adding its weight decay, a loss penalty's gradient included)",
                 "no [" + key + "]")
    if o.hyper.get("decoupled_weight_decay"):
        need(case.regularization is not None and case.regularization.l1 == 0 and case.clip is None,
             "regularization", "decoupled_weight_decay decays by the [regularization] l2 coefficient (no l1, no "
             "clip)", "[regularization] l2 only")
        need(set(case.selected_routes) <= {"optimizer", "per_parameter"}, "routes",
             "decoupled_weight_decay lives in the optimizer's weight_decay", "optimizer, per_parameter")


def _validate_closure_optimizer(case: Case, need) -> None:
    """An optimizer that re-evaluates the loss through a closure (L-BFGS) runs on one batch per step with the
    optimizer route: a closure would redraw dropout masks, and clipping, loss scaling, EMA, schedules and
    per-parameter settings happen outside its step."""
    name = case.optimizer.name
    need(case.model.dropout == 0, "model.dropout", f"{name} re-evaluates the loss: dropout would redraw its masks",
         "model.dropout = 0")
    for key in ("clip", "loss_scaling", "ema", "schedule"):
        need(getattr(case, key) is None, key, f"does not go with {name}, whose step re-evaluates the loss itself",
             f"no [{key}]")
    need(not case.lr_multipliers, "lr_multipliers", f"{name} takes one parameter group", "none")
    need(set(case.selected_routes) <= {"optimizer", "loss_penalty"}, "routes",
         f"{name} runs the optimizer route (and loss_penalty)", "optimizer, loss_penalty")
