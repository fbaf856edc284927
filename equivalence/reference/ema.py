"""Exponential moving average of the parameters in NumPy: S_t = beta_t*S_(t-1) + (1 - beta_t)*W_t.

Flavours (``EmaSpec``): where S starts (first_update: S_1 = W_1; initial_params: S_0 = W_0; zero:
S_0 = 0), an optional bias correction S_t / (1 - beta_t**t), and Paddle's thres_steps warm-up of beta_t.
"""

from __future__ import annotations

import numpy as np

from ..spec import EmaSpec


class Ema:
    def __init__(self, spec: EmaSpec, initial: dict[str, np.ndarray]):
        self.spec = spec
        self.average: dict[str, np.ndarray] = {}
        if spec.init == "initial_params":
            self.average = {n: w.copy() for n, w in initial.items()}
        elif spec.init == "zero":
            self.average = {n: np.zeros_like(w) for n, w in initial.items()}

    def update(self, step: int, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Average in the parameters after step ``step`` (from 1); returns what is recorded as ``ema``."""
        if not self.average:  # first_update: the first update copies the parameters
            self.average = {n: w.copy() for n, w in params.items()}
        else:
            beta = self.spec.decay_at(step)
            for n, w in params.items():
                b = w.dtype.type(beta)
                self.average[n] = b * self.average[n] + (1 - b) * w
        if not self.spec.bias_correction:
            return {n: s.copy() for n, s in self.average.items()}
        correction = 1 - self.spec.decay_at(step) ** step
        return {n: s / s.dtype.type(correction) for n, s in self.average.items()}
