"""Paddle's normalization layers for the shared normalization probe (``common._run_normalization_probe``).

Mapping of the neutral spec (``NormalizationSpec``):
- momentum: Paddle's weighs the OLD running value (paddle/nn/layer/norm.py:1240, moving_mean * momentum +
  batch_mean * (1 - momentum)), so the right mapping passes 1 - momentum (``common.norm_momentum``);
- statistics: ``use_global_stats`` None = batch in training, running in eval; True = running in both;
  False = batch in both (paddle/nn/functional/norm.py:235-239);
- the layout is NCHW / NCL (Paddle's default data_format), the canonical one, so nothing is transposed;
  but LayerNorm keeps its scale and shift flattened to [prod(normalized_shape)] (paddle/nn/layer/norm.py:721,
  param_shape = [np.prod(self._normalized_shape)]), where the canonical and Torch's shape is
  normalized_shape itself: they are flattened on the way in and reshaped on the way out.
Parameters are created under the case dtype as the default dtype: BatchNorm and LayerNorm take theirs from
paddle.get_default_dtype() (paddle/nn/layer/norm.py:784), so the package wraps ``create`` in it.
"""

from __future__ import annotations

import warnings

import numpy as np

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import paddle
    import paddle.nn.functional as F

from ...spec import Case
from ..common import norm_momentum

_BATCH_NORMS = {"batch_norm1d": paddle.nn.BatchNorm1D, "batch_norm2d": paddle.nn.BatchNorm2D}


def _use_global_stats(case: Case) -> bool | None:
    n = case.normalization
    if n.train_statistics == "running":
        return True
    return False if n.eval_statistics == "batch" else None


def _options(case: Case) -> dict:
    """momentum / epsilon keywords, left out where the case leaves them out (Paddle's defaults apply)."""
    n = case.normalization
    options = {}
    momentum = norm_momentum(case, "old")
    if momentum is not None and n.layer != "layer_norm":
        options["momentum"] = momentum
    if n.epsilon is not None:
        options["epsilon"] = n.epsilon
    return options


class _Probe:
    """One layer (route ``layer``) or the functional form with explicit state (route ``functional``)."""

    def __init__(self, case: Case, route: str, inputs: dict):
        n = case.normalization
        self.case, self.route, self.dtype = case, route, case.dtype
        self.param_shape = n.param_shape()
        affine = None if n.affine else False
        flat = (lambda a: a.reshape(-1)) if n.layer == "layer_norm" else (lambda a: a)
        inputs = dict(inputs, weight=flat(inputs["weight"]), bias=flat(inputs["bias"]))
        if route == "layer":
            if n.layer == "layer_norm":
                self.layer = paddle.nn.LayerNorm(list(n.param_shape()), weight_attr=affine, bias_attr=affine,
                                                 **_options(case))
            else:
                self.layer = _BATCH_NORMS[n.layer](n.shape[1], weight_attr=affine, bias_attr=affine,
                                                   use_global_stats=_use_global_stats(case), **_options(case))
            self.weight, self.bias = self.layer.weight, self.layer.bias
            if n.affine:
                self.weight.set_value(inputs["weight"].astype(self.dtype))
                self.bias.set_value(inputs["bias"].astype(self.dtype))
        else:
            self.weight = self.bias = None
            if n.affine:
                self.weight = paddle.to_tensor(inputs["weight"].astype(self.dtype), stop_gradient=False)
                self.bias = paddle.to_tensor(inputs["bias"].astype(self.dtype), stop_gradient=False)
            if n.layer != "layer_norm":
                self.mean = paddle.zeros([n.shape[1]], dtype=self.dtype)
                self.variance = paddle.ones([n.shape[1]], dtype=self.dtype)

    def _forward(self, x, training: bool):
        n = self.case.normalization
        if self.route == "layer":
            self.layer.train() if training else self.layer.eval()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "When training, we now always track global mean and variance."
                return self.layer(x)
        if n.layer == "layer_norm":
            return F.layer_norm(x, list(n.param_shape()), self.weight, self.bias, **_options(self.case))
        return F.batch_norm(x, self.mean, self.variance, self.weight, self.bias, training=training,
                            use_global_stats=_use_global_stats(self.case), **_options(self.case))

    def train_step(self, x_np: np.ndarray, upstream: np.ndarray):
        x = paddle.to_tensor(x_np.astype(self.dtype), stop_gradient=False)
        out = self._forward(x, training=True)
        paddle.sum(out * paddle.to_tensor(upstream.astype(self.dtype))).backward()
        grads = {}
        for name, p in (("weight", self.weight), ("bias", self.bias)):
            if p is not None:
                grads[name] = p.grad.numpy().reshape(self.param_shape).copy()
                p.clear_gradient()
        return out.numpy(), x.grad.numpy(), grads

    def evaluate(self, x_np: np.ndarray) -> np.ndarray:
        return self._forward(paddle.to_tensor(x_np.astype(self.dtype)), training=False).numpy()

    def running(self):
        """Paddle's batch norm always keeps running statistics, whatever use_global_stats says."""
        if self.case.normalization.layer == "layer_norm":
            return None
        if self.route == "layer":
            return self.layer._mean.numpy().copy(), self.layer._variance.numpy().copy()
        return self.mean.numpy().copy(), self.variance.numpy().copy()


def create(case: Case, route: str, inputs: dict) -> _Probe:
    return _Probe(case, route, inputs)
