"""The port route: what a user's natural port drops, per framework, and what it then does (Paddle's GradScaler
on a CPU place applies an inf gradient), and the not-applicable status of the faithful routes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from equivalence.backends import BACKENDS
from equivalence.backends.common import port
from equivalence.plan import plan
from equivalence.spec import load_case
from equivalence.workers import WorkerBackend

from .casefiles import load, tiny, write
from .test_spec import spec_error

pytestmark = pytest.mark.harness

PORTS = Path(__file__).resolve().parent.parent / "cases" / "ports"


def test_port_drops_only_what_the_framework_lacks(tmp_path):
    adagrad = load(tmp_path, tiny(optimizer={"name": "adagrad", "lr": 0.1, "lr_decay": 0.5, "epsilon": 1e-6}))
    ported, route = port(adagrad, "paddle")
    assert route == "optimizer" and ported.optimizer.hyper == {"epsilon": 1e-6}, ported.optimizer.hyper
    assert port(adagrad, "torch")[0].optimizer.hyper == adagrad.optimizer.hyper
    asgd = load(tmp_path, tiny(optimizer={"name": "asgd", "lr": 0.1, "batch_num": 3, "lambd": 0.0},
                               reference={"follows": "paddle"}))
    assert port(asgd, "torch")[0].optimizer.hyper == {"lambd": 0.0}
    # lambd = 0 is what Paddle's ASGD behaves as: the port keeps it (Paddle accepts it as its own behaviour)
    assert port(asgd, "paddle")[0].optimizer.hyper == {"batch_num": 3, "lambd": 0.0}
    scaled = load(tmp_path, tiny(steps=3, loss_scaling={"backoff_interval": 2}))
    assert port(scaled, "torch")[0].loss_scaling.backoff_interval == 1
    assert port(scaled, "paddle")[0].loss_scaling.backoff_interval == 2
    assert port(scaled, "paddle")[0].loss_scaling.keep_disabled


def test_dropout_port_is_torch_upscale_in_train():
    case = load_case(PORTS / "dropout-downscale-in-infer-port.toml")
    torch_case, route = port(case, "torch")
    assert (torch_case.dropout.mode, route) == ("upscale_in_train", "layer")
    assert port(case, "paddle")[0].dropout.mode == "downscale_in_infer"


def test_port_is_a_route_with_direct_checks():
    case = load_case(PORTS / "adagrad-lr-decay-port.toml")
    ids = {c.test_id: c.expected for c in plan(case, ["paddle", "torch"])}
    assert ids["port-adagrad-lr-decay[paddle/port]"] == "divergent", ids
    assert ids["port-adagrad-lr-decay[torch/port]"] == "equal", ids
    assert ids["port-adagrad-lr-decay[torch/port-vs-paddle/port]"] == "divergent", ids


def test_paddle_grad_scaler_on_cpu_applies_the_inf_gradient():
    case = load_case(PORTS / "loss-scaling-cpu-port.toml")
    backend = WorkerBackend("paddle", BACKENDS["paddle"], timeout=120)
    try:
        faithful = backend.run(case, "optimizer")
        ported = backend.run(case, "port")
    finally:
        backend.close()
    assert faithful.status == "not-applicable" and "disabled itself" in faithful.message, faithful
    assert ported.status == "ok", ported.message
    steps = ported.trajectory.steps
    assert [float(s["loss_scale"]["-"]) for s in steps] == [1.0] * case.steps
    assert [float(s["step_skipped"]["-"]) for s in steps] == [0.0] * case.steps
    assert all(np.all(np.isfinite(p)) for s in steps[:3] for p in s["param"].values())
    assert all(not np.any(np.isfinite(p)) for s in steps[3:] for p in s["param"].values()), \
        "the inf gradient of step 4 must reach every weight"


def test_port_is_not_a_clipping_route(tmp_path):
    path = write(tmp_path, tiny(routes=["port"], clip={"kind": "value", "max": 1.0, "active": "some_steps"}))
    spec_error(path, key="routes", says=["does not clip"])
