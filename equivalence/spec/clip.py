"""The [clip] table (gradient clipping) and per-parameter learning rates (lr_multipliers)."""

from __future__ import annotations

import fnmatch
import typing
from dataclasses import dataclass, field

from .base import _doc
from .routes import BASE_ROUTES, CLIPPED_ROUTES, split_route

if typing.TYPE_CHECKING:  # for annotations only: case.py imports this module
    from .case import Case

CLIP_KINDS = ("global_norm", "norm", "value")
NORM_TYPES = ("2", "1", "inf")
CLIP_ACTIVITY = ("every_step", "never", "some_steps")
CLIP_NORM_FORMULAS = ("exact", "epsilon", "unclamped")
CLIP_ORDERS = ("clip_then_decay", "decay_then_clip")


@dataclass(frozen=True)
class ClipSpec:
    kind: str = field(metadata=_doc(
        "global_norm: scale every gradient by one factor so their joint norm is at most max_norm; norm: the "
        "same per parameter tensor; value: clamp each element to [min, max].", CLIP_KINDS))
    active: str = field(metadata=_doc(
        "What the case claims about its gradients, checked by the reference at every step: every_step (some "
        "gradient is clipped at each step), never (the clip is a no-op), some_steps (no claim).", CLIP_ACTIVITY))
    max_norm: float | None = field(default=None, metadata=_doc("Norm threshold, > 0 (global_norm, norm)."))
    norm_type: str | None = field(default=None, metadata=_doc(
        "Which p-norm (global_norm, norm); default '2'. Paddle's grad_clip= classes know only '2'.", NORM_TYPES))
    max: float | None = field(default=None, metadata=_doc("Upper bound (value)."))
    min: float | None = field(default=None, metadata=_doc(
        "Lower bound (value), < max; default -max, which needs max > 0."))
    exclude: tuple[str, ...] = field(default=(), metadata=_doc(
        "Parameters (names or fnmatch patterns) the clip leaves out, neither clipped nor counted in a norm: "
        "Paddle ParamAttr(need_clip=False) with grad_clip=, and the clip functions called on the other "
        "parameters (paddle.nn.utils, torch.nn.utils)."))

    def excluded(self, names) -> set[str]:
        return {n for n in names if any(fnmatch.fnmatchcase(n, p) for p in self.exclude)}

    @property
    def norm(self) -> str:
        return self.norm_type or "2"

    @property
    def bounds(self) -> tuple[float, float]:
        return (-self.max if self.min is None else self.min), self.max


def _validate_clip_and_lr(case: Case, need) -> None:
    names = case.parameter_names()
    for pattern, m in case.lr_multipliers.items():
        key = f"lr_multipliers.{pattern}"
        need(any(fnmatch.fnmatchcase(n, pattern) for n in names), key, f"{pattern!r} matches no parameter",
             ", ".join(names))
        need(m >= 0, key, f"{m} is negative", "a multiplier >= 0")
    clip = case.clip
    for i, pattern in enumerate(clip.exclude if clip is not None else ()):
        need(any(fnmatch.fnmatchcase(n, pattern) for n in names), f"clip.exclude[{i}]",
             f"{pattern!r} matches no parameter", ", ".join(names))
    need(clip is None or len(clip.excluded(names)) < len(names), "clip.exclude", "leaves nothing to clip",
         "patterns that leave some parameter clipped")
    for r in case.selected_routes:
        clips = split_route(r)[1] is not None
        if clip is None:
            need(not clips, "routes", f"route {r!r} clips, and the case has no [clip] table",
                 "a [clip] table, or " + ", ".join(BASE_ROUTES))
        else:
            need(clips, "routes", f"route {r!r} does not clip, and the case has a [clip] table",
                 ", ".join(CLIPPED_ROUTES))
    if clip is None:
        return
    if clip.kind == "value":
        need(clip.max is not None, "clip.max", "missing: kind = 'value' clamps to [min, max]", "a number")
        for key in ("max_norm", "norm_type"):
            need(getattr(clip, key) is None, f"clip.{key}", "applies to the norm kinds only", "min, max")
        low, high = clip.bounds
        need(clip.min is not None or clip.max > 0, "clip.max", f"{clip.max} <= 0 and no min (min defaults to -max)",
             "max > 0, or an explicit min < max")
        need(low < high, "clip.min", f"{low} is not below max {high}", "min < max")
    else:
        need(clip.max_norm is not None, "clip.max_norm", f"missing: kind = {clip.kind!r} needs a threshold",
             "a number > 0")
        need(clip.max_norm > 0, "clip.max_norm", f"{clip.max_norm} is not a norm threshold", "a number > 0")
        for key in ("max", "min"):
            need(getattr(clip, key) is None, f"clip.{key}", "applies to kind = 'value' only", "max_norm, norm_type")
