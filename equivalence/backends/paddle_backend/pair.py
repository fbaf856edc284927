"""A user's own Paddle model in the pair loop (equivalence/pair/loop.py): its builder runs here, inside the
Paddle worker, under the case's default dtype, and its parameters and buffers are read and written in the
canonical layout (a BatchNorm's ``_mean`` is ``running_mean``)."""

from __future__ import annotations

import sys

import numpy as np
import paddle
import paddle.nn.functional as F

from ...layouts import ATTRIBUTES, from_canonical, to_canonical
from ...pair import loop
from ...pair.namemap import Entry
from ...spec import Case
from . import _default_dtype, _regularizer, clip_gradients, hyper, lr, optimizers, schedules, state, step  # noqa: F401

_KINDS = [(paddle.nn.Linear, "linear"), (paddle.nn.Conv1D, "conv1d"), (paddle.nn.Conv2D, "conv2d"),
          (paddle.nn.Conv2DTranspose, "conv2d_transpose"), (paddle.nn.Embedding, "embedding"),
          (paddle.nn.layer.norm._BatchNormBase, "batch_norm"), (paddle.nn.LayerNorm, "layer_norm"),
          (paddle.nn.GroupNorm, "group_norm"), (paddle.nn.layer.norm._InstanceNormBase, "instance_norm")]
_DROPOUTS = (paddle.nn.Dropout, paddle.nn.Dropout2D, paddle.nn.Dropout3D, paddle.nn.AlphaDropout,
             paddle.nn.FeatureAlphaDropout)

seed = paddle.seed


def run(request: loop.PairRequest):
    fw = sys.modules[__name__]
    with _default_dtype(request.pair_case.case.dtype):
        if request.phase == "describe":
            return loop.describe(request, fw)
        return loop.train(request, fw)


def build_model(pc, framework: str):
    make = loop.import_target(pc.pair.paddle, pc.search_path, "pair.paddle")
    try:
        model = make()
    except Exception as exc:
        raise loop.PairInputError("pair.paddle", f"{pc.pair.paddle} raised {type(exc).__name__}: {exc}") from None
    if not isinstance(model, paddle.nn.Layer):
        raise loop.PairInputError("pair.paddle", f"{pc.pair.paddle} returned a {type(model).__module__}."
                                                 f"{type(model).__name__}, not a paddle.nn.Layer")
    wrong = {p.name: str(p.dtype) for p in model.parameters() if str(p.dtype).split(".")[-1] != pc.case.dtype}
    if wrong:
        raise loop.PairInputError("pair.paddle", f"parameters of another dtype than the case's {pc.case.dtype}: {wrong}")
    return model


def _kind(layer) -> str:
    return next((kind for cls, kind in _KINDS if isinstance(layer, cls)), "other")


def _role(kind: str, attribute: str) -> str:
    reverse = {v: k for k, v in ATTRIBUTES.get(("paddle", kind), {}).items()}
    return reverse.get(attribute, attribute)


def entries(model):
    found, tensors = [], {}
    for path, layer in model.named_sublayers(include_self=True):
        kind = _kind(layer)
        # Paddle's BatchNorm keeps its running statistics as parameters with stop_gradient=True.
        held = list(layer.named_parameters(include_sublayers=False)) + list(layer.named_buffers(include_sublayers=False))
        own = [(n, p, True) for n, p in held if not p.stop_gradient]
        own += [(n, b, False) for n, b in held if b.stop_gradient and _role(kind, n) in ("running_mean", "running_var")]
        for attr, tensor, trainable in own:
            role = _role(kind, attr)
            name = f"{path}.{role}" if path else role
            found.append(Entry(name, f"{path}.{attr}" if path else attr, kind, role, tuple(tensor.shape), trainable))
            tensors[name] = tensor
    return found, tensors


def numpy(tensor) -> np.ndarray:
    return np.array(tensor.numpy() if hasattr(tensor, "numpy") else tensor, copy=True)


def read(entry: Entry, tensor) -> np.ndarray:
    return to_canonical("paddle", entry.kind, entry.role, numpy(tensor), entry.shape)


def write(entry: Entry, tensor, value: np.ndarray) -> None:
    tensor.set_value(from_canonical("paddle", entry.kind, entry.role, value).astype(numpy(tensor).dtype))


def train_mode(model, dropout: str) -> None:
    model.train()
    active = [n for n, m in model.named_sublayers() if isinstance(m, _DROPOUTS) and m.p > 0]
    if active and dropout != "disabled":
        raise loop.PairInputError("pair.dropout", f"the Paddle model has dropout layers ({', '.join(active)}); their "
                                                  "random masks differ between frameworks: set pair.dropout = 'disabled'")
    for _, m in model.named_sublayers():
        if isinstance(m, _DROPOUTS):
            m.eval()


def optimizer(case: Case, params: dict, coefficients: dict):
    pairs = set(coefficients.values())
    c = pairs.pop() if pairs else None
    decay = _regularizer(c.l1, c.l2) if c is not None else None
    names = {p.name: n for n, p in params.items()}
    return optimizers.create(case, list(params.values()), decay, names=names,
                             learning_rate=schedules.learning_rate(case))


def tensor(array: np.ndarray, dtype: str, requires_grad: bool = False):
    return paddle.to_tensor(np.ascontiguousarray(array), stop_gradient=not requires_grad)


def forward(model, x):
    return model(x)


def shape(value) -> tuple[int, ...]:
    return tuple(value.shape)


def loss(case: Case, out, y):
    if case.loss == "mean":
        return paddle.mean(out)
    if case.loss == "mse":
        return F.mse_loss(out, paddle.to_tensor(y))
    return F.cross_entropy(out, paddle.to_tensor(y))


def backward(value) -> None:
    value.backward()


def scalar(value) -> np.ndarray:
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value, dtype=np.float64)


def grad(param):
    return param.grad if param.grad is not None else paddle.zeros_like(param)


# ------------------------------------------------------------------------------------------- localising

def attach_probes(model, names: dict[str, str]):
    """Forward post-hooks on every sub-layer, named by the Torch module they map to."""
    records = {"output": {}, "input_grad": {}, "order": []}

    def hook(path):
        def on_forward(layer, inputs, output):
            if not isinstance(output, paddle.Tensor):
                return
            records["order"].append(path)
            records["output"][path] = numpy(output)
            first = inputs[0] if inputs and isinstance(inputs[0], paddle.Tensor) else None
            if first is not None and not first.stop_gradient:
                first.register_hook(lambda g: records["input_grad"].__setitem__(path, numpy(g)))
        return on_forward

    for path, layer in model.named_sublayers():
        layer.register_forward_post_hook(hook(names.get(f"module:{path}", path)))
    return records


def read_probes(records) -> dict:
    return {"output": records["output"], "input_grad": records["input_grad"]}


def probe_order(records) -> list[str]:
    return list(records["order"])
