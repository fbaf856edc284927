"""Gradient replay: the NumPy reference of the optimizer step, fed one framework's own gradients and
parameters at every step, must reproduce that framework's update and state. Where it does, the framework's
update rule (optimizer, regularization, clip, schedule) is the reference's, so a difference between the two
frameworks lies in what fed it: the gradients (the model and the loss) or the settings it was given."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..compare import Comparison
from ..record import SCALAR
from ..reference.optimizers import ReferenceOptimizer
from ..reference.schedules import Schedule
from ..reference.training import _regularize_and_clip
from ..spec import Case
from .spec import coefficients_for
from .steps import read_step
from .streamed import compare_records, merge_step

REPLAYED = {"lr", "grad_norm", "grad_clipped", "update", "param"}


def replay(case: Case, folder: str, framework: str, steps: int, lr_factor: float = 1.0) -> Comparison:
    """The reference step fed ``framework``'s gradients, compared with that framework's record step by step.
    ``lr_factor`` moves the learning rate (the sensitivity check: a 1e-3 change must be detected)."""
    if case.clip is not None and case.clip.kind != "value":
        # A pair clips with paddle.nn.utils.clip_grad_norm_ / torch.nn.utils.clip_grad_norm_, both
        # max_norm / (norm + 1e-6) (torch/nn/utils/clip_grad.py, paddle/nn/utils/clip_grad_norm_.py).
        case = dataclasses.replace(case, reference=dataclasses.replace(case.reference, clip_norm_formula="epsilon"))
    dtype = np.dtype(case.dtype)
    total = Comparison()
    before = {n: v.astype(dtype) for n, v in read_step(folder, framework, 0)["param"].items()}
    optimizer = ReferenceOptimizer(case, dtype)
    schedule = Schedule(case) if case.schedule is not None else None
    for step_index in range(1, steps + 1):
        recorded = read_step(folder, framework, step_index)
        grads = {n: g.astype(dtype) for n, g in recorded["grad"].items()}
        params = {n: before[n] for n in grads}
        for quantity, by_name in recorded.items():  # the framework's own settings: its defaults are not at issue here
            if quantity.startswith("hyper."):
                optimizer.values[quantity[len("hyper."):]] = float(by_name[SCALAR])
        lr = dtype.type((schedule.lr if schedule is not None else optimizer.values["lr"]) * lr_factor)
        out: dict[str, dict] = {"lr": {SCALAR: np.asarray(lr)}}
        _, final = _regularize_and_clip(case, params, grads, coefficients_for(case, grads), out, [])
        for name, w in params.items():
            new = optimizer.step(name, w, final[name], lr)
            for key, value in optimizer.states[name].items():
                out.setdefault(f"state.{key}", {})[name] = np.asarray(value)
            out.setdefault("update", {})[name] = new - w
            out.setdefault("param", {})[name] = new
        quantities = REPLAYED | {q for q in recorded if q.startswith("state.")}
        if lr_factor != 1.0:  # the moved lr itself is not the point: its updates must show it
            quantities.discard("lr")
        merge_step(total, compare_records(_only(recorded, quantities), out, case, quantities), step_index)
        before = {n: v.astype(dtype) for n, v in recorded["param"].items()}
        if schedule is not None:
            schedule.step(float(recorded["loss"][SCALAR]))
    return total


def _only(record: dict, quantities: set[str]) -> dict:
    """The framework's record limited to what the replay computes (its buffers are not replayed)."""
    out = {q: dict(v) for q, v in record.items() if q in quantities}
    if "param" in out:
        out["param"] = {n: v for n, v in out["param"].items() if n in record.get("grad", {})}
    return out
