"""The training loop of a model pair, the same for both frameworks (NumPy and the backend's primitives only;
the backend's pair module supplies ``fw``). It runs inside the framework's worker process."""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field

import numpy as np

from ..record import SCALAR
from .namemap import Entry
from .spec import PairCase, coefficients_for
from .steps import write_step


class PairInputError(Exception):
    """The user's builder, model or data cannot be used; ``key`` names the case key it concerns."""

    def __init__(self, key: str, problem: str):
        self.key, self.problem = key, problem
        super().__init__(f"{key}: {problem}")


@dataclass(frozen=True)
class PairRequest:
    pair_case: PairCase
    framework: str
    phase: str  # describe | train | probe
    initial: dict[str, np.ndarray] = field(default_factory=dict)  # own entry name -> canonical array
    names: dict[str, str] = field(default_factory=dict)  # own entry name -> record name (the torch name)
    folder: str = ""
    probe_step: int = 0


@dataclass
class Description:
    entries: list[Entry]
    initial: dict[str, np.ndarray]


def import_target(target: str, search_path, key: str):
    for folder in reversed(search_path):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    module_name, _, function = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise PairInputError(key, f"cannot import {module_name!r}: {type(exc).__name__}: {exc}") from None
    if not hasattr(module, function):
        raise PairInputError(key, f"module {module_name!r} has no {function!r}")
    return getattr(module, function)


def batches(pc: PairCase, search_path) -> list[tuple[np.ndarray, np.ndarray | None]]:
    d, dtype = pc.pair.data, pc.case.dtype
    if d.source:
        make = import_target(d.source, search_path, "pair.data.source")
        try:
            produced = list(make())
        except Exception as exc:
            raise PairInputError("pair.data.source", f"{d.source} raised {type(exc).__name__}: {exc}") from None
        out = []
        for i, item in enumerate(produced):
            if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], np.ndarray)):
                raise PairInputError("pair.data.source", f"batch {i} is not an (inputs, targets) pair of NumPy arrays")
            x, y = item
            out.append((x.astype(dtype), None if y is None else (y if y.dtype.kind in "iu" else y.astype(dtype))))
        if not out:
            raise PairInputError("pair.data.source", f"{d.source} returned no batch")
        return out
    rng = np.random.default_rng(d.seed)
    out = []
    for _ in range(d.batches):
        shape = (d.batch_size, *d.input_shape)
        x = rng.standard_normal(shape) if d.distribution == "normal" else rng.uniform(size=shape)
        out.append((x.astype(dtype), None))
    return out


def targets_for(pc: PairCase, out_shape, batch_index: int):
    """Targets drawn once the output shape is known (normal: the output's shape; classes: one per row)."""
    d = pc.pair.data
    rng = np.random.default_rng([d.seed, 7, batch_index])
    if d.targets == "normal":
        return rng.standard_normal(out_shape).astype(pc.case.dtype)
    if d.targets == "classes":
        return rng.integers(0, d.classes, size=out_shape[0]).astype(np.int64)
    return None


def describe(request: PairRequest, fw) -> Description:
    pc = request.pair_case
    model = fw.build_model(pc, request.framework)
    entries, tensors = fw.entries(model)
    return Description(entries, {e.name: fw.read(e, tensors[e.name]) for e in entries})


def train(request: PairRequest, fw) -> dict:
    """Every step's record written to request.folder; returns {"steps": n, "order": probe layer order}."""
    pc = request.pair_case
    case = pc.case
    batch_list = batches(pc, pc.search_path)
    fw.seed(pc.pair.data.seed)
    model = fw.build_model(pc, request.framework)
    entries, tensors = fw.entries(model)
    by_name = {e.name: e for e in entries}
    for name, value in request.initial.items():
        fw.write(by_name[name], tensors[name], value)
    fw.train_mode(model, pc.pair.dropout)
    params = {request.names[e.name]: tensors[e.name] for e in entries if e.trainable}
    entry_of = {request.names[e.name]: e for e in entries}
    buffers = {request.names[e.name]: tensors[e.name] for e in entries if not e.trainable}
    coefficients = coefficients_for(case, params)
    optimizer = fw.optimizer(case, params, coefficients)
    scheduler = fw.schedules.create(case, optimizer) if case.schedule is not None else None
    write_step(request.folder, request.framework, 0,
               {"param": {request.names[e.name]: fw.read(e, tensors[e.name]) for e in entries}})
    probes = None
    for step_index in range(1, case.steps + 1):
        record: dict[str, dict] = {}
        put = lambda q, n, v: record.setdefault(q, {}).__setitem__(n, np.asarray(v))  # noqa: E731
        batch_index = (step_index - 1) % len(batch_list)
        x, y = batch_list[batch_index]
        if request.phase == "probe" and step_index == request.probe_step:
            probes = fw.attach_probes(model, request.names)
        inputs = fw.tensor(x, case.dtype, requires_grad=probes is not None)
        try:
            out = fw.forward(model, inputs)
        except Exception as exc:
            raise PairInputError("pair.data", f"the {request.framework} model cannot take inputs of shape "
                                              f"{list(x.shape)}: {type(exc).__name__}: {exc}") from None
        out_shape = fw.shape(out)
        if y is None:
            y = targets_for(pc, out_shape, batch_index)
        try:
            loss = fw.loss(case, out, y)
        except Exception as exc:
            raise PairInputError("loss", f"{case.loss} on the {request.framework} output of shape {list(out_shape)}: "
                                         f"{type(exc).__name__}: {exc}") from None
        value = fw.scalar(loss)
        if not np.all(np.isfinite(value)):  # NaN never compares equal; say where it came from instead
            bad = int(np.size(fw.numpy(out)) - np.isfinite(fw.numpy(out)).sum())
            raise PairInputError(f"pair.{request.framework}", f"the model's loss is {float(value)} at step {step_index} "
                                                              f"({bad} non-finite values in its output)")
        fw.backward(loss)
        put("loss", SCALAR, value)
        put("lr", SCALAR, fw.lr(optimizer))
        before = {n: fw.read(entry_of[n], p) for n, p in params.items()}
        for n, p in params.items():
            put("grad", n, fw.read(entry_of[n], fw.grad(p)))
        if case.clip is not None:
            for n, norm in fw.clip_gradients(case.clip, params).items():
                put("grad_norm", n, fw.scalar(norm))
            for n, p in params.items():
                put("grad_clipped", n, fw.read(entry_of[n], fw.grad(p)))
        fw.step(optimizer)
        for key, value in fw.hyper(optimizer).items():
            put(f"hyper.{key}", SCALAR, value)
        for n, p in params.items():
            after = fw.read(entry_of[n], p)
            for key, value in fw.state(optimizer, p).items():
                put(f"state.{key}", n, _state_value(fw, entry_of[n], value))
            put("update", n, after - before[n])
            put("param", n, after)
        for n, b in buffers.items():  # running statistics, under their layer's name
            put(entry_of[n].role, n.rpartition(".")[0], fw.read(entry_of[n], b))
        if probes is not None:
            for quantity, by_layer in fw.read_probes(probes).items():
                for layer, value in by_layer.items():
                    put(quantity, layer, value)
            write_step(request.folder, request.framework, step_index, record)
            return {"steps": step_index, "order": fw.probe_order(probes)}
        write_step(request.folder, request.framework, step_index, record)
        if scheduler is not None:
            fw.schedules.step(scheduler, loss)
    return {"steps": case.steps, "order": []}


def _state_value(fw, entry: Entry, value) -> np.ndarray:
    """Parameter-shaped state in the canonical layout; a per-parameter number as a 0-d array."""
    raw = fw.numpy(value)
    if raw.size > 1 and raw.size == int(np.prod(entry.shape)):
        return fw.read(entry, raw)
    flat = raw.reshape(-1)
    return flat[0].copy() if flat.size and np.all(flat == flat[0]) else raw
