"""Gradient clipping in NumPy: by global norm, by per-tensor norm and by value.

The norm kinds scale a gradient by a coefficient that depends on its norm; frameworks write that
coefficient in two ways, which the case picks as a reference flavour (``Case.reference.clip_norm_formula``):

- ``exact``: ``max_norm / max(norm, max_norm)``, exactly 1 at or below the threshold (Paddle's
  ``ClipGradByGlobalNorm``, paddle/nn/clip.py:851, and the ``clip_by_norm`` kernel of ``ClipGradByNorm``,
  clip_by_norm_kernel_impl.h:40, whose epsilon only applies to a norm <= 1e-30);
- ``epsilon``: ``min(1, max_norm / (norm + 1e-6))`` (torch/nn/utils/clip_grad.py:164 and
  paddle/nn/utils/clip_grad_norm_.py:110), which also clips, by a hair, norms within 1e-6 below the threshold;
- ``unclamped``: ``max_norm / norm`` always: a wrong mapping that scales small gradients up.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ..record import SCALAR
from ..spec import Case, ClipSpec

EPSILON = 1e-6


@dataclass
class Clipped:
    grads: dict[str, np.ndarray]
    norms: dict[str, np.ndarray] = field(default_factory=dict)  # SCALAR (global_norm) or per parameter (norm)
    engaged: bool = False  # whether any gradient element changed


def vector_norm(arrays: list[np.ndarray], norm_type: str):
    """The p-norm of the arrays taken as one vector (``norm_type`` '1', '2' or 'inf')."""
    flat = np.concatenate([np.abs(a).reshape(-1) for a in arrays])
    if norm_type == "inf":
        return flat.max(initial=flat.dtype.type(0))
    p = int(norm_type)
    return (flat ** p).sum() ** (flat.dtype.type(1) / p)


def norm_coefficient(norm, max_norm: float, formula: str):
    """The factor a norm clip multiplies the gradients by, in the dtype of ``norm``."""
    t = np.asarray(norm).dtype.type
    m = t(max_norm)
    if formula == "exact":
        return m / max(norm, m)
    if formula == "epsilon":
        return min(t(1), m / (norm + t(EPSILON)))
    return m / norm


def clip_gradients(case: Case, grads: dict[str, np.ndarray], spec: ClipSpec | None = None) -> Clipped:
    """The clipped gradients; the parameters spec.exclude names pass unchanged and count in no norm."""
    spec = spec or case.clip
    left_out = spec.excluded(grads)
    if left_out:
        clipped = clip_gradients(case, {n: g for n, g in grads.items() if n not in left_out},
                                 dataclasses.replace(spec, exclude=()))
        return Clipped({n: clipped.grads.get(n, g) for n, g in grads.items()}, clipped.norms, clipped.engaged)
    formula = case.reference.clip_norm_formula
    if spec.kind == "value":
        t = next(iter(grads.values())).dtype.type
        low, high = (t(b) for b in spec.bounds)
        out = {n: np.clip(g, low, high) for n, g in grads.items()}
        return Clipped(out, engaged=any(not np.array_equal(out[n], g) for n, g in grads.items()))
    if spec.kind == "global_norm":
        total = vector_norm(list(grads.values()), spec.norm)
        c = norm_coefficient(total, spec.max_norm, formula)
        return Clipped({n: g * c for n, g in grads.items()}, {SCALAR: total}, engaged=bool(c < 1))
    out, norms, engaged = {}, {}, False
    for name, g in grads.items():
        norms[name] = vector_norm([g], spec.norm)
        c = norm_coefficient(norms[name], spec.max_norm, formula)
        out[name] = g * c
        engaged = engaged or bool(c < 1)
    return Clipped(out, norms, engaged)


def check_activity(case: Case, engaged_steps: list[bool]) -> None:
    """The case's claim about its clip (``clip.active``) against what the reference saw."""
    claim = case.clip.active
    clipped = [i + 1 for i, e in enumerate(engaged_steps) if e]
    idle = [i + 1 for i, e in enumerate(engaged_steps) if not e]
    if claim == "every_step" and idle:
        raise ValueError(f"clip.active = 'every_step', but the clip changes no gradient at steps {idle}: "
                         f"lower the threshold, or claim 'some_steps'")
    if claim == "never" and clipped:
        raise ValueError(f"clip.active = 'never', but the clip changes gradients at steps {clipped}: "
                         f"raise the threshold, or claim 'some_steps'")
