"""Default tolerances of the sampled dropout quantities (keep_ratio, batch_agreement) from the binomial
spread of one draw of the mask, checked against the spread of many simulated draws."""

from __future__ import annotations

import numpy as np
import pytest

from equivalence.compare import tolerance_for
from equivalence.spec import Tolerance

from .casefiles import load

pytestmark = pytest.mark.harness


def dropout_case(tmp_path, tolerance=None, **dropout):
    doc = {"id": "d", "description": "d", "kind": "dropout", "dtype": "float32",
           "dropout": {"p": 0.3, "shape": [32, 64], "seed": 1, **dropout}}
    if tolerance:
        doc["tolerance"] = tolerance
    return load(tmp_path, doc)


def simulated_spread(q: float, shape: tuple[int, ...], draws: int = 4000):
    rng = np.random.default_rng(0)
    masks = rng.uniform(size=(draws,) + shape) < q
    keep = masks.reshape(draws, -1).mean(axis=1)
    agreement = (masks[:, 1:] == masks[:, :-1]).reshape(draws, -1).mean(axis=1)
    return keep.std(), agreement.std()


@pytest.mark.parametrize("p", [0.3, 0.5, 0.9])
def test_spread_matches_simulated_draws(tmp_path, p):
    case = dropout_case(tmp_path, p=p)
    keep_sd, agreement_sd = simulated_spread(1 - p, case.dropout.mask_shape())
    assert case.dropout.sampling_spread("keep_ratio") == pytest.approx(keep_sd, rel=0.08)
    assert case.dropout.sampling_spread("batch_agreement") == pytest.approx(agreement_sd, rel=0.08)


def test_default_tolerance_is_five_spreads_and_a_hand_set_one_wins(tmp_path):
    case = dropout_case(tmp_path)
    tol = tolerance_for(case, "keep_ratio")
    assert tol.rtol == 0 and tol.atol == pytest.approx(5 * np.sqrt(0.7 * 0.3 / (32 * 64)))
    assert tolerance_for(case, "output") == Tolerance(rtol=1e-5, atol=1e-6)  # not sampled: the dtype default
    hand = dropout_case(tmp_path, tolerance={"quantities": {"keep_ratio": {"rtol": 0, "atol": 0.5}}})
    assert tolerance_for(hand, "keep_ratio") == Tolerance(rtol=0, atol=0.5)


def test_no_spread_without_a_random_draw(tmp_path):
    for case in (dropout_case(tmp_path, p=0.0), dropout_case(tmp_path, p=1.0), dropout_case(tmp_path, training=False)):
        assert case.dropout.sampling_tolerance("keep_ratio") is None
        assert tolerance_for(case, "keep_ratio") == Tolerance(rtol=1e-5, atol=1e-6)


def test_a_mask_shared_across_the_batch_is_outside_the_default(tmp_path):
    """A shared mask makes every neighbouring pair agree: batch_agreement 1 against q^2 + (1-q)^2."""
    case = dropout_case(tmp_path, p=0.5)
    tol = tolerance_for(case, "batch_agreement")
    assert abs(1.0 - 0.5) > tol.atol, tol
