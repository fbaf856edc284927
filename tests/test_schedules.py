"""Learning-rate schedules: the reference's closed forms against values worked out by hand, the
reduce-on-plateau flavours, the schedule-shift perturbation and the [schedule] spec errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from equivalence import reference
from equivalence.plan import perturb, perturbations, plan
from equivalence.reference.schedules import Plateau, closed_form

from .casefiles import load, tiny, write
from .test_spec import spec_error

pytestmark = pytest.mark.harness


def case_with(tmp_path, schedule: dict, lr: float = 0.1, steps: int = 10, **top):
    return load(tmp_path, tiny(optimizer={"name": "sgd", "lr": lr}, schedule=schedule, steps=steps, **top))


def lrs(case, epochs):
    return [closed_form(case, e) for e in epochs]


def same(actual, expected, what):
    assert np.allclose(actual, expected, rtol=1e-13, atol=1e-15), f"{what}: {actual} vs expected {expected}"


HAND = [  # (schedule, lr, epochs, lrs worked out by hand)
    ({"name": "step", "step_size": 3, "gamma": 0.5}, 0.1, range(8),
     [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025]),
    ({"name": "multi_step", "milestones": [4, 2, 2], "gamma": 0.5}, 0.1, range(6),  # 2 listed twice, unsorted
     [0.1, 0.1, 0.025, 0.025, 0.0125, 0.0125]),
    ({"name": "exponential", "gamma": 0.9}, 0.1, [0, 1, 3], [0.1, 0.09, 0.0729]),
    ({"name": "cosine", "t_max": 4}, 0.1, [0, 2, 4, 6, 8], [0.1, 0.05, 0.0, 0.05, 0.1]),
    ({"name": "cosine", "t_max": 4, "eta_min": 0.02}, 0.1, [2, 4], [0.06, 0.02]),
    # T_0 = 2, T_mult = 2: periods 2, 4, 8, restarts at epochs 2 and 6.
    ({"name": "cosine_warm_restarts", "t_0": 2, "t_mult": 2}, 0.1, [0, 1, 2, 4, 5, 6],
     [0.1, 0.05, 0.1, 0.05, 0.05 * (1 + math.cos(3 * math.pi / 4)), 0.1]),
    ({"name": "cyclic", "max_lr": 0.1, "step_size_up": 2}, 0.01, range(6), [0.01, 0.055, 0.1, 0.055, 0.01, 0.055]),
    ({"name": "cyclic", "max_lr": 0.1, "step_size_up": 1, "step_size_down": 3}, 0.01, range(5),
     [0.01, 0.1, 0.07, 0.04, 0.01]),
    ({"name": "cyclic", "max_lr": 0.1, "step_size_up": 2, "mode": "triangular2"}, 0.01, [2, 6, 10],
     [0.1, 0.055, 0.0325]),
    ({"name": "cyclic", "max_lr": 0.1, "step_size_up": 2, "mode": "exp_range", "gamma": 0.5}, 0.01, [1, 2],
     [0.01 + 0.09 * 0.5 * 0.5, 0.01 + 0.09 * 0.25]),
    # total 10, pct 0.3: up until epoch 2 (= 0.3*10 - 1) from 0.1/10, down until epoch 9 to end_lr.
    ({"name": "one_cycle", "total_steps": 10, "end_lr": 0.001, "div_factor": 10.0}, 0.1, [0, 1, 2, 9],
     [0.01, 0.055, 0.1, 0.001]),
    ({"name": "one_cycle", "total_steps": 10, "end_lr": 0.0, "div_factor": 10.0, "anneal": "linear",
      "pct_start": 0.2, "three_phase": True}, 0.1, [0, 1, 2, 3, 9],  # phases end at epochs 1, 2, 9
     [0.01, 0.1, 0.01, 0.01 * 6 / 7, 0.0]),
    ({"name": "linear_warmup", "warmup_steps": 4, "start_lr": 0.0}, 0.1, [0, 2, 4, 9], [0.0, 0.05, 0.1, 0.1]),
    ({"name": "linear_warmup", "warmup_steps": 2, "start_lr": 0.02, "end_lr": 0.06}, 0.1, [0, 1, 2],
     [0.02, 0.04, 0.1]),  # Paddle's LinearWarmup jumps to learning_rate after the warm-up
    ({"name": "linear_warmup", "warmup_steps": 2, "start_lr": 0.0, "after": "cosine", "t_max": 4}, 0.1,
     [1, 2, 4, 6], [0.05, 0.1, 0.05, 0.0]),
    ({"name": "linear", "total_steps": 4, "start_factor": 0.5}, 0.1, [0, 2, 4, 7], [0.05, 0.075, 0.1, 0.1]),
    ({"name": "polynomial", "total_steps": 4, "power": 2.0}, 0.1, [0, 2, 4, 6], [0.1, 0.025, 0.0, 0.0]),
    ({"name": "polynomial", "total_steps": 4, "end_lr": 0.02}, 0.1, [2, 5], [0.06, 0.02]),
    ({"name": "lambda", "factors": [0.5, 1.0]}, 0.1, [0, 1, 5], [0.05, 0.1, 0.1]),
    ({"name": "lambda", "function": "inverse_sqrt"}, 0.1, [0, 3], [0.1, 0.05]),
    ({"name": "lambda", "function": "inverse_time", "gamma": 0.5}, 0.1, [2], [0.05]),
    ({"name": "multiplicative", "factors": [9.0, 0.5, 0.25]}, 0.1, range(4), [0.1, 0.05, 0.0125, 0.003125]),
    ({"name": "multiplicative", "function": "exponential", "gamma": 0.5}, 0.1, [2], [0.1 * 0.5 * 0.25]),
]


@pytest.mark.parametrize("schedule, lr, epochs, expected", HAND,
                         ids=[f"{s['name']}-{i}" for i, (s, *_) in enumerate(HAND)])
def test_closed_forms_by_hand(tmp_path, schedule, lr, epochs, expected):
    same(lrs(case_with(tmp_path, schedule, lr=lr), epochs), expected, schedule)


def test_reference_trajectory_uses_epoch_step_minus_one(tmp_path):
    """Step t trains with the schedule at epoch t-1; the shifted perturbation with epoch t."""
    case = case_with(tmp_path, {"name": "step", "step_size": 2, "gamma": 0.5}, steps=5)
    recorded = [s["lr"]["-"].item() for s in reference.run(case).steps]
    same(recorded, [0.1, 0.1, 0.05, 0.05, 0.025], "lr per step")
    shifted = [s["lr"]["-"].item() for s in reference.run(perturb(case, "schedule-shift")).steps]
    same(shifted, [0.1, 0.05, 0.05, 0.025, 0.025], "lr per step, scheduler stepped first")


PLATEAU = {"name": "reduce_on_plateau", "factor": 0.5, "patience": 1, "cooldown": 1, "threshold": 0.0,
           "threshold_mode": "abs"}


@pytest.mark.parametrize("tracks_best, expected", [
    # Metric 0.5 arrives during the cooldown after the reduction at epoch 3. Tracking it (Torch), the two 0.8s
    # are bad epochs and the lr halves again; ignoring it (Paddle), 0.8 beats the stale best 1.0.
    (True, [0.1, 0.1, 0.05, 0.05, 0.05, 0.025]),
    (False, [0.1, 0.1, 0.05, 0.05, 0.05, 0.05]),
])
def test_plateau_cooldown_flavours(tmp_path, tracks_best, expected):
    case = case_with(tmp_path, dict(PLATEAU, cooldown_tracks_best=tracks_best))
    plateau, after = Plateau(case.schedule, case.optimizer.lr), []
    for metric in [1.0, 1.0, 1.0, 0.5, 0.8, 0.8]:
        plateau.step(metric)
        after.append(plateau.lr)
    same(after, expected, f"lr after each metric, cooldown_tracks_best={tracks_best}")


def test_plateau_relative_threshold_is_signed(tmp_path):
    """Both frameworks write rel mode as best * (1 - threshold): for a negative best that asks for less."""
    case = case_with(tmp_path, {"name": "reduce_on_plateau", "threshold": 0.1, "patience": 0, "factor": 0.5})
    plateau = Plateau(case.schedule, case.optimizer.lr)
    plateau.step(-1.0)
    plateau.step(-1.05)  # better than -1.0 * (1 - 0.1) = -0.9: an improvement, no reduction
    assert plateau.lr == 0.1, f"lr {plateau.lr}: -1.05 should count as better than best*(1-threshold) = -0.9"
    plateau.step(-0.94)  # not below -1.05 * (1 - 0.1) = -0.945: a bad epoch, patience 0 -> reduce
    assert plateau.lr == 0.05, f"lr {plateau.lr} after a bad epoch with patience 0"


def test_plateau_min_lr_and_eps(tmp_path):
    case = case_with(tmp_path, {"name": "reduce_on_plateau", "patience": 0, "factor": 0.5, "min_lr": 0.04,
                                "eps": 0.001})
    plateau = Plateau(case.schedule, case.optimizer.lr)
    for metric in [1.0, 2.0, 2.0, 2.0]:
        plateau.step(metric)
    # 0.1 -> 0.05 -> max(0.025, 0.04) = 0.04 -> 0.04 - 0.04 = 0 < eps: unchanged
    assert plateau.lr == 0.04, f"lr {plateau.lr}, expected the floor min_lr = 0.04"


def test_schedule_perturbations_planned(tmp_path):
    case = case_with(tmp_path, {"name": "exponential", "gamma": 0.9})
    assert perturbations(case) == ["lr", "schedule-shift"], perturbations(case)
    names = [c.implementation for c in plan(case, ["paddle", "torch"]) if c.kind == "sensitivity"]
    assert names == ["perturbed/lr", "perturbed/schedule-shift"], names


# ---------------------------------------------------------------------------------------------- spec errors

def test_parameter_of_another_schedule(tmp_path):
    path = write(tmp_path, tiny(schedule={"name": "step", "step_size": 3, "t_max": 10}))
    spec_error(path, key="schedule.t_max", says=["does not apply to schedule 'step'", "step_size, gamma"])


def test_missing_required_parameter(tmp_path):
    path = write(tmp_path, tiny(schedule={"name": "cosine"}))
    spec_error(path, key="schedule.t_max", says=["missing: schedule 'cosine' needs it", "integer"])


def test_unknown_schedule(tmp_path):
    path = write(tmp_path, tiny(schedule={"name": "noam"}))
    spec_error(path, key="schedule.name", says=["'noam' is not known", "step, multi_step"])


def test_lambda_needs_factors_or_function(tmp_path):
    path = write(tmp_path, tiny(schedule={"name": "lambda", "factors": [1.0], "function": "inverse_sqrt"}))
    spec_error(path, key="schedule.factors", says=["either a list of factors or a named function"])
    path = write(tmp_path, tiny(schedule={"name": "lambda", "function": "exponential"}))
    spec_error(path, key="schedule.gamma", says=["needs gamma"])
    path = write(tmp_path, tiny(schedule={"name": "lambda", "function": "python:lambda e: e"}))
    spec_error(path, key="schedule.function", says=["is not known", "constant, exponential"])


def test_one_cycle_longer_than_its_total(tmp_path):
    path = write(tmp_path, tiny(steps=12, schedule={"name": "one_cycle", "total_steps": 10, "end_lr": 0.0}))
    spec_error(path, key="steps", says=["12 steps run past schedule.total_steps = 10", "steps <= 10"])


def test_mode_of_the_wrong_schedule(tmp_path):
    path = write(tmp_path, tiny(schedule={"name": "reduce_on_plateau", "mode": "triangular"}))
    spec_error(path, key="schedule.mode", says=["not a mode of reduce_on_plateau", "min, max"])


def test_warmup_cosine_needs_t_max(tmp_path):
    path = write(tmp_path, tiny(schedule={"name": "linear_warmup", "warmup_steps": 2, "start_lr": 0.0,
                                          "after": "cosine"}))
    spec_error(path, key="schedule.t_max", says=["needs t_max"])


def test_negative_parameter(tmp_path):
    path = write(tmp_path, tiny(schedule={"name": "step", "step_size": 0}))
    spec_error(path, key="schedule.step_size", says=["out of range", "> 0"])
