"""The perturbation registry: every perturbation is accepted by expect.sensitivity, documented, listed in the
not-applicable error, and changes the case it applies to."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from equivalence.perturbations import APPLICABILITY, REGISTRY, perturb
from equivalence.runner import load_all
from equivalence.spec import PERTURBATIONS, Case, SpecError

pytestmark = pytest.mark.harness

CASES = Path(__file__).resolve().parent.parent / "cases"


def test_registry_and_accepted_names_agree():
    assert sorted(REGISTRY) == sorted(PERTURBATIONS), (
        f"registered but not accepted by expect.sensitivity: {sorted(set(REGISTRY) - set(PERTURBATIONS))}; "
        f"accepted but not registered: {sorted(set(PERTURBATIONS) - set(REGISTRY))}")


def test_every_perturbation_is_documented_and_listed_where_it_applies():
    listed = set(re.findall(r"[a-z][a-z-]*[a-z]", APPLICABILITY))
    for name, entry in REGISTRY.items():
        assert entry.doc.strip() and "\n" not in entry.doc, f"{name}: doc {entry.doc!r} is not one line"
        assert name in listed, f"{name} is missing from the not-applicable error's list: {APPLICABILITY}"


def test_every_perturbation_changes_the_cases_it_is_planned_for_and_refuses_others():
    cases = [c for c in load_all([CASES]) if isinstance(c, Case)]
    for name, entry in REGISTRY.items():
        applied = []
        for case in cases:
            try:
                applied.append((case, perturb(case, name)))
            except SpecError as exc:
                assert f"perturbation {name!r} does not apply to this case" in str(exc), str(exc)
                assert not entry.default(case), f"{name} is planned for {case.id} but does not apply to it"
        assert len(applied) < len(cases), f"{name} applies to every case, even those without its table"
        changed = [case.id for case, moved in applied if moved != case]
        assert changed, f"{name} changes no case in cases/"
        for case, moved in applied:
            assert moved != case or not entry.default(case), f"{name} is planned for {case.id} and changes nothing"


def test_unknown_perturbation_is_a_spec_error():
    case = next(c for c in load_all([CASES]) if isinstance(c, Case))
    with pytest.raises(SpecError, match="perturbation 'no-such' does not apply to this case"):
        perturb(case, "no-such")
