"""The dropout probe in NumPy: one layer of the dropout family on a large tensor."""

from __future__ import annotations

import numpy as np

from .. import data
from ..record import SCALAR, Trajectory, put
from ..spec import ALPHA_VARIANTS, Case

# SELU's constants (Klambauer et al. 2017); alpha dropout sets a dropped unit to SELU's negative saturation
# value -SELU_ALPHA * SELU_SCALE and then rescales so that mean and variance are kept.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def keep_probability(case: Case, np_dtype: np.dtype):
    """1 - p; in the float32 flavour both p and 1 - p are float32, as Paddle's dropout kernel forms them."""
    p = case.dropout.p
    if case.reference.dropout_attributes == "float32":
        return np_dtype.type(float(np.float32(1) - np.float32(p)))
    return np_dtype.type(1 - p)


def alpha_transform(p: float, np_dtype: np.dtype) -> tuple:
    """(a, saturation, shift): a kept element becomes a*x + shift, a dropped one a*saturation + shift."""
    saturation = -SELU_ALPHA * SELU_SCALE
    a = ((1 - p) * (1 + p * saturation ** 2)) ** -0.5
    return np_dtype.type(a), np_dtype.type(saturation), np_dtype.type(-a * saturation * p)


def train_mode(case: Case, x, upstream, mask, np_dtype):
    """Training output and input gradient for a keep mask broadcast to the input's shape. At p = 1 every
    element is dropped and both frameworks return x * 0 (the 1/(1-p) and alpha-dropout scales are
    infinite there): paddle/nn/functional/common.py:1485 (axis) and :1837 (alpha), the dropout kernel's
    "dropout_prob == 1.0f" memset (paddle/phi/kernels/cpu/dropout_kernel.cc), Torch's _dropout_impl
    "p == 1" branch (aten/src/ATen/native/Dropout.cpp)."""
    d = case.dropout
    if d.p == 1:
        return np.zeros_like(x), np.zeros_like(upstream)
    if d.variant in ALPHA_VARIANTS:
        a, saturation, shift = alpha_transform(d.p, np_dtype)
        return a * (x * mask + saturation * (1 - mask)) + shift, upstream * a * mask
    scale = 1 / keep_probability(case, np_dtype) if d.mode == "upscale_in_train" else np_dtype.type(1)
    with np.errstate(invalid="ignore"):  # a literal NaN / Inf input times a dropped 0 stays NaN, as written
        return x * mask * scale, upstream * mask * scale


def eval_scale(case: Case, np_dtype: np.dtype):
    """Eval mode is the identity, except Paddle's downscale_in_infer, which scales by 1 - p."""
    return keep_probability(case, np_dtype) if case.dropout.mode == "downscale_in_infer" else np_dtype.type(1)


def run_dropout(case: Case, dtype: str, recorded: Trajectory | None) -> Trajectory:
    """Training output, input gradient of sum(output * upstream), eval output. The mask is the one the
    implementation drew (``recorded``), or a fresh draw; training = False keeps everything."""
    d = case.dropout
    np_dtype = np.dtype(dtype)
    x, upstream = (a.astype(np_dtype) for a in data.dropout_inputs(case))
    if not d.training:
        mask = np.ones(d.mask_shape(), np_dtype)
    elif recorded is not None:
        mask = recorded.steps[0]["dropout_mask"]["dropout"].astype(np_dtype)
    else:
        mask = (np.random.default_rng([d.seed, 3]).uniform(size=d.mask_shape()) >= d.p).astype(np_dtype)
    evaluated = x * eval_scale(case, np_dtype)
    if d.training:
        out, input_grad = train_mode(case, x, upstream, np.broadcast_to(mask, d.shape), np_dtype)
    else:
        out, input_grad = evaluated, upstream * eval_scale(case, np_dtype)
    traj = Trajectory()
    step = traj.new_step()
    put(step, "dropout_mask", "dropout", mask)
    put(step, "output", "dropout", out)
    put(step, "input_grad", "dropout", input_grad)
    if d.evaluate:
        put(step, "eval_output", "dropout", evaluated)
    keep = np_dtype.type(1 - d.p) if d.training else np_dtype.type(1)
    put(step, "keep_ratio", SCALAR, keep)
    if d.mask_shape()[0] > 1:  # independent draws along the batch agree with probability q^2 + (1-q)^2
        put(step, "batch_agreement", SCALAR, keep ** 2 + (1 - keep) ** 2)
    return traj
