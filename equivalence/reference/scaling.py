"""Dynamic loss scaling in NumPy: the scale of each step, the overflow check and the scale update.

Both GradScalers keep the scale as a float32 tensor (torch/amp/grad_scaler.py:176, ``torch.full((),
init_scale, dtype=torch.float32)``; paddle/amp/grad_scaler.py:182, ``np.array([init]).astype(np.float32)``),
so the reference does too: a backoff of 0.3 gives float32(8 * 0.3), not 2.4.
"""

from __future__ import annotations

import numpy as np

from ..spec import LossScalingSpec


class LossScaler:
    """The policy: after an overflow, skip the step; after ``backoff_interval`` overflowing steps in a row,
    scale *= backoff_factor; after ``growth_interval`` finite steps in a row, scale *= growth_factor. Either
    streak resets the other counter (paddle/amp/grad_scaler.py:458-479, Torch's _amp_update_scale_). Growth
    stops where float32 overflows, as Torch's kernel does (a scale of 2**127 stays 2**127); Paddle's _update
    multiplies without that guard (grad_scaler.py:478), a difference only a GPU run could show."""

    def __init__(self, spec: LossScalingSpec):
        self.spec = spec
        self.scale = np.float32(spec.init_scale)
        self.good = self.bad = 0

    def overflowed(self, grads: dict[str, np.ndarray], factor: float) -> bool:
        """Whether the scaled gradients of a loss multiplied by ``factor`` hold inf or NaN."""
        with np.errstate(over="ignore", invalid="ignore"):
            return any(not np.all(np.isfinite(g * g.dtype.type(factor) * g.dtype.type(self.scale)))
                       for g in grads.values())

    def unscaled(self, g: np.ndarray) -> np.ndarray:
        """The gradient the optimizer sees after unscaling."""
        if self.spec.unscale == "exact":
            return g
        # Torch: inv_scale = scale.double().reciprocal().float() (torch/amp/grad_scaler.py:352), applied to
        # the scaled gradient, so a scale that is not a power of two leaves a float32-sized error.
        inverse = np.float32(1.0 / np.float64(self.scale))
        return (g * g.dtype.type(self.scale)) * g.dtype.type(inverse)

    def update(self, found_inf: bool) -> None:
        s = self.spec
        if found_inf:
            self.good, self.bad = 0, self.bad + 1
            if self.bad == s.backoff_interval:
                self.scale, self.bad = np.float32(self.scale * np.float32(s.backoff_factor)), 0
        else:
            self.bad, self.good = 0, self.good + 1
            if self.good == s.growth_interval:
                with np.errstate(over="ignore"):  # float32 overflow to inf is the case handled here
                    grown = np.float32(self.scale * np.float32(s.growth_factor))
                if np.isfinite(grown):
                    self.scale = grown
                self.good = 0
