"""The NumPy reference: every case computed from the math, never by calling a framework.

It runs in float64 (the truth the frameworks are measured against) or in the case dtype (to show how far
plain rounding alone moves a float32 run). Where frameworks or textbooks write a formula differently, the
case picks a named flavour (``Case.reference``, ``RegularizationSpec.penalty_form``).

One module per part of a training step: ``model`` (forward, backward, losses of the model), ``optimizers``
(the optimizer registry), ``training`` (the training loop), ``dropout`` (the dropout probe),
``normalization`` (the normalization probe), ``losses`` (the loss probe).
"""

from __future__ import annotations

from ..record import Trajectory
from ..spec import Case
from .dropout import run_dropout
from .losses import run_loss
from .model import ACTIVATIONS, backward, forward, loss_and_grad
from .normalization import run_normalization
from .training import regularization_grad, run_training

__all__ = ["ACTIVATIONS", "backward", "forward", "loss_and_grad", "regularization_grad", "run",
           "run_dropout", "run_loss", "run_normalization", "run_training"]


def run(case: Case, dtype: str = "float64", recorded: Trajectory | None = None) -> Trajectory:
    """The reference trajectory. ``recorded`` is an implementation's trajectory whose random dropout
    masks the reference replays (frameworks draw different masks from different generators)."""
    if case.kind == "dropout":
        return run_dropout(case, dtype, recorded)
    if case.kind == "normalization":
        return run_normalization(case, dtype)
    if case.kind == "loss":
        return run_loss(case, dtype)
    return run_training(case, dtype, recorded)
