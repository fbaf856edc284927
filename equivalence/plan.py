"""Expand a case into the checks it stands for: one verdict per (implementation, compared_with).

- every framework route against the float64 reference (``equivalence``);
- Paddle against Torch directly, for each route both run (``direct``);
- the case-dtype reference against the float64 one, for float32 cases (``rounding``): how much of an
  error is plain float32 rounding;
- perturbed references that the case's tolerance must tell apart (``sensitivity``): proof that the
  case's "equal" verdicts can fail.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .backends import implementation_id
from .reference.optimizers import resolve
from .spec import Case, SpecError

REFERENCE = "reference"
PERTURBED = "perturbed/"
LR_FACTOR = 1 + 1e-3
# Perturbation -> the per-parameter optimizer setting it drops; added whenever the case sets it.
PER_PARAMETER_PERTURBATIONS = {"decay-exclude-ignored": "decay_exclude", "lr-ratio-ignored": "lr_ratio"}


@dataclass(frozen=True)
class Check:
    case: str
    implementation: str
    compared_with: str
    kind: str  # equivalence | direct | rounding | sensitivity
    expected: str = "equal"  # equal | divergent
    reason: str = ""
    references: tuple[str, ...] = ()

    @property
    def test_id(self) -> str:
        if self.compared_with == REFERENCE:
            return f"{self.case}[{self.implementation}]"
        return f"{self.case}[{self.implementation}-vs-{self.compared_with}]"

    @property
    def backend(self) -> str | None:
        head = self.implementation.split("/", 1)[0]
        return None if head in ("reference", "perturbed") else head


def implementations(case: Case, backends) -> list[tuple[str, str, str]]:
    """(backend, neutral route, implementation id) for every framework run of the case."""
    return [(b, r, implementation_id(b, r)) for b in backends for r in case.selected_routes]


def uses_random_masks(case: Case) -> bool:
    return case.kind == "dropout" or (case.model is not None and case.model.dropout > 0)


def perturbations(case: Case) -> list[str]:
    names = ["dropout-p"] if case.kind == "dropout" else ["lr"]
    reg = case.regularization
    if reg is not None and any(c.l1 or c.l2 for c in case.coefficients().values()):
        names.append("no-regularization")
    if reg is not None and reg.overrides:
        names.append("ignore-overrides")
    hyper = case.optimizer.hyper if case.optimizer is not None else {}
    names += [name for name, key in PER_PARAMETER_PERTURBATIONS.items() if hyper.get(key)]
    names += [p for p in case.expect.sensitivity if p not in names]
    return names


def perturb(case: Case, name: str) -> Case:
    """The case as a wrong mapping would run it. Each must change the trajectory."""
    if name == "lr" and case.optimizer is not None:
        lr = resolve(case)["lr"]  # the default the reference follows when the case leaves lr out
        return dataclasses.replace(case, optimizer=dataclasses.replace(case.optimizer, lr=lr * LR_FACTOR))
    if name in PER_PARAMETER_PERTURBATIONS and case.optimizer is not None:
        key = PER_PARAMETER_PERTURBATIONS[name]
        if case.optimizer.hyper.get(key):
            hyper = {k: v for k, v in case.optimizer.hyper.items() if k != key}
            return dataclasses.replace(case, optimizer=dataclasses.replace(case.optimizer, hyper=hyper))
    if name == "no-regularization" and case.regularization is not None:
        return dataclasses.replace(case, regularization=None)
    if name == "ignore-overrides" and case.regularization is not None:
        return dataclasses.replace(case, regularization=dataclasses.replace(case.regularization, overrides={}))
    if name == "dropout-p" and case.dropout is not None:
        p = case.dropout.p + 0.01 * (1 - case.dropout.p)
        return dataclasses.replace(case, dropout=dataclasses.replace(case.dropout, p=p))
    raise SpecError(case.path, "expect.sensitivity", f"perturbation {name!r} does not apply to this case",
                    "lr and no-regularization (training), ignore-overrides (with overrides), dropout-p (dropout), "
                    "decay-exclude-ignored / lr-ratio-ignored (with optimizer.decay_exclude / lr_ratio)")


PERTURBATION_DOCS = {
    "lr": f"learning rate x {LR_FACTOR:g}",
    "no-regularization": "regularization dropped",
    "ignore-overrides": "per-parameter overrides ignored (the case-wide coefficient everywhere)",
    "dropout-p": "drop probability moved by 1% of (1-p)",
    "decay-exclude-ignored": "decoupled decay applied to the parameters optimizer.decay_exclude excludes",
    "lr-ratio-ignored": "per-parameter learning-rate ratios ignored (the base lr everywhere)",
}


def plan(case: Case, backends) -> list[Check]:
    runs = implementations(case, backends)
    checks = []
    if case.dtype != "float64":
        checks.append(Check(case.id, f"{REFERENCE}/{case.dtype}", REFERENCE, "rounding"))
    checks += [Check(case.id, impl, REFERENCE, "equivalence") for _, _, impl in runs]
    if len(backends) > 1:
        first, *others = backends
        for route in case.selected_routes:
            for other in others:
                checks.append(Check(case.id, implementation_id(other, route), implementation_id(first, route), "direct"))
    for name in perturbations(case):
        perturb(case, name)  # raises SpecError for a perturbation that does not apply
        checks.append(Check(case.id, PERTURBED + name, REFERENCE, "sensitivity", "divergent",
                            reason=f"the tolerance must detect a wrong mapping: {PERTURBATION_DOCS[name]}"))
    return _apply_expectations(case, checks)


def _apply_expectations(case: Case, checks: list[Check]) -> list[Check]:
    """Mark the declared divergences. ``compared_with`` is 'reference', an implementation id, or a backend
    name meaning that backend's implementation of the same route."""
    known = sorted({c.implementation for c in checks if c.kind != "sensitivity"})
    for i, d in enumerate(case.expect.divergent):
        for impl in d.implementations:
            matches = [j for j, c in enumerate(checks) if c.implementation == impl and
                       (c.compared_with == d.compared_with or c.compared_with.split("/")[0] == d.compared_with)]
            if not matches:
                raise SpecError(case.path, f"expect.divergent[{i}].implementations",
                                f"{impl!r} compared with {d.compared_with!r} is not a check of this case",
                                ", ".join(known))
            for j in matches:
                checks[j] = dataclasses.replace(checks[j], expected="divergent", reason=d.reason,
                                                references=d.references)
    return checks
