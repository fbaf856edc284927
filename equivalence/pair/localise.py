"""Localising a divergence: both models rerun to the first divergent step with hooks on every sub-layer; the
first layer (forward order) whose output differs, else the first (backward order) whose input gradient differs."""

from __future__ import annotations

import dataclasses
import os

from ..compare import Mismatch
from .steps import read_step
from .streamed import compare_records

QUANTITIES = ("output", "input_grad")


def localise(pc, backends: dict, requests: dict, first: Mismatch, folder: str) -> str:
    from .run import _parallel, _problem  # the runner's helpers; imported here to keep the modules acyclic
    if first.quantity in ("running_mean", "running_var"):  # a buffer names its layer itself
        return f"localised: layer {first.name!r} updates its {first.quantity} differently at step {first.step}"
    probe_folder = os.path.join(folder, "probe")
    os.makedirs(probe_folder, exist_ok=True)
    probes = {n: dataclasses.replace(r, phase="probe", folder=probe_folder, probe_step=first.step)
              for n, r in requests.items()}
    outcomes = _parallel(backends, probes)
    if (problem := _problem(outcomes)) is not None:
        return f"localisation failed: {problem[1]}"
    order = outcomes["torch"].trajectory["order"]
    paddle_rec = read_step(probe_folder, "paddle", first.step)
    torch_rec = read_step(probe_folder, "torch", first.step)
    for quantity, layers in (("output", order), ("input_grad", list(reversed(order)))):
        p, t = paddle_rec.get(quantity, {}), torch_rec.get(quantity, {})
        for layer in dict.fromkeys(layers):
            if layer not in p or layer not in t:
                continue
            c = compare_records({quantity: {layer: p[layer]}}, {quantity: {layer: t[layer]}}, pc.case)
            if not c.equal:
                what = c.first.describe().removeprefix("step 1, ") if c.first else c.structural
                return (f"localised: first differing layer at step {first.step} is {layer!r} ({quantity}; {what}; "
                        f"layers compared in forward order by output, then backward order by input gradient)")
    unmatched = sorted(set(order) - set(paddle_rec.get("output", {})))
    return ("localisation: every matched sub-layer's output and input gradient agree at step "
            f"{first.step}" + (f" (not matched in paddle: {', '.join(unmatched)})" if unmatched else ""))
