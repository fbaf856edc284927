"""The NumPy reference: every case computed from the math, never by calling a framework.

It runs in float64 (the truth the frameworks are measured against) or in the case dtype (to show how far
plain rounding alone moves a float32 run). Where frameworks or textbooks write a formula differently, the
case picks a named flavour (``Case.reference``, ``RegularizationSpec.penalty_form``).

One module per part of a training step: ``model`` (forward, backward, losses of the model), ``optimizers``
(the optimizer registry), ``training`` (the training loop), ``dropout`` (the dropout probe),
``normalization`` (the normalization probe), ``losses`` (the loss probe).
"""

from __future__ import annotations

from ..record import Trajectory, collect
from ..spec import Case
from .dropout import run_dropout
from .losses import run_loss
from .model import ACTIVATIONS, backward, forward, loss_and_grad
from .normalization import run_normalization
from .training import regularization_grad, run_training, stream_training

__all__ = ["ACTIVATIONS", "backward", "forward", "loss_and_grad", "regularization_grad", "run",
           "run_dropout", "run_loss", "run_normalization", "run_training", "stream", "stream_training"]


def run(case: Case, dtype: str = "float64", recorded: Trajectory | None = None) -> Trajectory:
    """The reference trajectory. ``recorded`` is an implementation's trajectory whose random dropout
    masks the reference replays (frameworks draw different masks from different generators)."""
    return collect(stream(case, dtype, recorded))


def stream(case: Case, dtype: str = "float64", recorded=None):
    """The reference as a stream (initial parameters, then one step at a time; see ``record.collect``).
    Training runs are computed step by step; the probes (one layer, a handful of small steps) at once.
    ``recorded`` needs its step t only when step t is asked for."""
    if case.kind == "training":
        return stream_training(case, dtype, recorded)
    return _probe_stream(case, dtype, recorded)


def _probe_stream(case: Case, dtype: str, recorded):
    if case.kind == "dropout":
        yield from run_dropout(case, dtype, recorded).stream()
    elif case.kind == "normalization":
        yield from run_normalization(case, dtype).stream()
    else:
        yield from run_loss(case, dtype).stream()
