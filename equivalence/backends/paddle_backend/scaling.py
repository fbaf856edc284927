"""Paddle dynamic loss scaling: paddle.amp.GradScaler.

On the CPU the GradScaler disables itself in its constructor, with a warning (paddle/amp/grad_scaler.py:128-136:
"AmpScaler can only be enabled on CUDAPlace, XPUPlace and CustomPlace"); the route is then not applicable,
with that message. On a GPU, scale() also disables it unless the global AMP dtype is float16
(grad_scaler.py:224-234); auto_cast sets that global even with enable=False (paddle/amp/auto_cast.py:539-540), so
the backward pass below runs under auto_cast(enable=False, dtype='float16'): the scaler is on and the arithmetic
stays in the case dtype, comparable with the reference.
"""

from __future__ import annotations

import warnings

import paddle

from ...spec import Case
from ..common import NotApplicable


def create(case: Case):
    ls = case.loss_scaling
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scaler = getattr(paddle.amp, ls.paddle_class)(init_loss_scaling=ls.init_scale, incr_ratio=ls.growth_factor,
                                       decr_ratio=ls.backoff_factor, incr_every_n_steps=ls.growth_interval,
                                       decr_every_n_nan_or_inf=ls.backoff_interval)
    if not scaler.is_enable() and not ls.keep_disabled:
        said = "; ".join(str(w.message) for w in caught) or "no warning"
        raise NotApplicable(f"paddle.amp.{ls.paddle_class} disabled itself (paddle/amp/grad_scaler.py:128-136): {said}")
    return scaler


def scale(scaler) -> float:
    """The scale the next backward pass uses (1: a disabled scaler's scale() returns the loss as it is,
    grad_scaler.py:256)."""
    return float(scaler._scale) if scaler.is_enable() else 1.0


def backward(scaler, loss, factor: float) -> None:
    """Backward of the scaled loss; ``factor`` (inf or nan) injects an overflow."""
    was_enabled = scaler.is_enable()
    with paddle.amp.auto_cast(enable=False, dtype="float16"):
        scaled = scaler.scale(loss * factor if factor != 1.0 else loss)
    if was_enabled and not scaler.is_enable():
        raise NotApplicable("paddle.amp.GradScaler.scale disabled the scaler (paddle/amp/grad_scaler.py:224-234)")
    scaled.backward()
    scaler.equivalence_scaled_loss = scaled  # AmpScaler.minimize takes it


def unscale(scaler, optimizer) -> bool:
    """Unscale the gradients in place; whether GradScaler found inf/NaN (then step() skips the update)."""
    # disabled: returns at once (grad_scaler.py:363), finding nothing. The legacy AmpScaler has no public
    # unscale_; its _unscale is what GradScaler.unscale_ and AmpScaler.minimize call.
    (scaler.unscale_ if hasattr(scaler, "unscale_") else scaler._unscale)(optimizer)
    return scaler.is_enable() and bool(scaler._found_inf)


def step(scaler, optimizer) -> None:
    if isinstance(scaler, paddle.amp.GradScaler):
        scaler.step(optimizer)
        scaler.update()
    else:  # AmpScaler: minimize skips or steps and updates the scale (grad_scaler.py:323-351)
        scaler.minimize(optimizer, scaler.equivalence_scaled_loss)
    optimizer.clear_grad()
