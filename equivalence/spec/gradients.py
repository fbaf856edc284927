"""The [gradients] table: a gradient's lifecycle between steps (frozen parameters, parameters that stop
receiving gradients, and how gradients are cleared)."""

from __future__ import annotations

import fnmatch
import typing
from dataclasses import dataclass, field

from .base import _doc
from .routes import PORT_ROUTE

if typing.TYPE_CHECKING:  # for annotations only: case.py imports this module
    from .case import Case

GRADIENT_RESETS = ("zero", "none")


@dataclass(frozen=True)
class GradientSpec:
    frozen: tuple[str, ...] = field(default=(), metadata=_doc(
        "Parameters (names or fnmatch patterns) frozen before training: Paddle stop_gradient = True, Torch "
        "requires_grad_(False). They receive no gradient and are never updated, weight decay included."))
    unused_after: dict[str, int] = field(default_factory=dict, metadata=_doc(
        "Parameter (name or pattern) -> the last step whose forward uses it; later forwards use it detached, so "
        "it receives no new gradient (a branch or head that stops being trained)."))
    reset: str = field(default="zero", metadata=_doc(
        "How gradients are cleared after each step. zero: Paddle clear_grad() (set_to_zero=True, its default) "
        "and Torch zero_grad(set_to_none=False): a parameter with no new gradient steps on a zero gradient "
        "(Adam's moments keep moving it, weight decay still applies). none: Torch zero_grad() (set_to_none=True, "
        "its default) and Paddle clear_grad(set_to_zero=False): the optimizer skips it. The port route calls "
        "each framework's default.", GRADIENT_RESETS))

    def frozen_set(self, names) -> set[str]:
        return {n for n in names if any(fnmatch.fnmatchcase(n, p) for p in self.frozen)}

    def unused_at(self, step: int, names) -> set[str]:
        """Parameters whose forward at this step (from 1) is detached."""
        return {n for n in names for p, last in self.unused_after.items()
                if fnmatch.fnmatchcase(n, p) and step > last}

    def without_gradient(self, step: int, names) -> set[str]:
        """Parameters the optimizer skips at this step: the frozen ones, and the unused ones when gradients are
        reset to none."""
        return self.frozen_set(names) | (self.unused_at(step, names) if self.reset == "none" else set())


def _validate_gradients(case: Case, need) -> None:
    g = case.gradients
    names = case.parameter_names()
    for key, pattern in [(f"gradients.frozen[{i}]", p) for i, p in enumerate(g.frozen)] + \
            [(f"gradients.unused_after.{p}", p) for p in g.unused_after]:
        need(any(fnmatch.fnmatchcase(n, pattern) for n in names), key, f"{pattern!r} matches no parameter",
             ", ".join(names))
    for pattern, last in g.unused_after.items():
        need(1 <= last < case.steps, f"gradients.unused_after.{pattern}", f"{last} leaves no step without it",
             f"a step from 1 to steps - 1 = {case.steps - 1}")
    need(case.clip is None and case.loss_scaling is None and case.ema is None, "gradients",
         "does not combine with [clip], [loss_scaling] or [ema] here", "a case without them")
    need(set(case.selected_routes) <= {"optimizer", PORT_ROUTE}, "routes",
         f"a [gradients] case runs the optimizer route (and its port), got {list(case.selected_routes)}",
         f"routes = ['optimizer', '{PORT_ROUTE}']")
