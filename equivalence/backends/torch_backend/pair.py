"""A user's own Torch model in the pair loop (equivalence/pair/loop.py): its builder runs here, inside the
Torch worker, and its parameters and buffers are read and written in the canonical layout."""

from __future__ import annotations

import sys

import numpy as np
import torch
import torch.nn.functional as F

from ...layouts import from_canonical, to_canonical
from ...pair import loop
from ...pair.namemap import Entry
from ...spec import Case
from ..common import NotApplicable
from . import clip_gradients, hyper, lr, optimizers, schedules, state, step  # noqa: F401  (fw primitives)

_DTYPES = {"float32": torch.float32, "float64": torch.float64}
_KINDS = [(torch.nn.Linear, "linear"), (torch.nn.Conv1d, "conv1d"), (torch.nn.Conv2d, "conv2d"),
          (torch.nn.ConvTranspose2d, "conv2d_transpose"), (torch.nn.Embedding, "embedding"),
          (torch.nn.modules.batchnorm._BatchNorm, "batch_norm"), (torch.nn.LayerNorm, "layer_norm"),
          (torch.nn.GroupNorm, "group_norm"), (torch.nn.modules.instancenorm._InstanceNorm, "instance_norm")]
_DROPOUTS = (torch.nn.Dropout, torch.nn.Dropout1d, torch.nn.Dropout2d, torch.nn.Dropout3d, torch.nn.AlphaDropout,
             torch.nn.FeatureAlphaDropout)
_BUFFER_ROLES = ("running_mean", "running_var")

seed = torch.manual_seed


def run(request: loop.PairRequest):
    fw = sys.modules[__name__]
    if request.phase == "describe":
        return loop.describe(request, fw)
    return loop.train(request, fw)


def build_model(pc, framework: str):
    make = loop.import_target(pc.pair.torch, pc.search_path, "pair.torch")
    try:
        model = make()
    except Exception as exc:
        raise loop.PairInputError("pair.torch", f"{pc.pair.torch} raised {type(exc).__name__}: {exc}") from None
    if not isinstance(model, torch.nn.Module):
        raise loop.PairInputError("pair.torch", f"{pc.pair.torch} returned a {type(model).__module__}."
                                                f"{type(model).__name__}, not a torch.nn.Module")
    return model.to(dtype=_DTYPES[pc.case.dtype])


def _kind(module) -> str:
    return next((kind for cls, kind in _KINDS if isinstance(module, cls)), "other")


def entries(model):
    found, tensors = [], {}
    for path, module in model.named_modules():
        kind = _kind(module)
        own = [(n, p, True) for n, p in module.named_parameters(recurse=False)]
        own += [(n, b, False) for n, b in module.named_buffers(recurse=False) if n in _BUFFER_ROLES]
        for attr, tensor, trainable in own:
            if trainable and not tensor.requires_grad:
                continue
            name = f"{path}.{attr}" if path else attr
            shape = tuple(reversed(tensor.shape)) if kind == "linear" and attr == "weight" else tuple(tensor.shape)
            found.append(Entry(name, name, kind, attr, shape, trainable))
            tensors[name] = tensor
    return found, tensors


def numpy(tensor) -> np.ndarray:
    if isinstance(tensor, torch.Tensor):
        return tensor.detach().cpu().numpy().copy()
    return np.array(tensor, copy=True)


def read(entry: Entry, tensor) -> np.ndarray:
    return to_canonical("torch", entry.kind, entry.role, numpy(tensor), entry.shape)


def write(entry: Entry, tensor, value: np.ndarray) -> None:
    with torch.no_grad():
        tensor.copy_(torch.from_numpy(from_canonical("torch", entry.kind, entry.role, value)).to(tensor.dtype))


def train_mode(model, dropout: str) -> None:
    model.train()
    active = [n for n, m in model.named_modules() if isinstance(m, _DROPOUTS) and m.p > 0]
    if active and dropout != "disabled":
        raise loop.PairInputError("pair.dropout", f"the Torch model has dropout layers ({', '.join(active)}); their "
                                                  "random masks differ between frameworks: set pair.dropout = 'disabled'")
    for n, m in model.named_modules():
        if isinstance(m, _DROPOUTS):
            m.eval()


def optimizer(case: Case, params: dict, coefficients: dict):
    l1 = {c.l1 for c in coefficients.values()}
    l2 = {c.l2 for c in coefficients.values()}
    if any(l1):
        raise NotApplicable("torch.optim weight_decay is L2 only; an L1 pair needs a loss penalty")
    decay = l2.pop() if l2 else 0.0
    names = {p: n for n, p in params.items()}
    return optimizers.create(case, [{"params": list(params.values()), "weight_decay": decay}], names=names)


def tensor(array: np.ndarray, dtype: str, requires_grad: bool = False):
    t = torch.from_numpy(np.ascontiguousarray(array))
    return t.requires_grad_(True) if requires_grad else t


def forward(model, x):
    return model(x)


def shape(value) -> tuple[int, ...]:
    return tuple(value.shape)


def loss(case: Case, out, y):
    if case.loss == "mean":
        return out.mean()
    if case.loss == "mse":
        return F.mse_loss(out, torch.from_numpy(y))
    return F.cross_entropy(out, torch.from_numpy(y))


def backward(value) -> None:
    value.backward()


def scalar(value) -> np.ndarray:
    return np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value, dtype=np.float64)


def grad(param):
    return param.grad if param.grad is not None else torch.zeros_like(param)


# ------------------------------------------------------------------------------------------- localising

def attach_probes(model, names: dict[str, str]):
    """Forward hooks on every sub-layer: its output, and the gradient reaching its input and its output."""
    records = {"output": {}, "input_grad": {}, "order": []}

    def hook(path):
        def on_forward(module, inputs, output):
            if not isinstance(output, torch.Tensor):
                return
            records["order"].append(path)
            records["output"][path] = numpy(output)
            first = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
            if first is not None and first.requires_grad:
                first.register_hook(lambda g: records["input_grad"].__setitem__(path, numpy(g)))
        return on_forward

    for path, module in model.named_modules():
        if path:
            module.register_forward_hook(hook(path))
    return records


def read_probes(records) -> dict:
    return {"output": records["output"], "input_grad": records["input_grad"]}


def probe_order(records) -> list[str]:
    return list(records["order"])
