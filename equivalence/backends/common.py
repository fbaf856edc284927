"""Framework-neutral helpers the backends share (NumPy only, no framework import)."""

from __future__ import annotations

import numpy as np

from ..spec import Case, Coefficients


class NotApplicable(Exception):
    """The framework cannot express this (case, route); the message says why, citing the API."""


def recover_mask(x: np.ndarray, output: np.ndarray, input_grad: np.ndarray | None = None) -> np.ndarray:
    """Keep mask (1.0 kept, 0.0 dropped) read off a dropout output.

    Where the input is exactly zero the output is zero whatever the mask, so the mask is read off the
    input gradient instead when one is given (the upstream gradient must have no zeros). Without one,
    such positions count as kept: their forward value is zero either way, and their gradient only
    reaches earlier layers through an activation whose derivative is zero there (ReLU at z <= 0) or
    that almost never gives an exact zero (tanh, sigmoid, identity on continuous inputs).
    """
    kept = output != 0
    zero_in = x == 0
    if input_grad is not None:
        kept = np.where(zero_in, input_grad != 0, kept)
    else:
        kept = kept | zero_in
    return kept.astype(np.float64)


def optimizer_decay(case: Case) -> Coefficients | None:
    """The single coefficient pair an optimizer's weight_decay can carry, or NotApplicable: the
    optimizer's argument covers every parameter with one regularizer."""
    coeffs = set(case.coefficients().values())
    if len(coeffs) > 1:
        raise NotApplicable("the optimizer's weight_decay applies one coefficient to every parameter, "
                            "and this case regularizes parameters differently")
    (c,) = coeffs
    return None if (c.l1 == 0 and c.l2 == 0) else c


def penalty_terms(case: Case) -> list[tuple[str, str, float]]:
    """(parameter, 'l1' | 'l2', coefficient) for every non-zero penalty of the loss_penalty route."""
    terms = []
    for name, c in case.coefficients().items():
        if c.l1:
            terms.append((name, "l1", c.l1))
        if c.l2:
            terms.append((name, "l2", c.l2))
    return terms
