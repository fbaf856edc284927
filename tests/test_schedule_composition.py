"""ConstantLR, SequentialLR, ChainedScheduler, a second scheduler taking over, rebuilds and cycled momentum in
the reference, by hand; and the [schedule] errors of those keys."""

from __future__ import annotations

import math

import numpy as np
import pytest

from equivalence import reference
from equivalence.perturbations import perturb
from equivalence.reference.schedules import Schedule, closed_form, cycled_momentum

from .casefiles import load, tiny, write
from .test_spec import spec_error

pytestmark = pytest.mark.harness


def case_with(tmp_path, schedule: dict, lr: float = 0.1, steps: int = 10, optimizer=None, **top):
    optimizer = optimizer or {"name": "sgd", "lr": lr}
    return load(tmp_path, tiny(optimizer=optimizer, schedule=schedule, steps=steps, **top))


def step_lrs(case, steps):
    """The lr of steps 1..steps as the reference trains them (the schedule stepped after each step)."""
    schedule, out = Schedule(case), []
    for _ in range(steps):
        out.append(schedule.lr)
        schedule.step(loss=1.0)
    return out


def test_constant_by_hand(tmp_path):
    case = case_with(tmp_path, {"name": "constant", "factor": 0.5, "total_steps": 3})
    assert [closed_form(case, e) for e in range(5)] == [0.05, 0.05, 0.05, 0.1, 0.1]
    defaults = case_with(tmp_path, {"name": "constant"}, lr=0.3)  # Torch's defaults: 1/3 for 5 epochs
    assert np.allclose([closed_form(defaults, e) for e in (0, 4, 5)], [0.1, 0.1, 0.3])


def test_sequential_restarts_the_next_schedule_at_its_milestone(tmp_path):
    case = case_with(tmp_path, {"name": "sequential", "milestones": [2], "schedules": [
        {"name": "constant", "factor": 0.5, "total_steps": 10}, {"name": "exponential", "gamma": 0.5}]})
    assert np.allclose([closed_form(case, e) for e in range(5)], [0.05, 0.05, 0.1, 0.05, 0.025])


def test_chained_multiplies_the_factors(tmp_path):
    case = case_with(tmp_path, {"name": "chained", "schedules": [
        {"name": "constant", "factor": 0.5, "total_steps": 2}, {"name": "exponential", "gamma": 0.5}]})
    assert np.allclose([closed_form(case, e) for e in range(4)], [0.05, 0.025, 0.025, 0.0125])


@pytest.mark.parametrize("resume, expected", [
    # step_size 2, gamma 0.5 for steps 1-3 (epochs 0-2: 0.1, 0.1, 0.05); then exponential 0.5 built with
    # last_epoch = 3, one epoch ahead of the steps.
    ("recursive", [0.1, 0.1, 0.05, 0.05, 0.025, 0.0125]),     # Torch: keeps the lr the first left (0.05)
    ("closed_form", [0.1, 0.1, 0.05, 0.0125 / 2, 0.0125 / 4, 0.0125 / 8]),  # Paddle: 0.1 * 0.5**(epoch + 1)
])
def test_second_scheduler_takes_over(tmp_path, resume, expected):
    case = case_with(tmp_path, {"name": "step", "step_size": 2, "gamma": 0.5, "then": {
        "at_step": 3, "name": "exponential", "gamma": 0.5, "resume": resume}})
    assert np.allclose(step_lrs(case, 6), expected), step_lrs(case, 6)


def test_restart_perturbation_starts_the_rebuilt_scheduler_again(tmp_path):
    case = case_with(tmp_path, {"name": "step", "step_size": 2, "gamma": 0.5, "rebuild_at": 3,
                                "rebuild_from": "state_dict"})
    assert np.allclose(step_lrs(case, 6), [0.1, 0.1, 0.05, 0.05, 0.025, 0.025])  # a rebuild changes nothing
    restarted = perturb(case, "schedule-restart")
    assert np.allclose(step_lrs(restarted, 6), [0.1, 0.1, 0.05, 0.1, 0.1, 0.05])


def test_cycled_momentum_is_inverse_to_the_lr(tmp_path):
    case = case_with(tmp_path, {"name": "cyclic", "max_lr": 0.3, "step_size_up": 2, "cycle_momentum": True,
                                "base_momentum": 0.8, "max_momentum": 0.9},
                     optimizer={"name": "momentum", "lr": 0.1, "momentum": 0.9})
    assert np.allclose([cycled_momentum(case.schedule, e) for e in range(5)], [0.9, 0.85, 0.8, 0.85, 0.9])
    one = case_with(tmp_path, {"name": "one_cycle", "total_steps": 10, "end_lr": 0.0, "cycle_momentum": True},
                    optimizer={"name": "adam", "lr": 0.1})
    values = [cycled_momentum(one.schedule, e) for e in range(10)]
    assert values[0] == pytest.approx(0.95) and min(values) == pytest.approx(0.85) and values[-1] == pytest.approx(0.95)


def test_recorded_momentum_follows_the_cycle(tmp_path):
    case = case_with(tmp_path, {"name": "cyclic", "max_lr": 0.3, "step_size_up": 2, "cycle_momentum": True,
                                "base_momentum": 0.8, "max_momentum": 0.9}, steps=4,
                     optimizer={"name": "momentum", "lr": 0.1, "momentum": 0.9})
    recorded = [float(next(iter(s["hyper.momentum"].values()))) for s in reference.run(case).steps]
    assert np.allclose(recorded, [0.9, 0.85, 0.8, 0.85])
    ignored = [float(next(iter(s["hyper.momentum"].values()))) for s in
               reference.run(perturb(case, "cycle-momentum-ignored")).steps]
    assert np.allclose(ignored, [0.9] * 4)


def test_one_cycle_end_lr_under_defaults_follows_the_framework(tmp_path):
    for follows, end in (("paddle", 1e-4), ("torch", 0.1 / 25 / 1e4)):
        case = case_with(tmp_path, {"name": "one_cycle", "total_steps": 10, "mapping": "defaults"},
                         reference={"follows": follows})
        assert math.isclose(closed_form(case, 9), end, rel_tol=1e-12), follows


@pytest.mark.parametrize("schedule, key, says", [
    ({"name": "one_cycle", "total_steps": 10}, "schedule.end_lr", ["parity mapping needs it"]),
    ({"name": "one_cycle", "total_steps": 10, "mapping": "defaults"}, "schedule.end_lr", ["reference.follows"]),
    ({"name": "constant", "factor": 1.5}, "schedule.factor", ["0 < factor <= 1"]),
    ({"name": "sequential", "milestones": [2, 1], "schedules": [{"name": "constant"}, {"name": "constant"}]},
     "schedule.milestones", ["one fewer than schedules"]),
    ({"name": "chained", "schedules": [{"name": "cosine", "t_max": 4}]}, "schedule.schedules[0].name",
     ["not multiplicative"]),
    ({"name": "sequential", "milestones": [1], "schedules": [{"name": "constant", "rebuild_at": 2},
                                                              {"name": "constant"}]},
     "schedule.schedules[0].rebuild_at", ["top [schedule] table only"]),
    ({"name": "step", "step_size": 2, "then": {"at_step": 3, "name": "exponential", "gamma": 0.5}},
     "schedule.then.resume", ["recursive, closed_form"]),
    ({"name": "step", "step_size": 2, "then": {"at_step": 30, "name": "exponential", "gamma": 0.5,
                                               "resume": "recursive"}}, "schedule.then.at_step", ["1 <= at_step"]),
    ({"name": "step", "step_size": 2, "then": {"at_step": 3, "name": "cosine", "t_max": 3, "resume": "recursive"}},
     "schedule.then.name", ["cannot take over"]),
    ({"name": "step", "step_size": 2, "rebuild_at": 3}, "schedule.rebuild_from", ["state_dict"]),
    ({"name": "cyclic", "max_lr": 0.3, "step_size_up": 2, "cycle_momentum": True}, "schedule.cycle_momentum",
     ["no momentum or beta1"]),
])
def test_schedule_errors(tmp_path, schedule, key, says):
    spec_error(write(tmp_path, tiny(schedule=schedule, steps=10)), key=key, says=says)


def test_composition_over_100_steps(tmp_path):
    """Chained factors multiply and a sequential schedule switches, at every one of 100 steps."""
    parts = [{"name": "constant", "factor": 0.5, "total_steps": 30}, {"name": "step", "step_size": 7, "gamma": 0.8}]
    chained = case_with(tmp_path, {"name": "chained", "schedules": parts}, steps=100)
    alone = [case_with(tmp_path, part, steps=100) for part in parts]
    assert np.allclose(step_lrs(chained, 100),
                       [closed_form(alone[0], e) * closed_form(alone[1], e) / 0.1 for e in range(100)], rtol=1e-14)
    sequential = case_with(tmp_path, {"name": "sequential", "milestones": [40], "schedules": parts}, steps=100)
    assert np.allclose(step_lrs(sequential, 100),
                       [closed_form(alone[0], e) if e < 40 else closed_form(alone[1], e - 40) for e in range(100)],
                       rtol=1e-14)
