"""The [compare] table: a case says which quantities its checks compare; the sensitivity checks compare the
same selection, so leaving out what a perturbation changes fails the case (unlike a huge tolerance, which
the sensitivity checks cannot see through). No framework runs: tests/fake_backends/float32_attributes.py
keeps Momentum's mu in float32, which shows in the state, the update and the parameters from step 2 on."""

from __future__ import annotations

import pytest

from equivalence.runner import Runner

from .casefiles import load, tiny, write
from .test_spec import spec_error

pytestmark = pytest.mark.harness

FAKE32 = {"fake32": "tests.fake_backends.float32_attributes"}


def momentum(tmp_path, steps, compare):
    return load(tmp_path, tiny(dtype="float64", steps=steps, routes=["optimizer"], compare=compare,
                               optimizer={"name": "momentum", "lr": 0.1, "momentum": 0.9}))


def results(case):
    with Runner(FAKE32, in_process=True) as runner:
        return {r.test_id: r for r in runner.run([case]).results}


def test_without_selection_the_float32_mu_diverges(tmp_path):
    r = results(momentum(tmp_path, 2, {}))
    assert r["tiny[fake32/optimizer]"].observed == "divergent"


def test_selected_quantities_only_are_compared(tmp_path):
    r = results(momentum(tmp_path, 2, {"quantities": ["loss", "grad", "lr"]}))
    check = r["tiny[fake32/optimizer]"]
    assert (check.observed, check.status) == ("equal", "pass"), check.message
    assert set(check.comparison.quantities) == {"loss", "grad", "lr"}, check.comparison.quantities
    assert r["tiny[perturbed/lr]"].status == "pass", r["tiny[perturbed/lr]"].message


def test_sensitivity_checks_compare_the_same_selection(tmp_path):
    """One step, lr and everything after the gradient excluded: a wrong learning rate cannot show."""
    r = results(momentum(tmp_path, 1, {"exclude": ["lr", "state.*", "update", "param", "hyper.*"]}))
    assert r["tiny[fake32/optimizer]"].observed == "equal"
    lr = r["tiny[perturbed/lr]"]
    assert (lr.observed, lr.status) == ("equal", "fail"), lr.message
    assert "could not fail" in lr.message and "loss, grad" in lr.message, lr.message


def test_unknown_quantity_is_a_spec_error(tmp_path):
    path = write(tmp_path, tiny(compare={"exclude": ["velocity"]}))
    spec_error(path, key="compare.exclude", says=["'velocity' matches no recorded quantity", "state.velocity"])
    path = write(tmp_path, tiny(compare={"quantities": ["stat.*"]}))
    spec_error(path, key="compare.quantities", says=["'stat.*' matches no recorded quantity"])
