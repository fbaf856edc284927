"""The dropout probe in NumPy: one dropout layer on a large tensor."""

from __future__ import annotations

import numpy as np

from .. import data
from ..record import SCALAR, Trajectory, put
from ..spec import Case


def run_dropout(case: Case, dtype: str, recorded: Trajectory | None) -> Trajectory:
    """One dropout layer: training output x*mask*s, input gradient upstream*mask*s, eval output x*e, with
    (s, e) = (1/(1-p), 1) for upscale_in_train and (1, 1-p) for downscale_in_infer."""
    d = case.dropout
    np_dtype = np.dtype(dtype)
    x, upstream = (a.astype(np_dtype) for a in data.dropout_inputs(case))
    if recorded is not None:
        mask = recorded.steps[0]["dropout_mask"]["dropout"].astype(np_dtype)
    else:
        mask = (np.random.default_rng([d.seed, 3]).uniform(size=d.shape) >= d.p).astype(np_dtype)
    keep = np_dtype.type(1 - d.p)
    train_scale, eval_scale = (1 / keep, np_dtype.type(1)) if d.mode == "upscale_in_train" else (np_dtype.type(1), keep)
    traj = Trajectory()
    step = traj.new_step()
    put(step, "dropout_mask", "dropout", mask)
    put(step, "output", "dropout", x * mask * train_scale)
    put(step, "input_grad", "dropout", upstream * mask * train_scale)
    put(step, "eval_output", "dropout", x * eval_scale)
    put(step, "keep_ratio", SCALAR, keep)
    return traj
