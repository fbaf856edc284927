"""Framework-neutral helpers the backends share (NumPy only, no framework import)."""

from __future__ import annotations

import dataclasses
import inspect
import os

import numpy as np

from .. import data
from ..record import SCALAR, Trajectory, collect, put
from ..reference.optimizers import REGISTRY
from ..spec import (ALPHA_VARIANTS, EMA_ROUTES, PER_PARAMETER_ROUTES, PORT_ROUTE, Case, ClipSpec, Coefficients,
                    DropoutSpec, split_route)

# Where the training cases run: EQUIVALENCE_DEVICE=cuda puts the models, the data and the GradScalers of both
# frameworks on the GPU (Paddle's GradScaler refuses a CPU place); default cpu. Dropout probes stay on the CPU.
DEVICE = os.environ.get("EQUIVALENCE_DEVICE", "cpu")
if DEVICE not in ("cpu", "cuda"):
    raise ValueError(f"EQUIVALENCE_DEVICE={DEVICE!r}; accepted: cpu, cuda")


class NotApplicable(Exception):
    """The framework cannot express this (case, route); the message says why, citing the API."""


def recover_mask(x: np.ndarray, output: np.ndarray, input_grad: np.ndarray | None = None) -> np.ndarray:
    """Keep mask (1.0 kept, 0.0 dropped) read off a dropout output.

    Where the input is exactly zero the output is zero whatever the mask, so the mask is read off the
    input gradient instead when one is given (the upstream gradient must have no zeros). Without one,
    such positions count as kept: their forward value is zero either way, and their gradient only
    reaches earlier layers through an activation whose derivative is zero there (ReLU at z <= 0) or
    that almost never gives an exact zero (tanh, sigmoid, identity on continuous inputs).
    """
    kept = output != 0
    zero_in = x == 0
    if input_grad is not None:
        kept = np.where(zero_in, input_grad != 0, kept)
    else:
        kept = kept | zero_in
    return kept.astype(np.float64)


def recover_draw_mask(d: DropoutSpec, x: np.ndarray, output: np.ndarray, input_grad: np.ndarray) -> np.ndarray:
    """The keep mask at the shape of one draw (``DropoutSpec.mask_shape``), read off a probe's output and
    input gradient.

    Alpha dropout replaces a dropped element by a constant, not 0, so its output says nothing; its
    gradient does: a*upstream where kept, exactly 0 where dropped (the upstream gradient has no zeros).
    For whole-channel dropout a channel counts as kept if any of its elements is; a framework dropping
    single elements of a kept channel then shows in the output, which the reference computes from the
    channel mask."""
    kept = (input_grad != 0).astype(np.float64) if d.variant in ALPHA_VARIANTS else recover_mask(x, output, input_grad)
    shape = d.mask_shape()
    shared = tuple(i for i, (full, draw) in enumerate(zip(kept.shape, shape)) if draw == 1 and full != 1)
    return kept.max(axis=shared, keepdims=True) if shared else kept


def norm_momentum(case: Case, convention: str) -> float | None:
    """The momentum argument for a framework whose `momentum` weighs the ``new`` batch statistic (Torch)
    or the ``old`` running value (Paddle); None = leave it out (the framework's default)."""
    n = case.normalization
    if n.momentum is None:
        return None
    if convention == "new" or n.momentum_mapping == "same_number":
        return n.momentum
    return 1.0 - n.momentum


def optimizer_decay(case: Case) -> Coefficients | None:
    """The single coefficient pair an optimizer's weight_decay can carry, or NotApplicable: the
    optimizer's argument covers every parameter with one regularizer."""
    coeffs = set(case.coefficients().values())
    if len(coeffs) > 1:
        raise NotApplicable("the optimizer's weight_decay applies one coefficient to every parameter, "
                            "and this case regularizes parameters differently")
    (c,) = coeffs
    return None if (c.l1 == 0 and c.l2 == 0) else c


def lr_multipliers(case: Case, base: str) -> dict[str, float]:
    """Learning-rate multiplier per parameter, or NotApplicable for a route with one learning rate."""
    multipliers = case.lr_multiplier_of()
    if base not in PER_PARAMETER_ROUTES and any(m != 1.0 for m in multipliers.values()):
        raise NotApplicable(f"the {base} route gives every parameter the optimizer's one learning rate; "
                            f"per-parameter learning rates need a per-parameter route ({', '.join(PER_PARAMETER_ROUTES)})")
    return multipliers


def symmetric_clip_value(spec: ClipSpec, function: str, source: str) -> float:
    """The one bound a clip_grad_value_ function takes, or NotApplicable for bounds other than [-v, v]."""
    low, high = spec.bounds
    if low != -high:
        raise NotApplicable(f"{function}(parameters, clip_value) clamps to [-clip_value, clip_value] ({source}); "
                            f"this case clamps to [{low:g}, {high:g}]")
    return high


def optimizer_kwargs(case: Case, framework: str, tensor=None) -> dict:
    """Constructor arguments for the hyper-parameters the case sets, under the framework's names from the
    registry; what the case leaves out is not passed, so the framework's own default applies. A tuple
    argument (``betas[0]``) is passed whole, its other elements at the framework's defaults. Per-parameter
    settings (patterns, ratios) are left to the backend. NotApplicable for a hyper-parameter the framework
    does not have, unless its algorithm behaves as that value anyway. ``tensor`` makes the framework's
    tensor of a value, for the hyper-parameters the case passes as tensors (optimizer.as_tensor)."""
    info = REGISTRY[case.optimizer.name]
    given = dict(case.optimizer.hyper)
    if case.optimizer.lr is not None:
        given["lr"] = case.optimizer.lr
    kwargs: dict = {}
    for key, value in given.items():
        hyper = info.hypers[key]
        if hyper.kind in ("patterns", "ratios"):
            continue
        arg = hyper.side(framework)
        if arg.name is None:
            if arg.default is not None and value == arg.default:
                continue
            where = {"paddle": "paddle.optimizer.", "torch": "torch.optim."}.get(framework, f"{framework} ")
            raise NotApplicable(f"{where}{getattr(info, framework)} has no counterpart of {key} = {value!r}"
                                + (f" (it behaves as {key} = {arg.default!r})" if arg.default is not None else ""))
        if hyper.framework_value is not None:
            value = hyper.framework_value(value)
        name, index = split_index(arg.name)
        if index is None:
            kwargs[name] = value
            continue
        if name not in kwargs:
            elements = {split_index(h.side(framework).name or "")[1]: h.side(framework).default
                        for h in info.hypers.values() if split_index(h.side(framework).name or "")[0] == name}
            kwargs[name] = [elements[i] for i in range(len(elements))]
        kwargs[name][index] = value
    # optimizer.as_tensor: the framework's tensor of the value; a tuple argument gets tensors throughout
    wrapped = {split_index(info.hypers[k].side(framework).name or "")[0] for k in case.optimizer.as_tensor}
    for name in wrapped & set(kwargs):
        value = kwargs[name]
        kwargs[name] = [tensor(v) for v in value] if isinstance(value, list) else tensor(value)
    return {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}


# Constructor arguments that choose an implementation of the same update, never the update itself: a case may
# give them any value under [optimizer.paddle] / [optimizer.torch].
IMPLEMENTATION_ARGUMENTS = {"torch": ("foreach", "fused", "capturable", "differentiable"),
                            "paddle": ("use_multi_tensor", "multi_precision", "lazy_mode", "name")}


def framework_arguments(case: Case, framework: str, cls) -> dict:
    """The case's [optimizer.<framework>] arguments for ``cls``, checked against its signature: the string
    "None" is None; an argument the class does not take, or one that changes the update given at another
    value than its default, is an error naming the accepted ones (the reference would not know it)."""
    given = getattr(case.optimizer, framework)
    if not given:
        return {}
    parameters = inspect.signature(cls.__init__).parameters
    where = f"{cls.__module__}.{cls.__name__}"
    out = {}
    for name, value in given.items():
        value = None if value == "None" else value
        if name not in parameters or name == "self":
            raise ValueError(f"optimizer.{framework}.{name}: {where} has no argument {name!r}; it takes "
                             + ", ".join(p for p in parameters if p != "self"))
        default = parameters[name].default
        if value != default and name not in IMPLEMENTATION_ARGUMENTS[framework]:
            raise ValueError(f"optimizer.{framework}.{name} = {value!r}: not {where}'s default ({default!r}), and it "
                             f"changes the update; only {', '.join(IMPLEMENTATION_ARGUMENTS[framework])} may take "
                             "other values here")
        out[name] = value
    return out


def split_index(arg_name: str) -> tuple[str, int | None]:
    """'betas[1]' -> ('betas', 1); 'eps' -> ('eps', None)."""
    if arg_name.endswith("]") and "[" in arg_name:
        name, index = arg_name[:-1].split("[", 1)
        if index.isdigit():
            return name, int(index)
    return arg_name, None


def per_parameter(case: Case) -> dict[str, object]:
    """The case's per-parameter hyper-parameters (patterns, ratios): neutral key -> value."""
    info = REGISTRY[case.optimizer.name]
    return {key: value for key, value in case.optimizer.hyper.items()
            if info.hypers[key].kind in ("patterns", "ratios")}


def scalar_state(value: np.ndarray) -> np.ndarray:
    """A per-parameter number kept as a [1] tensor, or as a parameter-shaped tensor of equal elements,
    as the canonical 0-d array. Unequal elements stay as they are, so the difference shows."""
    flat = value.reshape(-1)
    return flat[0].copy() if flat.size and np.all(flat == flat[0]) else value


def penalty_terms(case: Case) -> list[tuple[str, str, float]]:
    """(parameter, 'l1' | 'l2', coefficient) for every non-zero penalty of the loss_penalty route."""
    terms = []
    for name, c in case.coefficients().items():
        if c.l1:
            terms.append((name, "l1", c.l1))
        if c.l2:
            terms.append((name, "l2", c.l2))
    return terms


# ------------------------------------------------------------------------------------- the shared loops
# One loop records every quantity, in the same order, for every framework: a backend module supplies only
# its primitives (``fw`` below): seed, tensor, canonical, backward, build, autocast, freeze, linear, activation, dropout, loss,
# penalty, lr, param_lr, clip_gradients, state, step, dropout_probe, normalization_layer and loss_probe, and its submodules
# schedules, scaling and ema. So a quantity cannot mean one thing in Paddle and another in Torch because two
# loops drifted apart.

def port(case: Case, framework: str) -> tuple[Case, str]:
    """(the case as a user's natural port writes it in ``framework``, the route that runs it).

    What the framework cannot express is dropped, the way a user porting the call drops it: an optimizer
    argument it has no counterpart of (Torch Adagrad's lr_decay in Paddle, Paddle ASGD's batch_num in Torch),
    Paddle's dropout mode downscale_in_infer in Torch (which always upscales in training), Paddle's
    decr_every_n_nan_or_inf in Torch's GradScaler (which backs off on every overflow); gradients are cleared by
    each framework's default call (Paddle clear_grad() zeroes them, Torch zero_grad() sets them to None). A GradScaler that
    disables itself (Paddle's on a CPU place) is kept disabled, as the documented calls leave it. Where the
    framework has the feature the port is the faithful call."""
    changes: dict = {}
    if case.optimizer is not None:
        info = REGISTRY[case.optimizer.name]
        kept = {k: v for k, v in case.optimizer.hyper.items() if info.hypers[k].side(framework).name is not None
                or v == info.hypers[k].side(framework).default}
        changes["optimizer"] = dataclasses.replace(case.optimizer, hyper=kept)
    if case.dropout is not None and framework == "torch" and case.dropout.mode == "downscale_in_infer":
        changes["dropout"] = dataclasses.replace(case.dropout, mode="upscale_in_train")
    if case.gradients is not None:  # each framework's default clearing call
        changes["gradients"] = dataclasses.replace(case.gradients, reset="zero" if framework == "paddle" else "none")
    if case.loss_scaling is not None:
        interval = 1 if framework == "torch" else case.loss_scaling.backoff_interval
        changes["loss_scaling"] = dataclasses.replace(case.loss_scaling, backoff_interval=interval,
                                                      keep_disabled=True)
    route = {"training": "optimizer", "loss": "functional"}.get(case.kind, "layer")
    return dataclasses.replace(case, **changes), route


def run(case: Case, route: str, fw) -> Trajectory:
    return collect(stream(case, route, fw))


def whole(result):
    """The stream of a route whose result is one object, not a record per step (a user's model pair, which
    writes its steps to files): it ends at once, returning the result, which the worker passes on whole."""
    return result
    yield  # makes this a generator


def stream(case: Case, route: str, fw):
    """The run as a stream (initial parameters, then one step at a time): a training run yields each step
    as soon as it is recorded, so neither the worker nor the harness ever holds the whole run. A probe is
    small and runs at once. NotApplicable (or a framework's refusal) comes at the first ``next``. The port
    route runs the case as a user's natural port writes it (``port``)."""
    if route == PORT_ROUTE:
        case, route = port(case, fw.NAME)
    if case.kind == "training":
        return _stream_training(case, route, fw)
    return _probe_stream(case, route, fw)


def _probe_stream(case: Case, route: str, fw):
    if case.kind == "dropout":
        yield from _run_dropout_probe(case, route, fw).stream()
    elif case.kind == "normalization":
        yield from _run_normalization_probe(case, route, fw).stream()
    else:
        yield from _run_loss_probe(case, route, fw).stream()


def _forward(case: Case, layers, x, step, fw, detached: set[str] = frozenset()):
    """The model's output; the parameters named in ``detached`` enter it detached (no gradient reaches them)."""
    h = x
    for i, layer in enumerate(layers):
        cut = {part for part in ("weight", "bias") if f"linear{i}.{part}" in detached}
        z = fw.linear(layer, h, cut) if cut else layer(h)
        if i == len(layers) - 1:
            return z
        a = fw.activation(case.model.activation, z)
        if case.model.dropout > 0:
            out = fw.dropout(a, case.model.dropout)
            put(step, "dropout_mask", f"dropout{i}", recover_mask(fw.canonical("", a), fw.canonical("", out)))
            a = out
        h = a


def _penalty(case: Case, params, fw):
    total = None
    for name, kind, c in penalty_terms(case):
        term = fw.penalty(kind, case.regularization.penalty_form, params[name], c)
        total = term if total is None else total + term
    return total


def _closure(case: Case, layers, params, x, y, base: str, optimizer, fw):
    """The closure of an optimizer that re-evaluates the loss (L-BFGS): gradients cleared, the forward pass,
    the data loss (with the loss penalty on that route), backward; returns the loss."""
    def closure():
        fw.zero_grad(optimizer)
        if case.model.layers:
            out = layers.forward(fw.tensor(x, case.dtype if x.dtype.kind == "f" else "int64"), None)
        else:
            out = _forward(case, layers, fw.tensor(x, case.dtype), {}, fw)
        loss = fw.loss(case, out, y)
        if case.loss_weight != 1:
            loss = loss * fw.tensor(np.asarray(case.loss_weight), case.dtype)
        if base == "loss_penalty" and (penalty := _penalty(case, params, fw)) is not None:
            loss = loss + penalty
        fw.backward(loss)
        return loss
    return closure


def _scaled_backward(case: Case, step_index: int, step: dict, scaler, loss, optimizer, fw) -> bool:
    """Backward through the framework's GradScaler, with the case's injected overflow; records the scale
    and whether the step is skipped, which it returns."""
    put(step, "loss_scale", SCALAR, fw.scaling.scale(scaler))
    fw.scaling.backward(scaler, loss, case.loss_scaling.injected(step_index))
    skipped = fw.scaling.unscale(scaler, optimizer)
    put(step, "step_skipped", SCALAR, float(skipped))
    return skipped


def _stream_training(case: Case, route: str, fw):
    base, clip = split_route(route)
    fw.seed(case.data.seed)
    layers, params, optimizer = fw.build(case, route)
    scheduler = fw.schedules.create(case, optimizer) if case.schedule is not None else None
    scaler = fw.scaling.create(case) if case.loss_scaling is not None else None
    ema = fw.ema.create(case, route, layers, params) if route in EMA_ROUTES else None
    batches = data.batches(case)
    network = layers if case.model.layers else None
    canonical = fw.canonical if network is None else network.canonical  # the layer-list layouts
    lifecycle = case.gradients
    if lifecycle is not None:
        for n in lifecycle.frozen_set(params):
            fw.freeze(params[n])
    yield {n: canonical(n, p) for n, p in params.items()}
    for step_index in range(1, case.steps + 1):
        step = {}
        x, y = batches[data.batch_for_step(case, step_index)]
        detached = lifecycle.unused_at(step_index, params) if lifecycle is not None else set()
        with fw.autocast(case):
            if network is None:
                out = _forward(case, layers, fw.tensor(x, case.dtype), step, fw, detached)
            else:
                if step_index == 1 and case.model.init == "framework_default":
                    network.record_initialisation(step)
                out = network.forward(fw.tensor(x, case.dtype if x.dtype.kind == "f" else "int64"), step)
            loss = fw.loss(case, out, y)
        if case.loss_weight != 1:  # a tensor of the case dtype: a Python float may become a float32 attribute
            loss = loss * fw.tensor(np.asarray(case.loss_weight), case.dtype)
        skipped = False
        if scaler is None:
            fw.backward(loss)
        else:
            skipped = _scaled_backward(case, step_index, step, scaler, loss, optimizer, fw)
        put(step, "loss", SCALAR, fw.canonical(SCALAR, loss))
        put(step, "lr", SCALAR, fw.lr(optimizer))
        if case.lr_multipliers or case.optimizer.hyper.get("lr_ratio"):  # per-parameter learning rates
            for n, p in params.items():
                put(step, "param_lr", n, fw.param_lr(optimizer, p))
        before = {n: canonical(n, p) for n, p in params.items()}
        for n, p in params.items():
            # inf/NaN never compare equal, so a skipped step records the skip; a parameter without a gradient
            # (frozen, or cleared to None and unused) records none
            if not skipped and p.grad is not None:
                put(step, "grad", n, canonical(n, p.grad), owned=True)
        if base == "loss_penalty" and (penalty := _penalty(case, params, fw)) is not None:
            fw.backward(penalty)  # gradients accumulate onto the data-loss gradients
            for n, p in params.items():
                put(step, "grad_regularized", n, canonical(n, p.grad), owned=True)
        if clip == "clip_function":  # the user's clip, between backward and step (clip_argument: in step)
            clipped = {n: p for n, p in params.items() if n not in case.clip.excluded(params)}
            for n, norm in fw.clip_gradients(case.clip, clipped).items():
                put(step, "grad_norm", n, fw.canonical(n, norm))
            for n, p in params.items():
                put(step, "grad_clipped", n, canonical(n, p.grad), owned=True)
        reset = lifecycle.reset if lifecycle is not None else None
        if REGISTRY[case.optimizer.name].closure:  # L-BFGS re-evaluates the loss on this batch itself
            fw.step(optimizer, _closure(case, layers, params, x, y, base, optimizer, fw), reset=reset)
        elif scaler is None:
            fw.step(optimizer, reset=reset)
        else:
            fw.scaling.step(scaler, optimizer)
        for key, value in fw.hyper(optimizer).items():
            put(step, f"hyper.{key}", SCALAR, value)
        for n, p in params.items():
            after = canonical(n, p)
            for key, value in fw.state(optimizer, p).items():
                put(step, f"state.{key}", n, canonical(n, value), owned=True)
            put(step, "update", n, after - before[n], owned=True)
            put(step, "param", n, after, owned=True)
        if ema is not None:
            for n, value in fw.ema.update(ema, step_index, params).items():
                put(step, "ema", n, canonical(n, value), owned=True)
        if network is not None:
            network.record(step, last=step_index == case.steps)
        if scheduler is not None:
            # after the optimizer step, as both frameworks document; with the case's explicit epoch, if any
            fw.schedules.step(scheduler, loss, case.schedule.explicit_epoch(step_index))
            # A second scheduler taking over, or optimizer and scheduler rebuilt from their state.
            optimizer, scheduler = fw.schedules.after_step(
                case, step_index, optimizer, scheduler, lambda *given: fw.fresh_optimizer(case, params, *given))
        yield step


def _run_dropout_probe(case: Case, route: str, fw) -> Trajectory:
    """Training output, input gradient of sum(output * upstream) and eval output of one dropout layer."""
    fw.seed(case.dropout.seed)
    x, upstream = data.dropout_inputs(case)
    out, input_grad, evaluated = fw.dropout_probe(case, route, x, upstream)
    mask = recover_draw_mask(case.dropout, x, out, input_grad)
    traj = Trajectory()
    step = traj.new_step()
    put(step, "dropout_mask", "dropout", mask)
    put(step, "output", "dropout", out)
    put(step, "input_grad", "dropout", input_grad)
    if case.dropout.evaluate:
        put(step, "eval_output", "dropout", evaluated)
    put(step, "keep_ratio", SCALAR, np.mean(mask))
    if mask.shape[0] > 1:  # a mask drawn once and shared across the batch agrees with itself everywhere
        put(step, "batch_agreement", SCALAR, np.mean(mask[1:] == mask[:-1]))
    return traj


def _put_running(step: dict, layer) -> None:
    stats = layer.running()
    if stats is not None:  # Torch's track_running_stats=False keeps none
        put(step, "running_mean", "norm", stats[0])
        put(step, "running_var", "norm", stats[1])


def _run_normalization_probe(case: Case, route: str, fw) -> Trajectory:
    """``steps`` train-mode forwards and backwards of one normalization layer, then one eval forward.
    ``fw.normalization_layer`` gives an object with train_step(x, upstream) -> (output, input_grad,
    {parameter: grad}), evaluate(x) -> output and running() -> (mean, var) or None, all NumPy."""
    inputs = data.normalization_inputs(case)
    layer = fw.normalization_layer(case, route, inputs)
    traj = Trajectory()
    for t in range(case.steps):
        step = traj.new_step()
        out, input_grad, grads = layer.train_step(inputs["batches"][t], inputs["upstream"][t])
        put(step, "output", "norm", out)
        put(step, "input_grad", "norm", input_grad)
        for name, grad in grads.items():
            put(step, "grad", name, grad)
        _put_running(step, layer)
    step = traj.new_step()
    put(step, "eval_output", "norm", layer.evaluate(inputs["batches"][-1]))
    _put_running(step, layer)
    return traj


def _run_loss_probe(case: Case, route: str, fw) -> Trajectory:
    """Value of one loss function and the gradient of sum(loss * upstream) w.r.t. its input.
    ``fw.loss_probe(case, route, inputs)`` returns both as NumPy arrays; a framework refusing the call
    raises NotApplicable with its message."""
    inputs = data.loss_inputs(case)
    loss, input_grad = fw.loss_probe(case, route, inputs)
    traj = Trajectory()
    step = traj.new_step()
    put(step, "loss", SCALAR, loss)
    put(step, "input_grad", "input", input_grad)
    return traj


class ManualEma:
    """The ema_manual route: S_t = beta_t*S_(t-1) + (1-beta_t)*W_t written in the framework's own tensor ops
    (the arithmetic below runs on Paddle or Torch tensors alike), with the case's start and correction.
    ``zeros_like`` and ``no_grad`` are the framework's."""

    def __init__(self, case: Case, params: dict, zeros_like, no_grad):
        self.spec, self.no_grad = case.ema, no_grad
        with no_grad():
            if self.spec.init == "initial_params":
                self.average = {n: p.detach().clone() for n, p in params.items()}
            elif self.spec.init == "zero":
                self.average = {n: zeros_like(p) for n, p in params.items()}
            else:  # first_update: the first update copies the parameters
                self.average = {}

    def update(self, step: int, params: dict) -> dict:
        with self.no_grad():
            if not self.average:
                self.average = {n: p.detach().clone() for n, p in params.items()}
            else:
                beta = self.spec.decay_at(step)
                self.average = {n: beta * self.average[n] + (1 - beta) * p.detach() for n, p in params.items()}
            if not self.spec.bias_correction:
                return dict(self.average)
            correction = 1 - self.spec.decay_at(step) ** step
            return {n: s / correction for n, s in self.average.items()}
