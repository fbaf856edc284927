"""PyTorch backend: the only module that imports torch.

Layout: ``torch.nn.Linear.weight`` is [out, in]; the canonical layout is [in, out], so weights are
transposed on the way in and on the way out (``to_canonical`` / ``from_canonical``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .. import data
from ..record import SCALAR, Trajectory, put
from ..spec import Case
from .common import NotApplicable, optimizer_decay, penalty_terms, recover_mask

NAME = "torch"
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def versions() -> dict[str, str]:
    return {"torch": torch.__version__}


def run(case: Case, route: str) -> Trajectory:
    if case.kind == "dropout":
        return _run_dropout(case, route)
    return _run_training(case, route)


def from_canonical(name: str, value: np.ndarray) -> np.ndarray:
    return value.T if name.endswith(".weight") else value


def to_canonical(name: str, tensor: torch.Tensor) -> np.ndarray:
    value = tensor.detach().numpy()
    return (value.T if name.endswith(".weight") else value).copy()


def _no_l1(case: Case, route: str) -> None:
    if any(c.l1 for c in case.coefficients().values()):
        raise NotApplicable(f"torch.optim weight_decay is L2 only (torch/optim/sgd.py, _single_tensor_sgd: "
                            f"grad.add(param, alpha=weight_decay)); the {route} route cannot express L1")


def _param_groups(case: Case, params: dict[str, torch.nn.Parameter], route: str):
    """One group per distinct L2 coefficient (the param_group route), or a single group carrying the
    optimizer's weight_decay (the optimizer route), or no decay at all (loss_penalty)."""
    if case.regularization is None or route == "loss_penalty":
        return [{"params": list(params.values()), "weight_decay": 0.0}]
    _no_l1(case, route)
    if route == "optimizer":
        c = optimizer_decay(case)
        return [{"params": list(params.values()), "weight_decay": c.l2 if c else 0.0}]
    groups: dict[float, list] = {}
    for name, c in case.coefficients().items():
        groups.setdefault(c.l2, []).append(params[name])
    return [{"params": ps, "weight_decay": l2} for l2, ps in groups.items()]


def _build(case: Case, route: str):
    init = data.initial_params(case)
    dtype = _DTYPES[case.dtype]
    layers, params = [], {}
    for i, (fan_in, fan_out) in enumerate(zip(case.model.sizes[:-1], case.model.sizes[1:])):
        layer = torch.nn.Linear(fan_in, fan_out, bias=case.model.bias, dtype=dtype)
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(from_canonical(f"linear{i}.weight", init[f"linear{i}.weight"])))
            params[f"linear{i}.weight"] = layer.weight
            if case.model.bias:
                layer.bias.copy_(torch.from_numpy(init[f"linear{i}.bias"]))
                params[f"linear{i}.bias"] = layer.bias
        layers.append(layer)
    opt = case.optimizer
    optimizer = torch.optim.SGD(_param_groups(case, params, route), lr=opt.lr, momentum=opt.momentum,
                                nesterov=opt.nesterov)
    return layers, params, optimizer


_ACTIVATIONS = {"identity": lambda z: z, "relu": F.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}


def _forward(case: Case, layers, x, step):
    h = x
    for i, layer in enumerate(layers):
        z = layer(h)
        if i == len(layers) - 1:
            return z
        a = _ACTIVATIONS[case.model.activation](z)
        if case.model.dropout > 0:
            out = F.dropout(a, p=case.model.dropout, training=True)
            put(step, "dropout_mask", f"dropout{i}", recover_mask(a.detach().numpy(), out.detach().numpy()))
            a = out
        h = a


def _loss(case: Case, out, y):
    if case.loss == "mean":
        return out.mean()
    if case.loss == "mse":
        return F.mse_loss(out, torch.from_numpy(y.astype(case.dtype)))
    return F.cross_entropy(out, torch.from_numpy(y))


def _penalty(case: Case, params):
    total = None
    for name, kind, c in penalty_terms(case):
        w = params[name]
        if kind == "l1":
            term = c * w.abs().sum()
        elif case.regularization.penalty_form == "norm":
            term = c * torch.linalg.vector_norm(w)
        else:
            term = 0.5 * c * (w * w).sum()
        total = term if total is None else total + term
    return total


def _run_training(case: Case, route: str) -> Trajectory:
    torch.manual_seed(case.data.seed)
    layers, params, optimizer = _build(case, route)
    batches = data.batches(case)
    traj = Trajectory(initial={n: to_canonical(n, p) for n, p in params.items()})
    for step_index in range(1, case.steps + 1):
        step = traj.new_step()
        x, y = batches[data.batch_for_step(case, step_index)]
        out = _forward(case, layers, torch.from_numpy(x.astype(case.dtype)), step)
        loss = _loss(case, out, y)
        loss.backward()
        put(step, "loss", SCALAR, loss.item())
        put(step, "lr", SCALAR, optimizer.param_groups[0]["lr"])
        before = {n: to_canonical(n, p) for n, p in params.items()}
        for n, p in params.items():
            put(step, "grad", n, to_canonical(n, p.grad))
        if route == "loss_penalty" and (penalty := _penalty(case, params)) is not None:
            penalty.backward()  # gradients accumulate onto the data-loss gradients
            for n, p in params.items():
                put(step, "grad_regularized", n, to_canonical(n, p.grad))
        optimizer.step()
        optimizer.zero_grad()
        for n, p in params.items():
            after = to_canonical(n, p)
            velocity = optimizer.state.get(p, {}).get("momentum_buffer")
            if velocity is not None:
                put(step, "state.velocity", n, to_canonical(n, velocity))
            put(step, "update", n, after - before[n])
            put(step, "param", n, after)
    return traj


def _run_dropout(case: Case, route: str) -> Trajectory:
    d = case.dropout
    if d.mode != "upscale_in_train":
        raise NotApplicable(f"torch dropout has no mode {d.mode!r}: it always scales kept elements by 1/(1-p) "
                            "in training and is the identity in eval (torch/nn/functional.py, dropout)")
    torch.manual_seed(d.seed)
    x_np, upstream = data.dropout_inputs(case)
    x = torch.from_numpy(x_np.astype(case.dtype)).requires_grad_()
    if route == "layer":
        layer = torch.nn.Dropout(p=d.p)
        layer.train()
        out = layer(x)
        layer.eval()
        evaluated = layer(x)
    else:
        out = F.dropout(x, p=d.p, training=True)
        evaluated = F.dropout(x, p=d.p, training=False)
    (out * torch.from_numpy(upstream.astype(case.dtype))).sum().backward()
    mask = recover_mask(x_np, out.detach().numpy(), x.grad.numpy())
    traj = Trajectory()
    step = traj.new_step()
    put(step, "dropout_mask", "dropout", mask)
    put(step, "output", "dropout", out.detach().numpy())
    put(step, "input_grad", "dropout", x.grad.numpy())
    put(step, "eval_output", "dropout", evaluated.detach().numpy())
    put(step, "keep_ratio", SCALAR, np.mean(mask))
    return traj
