"""The raw floor of the scale benchmark: a plain script, as a user would write it, that imports both
frameworks once and trains the same model the same number of steps in each, recording nothing.

    python bench/scale_floor.py CASE.toml

It reads the case file for its sizes, optimizer, learning rate, momentum, batches, seed and steps (the
cases bench/scale_bench.py writes: one Linear or an MLP of identity layers, MSE loss against the seeded
targets, Adam or Momentum, float32), builds the model from the suite's seeded initial parameters, and runs the
steps in Paddle, then in Torch, each step on its batch (a fresh one each step in the scale cases): forward,
backward, optimizer step, nothing read back. It prints one JSON
line: wall time from the first line of the script (imports included) and the phases.

Unlike bench/floor.py it does not go through the suite's backend modules, which record every quantity
at every step: this is the cost of the training itself, which the suite's overhead is measured against.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from equivalence import data  # noqa: E402
from equivalence.spec import load_case  # noqa: E402


def run_torch(case, params, batches):
    import torch
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(case.model.sizes[:-1], case.model.sizes[1:])):
        layer = torch.nn.Linear(fan_in, fan_out, bias=case.model.bias)
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(params[f"linear{i}.weight"].T.astype(np.float32)))
            if case.model.bias:
                layer.bias.copy_(torch.from_numpy(params[f"linear{i}.bias"].astype(np.float32)))
        layers.append(layer)
    model = torch.nn.Sequential(*layers)
    opt = case.optimizer
    if opt.name == "adam":
        optimizer = torch.optim.Adam(model.parameters(), lr=opt.lr)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=opt.lr, momentum=opt.hyper.get("momentum", 0.9))
    tensors = [(torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.float32))) for x, y in batches]
    for step in range(1, case.steps + 1):
        inputs, targets = tensors[data.batch_for_step(case, step)]
        loss = torch.nn.functional.mse_loss(model(inputs), targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()


def run_paddle(case, params, batches):
    import paddle
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(case.model.sizes[:-1], case.model.sizes[1:])):
        layer = paddle.nn.Linear(fan_in, fan_out, bias_attr=None if case.model.bias else False)
        layer.weight.set_value(params[f"linear{i}.weight"].astype(np.float32))
        if case.model.bias:
            layer.bias.set_value(params[f"linear{i}.bias"].astype(np.float32))
        layers.append(layer)
    model = paddle.nn.Sequential(*layers)
    opt = case.optimizer
    if opt.name == "adam":
        optimizer = paddle.optimizer.Adam(learning_rate=opt.lr, parameters=model.parameters())
    else:
        optimizer = paddle.optimizer.Momentum(learning_rate=opt.lr, momentum=opt.hyper.get("momentum", 0.9),
                                              parameters=model.parameters())
    tensors = [(paddle.to_tensor(x.astype(np.float32)), paddle.to_tensor(y.astype(np.float32))) for x, y in batches]
    for step in range(1, case.steps + 1):
        inputs, targets = tensors[data.batch_for_step(case, step)]
        loss = paddle.nn.functional.mse_loss(model(inputs), targets)
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()


def main(argv: list[str]) -> int:
    case = load_case(argv[0])
    params = data.initial_params(case)
    batches = data.batches(case)  # step t trains on batch (t - 1) mod batches, as in the suite
    phases = {}
    for name, runner in (("paddle", run_paddle), ("torch", run_torch)):
        t = time.perf_counter()
        runner(case, params, batches)
        phases[name] = time.perf_counter() - t  # the first call includes the framework's import
    print(json.dumps({"wall_s": time.perf_counter() - T0, "phases_s": phases, "steps": case.steps}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
