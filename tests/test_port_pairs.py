"""The port a user writes is compared directly: Paddle's grad_clip= against Torch's clip_grad_*_ before
step(), for the optimizer route and each per-parameter route that runs both."""

from __future__ import annotations

import pytest

from equivalence.plan import plan
from equivalence.spec.routes import ported_route

from .casefiles import load, tiny

pytestmark = pytest.mark.harness


def test_ported_route():
    assert ported_route("clip_argument") == "clip_function"
    assert ported_route("per_parameter+clip_argument") == "per_parameter+clip_function"
    assert ported_route("clip_function") is None and ported_route("optimizer") is None


def test_grad_clip_is_compared_with_the_other_frameworks_clip_function(tmp_path):
    case = load(tmp_path, tiny(clip={"kind": "global_norm", "max_norm": 0.5, "active": "some_steps"}, regularization={"l2": 0.01}))
    direct = {c.test_id for c in plan(case, ["paddle", "torch"]) if c.kind == "direct"}
    assert "tiny[torch/clip_fn-vs-paddle/grad_clip]" in direct, sorted(direct)
    assert "tiny[torch/param_group+clip_fn-vs-paddle/param_attr+grad_clip]" in direct, sorted(direct)
    assert "tiny[torch/loss_penalty+clip_fn-vs-paddle/loss_penalty+grad_clip]" in direct, sorted(direct)
    assert "tiny[torch/grad_clip-vs-paddle/grad_clip]" in direct  # the faithful route stays, not applicable


def test_no_port_pair_without_the_clip_function_route(tmp_path):
    case = load(tmp_path, tiny(clip={"kind": "global_norm", "max_norm": 0.5, "active": "some_steps"}, routes=["clip_argument"]))
    direct = {c.test_id for c in plan(case, ["paddle", "torch"]) if c.kind == "direct"}
    assert direct == {"tiny[torch/grad_clip-vs-paddle/grad_clip]"}, direct
