"""Expand a case into the checks it stands for: one verdict per (implementation, compared_with).

- every framework route against the float64 reference (``equivalence``);
- Paddle against Torch directly, for each route both run (``direct``);
- the case-dtype reference against the float64 one, for float32 cases (``rounding``): how much of an
  error is plain float32 rounding;
- perturbed references that the case's tolerance must tell apart (``sensitivity``): proof that the
  case's "equal" verdicts can fail (the perturbations are registered in equivalence/perturbations.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from . import versions
from .backends import implementation_id
from .perturbations import REGISTRY, perturb, perturbations
from .spec import VARIANT_ROUTES, Case, Divergence, SpecError
from .spec.routes import ported_route
from .spec.layers import walk

REFERENCE = "reference"
PERTURBED = "perturbed/"


@dataclass(frozen=True)
class Check:
    case: str
    implementation: str
    compared_with: str
    kind: str  # equivalence | direct | rounding | sensitivity
    expected: str = "equal"  # equal | divergent
    reason: str = ""
    references: tuple[str, ...] = ()
    # Divergences declared for some framework versions only; which apply is known once the workers
    # report their versions (see for_versions).
    version_limited: tuple[Divergence, ...] = ()
    divergence_kind: str = ""  # the kind of divergence the case states (explain.py checks it); empty: any

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
    """(backend, neutral route, implementation id) for every framework run of the case. Routes a backend
    labels alike (Torch's param groups stand for every Paddle per-parameter form) run once."""
    runs = {}
    for b in backends:
        for r in case.selected_routes:
            runs.setdefault(implementation_id(b, r), (b, r))
    return [(b, r, impl) for impl, (b, r) in runs.items()]


def uses_random_masks(case: Case) -> bool:
    if case.kind == "dropout":
        return True
    if case.model is None:
        return False
    return case.model.dropout > 0 or any(layer.kind == "dropout" for layer in walk(case.network() or ()))


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
                port = ported_route(route)
                if port in case.selected_routes:  # e.g. Torch clip_grad_norm_ against Paddle grad_clip=
                    ported = Check(case.id, implementation_id(other, port), implementation_id(first, route), "direct")
                    if ported not in checks:
                        checks.append(ported)
    if "optimizer" in case.selected_routes:  # an implementation variant against the same framework's default
        for route in case.selected_routes:
            if route in VARIANT_ROUTES:
                checks += [Check(case.id, implementation_id(b, route), implementation_id(b, "optimizer"), "direct")
                           for b in backends]
    for name in perturbations(case):
        perturb(case, name)  # raises SpecError for a perturbation that does not apply
        checks.append(Check(case.id, PERTURBED + name, REFERENCE, "sensitivity", "divergent",
                            reason=f"the tolerance must detect a wrong mapping: {REGISTRY[name].doc}"))
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
                if d.versions:
                    checks[j] = dataclasses.replace(checks[j], version_limited=checks[j].version_limited + (d,))
                else:
                    checks[j] = dataclasses.replace(checks[j], expected="divergent", reason=d.reason,
                                                    references=d.references, divergence_kind=d.kind)
    return checks


def for_versions(check: Check, installed: dict[str, str]) -> tuple[Check, str]:
    """The check with the version-limited divergences that hold for the installed framework versions
    applied (the first that holds wins), and a note naming those that do not hold, for messages."""
    for d in check.version_limited:
        if not versions.misses(d.versions, installed):
            return dataclasses.replace(check, expected="divergent", references=d.references, divergence_kind=d.kind,
                                       reason=f"{d.reason} (expected for {versions.describe(d.versions)})"), ""
    notes = [f"a divergence is expected only for {versions.describe(d.versions)} "
             f"({'; '.join(versions.misses(d.versions, installed))})" for d in check.version_limited]
    return check, "; ".join(notes)
