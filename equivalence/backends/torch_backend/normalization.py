"""Torch's normalization layers for the shared normalization probe (``common._run_normalization_probe``).

Mapping of the neutral spec (``NormalizationSpec``):
- momentum: Torch's weighs the NEW batch statistic (torch/nn/modules/batchnorm.py:339), the neutral
  convention, so it passes unchanged;
- train_statistics = running: Torch has no flag for it; a module in eval mode (or F.batch_norm with
  training=False) normalizes with its running statistics, updates nothing and still back-propagates;
- eval_statistics = batch: track_running_stats=False, which keeps no running statistics at all
  (torch/nn/modules/batchnorm.py:200-203), or F.batch_norm with running_mean = running_var = None.
The layout is NCHW, the canonical one.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ...spec import Case
from ..common import NotApplicable, norm_momentum

_DTYPES = {"float32": torch.float32, "float64": torch.float64}
_BATCH_NORMS = {"batch_norm1d": torch.nn.BatchNorm1d, "batch_norm2d": torch.nn.BatchNorm2d}


def _options(case: Case) -> dict:
    """momentum / eps keywords, left out where the case leaves them out (Torch's defaults apply; a
    momentum of None would mean a cumulative average in Torch, so it is never passed as None)."""
    n = case.normalization
    options = {}
    momentum = norm_momentum(case, "new")
    if momentum is not None and n.layer != "layer_norm":
        options["momentum"] = momentum
    if n.epsilon is not None:
        options["eps"] = n.epsilon
    return options


class _Probe:
    """One module (route ``layer``) or F.batch_norm / F.layer_norm with explicit state (``functional``)."""

    def __init__(self, case: Case, route: str, inputs: dict):
        n = case.normalization
        self.case, self.route = case, route
        dtype = _DTYPES[case.dtype]
        self.tracks = n.layer != "layer_norm" and n.eval_statistics == "running"
        if route == "layer":
            if n.layer == "layer_norm":
                self.layer = torch.nn.LayerNorm(list(n.param_shape()), elementwise_affine=n.affine, dtype=dtype,
                                                **_options(case))
            else:
                self.layer = _BATCH_NORMS[n.layer](n.shape[1], affine=n.affine, track_running_stats=self.tracks,
                                                   dtype=dtype, **_options(case))
            self.weight, self.bias = self.layer.weight, self.layer.bias
            if n.affine:
                with torch.no_grad():
                    self.weight.copy_(torch.from_numpy(inputs["weight"]))
                    self.bias.copy_(torch.from_numpy(inputs["bias"]))
        else:
            self.weight = self.bias = None
            if n.affine:
                self.weight = torch.from_numpy(inputs["weight"].astype(case.dtype)).requires_grad_()
                self.bias = torch.from_numpy(inputs["bias"].astype(case.dtype)).requires_grad_()
            self.mean = self.variance = None
            if self.tracks:
                self.mean = torch.zeros(n.shape[1], dtype=dtype)
                self.variance = torch.ones(n.shape[1], dtype=dtype)

    def _forward(self, x, training: bool):
        n = self.case.normalization
        # Whether the batch statistics normalize this forward (and, when tracked, update the running ones).
        batch_stats = n.train_statistics == "batch" if training else n.eval_statistics == "batch"
        if self.route == "layer":
            self.layer.train(batch_stats and training)
            return self.layer(x)
        if n.layer == "layer_norm":
            return F.layer_norm(x, list(n.param_shape()), self.weight, self.bias, **_options(self.case))
        return F.batch_norm(x, self.mean, self.variance, self.weight, self.bias, training=batch_stats,
                            **_options(self.case))

    def train_step(self, x_np: np.ndarray, upstream: np.ndarray):
        x = torch.from_numpy(x_np.astype(self.case.dtype)).requires_grad_()
        try:
            out = self._forward(x, training=True)
        except ValueError as exc:  # one value per channel (torch/nn/functional.py:2853-2856): Torch's answer
            raise NotApplicable(f"torch refuses it: {exc}") from None
        (out * torch.from_numpy(upstream.astype(self.case.dtype))).sum().backward()
        grads = {}
        for name, p in (("weight", self.weight), ("bias", self.bias)):
            if p is not None:
                grads[name] = p.grad.numpy().copy()
                p.grad = None
        return out.detach().numpy(), x.grad.numpy(), grads

    def evaluate(self, x_np: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self._forward(torch.from_numpy(x_np.astype(self.case.dtype)), training=False).numpy()

    def running(self):
        if not self.tracks:
            return None
        mean, var = (self.layer.running_mean, self.layer.running_var) if self.route == "layer" else \
            (self.mean, self.variance)
        return mean.detach().numpy().copy(), var.detach().numpy().copy()


def create(case: Case, route: str, inputs: dict) -> _Probe:
    return _Probe(case, route, inputs)
