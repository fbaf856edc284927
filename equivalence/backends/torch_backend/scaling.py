"""Torch dynamic loss scaling: torch.amp.GradScaler on the suite's device."""

from __future__ import annotations

import warnings

import torch

from ...spec import Case
from ..common import DEVICE, NotApplicable


def create(case: Case):
    ls = case.loss_scaling
    if ls.backoff_interval != 1:
        raise NotApplicable("torch.amp.GradScaler backs off on every overflowing step: it has no counterpart of "
                            "Paddle's decr_every_n_nan_or_inf (torch/amp/grad_scaler.py:549, _amp_update_scale_ "
                            "takes growth_factor, backoff_factor and growth_interval only)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scaler = torch.amp.GradScaler(DEVICE, init_scale=ls.init_scale, growth_factor=ls.growth_factor,
                                      backoff_factor=ls.backoff_factor, growth_interval=ls.growth_interval)
    if not scaler.is_enabled():
        said = "; ".join(str(w.message) for w in caught) or "no warning"
        raise NotApplicable(f"torch.amp.GradScaler({DEVICE!r}) disabled itself: {said}")
    return scaler


def scale(scaler) -> float:
    """The scale the next backward pass uses."""
    return scaler.get_scale()


def backward(scaler, loss, factor: float) -> None:
    """Backward of the scaled loss; ``factor`` (inf or nan) injects an overflow."""
    scaler.scale(loss * factor if factor != 1.0 else loss).backward()


def unscale(scaler, optimizer) -> bool:
    """Unscale the gradients in place; whether GradScaler found inf/NaN (then step() skips the update)."""
    scaler.unscale_(optimizer)
    return bool(sum(v.item() for v in scaler._found_inf_per_device(optimizer).values()))


def step(scaler, optimizer) -> None:
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad()
