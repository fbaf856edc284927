"""The registry's vocabulary: an optimizer, its hyper-parameters under neutral names, how each framework
spells them and what each framework defaults them to, and the context a reference update runs in.

Pure Python and NumPy: ``equivalence.spec`` reads this registry to validate ``[optimizer]`` tables.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Callable

import numpy as np

FRAMEWORKS = ("paddle", "torch")
KINDS = ("number", "boolean", "integer", "patterns", "ratios", "text")


@dataclass(frozen=True)
class Arg:
    """One framework's side of a hyper-parameter.

    ``name`` is the constructor argument (``betas[0]`` for an element of a tuple argument); ``None`` means
    the framework has no such argument, and then ``default`` is the value its algorithm behaves as (None:
    no counterpart at all, so a case that sets it cannot run there). ``float32``: Paddle's kernel takes the
    value as a C++ ``float`` attribute, so a float64 run sees it rounded to float32."""

    name: str | None
    default: object = None
    source: str = ""
    float32: bool = False


def _any(value) -> bool:
    return True


@dataclass(frozen=True)
class Hyper:
    doc: str
    paddle: Arg
    torch: Arg
    kind: str = "number"
    valid: Callable[[object], bool] = _any
    valid_text: str = ""
    # The value a framework's argument takes for the neutral one (a TOML file cannot write None).
    framework_value: Callable[[object], object] | None = None
    # A default both frameworks derive from other hyper-parameters when the case leaves the key out.
    default_from: Callable[[dict], object] | None = None

    def side(self, framework: str) -> Arg:
        return getattr(self, framework)

    @property
    def recorded(self) -> bool:
        """Scalars are recorded each step as ``hyper.<name>``; per-parameter settings show in the update."""
        return self.kind in ("number", "boolean", "integer")

    def defaults_differ(self) -> bool:
        p, t = self.paddle.default, self.torch.default
        return p is not None and t is not None and p != t


@dataclass(frozen=True)
class OptimizerInfo:
    """One optimizer: its classes, hyper-parameters (``lr`` included) and reference update.

    ``differs``: non-empty when Paddle and Torch compute different updates from the same hyper-parameters
    (why, with source lines); such a case must say whose formula the reference follows."""

    name: str
    doc: str
    paddle: str | None
    torch: str | None
    hypers: dict[str, Hyper]
    update: Callable
    differs: str = ""
    # Paddle fuses the L2Decay coefficient into this optimizer's kernel as a float attribute.
    fused_l2: bool = False
    # step(closure): the optimizer re-evaluates the loss itself and steps all parameters at once (L-BFGS).
    closure: bool = False

    @property
    def settable(self) -> tuple[str, ...]:
        """The hyper-parameter keys an [optimizer] table may hold besides name and lr."""
        return tuple(k for k in self.hypers if k != "lr")


def in_unit_interval(value) -> bool:
    return 0.0 <= value < 1.0


def positive(value) -> bool:
    return value > 0


def non_negative(value) -> bool:
    return value >= 0


# ------------------------------------------------------------------------------------ effective values

def resolve(case) -> dict[str, object]:
    """Every hyper-parameter of the case's optimizer as the reference uses it: the case's value, else the
    default of the framework the reference follows (``reference.follows``), else the one framework that
    has it. ``lr`` included. Validation has made sure an omitted key whose defaults differ has a flavour."""
    from .registry import REGISTRY

    opt = case.optimizer
    info = REGISTRY[opt.name]
    follows = case.reference.follows or "torch"
    given = {**opt.hyper, **({"lr": opt.lr} if opt.lr is not None else {})}
    values = {}
    for key, hyper in info.hypers.items():
        if key in given:
            values[key] = given[key]
            continue
        if hyper.default_from is not None:
            values[key] = hyper.default_from(values)
            continue
        first = hyper.side(follows).default
        values[key] = first if first is not None else hyper.side(_other(follows)).default
    return values


def _other(framework: str) -> str:
    return "paddle" if framework == "torch" else "torch"


def matches(name: str, patterns) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def ratio_for(name: str, ratios: dict[str, float]) -> float:
    """The last matching pattern's ratio (later entries override earlier ones), 1 without a match."""
    result = 1.0
    for pattern, ratio in ratios.items():
        if fnmatch.fnmatchcase(name, pattern):
            result = ratio
    return result


@dataclass
class Step:
    """What one reference update sees: the parameter's name, the step's learning rate and the resolved
    hyper-parameters, each as the implementation the reference follows would use it."""

    case: object
    info: OptimizerInfo
    values: dict[str, object]
    dtype: np.dtype
    name: str = ""
    lr: object = None

    @property
    def follows(self) -> str:
        return self.case.reference.follows or "torch"

    def value(self, key: str):
        """The hyper-parameter as written, in the computation dtype."""
        return self.dtype.type(self.values[key])

    def attribute(self, key: str):
        """The hyper-parameter as the kernel sees it: rounded to float32 first under the ``float32``
        attribute flavour when Paddle's kernel takes it as a C++ float."""
        value = self.values[key]
        if self.case.reference.attributes == "float32" and self.info.hypers[key].paddle.float32:
            value = float(np.float32(value))
        return self.dtype.type(value)

    def flag(self, key: str) -> bool:
        return bool(self.values[key])


def prior(state: dict, key: str, like: np.ndarray):
    """The optimizer state ``key`` from the previous step, or zeros shaped like ``like`` before the first one
    (made only then: ``state.get(key, 0 * like)`` would compute the zeros at every step)."""
    return state[key] if key in state else 0 * like
