"""The training loop of the reference: forward, loss, backward, regularization, optimizer step."""

from __future__ import annotations

import numpy as np

from .. import data
from ..record import SCALAR, Trajectory, collect, put
from ..spec import Case
from .clipping import check_activity, clip_gradients
from .ema import Ema
from .model import backward, forward, loss_and_grad
from .network import Network, framework_default_start, record_initialisation
from .network import loss_and_grad as network_loss
from .optimizers import ReferenceOptimizer, coefficient_attribute
from .optimizers.base import ratio_for
from .scaling import LossScaler
from .schedules import Schedule


def regularization_grad(case: Case, name: str, w, coefficients) -> np.ndarray:
    """Gradient of the penalty on one parameter: l1*sign(w) + l2*w, 2*l2*w for the 'squared' form (no 1/2),
    or l2*w/norm(w) for the 'norm' form (the gradient of l2*norm(w, 2), which is not the L2Decay rule). None
    with Torch Adam's decoupled_weight_decay, where the optimizer decays the parameter itself."""
    c = coefficients[name]
    g = np.zeros_like(w)
    if case.optimizer.hyper.get("decoupled_weight_decay"):
        return g
    if c.l1:
        g = g + w.dtype.type(c.l1) * np.sign(w)
    if c.l2:
        if case.regularization.penalty_form == "norm":
            norm = np.sqrt((w * w).sum())
            g = g + (w.dtype.type(c.l2) * w / norm if norm > 0 else np.zeros_like(w))
        elif case.regularization.penalty_form == "squared":  # d/dw c*sum(w**2)
            g = g + w.dtype.type(2 * c.l2) * w
        else:
            g = g + w.dtype.type(coefficient_attribute(case, c.l2)) * w
    return g


def run_training(case: Case, dtype: str, recorded: Trajectory | None) -> Trajectory:
    return collect(stream_training(case, dtype, recorded))


def stream_training(case: Case, dtype: str, recorded=None):
    """The training run as a stream: the initial parameters, then each step's records as it is computed.
    ``recorded`` (masks to replay) needs ``recorded.steps[t - 1]`` only once step t is asked for, so it
    may be a window that the caller fills one step at a time."""
    np_dtype = np.dtype(dtype)
    framework_default = case.model.init == "framework_default"
    start = framework_default_start(case) if framework_default else data.initial_params(case)
    params = {k: v.astype(np_dtype) for k, v in start.items()}
    batch_list = data.batches(case)  # cast one batch at a time: a scale case's data is tens of megabytes
    coefficients = case.coefficients()
    optimizer = ReferenceOptimizer(case, np_dtype)
    lr = optimizer.lr
    multipliers = {name: np_dtype.type(m) for name, m in case.lr_multiplier_of().items()}
    ratios = case.optimizer.hyper.get("lr_ratio") or {}  # AdamW's lr_ratio, applied inside its update
    engaged_steps = []
    rng = np.random.default_rng([case.data.seed, 3])
    yield {k: v.astype(np.float64) for k, v in params.items()}
    schedule = Schedule(case) if case.schedule is not None else None
    scaler = LossScaler(case.loss_scaling) if case.loss_scaling is not None else None
    ema = Ema(case.ema, params) if case.ema is not None else None
    network = Network(case, np_dtype, recorded, rng) if case.model.layers else None
    for step_index in range(1, case.steps + 1):
        step = {}
        x, y = batch_list[data.batch_for_step(case, step_index)]
        x, y = _cast(x, np_dtype), None if y is None else _cast(y, np_dtype)
        if network is None:
            masks = _masks(case, recorded, step_index, x.shape[0], rng)
            out, cache = forward(case, params, x, masks, np_dtype)
            loss, grad_out = loss_and_grad(case, out, y)
        else:
            if framework_default and step_index == 1:
                record_initialisation(case, params, step)
            out, cache = network.forward(params, x, step_index)
            masks = network.masks
            loss, grad_out = network_loss(case, out, y)
        if case.loss_weight != 1:  # in the case dtype, as the frameworks multiply by a tensor of it
            loss, grad_out = loss * np_dtype.type(case.loss_weight), grad_out * np_dtype.type(case.loss_weight)
        grads = backward(case, params, cache, grad_out) if network is None else network.backward(params, cache, grad_out)
        lifecycle = case.gradients
        skipped_params: set[str] = set()
        if lifecycle is not None:
            for name in lifecycle.unused_at(step_index, params) | lifecycle.frozen_set(params):
                grads[name] = np.zeros_like(grads[name])  # detached in the forward: no data gradient
            skipped_params = lifecycle.without_gradient(step_index, params)
        if schedule is not None:
            if schedule.shifted:  # the perturbation: the scheduler stepped before the optimizer
                schedule.step(loss)
            lr = np_dtype.type(schedule.lr)
            if schedule.momentum is not None:  # cycle_momentum: the scheduler sets momentum / beta1 too
                optimizer.set_cycled_momentum(schedule.momentum)
        param_lr = {name: lr * m for name, m in multipliers.items()}
        for key, value in optimizer.recorded_hyper().items():
            put(step, f"hyper.{key}", SCALAR, value)
        put(step, "loss", SCALAR, loss)
        put(step, "lr", SCALAR, lr)
        if case.lr_multipliers or ratios:
            for name, value in param_lr.items():
                put(step, "param_lr", name, value * np_dtype.type(ratio_for(name, ratios)))
        skipped = False
        if scaler is not None:
            put(step, "loss_scale", SCALAR, scaler.scale)
            skipped = scaler.overflowed(grads, case.loss_scaling.injected(step_index))
            put(step, "step_skipped", SCALAR, float(skipped))
            grads = {name: scaler.unscaled(g) for name, g in grads.items()}
            scaler.update(skipped)
        for name, mask in masks.items():
            put(step, "dropout_mask", name, mask)
        regularized, final = _regularize_and_clip(case, params, grads, coefficients, step, engaged_steps)
        if optimizer.values.get("maximize"):  # Torch negates the gradient first (validation: no decay, no clip)
            final = {name: -g for name, g in final.items()}
        stepped = None
        if optimizer.info.closure:  # L-BFGS: one step of all parameters, re-evaluating the loss on this batch
            stepped = optimizer.closure_step(list(params), params, _closure(case, x, y, masks, np_dtype, coefficients,
                                                                                   network, step_index))
        for name, w in params.items():
            # a parameter without a gradient (frozen, or unused with gradients reset to None) is skipped by the
            # optimizer, weight decay included
            no_gradient = name in skipped_params
            if stepped is not None:
                new = stepped[name]
            else:
                new = w if skipped or no_gradient else optimizer.step(name, w, final[name], param_lr[name])
            # The parameter-sized records are new arrays of this step, never written again (the optimizers and
            # the training loop make new ones each step): recorded without a copy, which at 1M parameters
            # is a sixth of a reference step.
            if not skipped and not no_gradient:  # an overflowed gradient is inf/NaN, never equal: the skip is recorded
                put(step, "grad", name, grads[name], owned=True)
                if regularized[name] is grads[name]:
                    step.setdefault("grad_regularized", {})[name] = step["grad"][name]
                else:
                    put(step, "grad_regularized", name, regularized[name], owned=True)
            for key, value in optimizer.states.get(name, {}).items():
                put(step, f"state.{key}", name, value, owned=True)
            put(step, "update", name, new - w, owned=True)
            put(step, "param", name, new, owned=True)
            params[name] = new
        if ema is not None:
            for name, value in ema.update(step_index, params).items():
                put(step, "ema", name, value)
        if network is not None:
            network.record(step)
            if step_index == case.steps:
                network.evaluate(params, step)
        if schedule is not None and not schedule.shifted:
            schedule.step(loss)
        if case.clip is not None and step_index == case.steps:
            check_activity(case, engaged_steps)  # before the last step is out, so a bad claim fails the run
        yield step


def _closure(case: Case, x, y, masks, dtype, coefficients, network=None, step_index: int = 0):
    """The closure an L-BFGS step calls: loss and gradients (with any loss penalty) at given parameters. A
    layer-list model's forward runs in training mode, so each evaluation updates batch-norm running statistics,
    as each closure call does in the frameworks."""
    def evaluate(params):
        if network is None:
            out, cache = forward(case, params, x, masks, dtype)
            loss, grad_out = loss_and_grad(case, out, y)
        else:
            out, cache = network.forward(params, x, step_index)
            loss, grad_out = network_loss(case, out, y)
        if case.loss_weight != 1:
            loss, grad_out = loss * dtype.type(case.loss_weight), grad_out * dtype.type(case.loss_weight)
        grads = backward(case, params, cache, grad_out) if network is None else network.backward(params, cache, grad_out)
        for name, w in params.items():
            grads[name] = grads[name] + regularization_grad(case, name, w, coefficients)
            if case.regularization is not None:
                loss = loss + _penalty_value(case, w, coefficients[name])
        return loss, grads
    return evaluate


def _penalty_value(case: Case, w, c):
    value = 0.0
    if c.l1:
        value += c.l1 * np.abs(w).sum()
    if c.l2:
        value += (c.l2 * np.sqrt((w * w).sum()) if case.regularization.penalty_form == "norm"
                  else 0.5 * c.l2 * (w * w).sum())
    return value


def _no_decay(case: Case, c) -> bool:
    return not (c.l1 or c.l2) or bool(case.optimizer.hyper.get("decoupled_weight_decay"))


def _regularize_and_clip(case: Case, params, grads, coefficients, step, engaged_steps):
    """(regularized gradients, gradients the optimizer applies). Without a clip both are g + decay. With
    one, the order is the case's flavour: clip_then_decay clips g and adds the decay to the clipped
    gradient (an optimizer's weight_decay in both frameworks); decay_then_clip clips g + decay (a loss
    penalty, whose gradient is already in .grad when the clip runs)."""
    if case.clip is None:
        # without a penalty the regularized gradient *is* the gradient: one array, recorded and compared once
        regularized = {name: grads[name] if _no_decay(case, coefficients[name])
                       else grads[name] + regularization_grad(case, name, w, coefficients) for name, w in params.items()}
        return regularized, regularized
    decay = {name: regularization_grad(case, name, w, coefficients) for name, w in params.items()}
    if case.reference.clip_order == "decay_then_clip":
        regularized = {name: grads[name] + decay[name] for name in params}
        clipped = clip_gradients(case, regularized)
        final = clipped.grads
    else:
        clipped = clip_gradients(case, grads)
        regularized = final = {name: clipped.grads[name] + decay[name] for name in params}
    for name, value in clipped.norms.items():
        put(step, "grad_norm", name, value)
    for name, value in clipped.grads.items():
        put(step, "grad_clipped", name, value)
    engaged_steps.append(clipped.engaged)
    return regularized, final


def _cast(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return array if array.dtype.kind == "i" else array.astype(dtype)  # labels and token ids stay integers


def _masks(case: Case, recorded: Trajectory | None, step: int, rows: int, rng) -> dict[str, np.ndarray]:
    p = case.model.dropout
    if p == 0:
        return {}
    if recorded is not None:
        return {k: v.copy() for k, v in recorded.steps[step - 1]["dropout_mask"].items()}
    hidden = case.model.sizes[1:-1]
    return {f"dropout{i}": (rng.uniform(size=(rows, width)) >= p).astype(np.float64)
            for i, width in enumerate(hidden)}
