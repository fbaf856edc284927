"""Each framework's documented default initialiser per layer parameter, and how far a drawn tensor sits from
one (z-scores), for `model.init = "framework_default"`. Framework-free.

A parameter is summarised by three numbers (quantity ``init_z``): the z-score of its mean, the z-score of its
standard deviation (the sample std of n draws has std sigma*sqrt((kurtosis-1)/(4n))), and a bound flag, 0
when every element lies inside the initialiser's support (uniform bounds, 6 sigma for a normal) and inf
otherwise. A constant initialiser gives 0s when every element equals it and inf otherwise. Two draws from
the same initialiser differ by a few units; another framework's initialiser by far more (the std alone by
tens to hundreds of units at these sizes), and inf never compares equal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .spec.layers import Layer

Z_TOLERANCE = 6.0  # |z_a - z_b| allowed between two draws of one initialiser (each ~N(0, 1))
NORMAL_SUPPORT = 6.0  # a normal draw beyond 6 sigma counts as out of bounds


@dataclass(frozen=True)
class Distribution:
    kind: str  # uniform | normal | constant
    center: float
    scale: float  # uniform: the bound b of U(-b, b); normal: sigma; constant: unused
    source: str  # file:line of the framework's initialiser

    @property
    def std(self) -> float:
        return self.scale / math.sqrt(3) if self.kind == "uniform" else (self.scale if self.kind == "normal" else 0.0)

    def draw(self, rng, shape) -> np.ndarray:
        if self.kind == "uniform":
            return rng.uniform(self.center - self.scale, self.center + self.scale, shape)
        if self.kind == "normal":
            return self.center + self.scale * rng.standard_normal(shape)
        return np.full(shape, self.center)


def _fans(layer: Layer) -> tuple[int, int]:
    """(fan_in, fan_out) the way both frameworks compute them from a weight's own layout: Paddle from its
    [in, out] Linear weight (paddle/nn/initializer/initializer.py:140-150), Torch from [out, in, k...] (size(1)
    * receptive field, torch/nn/init.py:465-474); for a conv weight both read [dim0, dim1, k...]."""
    shape = layer.params["weight"]
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def documented(framework: str, layer: Layer, role: str) -> Distribution:
    """The default initialiser of a layer's parameter (role weight or bias) in the framework."""
    kind, s = layer.kind, layer.spec
    if kind in ("batch_norm", "layer_norm", "instance_norm", "group_norm"):
        value = 1.0 if role == "weight" else 0.0
        where = "paddle/nn/layer/norm.py:96-106" if framework == "paddle" else "torch/nn/modules/batchnorm.py:99-104"
        return Distribution("constant", value, 0.0, where)
    if framework == "paddle":
        if role == "bias":
            return Distribution("constant", 0.0, 0.0, "paddle/base/param_attr.py:175 (Constant(0.0))")
        if kind in ("conv1d", "conv2d"):
            std = math.sqrt(2.0 / (s.in_channels * int(np.prod(layer.params["weight"][2:]))))
            return Distribution("normal", 0.0, std, "paddle/nn/layer/conv.py:182-187 (Normal(0, sqrt(2/(k*in_channels))))")
        if kind == "linear":  # Paddle's weight is [in, out]: fan_in = in, fan_out = out
            fan_in, fan_out = layer.params["weight"]
        elif kind == "embedding":
            fan_in, fan_out = layer.params["weight"]
        else:  # conv2d_transpose: no default_initializer, so Xavier on its [in, out/g, kh, kw] weight
            fan_in, fan_out = _fans(layer)
        return Distribution("uniform", 0.0, math.sqrt(6.0 / (fan_in + fan_out)),
                            "paddle/base/param_attr.py:163 (XavierUniform), paddle/nn/initializer/xavier.py:156")
    if kind == "embedding":
        return Distribution("normal", 0.0, 1.0, "torch/nn/modules/sparse.py:180 (init.normal_)")
    fan_in = _fans(layer)[0] if kind != "linear" else layer.params["weight"][0]
    bound = 1.0 / math.sqrt(fan_in)
    where = "torch/nn/modules/linear.py:124-128" if kind == "linear" else "torch/nn/modules/conv.py:196-201"
    return Distribution("uniform", 0.0, bound, where + " (kaiming_uniform_(a=sqrt(5)) = U(+-1/sqrt(fan_in)))")


def _kurtosis(dist: Distribution) -> float:
    return 1.8 if dist.kind == "uniform" else 3.0


def z_scores(values: np.ndarray, dist: Distribution, skip_row: int | None = None) -> np.ndarray:
    """[z of the mean, z of the std, bound flag] of a drawn tensor against the distribution; ``skip_row``
    (an embedding's padding row, zeroed after the draw by both frameworks) must be 0 and is left out."""
    values = np.asarray(values, dtype=np.float64)
    if skip_row is not None:
        if np.any(values[skip_row] != 0):
            return np.array([np.inf, np.inf, np.inf])
        values = np.delete(values, skip_row, axis=0)
    flat = values.reshape(-1)
    if dist.kind == "constant":
        return np.zeros(3) if np.all(flat == dist.center) else np.array([np.inf, np.inf, np.inf])
    n = flat.size
    sigma = dist.std
    z_mean = (flat.mean() - dist.center) / (sigma / math.sqrt(n))
    z_std = (flat.std() / sigma - 1) / math.sqrt((_kurtosis(dist) - 1) / (4 * n))
    support = dist.scale if dist.kind == "uniform" else NORMAL_SUPPORT * sigma
    inside = np.all(np.abs(flat - dist.center) <= support * (1 + 1e-6))
    return np.array([z_mean, z_std, 0.0 if inside else np.inf])
