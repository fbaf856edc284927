"""Which part of a training step the first divergence between the two frameworks belongs to."""

from __future__ import annotations

from ..compare import Comparison

GRADIENT_PART = ("loss", "grad")
BUFFERS = ("running_mean", "running_var")


def attribute(direct: Comparison, replays: dict[str, Comparison]) -> str:
    """A sentence naming the part: the gradients (model and loss), a layer's buffers, the optimizer's
    settings, or the update rule of the framework whose replay fails."""
    first = direct.first
    if first is None:
        return f"attribution: structure differs ({direct.structural})"
    where = f"step {first.step}, {first.quantity}" + (f" of {first.name}" if first.name != "-" else "")
    if first.step == 0:
        return (f"attribution: the initial weights differ ({where}): the weight copy, or a layer's layout "
                f"conversion (e.g. a Linear weight not transposed)")
    if first.quantity.startswith("hyper."):
        return (f"attribution: optimizer settings ({where}): the two optimizers hold different values of "
                f"{first.quantity[len('hyper.'):]} (paddle {first.actual!r}, torch {first.expected!r}), e.g. a "
                f"hyper-parameter left at each framework's default")
    if first.quantity in GRADIENT_PART:
        return (f"attribution: model/loss, the gradients part ({where}): the models or the loss compute "
                f"differently; the update rules are not at issue at this step")
    if first.quantity in BUFFERS:
        return (f"attribution: model, a layer's buffer update ({where}): the layer's running statistics are "
                f"updated differently (e.g. a BatchNorm momentum convention), with equal gradients")
    failing = [n for n, c in replays.items() if not c.equal]
    if failing:
        details = "; ".join(f"{n}: {replays[n].first.describe()}" for n in failing if replays[n].first)
        return (f"attribution: optimizer/regularization/schedule, the update part ({where}); gradients agree, and "
                f"the reference update fed each framework's own gradients does not reproduce "
                f"{' and '.join(failing)} ({details})")
    return (f"attribution: the update part ({where}), but each framework's update is the reference rule fed its "
            f"own gradients and settings, and the settings agree: the update amplifies gradient differences that are "
            f"within tolerance (e.g. Adam's normalisation of a near-zero gradient), not a difference of rules")
