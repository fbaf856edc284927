"""The typed model of a case file, and the loader that turns TOML into it.

Every key a case file may hold is a field below; its ``doc`` metadata is the documentation that
``python -m equivalence schema`` prints. The loader rejects unknown keys, wrong types and values
outside the accepted set with a ``SpecError`` that names the file, the dotted key and what is accepted.

TOML rather than YAML: it is in the standard library (``tomllib``), it has no implicit typing surprises
(``no`` stays a string, ``1e-3`` is a float), and its tables map one to one onto these dataclasses.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import fnmatch
import math
import tomllib
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import dotted
from . import versions
from .backends import BACKENDS
from .record import QUANTITY_ORDER, is_quantity

ACTIVATIONS = ("identity", "relu", "tanh", "sigmoid")
LOSSES = ("mean", "mse", "cross_entropy")
DTYPES = ("float32", "float64")
DISTRIBUTIONS = ("uniform", "normal")
KINDS = ("training", "dropout", "normalization", "loss")
# Neutral route names; each backend labels them its own way (see equivalence/backends/__init__.py).
TRAINING_ROUTES = ("optimizer", "per_parameter", "loss_penalty")
DROPOUT_ROUTES = ("layer", "functional")
PENALTY_FORMS = ("half_squared", "norm")
MOMENTUM_FORMS = ("heavy_ball", "ema")
ATTRIBUTE_PRECISIONS = ("exact", "float32")
FLAVOURS = ("paddle", "torch")
DROPOUT_MODES = ("upscale_in_train", "downscale_in_infer")
PERTURBATIONS = ("lr", "no-regularization", "ignore-overrides", "dropout-p", "dropout-training",
                 "norm-momentum", "norm-epsilon", "running-var-bias",
                 "clip-ignored", "clip-threshold", "clip-unclamped", "clip-kind-swapped", "clip-order-swapped",
                 "ignore-lr-multipliers", "schedule-shift", "loss-scale-growth", "loss-scale-backoff",
                 "loss-scale-interval", "ema-decay", "decay-exclude-ignored", "lr-ratio-ignored",
                 "loss-input-scale", "loss-target-scale", "loss-option")
DECAY_FORMS = ("decoupled", "coupled_l2")
SWEEP_SCALES = ("linear", "log")

# Gradient clipping and per-parameter learning rates (see ClipSpec, Case.lr_multipliers).
CLIP_KINDS = ("global_norm", "norm", "value")
NORM_TYPES = ("2", "1", "inf")
CLIP_ACTIVITY = ("every_step", "never", "some_steps")
CLIP_NORM_FORMULAS = ("exact", "epsilon", "unclamped")
CLIP_ORDERS = ("clip_then_decay", "decay_then_clip")
# Paddle's parameters= also takes a list of group dicts: parameter_groups puts the per-parameter options
# in the dicts, param_attr_in_groups keeps them in ParamAttr and passes plain dicts. Torch has one form.
GROUP_ROUTES = ("parameter_groups", "param_attr_in_groups")
PER_PARAMETER_ROUTES = ("per_parameter",) + GROUP_ROUTES
# How a clipping case clips: clip_function (paddle.nn.utils / torch.nn.utils clip_grad_*_ before step())
# or clip_argument (the optimizer's grad_clip=, Paddle only). Alone they are the optimizer route that clips;
# 'per_parameter+clip_argument' is a per-parameter route that clips.
CLIP_ROUTES = ("clip_function", "clip_argument")
BASE_ROUTES = TRAINING_ROUTES + GROUP_ROUTES


def clipped_route(base: str, clip: str) -> str:
    return clip if base == "optimizer" else f"{base}+{clip}"


def split_route(route: str) -> tuple[str, str | None]:
    """(base route, clip route or None): 'clip_function' -> ('optimizer', 'clip_function')."""
    if route in CLIP_ROUTES:
        return "optimizer", route
    base, _, clip = route.partition("+")
    return base, clip or None


CLIPPED_ROUTES = tuple(clipped_route(b, c) for b in BASE_ROUTES for c in CLIP_ROUTES)
TRAINING_ROUTE_NAMES = BASE_ROUTES + CLIPPED_ROUTES
# The dropout family: which elements one draw of the mask covers, and what a dropped element becomes.
DROPOUT_VARIANTS = ("dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout")
CHANNEL_VARIANTS = {"dropout1d": (2, 3), "dropout2d": (4,), "dropout3d": (5,)}  # variant -> input ranks
ALPHA_VARIANTS = ("alpha_dropout", "feature_alpha_dropout")
NORMALIZATION_LAYERS = ("batch_norm1d", "batch_norm2d", "layer_norm")
NORMALIZATION_ROUTES = ("layer", "functional")
STATISTICS = ("batch", "running")
MOMENTUM_MAPPINGS = ("converted", "same_number")
RUNNING_VARIANCES = ("unbiased", "biased")
# What each framework uses when a case leaves momentum or epsilon out; the reference assumes these, and the
# norm-epsilon / norm-momentum sensitivity checks prove a different default would be detected.
DEFAULT_NORM_MOMENTUM = 0.1  # neutral convention: weight of the new batch statistic
DEFAULT_NORM_EPSILON = 1e-5
# Learning-rate schedules, loss scaling and EMA of weights (the [schedule], [loss_scaling], [ema] tables).
SCHEDULES = ("step", "multi_step", "exponential", "cosine", "cosine_warm_restarts", "cyclic", "one_cycle",
             "linear_warmup", "linear", "polynomial", "lambda", "multiplicative", "reduce_on_plateau")
SCHEDULE_MAPPINGS = ("parity", "defaults")
CYCLIC_MODES = ("triangular", "triangular2", "exp_range")
ANNEAL_STRATEGIES = ("cos", "linear")
LAMBDA_FUNCTIONS = ("constant", "exponential", "inverse_time", "inverse_sqrt")
PLATEAU_MODES = ("min", "max")
THRESHOLD_MODES = ("rel", "abs")
WARMUP_AFTER = ("constant", "cosine")
INJECTED_VALUES = ("inf", "nan")
UNSCALE_FORMS = ("exact", "float32_inverse")
EMA_INITS = ("first_update", "initial_params", "zero")
EMA_WARMUPS = ("none", "thres_steps")
EMA_ROUTES = ("ema_module", "ema_manual")
# Loss probes (the [loss_probe] table): one loss function's value and input gradient.
LOSS_NAMES = ("mse", "l1", "cross_entropy", "nll", "bce", "bce_with_logits", "smooth_l1", "huber", "kl_div",
              "hinge_embedding", "multi_margin")
LOSS_REDUCTIONS = ("none", "mean", "sum", "batchmean")
LOSS_ROUTES = ("layer", "functional")
LOSS_MAPPINGS = ("right", "by_name")
CLASS_LOSSES = ("cross_entropy", "nll", "multi_margin")  # integer class targets, input [N, C]


class SpecError(ValueError):
    """A case file that cannot be used: names the file, the key and what would be accepted."""

    def __init__(self, file: str | Path, key: str, problem: str, accepted: str | None = None):
        self.file, self.key, self.problem, self.accepted = str(file), key, problem, accepted
        text = f"{file}: {key or '<file>'}: {problem}"
        if accepted:
            text += f"; accepted: {accepted}"
        super().__init__(text)


def _optimizer_registry() -> dict:
    # Imported when first needed: the registry lives in the reference package, which imports this module.
    from .reference.optimizers.registry import REGISTRY
    return REGISTRY


class _OptimizerNames(Sequence):
    """The registry's optimizer names, read when first used (see _optimizer_registry)."""

    def __getitem__(self, index):
        return tuple(_optimizer_registry())[index]

    def __len__(self) -> int:
        return len(_optimizer_registry())


OPTIMIZERS = _OptimizerNames()


def _doc(text: str, accepted: tuple | None = None, **extra) -> dict:
    return {"doc": text, "accepted": accepted, **extra}


@dataclass(frozen=True)
class ModelSpec:
    sizes: tuple[int, ...] = field(metadata=_doc(
        "Layer widths [in, hidden..., out]; two entries make a single Linear layer."))
    bias: bool = field(default=True, metadata=_doc("Whether each Linear layer has a bias."))
    activation: str = field(default="tanh", metadata=_doc(
        "Activation between Linear layers (not after the last).", ACTIVATIONS))
    dropout: float = field(default=0.0, metadata=_doc(
        "Dropout probability after each activation; 0 disables it. Masks differ between frameworks, so "
        "the reference replays the mask each implementation recovered from its own outputs."))
    init_bound: float | None = field(default=None, metadata=_doc(
        "Initial parameters are drawn uniform(-bound, bound); default 1/sqrt(fan_in) per layer."))


@dataclass(frozen=True)
class DataSpec:
    seed: int = field(metadata=_doc("Seed of NumPy's default_rng for inputs, targets and initial params."))
    batch_size: int = field(metadata=_doc("Rows per batch."))
    batches: int = field(default=1, metadata=_doc(
        "Number of distinct batches; step t uses batch (t-1) mod batches. 1 = full-batch descent."))
    distribution: str = field(default="uniform", metadata=_doc(
        "Input distribution: uniform [0, 1) (like paddle.rand / torch.rand) or standard normal.",
        DISTRIBUTIONS))
    inputs: tuple[tuple[float, ...], ...] | None = field(default=None, metadata=_doc(
        "Literal inputs, shape [batch_size * batches, sizes[0]]; replaces the drawn ones."))


def _hyper_keys() -> dict[str, str]:
    """optimizer.<key> -> its documentation, for every hyper-parameter in the registry (for `schema`)."""
    docs: dict[str, dict[tuple[str, str], list[str]]] = {}
    for info in _optimizer_registry().values():
        for key in info.settable:
            hyper = info.hypers[key]
            docs.setdefault(key, {}).setdefault((hyper.kind, hyper.doc), []).append(info.name)
    return {key: "; ".join(f"{', '.join(names)}: {doc} ({kind})" for (kind, doc), names in by_doc.items())
            for key, by_doc in docs.items()}


def _convert_hypers(fields: dict, raw: dict, file, prefix: str) -> dict[str, object]:
    """Check the hyper-parameters of [optimizer] against the registry entry of optimizer.name."""
    registry = _optimizer_registry()
    info = registry[fields["name"]]
    result = {}
    for key, value in raw.items():
        dotted = _join(prefix, key)
        if key not in info.settable:
            everywhere = {k: [i.name for i in registry.values() if k in i.settable]
                          for i in registry.values() for k in i.settable}
            close = difflib.get_close_matches(key, list(everywhere), n=1)
            hint = (f" (did you mean {close[0]!r}, a hyper-parameter of {', '.join(everywhere[close[0]])}?)"
                    if close else "")
            raise SpecError(file, dotted, f"unknown key: {info.name} has no hyper-parameter {key!r}{hint}",
                            ", ".join(("name", "lr") + info.settable))
        hyper = info.hypers[key]
        result[key] = _convert_hyper(hyper.kind, value, file, dotted)
        if hyper.kind in ("number", "integer") and not hyper.valid(result[key]):
            raise SpecError(file, dotted, f"{result[key]!r} is out of range", hyper.valid_text)
    return result


def _convert_hyper(kind: str, value, file, key):
    if kind == "number":
        return _convert(float, value, file, key)
    if kind == "integer":
        return _convert(int, value, file, key)
    if kind == "boolean":
        return _convert(bool, value, file, key)
    if kind == "patterns":
        return _convert(tuple[str, ...], value, file, key)
    ratios = _convert(dict[str, float], value, file, key)
    for pattern, ratio in ratios.items():
        if ratio <= 0:
            raise SpecError(file, _join(key, pattern), f"{ratio} is not a learning-rate ratio", "a number > 0")
    return ratios


@dataclass(frozen=True)
class OptimizerSpec:
    """``name`` and ``lr``, then hyper-parameters under neutral names, accepted per optimizer by the
    registry in equivalence/reference/optimizers. A hyper-parameter left out means each framework's own
    default: the backends do not pass it, and the reference takes the default of reference.follows."""

    name: str = field(metadata=_doc("Optimizer.", OPTIMIZERS))
    lr: float | None = field(default=None, metadata=_doc(
        "Learning rate, > 0; left out: each framework's default learning rate."))
    hyper: dict[str, object] = field(default_factory=dict, metadata=_doc(
        "Hyper-parameters by neutral name, written as flat keys of [optimizer].", rest=_hyper_keys,
        convert=_convert_hypers))


@dataclass(frozen=True)
class Coefficients:
    l1: float = field(default=0.0, metadata=_doc("L1 coefficient c: adds c*sign(w) to the gradient."))
    l2: float = field(default=0.0, metadata=_doc("L2 coefficient c: adds c*w to the gradient."))


@dataclass(frozen=True)
class RegularizationSpec:
    l1: float = field(default=0.0, metadata=_doc(
        "L1 coefficient c: penalty c*sum(|w|), gradient c*sign(w). With l2 too this is elastic net."))
    l2: float = field(default=0.0, metadata=_doc(
        "L2 coefficient c: penalty 0.5*c*sum(w**2), gradient c*w (see penalty_form)."))
    parameters: tuple[str, ...] = field(default=(), metadata=_doc(
        "Parameter names or fnmatch patterns (e.g. '*.weight') the coefficients apply to; empty = all."))
    overrides: dict[str, Coefficients] = field(default_factory=dict, metadata=_doc(
        "Per-parameter coefficients that take priority over l1/l2 (Paddle ParamAttr regularizer, "
        "Torch param group). Keys are parameter names or patterns."))
    penalty_form: str = field(default="half_squared", metadata=_doc(
        "How the loss_penalty route and the reference write the L2 penalty: half_squared = "
        "0.5*c*sum(w**2); norm = c*norm(w, 2), not squared (a textbook mistake).", PENALTY_FORMS))


@dataclass(frozen=True)
class DropoutSpec:
    p: float = field(metadata=_doc("Drop probability, 0 <= p <= 1 (p = 1 drops everything in both frameworks)."))
    shape: tuple[int, ...] = field(metadata=_doc("Input shape; large, so the keep ratio is meaningful."))
    seed: int = field(default=0, metadata=_doc("Seed for the input, the upstream gradient and the framework RNG."))
    variant: str = field(default="dropout", metadata=_doc(
        "dropout: one draw per element (or per `axis` slice); dropout1d/2d/3d: one draw per (sample, channel), "
        "whole channels dropped; alpha_dropout / feature_alpha_dropout: dropped elements (channels) become "
        "SELU's saturation value and everything is scaled and shifted to keep mean and variance.",
        DROPOUT_VARIANTS))
    axis: tuple[int, ...] | None = field(default=None, metadata=_doc(
        "variant dropout only: Paddle's `axis`: the mask has the input's size along these axes and size 1 "
        "along the others (one draw shared there); omitted = every axis. Torch expresses every axis "
        "(Dropout) and [0, 1] on 3-D to 5-D input (Dropout1d/2d/3d); other axis sets are not applicable."))
    mode: str = field(default="upscale_in_train", metadata=_doc(
        "upscale_in_train: scale kept elements by 1/(1-p) in training, identity in eval; "
        "downscale_in_infer (Paddle only, variant dropout): no scaling in training, scale by (1-p) in eval.",
        DROPOUT_MODES))
    training: bool = field(default=True, metadata=_doc(
        "The training flag of the training-mode call: false calls the functional route with training=False "
        "and runs the layer in eval mode; the reference is then the eval formula with every element kept."))
    omit_training: bool = field(default=False, metadata=_doc(
        "Functional route only: leave the training argument out, so each framework's default applies "
        "(True for every Paddle dropout, False for Torch's alpha_dropout and feature_alpha_dropout); the "
        "reference still follows `training`."))
    zero_fraction: float = field(default=0.05, metadata=_doc(
        "Fraction of inputs set exactly to zero, where the mask cannot be read off the output."))

    def mask_shape(self) -> tuple[int, ...]:
        """Shape of one draw of the mask; it broadcasts over the input. Channel variants draw per
        (sample, channel); a rank-2 dropout1d input is one unbatched sample [C, L] in both frameworks."""
        rank = len(self.shape)
        if self.variant in CHANNEL_VARIANTS or self.variant == "feature_alpha_dropout":
            if self.variant == "dropout1d" and rank == 2:
                return (self.shape[0], 1)
            return self.shape[:2] + (1,) * (rank - 2)
        if self.variant == "dropout" and self.axis is not None:
            return tuple(s if i in self.axis else 1 for i, s in enumerate(self.shape))
        return self.shape


@dataclass(frozen=True)
class NormalizationSpec:
    layer: str = field(metadata=_doc(
        "batch_norm1d (Paddle BatchNorm1D, Torch BatchNorm1d; input [N, C] or [N, C, L]), batch_norm2d "
        "([N, C, H, W]) or layer_norm (statistics over the last `normalized_dims` axes of each sample).",
        NORMALIZATION_LAYERS))
    shape: tuple[int, ...] = field(metadata=_doc("Shape of one batch, channels on axis 1 (NCHW)."))
    seed: int = field(default=0, metadata=_doc("Seed of the batches, upstream gradients and affine parameters."))
    momentum: float | None = field(default=None, metadata=_doc(
        "Batch norm: weight of the NEW batch statistic, running = (1 - momentum) * running + momentum * batch. "
        "This is Torch's convention; Paddle's `momentum` weighs the OLD running value, so Paddle gets "
        "1 - momentum (see momentum_mapping). Omitted = each framework's default (Paddle 0.9, Torch 0.1); "
        f"the reference then uses {DEFAULT_NORM_MOMENTUM}."))
    momentum_mapping: str = field(default="converted", metadata=_doc(
        "How the backends pass momentum: converted (Paddle gets 1 - momentum, the right mapping) or "
        "same_number (both get the number as written: the natural, wrong mapping).", MOMENTUM_MAPPINGS))
    epsilon: float | None = field(default=None, metadata=_doc(
        f"Added to the variance; omitted = each framework's default (the reference uses {DEFAULT_NORM_EPSILON:g})."))
    affine: bool = field(default=True, metadata=_doc(
        "Learnable scale and shift (drawn from the seed, not 1 and 0, so their gradients mean something)."))
    normalized_dims: int = field(default=1, metadata=_doc(
        "layer_norm only: how many trailing axes are normalized (normalized_shape = shape[-k:])."))
    train_statistics: str = field(default="batch", metadata=_doc(
        "Statistics of the train-mode forwards: batch (and the running estimates are updated) or running "
        "(Paddle use_global_stats=True; Torch: the module in eval mode, or F.batch_norm(training=False); "
        "nothing is updated).", STATISTICS))
    eval_statistics: str = field(default="running", metadata=_doc(
        "Statistics of the eval forward: running or batch (Paddle use_global_stats=False; Torch "
        "track_running_stats=False, which keeps no running estimates at all).", STATISTICS))

    def normalized_axes(self) -> tuple[int, ...]:
        """The axes a statistic is taken over: all but the channel axis (batch norm), or the trailing
        `normalized_dims` axes (layer norm)."""
        rank = len(self.shape)
        if self.layer == "layer_norm":
            return tuple(range(rank - self.normalized_dims, rank))
        return (0,) + tuple(range(2, rank))

    def param_shape(self) -> tuple[int, ...]:
        return self.shape[-self.normalized_dims:] if self.layer == "layer_norm" else (self.shape[1],)

    def tracks_running_stats(self) -> bool:
        """Whether the layer keeps running estimates that a train-mode forward updates."""
        return self.layer != "layer_norm"


@dataclass(frozen=True)
class LossProbeSpec:
    name: str = field(metadata=_doc(
        "The loss, by a neutral name: mse, l1, smooth_l1 (Torch's parameterisation, `beta`), huber (`delta`; "
        "what Paddle's smooth_l1_loss computes), cross_entropy (logits), nll (log-probabilities), bce "
        "(probabilities), bce_with_logits, kl_div (log-probability input), hinge_embedding (targets +-1), "
        "multi_margin (integer targets).", LOSS_NAMES))
    shape: tuple[int, ...] = field(metadata=_doc(
        "Input shape; [N, C] for cross_entropy, nll, multi_margin and kl_div (classes / distribution on the last axis)."))
    seed: int = field(default=0, metadata=_doc("Seed of the input, the targets and the upstream gradient."))
    scale: float = field(default=1.0, metadata=_doc(
        "Multiplies the drawn logits (cross_entropy, bce_with_logits, multi_margin, hinge_embedding, the logits "
        "behind nll / kl_div / bce inputs, and the regression inputs): 100 or 1e4 for extreme logits; bce "
        "probabilities sigmoid(scale * z) are then exactly 0 or 1. > 0."))
    reduction: str = field(default="mean", metadata=_doc(
        "none (per element / per sample), mean, sum, batchmean (kl_div only: sum / N).", LOSS_REDUCTIONS))
    weight: tuple[float, ...] | None = field(default=None, metadata=_doc(
        "Class weights, one per class (cross_entropy, nll, multi_margin)."))
    ignore_index: int | None = field(default=None, metadata=_doc(
        "Class index to ignore (cross_entropy, nll with hard labels): the targets of the first third of the "
        "samples are set to it. May be outside [0, C) (both frameworks default to -100)."))
    label_smoothing: float = field(default=0.0, metadata=_doc(
        "cross_entropy: target = (1 - eps) * target + eps / C; 0 <= eps < 1."))
    soft_labels: bool = field(default=False, metadata=_doc(
        "cross_entropy: probability targets (Paddle soft_label=True, Torch float class probabilities)."))
    pos_weight: tuple[float, ...] | None = field(default=None, metadata=_doc(
        "bce_with_logits: weight of the positive term, one per class (last axis)."))
    beta: float | None = field(default=None, metadata=_doc(
        "smooth_l1: 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (Torch smooth_l1_loss); default 1."))
    delta: float | None = field(default=None, metadata=_doc(
        "huber: 0.5 d^2 where |d| <= delta, else delta * (|d| - 0.5 delta) (Torch huber_loss, Paddle "
        "smooth_l1_loss); default 1."))
    log_target: bool = field(default=False, metadata=_doc("kl_div: the target is given as log-probabilities."))
    margin: float | None = field(default=None, metadata=_doc("hinge_embedding, multi_margin: the margin; default 1."))
    p: int = field(default=1, metadata=_doc("multi_margin: exponent of the hinge, 1 or 2."))
    mapping: str = field(default="right", metadata=_doc(
        "How the backends call the loss where the names mislead: right (the call that computes the neutral "
        "loss: Paddle smooth_l1_loss(is_huber=False) for smooth_l1, Torch huber_loss for huber) or by_name "
        "(the natural port by name: Paddle smooth_l1_loss(delta=beta) for smooth_l1, Torch "
        "smooth_l1_loss(beta=delta) for huber).", LOSS_MAPPINGS))
    target_scale: float = field(default=1.0, metadata={"internal": True})  # the loss-target-scale perturbation

    def option(self, key: str) -> float:
        """beta, delta or margin with its default (1)."""
        value = getattr(self, key)
        return 1.0 if value is None else value

    def classes(self) -> int:
        return self.shape[-1]


@dataclass(frozen=True)
class ClipSpec:
    kind: str = field(metadata=_doc(
        "global_norm: scale every gradient by one factor so their joint norm is at most max_norm; norm: the "
        "same per parameter tensor; value: clamp each element to [min, max].", CLIP_KINDS))
    active: str = field(metadata=_doc(
        "What the case claims about its gradients, checked by the reference at every step: every_step (some "
        "gradient is clipped at each step), never (the clip is a no-op), some_steps (no claim).", CLIP_ACTIVITY))
    max_norm: float | None = field(default=None, metadata=_doc("Norm threshold, > 0 (global_norm, norm)."))
    norm_type: str | None = field(default=None, metadata=_doc(
        "Which p-norm (global_norm, norm); default '2'. Paddle's grad_clip= classes know only '2'.", NORM_TYPES))
    max: float | None = field(default=None, metadata=_doc("Upper bound (value)."))
    min: float | None = field(default=None, metadata=_doc(
        "Lower bound (value), < max; default -max, which needs max > 0."))

    @property
    def norm(self) -> str:
        return self.norm_type or "2"

    @property
    def bounds(self) -> tuple[float, float]:
        return (-self.max if self.min is None else self.min), self.max


@dataclass(frozen=True)
class ReferenceFlavour:
    momentum: str = field(default="heavy_ball", metadata=_doc(
        "Momentum formula of the reference: heavy_ball v = mu*v + g (Paddle and Torch); ema "
        "v = mu*v + (1-mu)*g (a textbook claim).", MOMENTUM_FORMS))
    attributes: str = field(default="exact", metadata=_doc(
        "exact: hyper-parameters as written (Torch, and Paddle's Scalar arguments); float32: those Paddle's "
        "kernels take as C++ float attributes (the registry marks them: Momentum's mu and fused L2 "
        "coefficient, Adagrad/RMSProp/Adadelta/Adamax/NAdam/RAdam/Lamb hyper-parameters, AdamW's "
        "weight_decay) rounded to float32 first, as Paddle does even for float64 parameters.",
        ATTRIBUTE_PRECISIONS))
    decay: str = field(default="decoupled", metadata=_doc(
        "How the reference applies an optimizer's decoupled weight_decay (AdamW): decoupled w *= 1 - "
        "lr*weight_decay (Paddle and Torch); coupled_l2 adds weight_decay*w to the gradient instead, as Adam's "
        "L2 does (a textbook mistake about AdamW).", DECAY_FORMS))
    follows: str | None = field(default=None, metadata=_doc(
        "Whose optimizer the reference follows where Paddle and Torch differ: their default for a "
        "hyper-parameter the case leaves out, and their formula for an optimizer the registry marks as "
        "computed differently. Needed exactly then.", FLAVOURS))
    clip_norm_formula: str = field(default="exact", metadata=_doc(
        "Norm clipping coefficient: exact = max_norm / max(norm, max_norm) (Paddle ClipGradByGlobalNorm and "
        "ClipGradByNorm); epsilon = min(1, max_norm / (norm + 1e-6)) (torch and paddle.nn.utils "
        "clip_grad_norm_); unclamped = max_norm / norm always, scaling small gradients up (a wrong mapping).",
        CLIP_NORM_FORMULAS))
    clip_order: str = field(default="clip_then_decay", metadata=_doc(
        "clip_then_decay: the optimizer adds weight decay to the clipped gradient (Paddle grad_clip= and "
        "weight_decay, Torch clip_grad_*_ before step()); decay_then_clip: the decay gradient is clipped "
        "together with the data gradient (a loss penalty).", CLIP_ORDERS))
    batch_norm_running_var: str = field(default="unbiased", metadata=_doc(
        "Variance that feeds the running estimate: unbiased (sum of squares / (n-1): the BatchNorm paper's "
        "inference variance, and Torch) or biased (/ n: the tutorial BatchNorm, and Paddle). The batch "
        "itself is always normalized with the biased variance.", RUNNING_VARIANCES))
    norm_attributes: str = field(default="exact", metadata=_doc(
        "exact: momentum and epsilon as written; float32: both rounded to float32 first and Paddle's "
        "(1 - momentum) formed from the rounded value, as Paddle's batch_norm and layer_norm kernels take "
        "them as float attributes.", ATTRIBUTE_PRECISIONS))
    dropout_attributes: str = field(default="exact", metadata=_doc(
        "exact: the dropout scale 1/(1-p) from p as written; float32: p and 1-p in float32, as Paddle's "
        "dropout kernel computes them (variant dropout without axis).", ATTRIBUTE_PRECISIONS))


# ------------------------------------------------- learning-rate schedules, loss scaling, EMA of weights

_REQUIRED = object()

# The parameters each schedule takes, with the neutral default (what the reference assumes when the case
# leaves the key out); _REQUIRED marks the ones a case must give. A key given to a schedule that does not
# take it is a SpecError, so a typo cannot silently fall back to a default.
SCHEDULE_PARAMETERS: dict[str, dict[str, object]] = {
    "step": {"step_size": _REQUIRED, "gamma": 0.1},
    "multi_step": {"milestones": _REQUIRED, "gamma": 0.1},
    "exponential": {"gamma": _REQUIRED},
    "cosine": {"t_max": _REQUIRED, "eta_min": 0.0},
    "cosine_warm_restarts": {"t_0": _REQUIRED, "t_mult": 1, "eta_min": 0.0},
    "cyclic": {"max_lr": _REQUIRED, "step_size_up": _REQUIRED, "step_size_down": None, "mode": "triangular",
               "gamma": 1.0},
    "one_cycle": {"total_steps": _REQUIRED, "end_lr": _REQUIRED, "div_factor": 25.0, "pct_start": 0.3,
                  "anneal": "cos", "three_phase": False},
    "linear_warmup": {"warmup_steps": _REQUIRED, "start_lr": _REQUIRED, "end_lr": None, "after": "constant",
                      "t_max": None, "eta_min": 0.0},
    "linear": {"total_steps": _REQUIRED, "start_factor": 1.0 / 3, "end_factor": 1.0},
    "polynomial": {"total_steps": _REQUIRED, "end_lr": 0.0, "power": 1.0},
    "lambda": {"factors": None, "function": None, "gamma": None},
    "multiplicative": {"factors": None, "function": None, "gamma": None},
    "reduce_on_plateau": {"mode": "min", "factor": 0.1, "patience": 10, "threshold": 1e-4,
                          "threshold_mode": "rel", "cooldown": 0, "min_lr": 0.0, "eps": 1e-8,
                          "cooldown_tracks_best": True},
}


def _for(*names: str) -> str:
    return f" ({', '.join(names)})"


def _sdoc(text: str, accepted: tuple | None = None) -> dict:
    return _doc(text if text.endswith(".") else text + ".", accepted)


@dataclass(frozen=True)
class ScheduleSpec:
    name: str = field(metadata=_sdoc(
        "Learning-rate schedule; optimizer.lr is its base learning rate (the peak for one_cycle, the lower "
        "bound for cyclic). The learning rate of step t is the schedule at epoch t-1: both frameworks step "
        "the scheduler once in its constructor and once after every optimizer step.", SCHEDULES))
    mapping: str = field(default="parity", metadata=_sdoc(
        "parity: each backend sets every argument so its scheduler computes this schedule (or reports "
        "not-applicable); defaults: a direct port that passes the arguments the case gives under the "
        "framework's own names and leaves every other one at the framework's default.", SCHEDULE_MAPPINGS))
    step_size: int | None = field(default=None, metadata=_sdoc("Epochs between decays" + _for("step")))
    milestones: tuple[int, ...] | None = field(default=None, metadata=_sdoc(
        "Epochs at which the lr is multiplied by gamma; a repeated milestone decays twice" + _for("multi_step")))
    gamma: float | None = field(default=None, metadata=_sdoc(
        "Decay factor" + _for("step", "multi_step", "exponential") + "; exp_range factor" + _for("cyclic")
        + "; parameter of the named function" + _for("lambda", "multiplicative")))
    t_max: int | None = field(default=None, metadata=_sdoc(
        "Half period of the cosine" + _for("cosine", "linear_warmup with after = 'cosine'")))
    eta_min: float | None = field(default=None, metadata=_sdoc(
        "Lowest lr of the cosine" + _for("cosine", "cosine_warm_restarts", "linear_warmup")))
    t_0: int | None = field(default=None, metadata=_sdoc("Epochs to the first restart" + _for("cosine_warm_restarts")))
    t_mult: int | None = field(default=None, metadata=_sdoc(
        "Factor of the period after each restart" + _for("cosine_warm_restarts")))
    max_lr: float | None = field(default=None, metadata=_sdoc("Upper lr bound" + _for("cyclic")))
    step_size_up: int | None = field(default=None, metadata=_sdoc("Epochs of the rising half" + _for("cyclic")))
    step_size_down: int | None = field(default=None, metadata=_sdoc(
        "Epochs of the falling half; default step_size_up" + _for("cyclic")))
    mode: str | None = field(default=None, metadata=_sdoc(
        "cyclic: triangular, triangular2, exp_range; reduce_on_plateau: min, max", CYCLIC_MODES + PLATEAU_MODES))
    total_steps: int | None = field(default=None, metadata=_sdoc(
        "Length of the schedule in epochs" + _for("one_cycle", "linear", "polynomial")))
    end_lr: float | None = field(default=None, metadata=_sdoc(
        "Final lr" + _for("one_cycle", "polynomial") + "; lr at the end of the warm-up, default optimizer.lr"
        + _for("linear_warmup")))
    div_factor: float | None = field(default=None, metadata=_sdoc(
        "Initial lr = optimizer.lr / div_factor" + _for("one_cycle")))
    pct_start: float | None = field(default=None, metadata=_sdoc("Fraction of the rising phase" + _for("one_cycle")))
    anneal: str | None = field(default=None, metadata=_sdoc("Annealing curve" + _for("one_cycle"), ANNEAL_STRATEGIES))
    three_phase: bool | None = field(default=None, metadata=_sdoc(
        "Rise, fall back to the initial lr, then anneal to end_lr" + _for("one_cycle")))
    warmup_steps: int | None = field(default=None, metadata=_sdoc("Warm-up epochs" + _for("linear_warmup")))
    start_lr: float | None = field(default=None, metadata=_sdoc("lr at epoch 0" + _for("linear_warmup")))
    after: str | None = field(default=None, metadata=_sdoc(
        "What follows the warm-up: optimizer.lr, or a cosine from optimizer.lr (t_max, eta_min)"
        + _for("linear_warmup"), WARMUP_AFTER))
    start_factor: float | None = field(default=None, metadata=_sdoc("Factor of the lr at epoch 0" + _for("linear")))
    end_factor: float | None = field(default=None, metadata=_sdoc("Factor from total_steps on" + _for("linear")))
    power: float | None = field(default=None, metadata=_sdoc("Exponent" + _for("polynomial")))
    factors: tuple[float, ...] | None = field(default=None, metadata=_sdoc(
        "Factor per epoch, indexed from epoch 0 (lambda: lr = optimizer.lr * f(epoch)) or epoch 1 "
        "(multiplicative: lr = previous lr * f(epoch)); the last value repeats past the end. Either factors "
        "or function" + _for("lambda", "multiplicative")))
    function: str | None = field(default=None, metadata=_sdoc(
        "A named f(epoch): constant = gamma, exponential = gamma**epoch, inverse_time = 1/(1 + gamma*epoch), "
        "inverse_sqrt = 1/sqrt(1 + epoch). Case files hold data, never code" + _for("lambda", "multiplicative"),
        LAMBDA_FUNCTIONS))
    factor: float | None = field(default=None, metadata=_sdoc(
        "lr multiplier on a plateau, < 1" + _for("reduce_on_plateau")))
    patience: int | None = field(default=None, metadata=_sdoc(
        "Bad epochs tolerated before a reduction" + _for("reduce_on_plateau")))
    threshold: float | None = field(default=None, metadata=_sdoc(
        "Least improvement that counts" + _for("reduce_on_plateau")))
    threshold_mode: str | None = field(default=None, metadata=_sdoc(
        "rel: better than best*(1 -/+ threshold); abs: best -/+ threshold" + _for("reduce_on_plateau"),
        THRESHOLD_MODES))
    cooldown: int | None = field(default=None, metadata=_sdoc(
        "Epochs after a reduction before bad epochs count again" + _for("reduce_on_plateau")))
    min_lr: float | None = field(default=None, metadata=_sdoc("Lower bound of the lr" + _for("reduce_on_plateau")))
    eps: float | None = field(default=None, metadata=_sdoc(
        "A reduction smaller than eps is skipped" + _for("reduce_on_plateau")))
    cooldown_tracks_best: bool | None = field(default=None, metadata=_sdoc(
        "Reference flavour: true, the best metric keeps being tracked during the cooldown (Torch); false, "
        "the metric is ignored during the cooldown (Paddle)" + _for("reduce_on_plateau")))
    shift: int = field(default=0, metadata={"internal": True})  # the schedule-shift perturbation

    def factor_at(self, epoch: int) -> float:
        """f(epoch) of the lambda and multiplicative schedules: a listed factor or a named function."""
        if self.factors is not None:
            return self.factors[min(epoch, len(self.factors) - 1)]
        gamma = self.gamma
        if self.function == "constant":
            return gamma
        if self.function == "exponential":
            return gamma ** epoch
        if self.function == "inverse_time":
            return 1.0 / (1.0 + gamma * epoch)
        return 1.0 / math.sqrt(1.0 + epoch)

    def given(self, key: str) -> bool:
        return getattr(self, key) is not None

    def get(self, key: str):
        """The value of a parameter: the case's, or the neutral default of this schedule."""
        value = getattr(self, key)
        if value is not None:
            return value
        default = SCHEDULE_PARAMETERS[self.name].get(key)
        return None if default is _REQUIRED else default


@dataclass(frozen=True)
class Injection:
    step: int = field(metadata=_doc("Step (from 1) whose loss is multiplied by the value before scaling."))
    value: str = field(metadata=_doc("The factor: every gradient of that step becomes inf or NaN.", INJECTED_VALUES))


@dataclass(frozen=True)
class LossScalingSpec:
    init_scale: float = field(default=2.0 ** 16, metadata=_doc(
        "Initial loss scale (Torch init_scale, Paddle init_loss_scaling); both GradScalers default to 2**16."))
    growth_factor: float = field(default=2.0, metadata=_doc(
        "Scale multiplier after growth_interval finite steps in a row (Paddle incr_ratio), > 1."))
    backoff_factor: float = field(default=0.5, metadata=_doc(
        "Scale multiplier on an overflow (Paddle decr_ratio), 0 < x < 1."))
    growth_interval: int = field(default=2000, metadata=_doc(
        "Finite steps in a row before the scale grows (Paddle incr_every_n_steps), >= 1."))
    backoff_interval: int = field(default=1, metadata=_doc(
        "Overflowing steps in a row before the scale backs off (Paddle decr_every_n_nan_or_inf; Torch backs "
        "off on every overflow), >= 1."))
    inject: tuple[Injection, ...] = field(default=(), metadata=_doc(
        "Overflows to inject, e.g. [{step = 3, value = 'inf'}]: the step is skipped and the scale backs off."))
    unscale: str = field(default="exact", metadata=_doc(
        "Reference flavour of the unscaling: exact (the true gradient); float32_inverse: the scaled gradient "
        "times 1/scale rounded to float32, as Torch's GradScaler.unscale_ does.", UNSCALE_FORMS))

    def injected(self, step: int) -> float:
        """The factor the loss of this step is multiplied by: 1, inf or nan."""
        for item in self.inject:
            if item.step == step:
                return float(item.value)
        return 1.0


@dataclass(frozen=True)
class EmaSpec:
    decay: float = field(metadata=_doc("beta in S_t = beta*S_(t-1) + (1-beta)*W_t, 0 < beta < 1."))
    init: str = field(default="first_update", metadata=_doc(
        "S before the first update: first_update, S_1 = W_1 (Torch AveragedModel copies the parameters on its "
        "first update); initial_params, S_0 = W_0; zero, S_0 = 0 (Paddle's documented EMA).", EMA_INITS))
    bias_correction: bool = field(default=False, metadata=_doc(
        "Record S_t / (1 - beta_t**t) (Paddle's documented apply(); needs init = 'zero')."))
    warmup: str = field(default="none", metadata=_doc(
        "none: beta_t = decay; thres_steps: beta_t = min(decay, (1+t)/(10+t)) with t the step number, Paddle's "
        "documented decay scheduling.", EMA_WARMUPS))

    def decay_at(self, step: int) -> float:
        """beta_t of the update after step ``step`` (from 1)."""
        if self.warmup == "thres_steps":
            return min(self.decay, (1.0 + step) / (10.0 + step))
        return self.decay


@dataclass(frozen=True)
class Tolerance:
    rtol: float = field(metadata=_doc("Relative tolerance: |a-b| <= atol + rtol*|b| element-wise."))
    atol: float = field(metadata=_doc("Absolute tolerance; always given together with rtol."))


@dataclass(frozen=True)
class ToleranceSpec:
    rtol: float | None = field(default=None, metadata=_doc("Overrides the dtype default rtol (needs atol)."))
    atol: float | None = field(default=None, metadata=_doc("Overrides the dtype default atol (needs rtol)."))
    quantities: dict[str, Tolerance] = field(default_factory=dict, metadata=_doc(
        "Per-quantity tolerances, e.g. [tolerance.quantities.keep_ratio] rtol = 0, atol = 0.01."))


@dataclass(frozen=True)
class Divergence:
    implementations: tuple[str, ...] = field(metadata=_doc(
        "Implementation ids expected to diverge, e.g. 'paddle/optimizer'."))
    reason: str = field(metadata=_doc("Why they diverge, in one sentence."))
    references: tuple[str, ...] = field(metadata=_doc(
        "Where it comes from: 'framework/file.py:line' or a documentation URL; at least one."))
    compared_with: str = field(default="reference", metadata=_doc(
        "What they diverge from: 'reference', an implementation id, or a backend name ('paddle') for that "
        "backend's implementation of the same route."))
    parity: str = field(default="", metadata=_doc(
        "The mapping that restores parity, where one exists: what to write or choose so the implementations "
        "agree, naming the case that shows it. Listed in the catalogue (python -m equivalence catalogue)."))
    versions: dict[str, str] = field(default_factory=dict, metadata=_doc(
        "Framework version ranges in which the divergence is expected, e.g. { paddle = \">=3.0,<3.2\" } "
        "(PEP 440); with another installed version the check expects equal. Empty: every version."))


@dataclass(frozen=True)
class ExpectSpec:
    divergent: tuple[Divergence, ...] = field(default=(), metadata=_doc(
        "Expected divergences ([[expect.divergent]]); everything else must equal the reference. "
        "A declared divergence that does not occur fails as stale."))
    sensitivity: tuple[str, ...] = field(default=(), metadata=_doc(
        "Extra perturbations the tolerance must detect, besides the defaults for the case.", PERTURBATIONS))


@dataclass(frozen=True)
class SweepRange:
    low: float = field(metadata=_doc("Lowest value drawn."))
    high: float = field(metadata=_doc("Highest value drawn, > low."))
    scale: str = field(default="linear", metadata=_doc(
        "Spacing of the grid the values are drawn from: log spaces them evenly in log(value) (needs low > 0; "
        "for learning rates, epsilons, coefficients, loss weights).", SWEEP_SCALES))
    integer: bool = field(default=False, metadata=_doc(
        "Draw whole numbers (shapes, batch sizes, step counts); low and high must be whole, scale linear."))
    steps: int = field(default=1000, metadata=_doc(
        "Grid intervals between low and high (steps + 1 values, non-integer ranges; the case's own value is one "
        "more): a counter-example is located to one step."))


@dataclass(frozen=True)
class SweepSpec:
    ranges: dict[str, SweepRange] = field(metadata=_doc(
        "Dotted key of this case file -> range, e.g. [sweep.ranges] \"optimizer.lr\" = { low = 1e-4, high = 1, "
        "scale = \"log\" }; also 'model.sizes[1]', 'regularization.l2', 'loss_weight'. Each drawn variant is "
        "the case file with those keys set, loaded and validated like any case file."))
    examples: int = field(default=100, metadata=_doc(
        "Variants a full sweep draws (python -m equivalence sweep CASE_ID; --examples overrides)."))
    ci_examples: int = field(default=10, metadata=_doc(
        "Variants the bounded sweep of the pytest item case-id[sweep] draws."))


@dataclass(frozen=True)
class Case:
    id: str = field(metadata=_doc("Unique id, lowercase words joined by '-'; the test id's stem."))
    description: str = field(metadata=_doc("What the case shows, for people."))
    tags: tuple[str, ...] = field(default=(), metadata=_doc("Tags; each is also a pytest marker."))
    kind: str = field(default="training", metadata=_doc(
        "training: a model trained for some steps; dropout: one dropout layer on a large tensor; "
        "normalization: one normalization layer fed `steps` train-mode batches, then an eval batch; "
        "loss: one loss function's value and input gradient ([loss_probe]).", KINDS))
    source: tuple[str, ...] = field(default=(), metadata=_doc(
        "Where the scenario's claim comes from: a document, an API page, a framework source line."))
    requires: dict[str, str] = field(default_factory=dict, metadata=_doc(
        "Framework version ranges the case applies to, e.g. { paddle = \">=3.0\" } (PEP 440); with another "
        "installed version that framework's runs are skipped, naming the version and the range."))
    model: ModelSpec | None = field(default=None, metadata=_doc("The model (training cases)."))
    data: DataSpec | None = field(default=None, metadata=_doc("The data (training cases)."))
    loss: str = field(default="mean", metadata=_doc(
        "mean = mean of the outputs; mse against normal targets; cross_entropy against integer labels.",
        LOSSES))
    optimizer: OptimizerSpec | None = field(default=None, metadata=_doc("The optimizer (training cases)."))
    regularization: RegularizationSpec | None = field(default=None, metadata=_doc("Weight regularization."))
    dropout: DropoutSpec | None = field(default=None, metadata=_doc("The dropout layer (dropout cases)."))
    clip: ClipSpec | None = field(default=None, metadata=_doc("Gradient clipping between backward and step."))
    lr_multipliers: dict[str, float] = field(default_factory=dict, metadata=_doc(
        "Per-parameter learning rates: name or pattern -> m >= 0; the parameter trains with optimizer.lr * m "
        "(Paddle ParamAttr(learning_rate=m) or a group dict's learning_rate=m, Torch a param group with "
        "lr = optimizer.lr * m). The last matching pattern wins."))
    normalization: NormalizationSpec | None = field(default=None, metadata=_doc(
        "The normalization layer (normalization cases): `steps` train-mode batches, then one eval batch."))
    loss_probe: LossProbeSpec | None = field(default=None, metadata=_doc(
        "The loss function (loss cases): its value and the gradient of sum(loss * upstream) w.r.t. its input."))
    schedule: ScheduleSpec | None = field(default=None, metadata=_doc(
        "Learning-rate schedule (training cases); without it the lr is constant."))
    loss_scaling: LossScalingSpec | None = field(default=None, metadata=_doc(
        "Dynamic loss scaling (Paddle / Torch GradScaler); route optimizer only."))
    ema: EmaSpec | None = field(default=None, metadata=_doc(
        "Exponential moving average of the parameters, recorded as 'ema' by the routes ema_module "
        "(Torch AveragedModel, Paddle ExponentialMovingAverage) and ema_manual (the rule in framework ops)."))
    routes: tuple[str, ...] | None = field(default=None, metadata=_doc(
        "Routes to run in each framework; default: optimizer, plus per_parameter and loss_penalty when "
        "there is regularization, or the per-parameter routes when there are lr_multipliers, each with both "
        "clip routes when there is a [clip] table, or the ema routes with an [ema] table (training); layer and "
        "functional (dropout, normalization, loss).",
        TRAINING_ROUTE_NAMES + EMA_ROUTES + DROPOUT_ROUTES))
    steps: int = field(default=1, metadata=_doc("Optimizer steps to record, >= 1."))
    dtype: str = field(default="float64", metadata=_doc("Floating point type of params and data.", DTYPES))
    reference: ReferenceFlavour = field(default_factory=ReferenceFlavour, metadata=_doc(
        "Formula flavours of the NumPy reference."))
    tolerance: ToleranceSpec = field(default_factory=ToleranceSpec, metadata=_doc("Tolerance overrides."))
    expect: ExpectSpec = field(default_factory=ExpectSpec, metadata=_doc("What is expected."))
    loss_weight: float = field(default=1.0, metadata=_doc(
        "Multiplies the data loss (and so every gradient of it; regularization is not scaled) in the reference "
        "and every framework alike: a gradient-scale knob, e.g. for a sweep towards tiny gradients. > 0."))
    sweep: SweepSpec | None = field(default=None, metadata=_doc(
        "Hyper-parameter ranges for python -m equivalence sweep: variants of this case whose checks must "
        "still all meet their expectations; a counter-example is shrunk towards the case as written."))
    path: str = field(default="", metadata={"internal": True})

    @property
    def selected_routes(self) -> tuple[str, ...]:
        if self.routes is not None:
            return self.routes
        if self.kind == "dropout":
            return DROPOUT_ROUTES
        if self.kind == "normalization":
            return NORMALIZATION_ROUTES
        if self.kind == "loss":
            return LOSS_ROUTES
        if self.ema is not None:
            return EMA_ROUTES
        if self.lr_multipliers:
            bases = PER_PARAMETER_ROUTES
        elif self.regularization is not None:
            bases = TRAINING_ROUTES
        else:
            bases = ("optimizer",)
        if self.clip is None:
            return bases
        return tuple(clipped_route(b, c) for b in bases for c in CLIP_ROUTES)

    def lr_multiplier_of(self) -> dict[str, float]:
        """Learning-rate multiplier per parameter (1.0 where no pattern matches)."""
        result = {}
        for name in self.parameter_names():
            result[name] = 1.0
            for pattern, m in self.lr_multipliers.items():
                if fnmatch.fnmatchcase(name, pattern):
                    result[name] = m
        return result

    def parameter_names(self) -> tuple[str, ...]:
        """Canonical parameter names, in model order: linear0.weight, linear0.bias, linear1.weight, ..."""
        if self.model is None:
            return ()
        names = []
        for i in range(len(self.model.sizes) - 1):
            names.append(f"linear{i}.weight")
            if self.model.bias:
                names.append(f"linear{i}.bias")
        return tuple(names)

    def overridden(self) -> tuple[str, ...]:
        """Parameters whose coefficients come from regularization.overrides."""
        reg = self.regularization
        if reg is None:
            return ()
        return tuple(n for n in self.parameter_names()
                     if any(fnmatch.fnmatchcase(n, pattern) for pattern in reg.overrides))

    def coefficients(self, ignore_overrides: bool = False) -> dict[str, Coefficients]:
        """Effective (l1, l2) per parameter: an override beats the case-wide coefficients."""
        reg = self.regularization
        result = {}
        for name in self.parameter_names():
            coeffs = Coefficients()
            if reg is not None:
                if not reg.parameters or any(fnmatch.fnmatchcase(name, p) for p in reg.parameters):
                    coeffs = Coefficients(l1=reg.l1, l2=reg.l2)
                if not ignore_overrides:
                    for pattern, override in reg.overrides.items():
                        if fnmatch.fnmatchcase(name, pattern):
                            coeffs = override
            result[name] = coeffs
        return result


# ---------------------------------------------------------------------------------------------- loading

def load_case(path: str | Path) -> Case:
    return case_from_dict(read_raw(path), path)


def read_raw(path: str | Path) -> dict:
    """A case file's TOML as a plain dict, before any checking."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(path, "", f"not valid TOML ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(path, "", f"cannot be read ({exc})") from None


def case_from_dict(raw: dict, path: str | Path) -> Case:
    """The case a TOML document describes; ``path`` names it in errors and results."""
    case = _build(Case, raw, path, "")
    case = dataclasses.replace(case, path=str(path))
    validate(case)
    if case.sweep is not None:
        validate_sweep(case.sweep, raw, path)
    return case


def variant(raw: dict, values: dict, path: str | Path) -> Case:
    """The case ``raw`` describes with the dotted keys in ``values`` set, loaded and validated like a file.
    A variant has no [sweep] table of its own."""
    doc = {k: copy.deepcopy(v) for k, v in raw.items() if k != "sweep"}
    for key, value in values.items():
        try:
            dotted.set_value(doc, key, value)
        except KeyError as exc:
            raise SpecError(path, key, exc.args[0], "a dotted key of this case file") from None
    return case_from_dict(doc, path)


def discover(paths: list[str | Path]) -> list[Path]:
    """Case files under the given files or folders, sorted, without duplicates."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found.extend(sorted(p.rglob("*.toml")))
        elif p.is_file():
            found.append(p)
        else:
            raise FileNotFoundError(f"no case file or folder at {p}")
    unique = []
    for p in found:
        if p not in unique:
            unique.append(p)
    return unique


def _type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp) if a is not type(None))
    if origin is tuple:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return f"table of {_type_name(typing.get_args(tp)[1])}"
    if dataclasses.is_dataclass(tp):
        return "table"
    return {int: "integer", float: "number", bool: "boolean", str: "string"}.get(tp, str(tp))


def _build(cls, raw, file, prefix):
    if not isinstance(raw, dict):
        raise SpecError(file, prefix, f"expected a table, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    public = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    # A field with ``rest`` metadata takes every key the other fields do not (optimizer hyper-parameters);
    # its ``convert`` checks them once the other fields are known.
    rest = next((f for f in public.values() if f.metadata.get("rest")), None)
    declared = {name: f for name, f in public.items() if f is not rest}
    if rest is None:
        for key in raw:
            if key not in public:
                raise SpecError(file, _join(prefix, key), "unknown key", ", ".join(public))
    values = {}
    for name, f in declared.items():
        key = _join(prefix, name)
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise SpecError(file, key, "missing required key", _type_name(hints[name]))
            continue
        value = _convert(hints[name], raw[name], file, key)
        accepted = f.metadata.get("accepted")
        if accepted is not None:
            for item in value if isinstance(value, tuple) else (value,):
                if item not in accepted:
                    raise SpecError(file, key, f"{item!r} is not known", ", ".join(accepted))
        values[name] = value
    if rest is not None:
        extra = {k: v for k, v in raw.items() if k not in declared}
        values[rest.name] = rest.metadata["convert"](values, extra, file, prefix)
    return cls(**values)


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _convert(tp, value, file, key):
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert(inner, value, file, key)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, file, key)
    if origin is tuple:
        if not isinstance(value, list):
            raise SpecError(file, key, f"expected a list, got {type(value).__name__} {value!r}")
        item_tp = typing.get_args(tp)[0]
        return tuple(_convert(item_tp, v, file, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise SpecError(file, key, f"expected a table, got {type(value).__name__}")
        item_tp = typing.get_args(tp)[1]
        return {k: _convert(item_tp, v, file, _join(key, k)) for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError(file, key, f"expected a number, got {type(value).__name__} {value!r}")
        if not math.isfinite(value):
            raise SpecError(file, key, f"{value!r} is not finite", "a finite number")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(file, key, f"expected an integer, got {type(value).__name__} {value!r}")
        return value
    if tp in (bool, str):
        if not isinstance(value, tp):
            raise SpecError(file, key, f"expected a {_type_name(tp)}, got {type(value).__name__} {value!r}")
        return value
    raise TypeError(f"spec field type {tp!r} has no converter")  # a bug in this module, not in a case


# ------------------------------------------------------------------------------------------- validation

def validate(case: Case) -> None:
    """Checks that need more than one key, or ranges. Raises SpecError on the first problem."""
    f = case.path

    def need(ok: bool, key: str, problem: str, accepted: str | None = None):
        if not ok:
            raise SpecError(f, key, problem, accepted)

    need(bool(case.id) and case.id == case.id.strip() and " " not in case.id, "id",
         f"{case.id!r} is not a usable id", "non-empty, no spaces")
    need(case.steps >= 1, "steps", f"{case.steps} is not a step count", "an integer >= 1")
    need(case.loss_weight > 0, "loss_weight", f"{case.loss_weight} is not a loss weight", "a number > 0")
    need(case.kind == "training" or case.loss_weight == 1, "loss_weight", f"a {case.kind} case has no loss",
         "loss_weight only in training cases")
    routes = {"training": TRAINING_ROUTE_NAMES + EMA_ROUTES, "dropout": DROPOUT_ROUTES,
              "loss": LOSS_ROUTES}.get(case.kind, NORMALIZATION_ROUTES)
    for r in case.selected_routes:
        need(r in routes, "routes", f"route {r!r} does not apply to a {case.kind} case", ", ".join(routes))
    tol = case.tolerance
    need((tol.rtol is None) == (tol.atol is None), "tolerance",
         "rtol and atol are given together or not at all", "both rtol and atol")
    for q in tol.quantities:
        need(is_quantity(q), f"tolerance.quantities.{q}", "is not a recorded quantity", ", ".join(QUANTITY_ORDER))
    for key, t in [("tolerance", tol)] + [(f"tolerance.quantities.{q}", v) for q, v in tol.quantities.items()]:
        for name in ("rtol", "atol"):
            v = getattr(t, name)
            need(v is None or v >= 0, f"{key}.{name}", f"{v} is negative", "a number >= 0")
    for i, d in enumerate(case.expect.divergent):
        key = f"expect.divergent[{i}]"
        need(bool(d.implementations), f"{key}.implementations", "is empty", "at least one implementation id")
        need(bool(d.reason.strip()), f"{key}.reason", "is empty", "a sentence saying why")
        need(bool(d.references), f"{key}.references", "is empty",
             "at least one 'framework/file.py:line' or URL")
        _validate_ranges(f, f"{key}.versions", d.versions)
    _validate_ranges(f, "requires", case.requires)

    if case.kind == "dropout":
        _validate_dropout(case, need)
        return
    if case.kind == "normalization":
        _validate_normalization(case, need)
        return
    if case.kind == "loss":
        _validate_loss_probe(case, need)
        return

    for key in ("model", "data", "optimizer"):
        need(getattr(case, key) is not None, key, f"a training case needs a [{key}] table", f"[{key}]")
    need(case.dropout is None, "dropout", "a training case puts dropout in model.dropout", "model.dropout")
    need(case.normalization is None, "normalization", "does not apply to a training case", "kind = 'normalization'")
    need(case.loss_probe is None, "loss_probe", "does not apply to a training case (its loss is `loss`)",
         "kind = 'loss'")
    m, d, o = case.model, case.data, case.optimizer
    need(len(m.sizes) >= 2 and all(s >= 1 for s in m.sizes), "model.sizes", f"{list(m.sizes)} is not a layer list",
         "[in, hidden..., out], at least two positive integers")
    need(0.0 <= m.dropout < 1.0, "model.dropout", f"{m.dropout} is not a drop probability", "0 <= p < 1")
    need(m.init_bound is None or m.init_bound > 0, "model.init_bound", f"{m.init_bound} <= 0", "a number > 0")
    need(d.batch_size >= 1, "data.batch_size", f"{d.batch_size} < 1", "an integer >= 1")
    need(d.batches >= 1, "data.batches", f"{d.batches} < 1", "an integer >= 1")
    if d.inputs is not None:
        rows, cols = len(d.inputs), {len(r) for r in d.inputs}
        need(rows == d.batch_size * d.batches and cols == {m.sizes[0]}, "data.inputs",
             f"shape mismatch: got {rows} rows of {sorted(cols)} values",
             f"{d.batch_size * d.batches} rows (batch_size*batches) of {m.sizes[0]} values (model.sizes[0])")
    need(case.loss != "cross_entropy" or m.sizes[-1] >= 2, "loss",
         "cross_entropy needs at least two outputs", "model.sizes[-1] >= 2")
    need(o.lr is None or o.lr > 0, "optimizer.lr", f"{o.lr} is not a learning rate", "a number > 0")
    _validate_optimizer(case, need)
    need(case.optimizer.lr is not None or (case.schedule is None and not case.lr_multipliers), "optimizer.lr",
         "a [schedule] or lr_multipliers scale the case's learning rate, so it must be given", "a number > 0")
    _validate_step_extensions(case, need)
    reg = case.regularization
    if reg is not None:
        names = case.parameter_names()
        for key, value in [("l1", reg.l1), ("l2", reg.l2)]:
            need(value >= 0, f"regularization.{key}", f"{value} is negative", "a number >= 0")
        patterns = [(f"regularization.parameters[{i}]", p) for i, p in enumerate(reg.parameters)]
        patterns += [(f"regularization.overrides.{p}", p) for p in reg.overrides]
        for key, pattern in patterns:
            need(any(fnmatch.fnmatchcase(n, pattern) for n in names), key,
                 f"{pattern!r} matches no parameter", ", ".join(names))
    _validate_clip_and_lr(case, need)


def _validate_clip_and_lr(case: Case, need) -> None:
    names = case.parameter_names()
    for pattern, m in case.lr_multipliers.items():
        key = f"lr_multipliers.{pattern}"
        need(any(fnmatch.fnmatchcase(n, pattern) for n in names), key, f"{pattern!r} matches no parameter",
             ", ".join(names))
        need(m >= 0, key, f"{m} is negative", "a multiplier >= 0")
    clip = case.clip
    for r in case.selected_routes:
        clips = split_route(r)[1] is not None
        if clip is None:
            need(not clips, "routes", f"route {r!r} clips, and the case has no [clip] table",
                 "a [clip] table, or " + ", ".join(BASE_ROUTES))
        else:
            need(clips, "routes", f"route {r!r} does not clip, and the case has a [clip] table",
                 ", ".join(CLIPPED_ROUTES))
    if clip is None:
        return
    if clip.kind == "value":
        need(clip.max is not None, "clip.max", "missing: kind = 'value' clamps to [min, max]", "a number")
        for key in ("max_norm", "norm_type"):
            need(getattr(clip, key) is None, f"clip.{key}", "applies to the norm kinds only", "min, max")
        low, high = clip.bounds
        need(clip.min is not None or clip.max > 0, "clip.max", f"{clip.max} <= 0 and no min (min defaults to -max)",
             "max > 0, or an explicit min < max")
        need(low < high, "clip.min", f"{low} is not below max {high}", "min < max")
    else:
        need(clip.max_norm is not None, "clip.max_norm", f"missing: kind = {clip.kind!r} needs a threshold",
             "a number > 0")
        need(clip.max_norm > 0, "clip.max_norm", f"{clip.max_norm} is not a norm threshold", "a number > 0")
        for key in ("max", "min"):
            need(getattr(clip, key) is None, f"clip.{key}", "applies to kind = 'value' only", "max_norm, norm_type")


def _only_table(case: Case, table: str, need) -> None:
    need(getattr(case, table) is not None, table, f"a {case.kind} case needs a [{table}] table", f"[{table}]")
    for key in ("model", "data", "optimizer", "regularization", "dropout", "normalization", "clip", "schedule",
                "loss_scaling", "ema", "loss_probe"):
        if key != table:
            need(getattr(case, key) is None, key, f"does not apply to a {case.kind} case", f"[{table}] only")
    need(not case.lr_multipliers, "lr_multipliers", f"does not apply to a {case.kind} case", f"[{table}] only")


def _validate_dropout(case: Case, need) -> None:
    _only_table(case, "dropout", need)
    d = case.dropout
    need(0.0 <= d.p <= 1.0, "dropout.p", f"{d.p} is not a drop probability", "0 <= p <= 1")
    need(len(d.shape) >= 1 and all(s >= 1 for s in d.shape), "dropout.shape", f"{list(d.shape)} is not a shape",
         "positive integers")
    need(0.0 <= d.zero_fraction < 1.0, "dropout.zero_fraction", f"{d.zero_fraction} out of range", "0 <= x < 1")
    rank = len(d.shape)
    if d.variant in CHANNEL_VARIANTS:
        ranks = CHANNEL_VARIANTS[d.variant]
        need(rank in ranks, "dropout.shape", f"{d.variant} takes input of rank {' or '.join(map(str, ranks))}, "
             f"not {list(d.shape)}", f"rank {' or '.join(map(str, ranks))}")
    if d.variant == "feature_alpha_dropout":
        need(rank >= 2, "dropout.shape", f"feature_alpha_dropout needs [N, C, ...], not {list(d.shape)}", "rank >= 2")
    if d.axis is not None:
        need(d.variant == "dropout", "dropout.axis", f"applies to variant dropout, not {d.variant}",
             "variant = 'dropout'")
        need(len(d.axis) >= 1 and len(set(d.axis)) == len(d.axis) and all(0 <= a < rank for a in d.axis),
             "dropout.axis", f"{list(d.axis)} is not a set of axes of {list(d.shape)}",
             f"distinct integers in 0..{rank - 1}")
    need(d.mode == "upscale_in_train" or d.variant == "dropout", "dropout.mode",
         f"{d.mode} applies to variant dropout only", "upscale_in_train")
    need(not d.omit_training or case.selected_routes == ("functional",), "dropout.omit_training",
         "only the functional route takes a training argument", "routes = ['functional']")


def _validate_normalization(case: Case, need) -> None:
    _only_table(case, "normalization", need)
    n = case.normalization
    rank = len(n.shape)
    need(all(s >= 1 for s in n.shape), "normalization.shape", f"{list(n.shape)} is not a shape", "positive integers")
    ranks = {"batch_norm1d": (2, 3), "batch_norm2d": (4,), "layer_norm": (2, 3, 4, 5)}[n.layer]
    need(rank in ranks, "normalization.shape", f"{n.layer} takes input of rank {' or '.join(map(str, ranks))}, "
         f"not {list(n.shape)}", f"rank {' or '.join(map(str, ranks))}")
    need(n.epsilon is None or n.epsilon > 0, "normalization.epsilon", f"{n.epsilon} <= 0", "a number > 0")
    if n.layer == "layer_norm":
        need(1 <= n.normalized_dims < rank, "normalization.normalized_dims",
             f"{n.normalized_dims} trailing axes of a rank-{rank} input", f"1..{rank - 1}")
        defaults = {f.name: f.default for f in dataclasses.fields(NormalizationSpec)}
        for key in ("momentum", "train_statistics", "eval_statistics", "momentum_mapping"):
            need(getattr(n, key) == defaults[key], f"normalization.{key}", "layer_norm keeps no running statistics",
                 "leave it out")
        return
    need(n.normalized_dims == 1, "normalization.normalized_dims", "applies to layer_norm only", "leave it out")
    count = math.prod(n.shape[i] for i in n.normalized_axes())
    need(count >= 2, "normalization.shape", f"{count} value per channel: a batch variance needs at least two",
         "N * spatial size >= 2")
    need(n.momentum is None or 0.0 <= n.momentum <= 1.0, "normalization.momentum",
         f"{n.momentum} is not a weight", "0 <= momentum <= 1")
    need(n.momentum is not None or n.momentum_mapping == "converted", "normalization.momentum_mapping",
         "same_number needs a momentum to pass as written", "a momentum, or converted")
    need(not (n.train_statistics == "running" and n.eval_statistics == "batch"), "normalization.eval_statistics",
         "batch statistics in eval after running statistics in training is neither framework's layer",
         "running (with train_statistics = 'running')")


# Which options each loss takes; an option given to a loss that does not take it is a SpecError.
LOSS_OPTIONS = {
    "mse": (), "l1": (), "bce": (), "kl_div": ("log_target",),
    "cross_entropy": ("weight", "ignore_index", "label_smoothing", "soft_labels"),
    "nll": ("weight", "ignore_index"), "bce_with_logits": ("pos_weight",),
    "smooth_l1": ("beta", "mapping"), "huber": ("delta", "mapping"),
    "hinge_embedding": ("margin",), "multi_margin": ("weight", "margin", "p"),
}


def _validate_loss_probe(case: Case, need) -> None:
    _only_table(case, "loss_probe", need)
    lp = case.loss_probe
    need(len(lp.shape) >= 1 and all(s >= 1 for s in lp.shape), "loss_probe.shape", f"{list(lp.shape)} is not a shape",
         "positive integers")
    if lp.name in CLASS_LOSSES or lp.name == "kl_div":
        need(len(lp.shape) == 2 and lp.shape[1] >= 2, "loss_probe.shape",
             f"{lp.name} takes [N, C] with C >= 2, not {list(lp.shape)}", "[N, C]")
    need(lp.scale > 0, "loss_probe.scale", f"{lp.scale} is not a scale", "a number > 0")
    defaults = {f.name: f.default for f in dataclasses.fields(LossProbeSpec)}
    taken = LOSS_OPTIONS[lp.name]
    for key in ("weight", "ignore_index", "label_smoothing", "soft_labels", "pos_weight", "beta", "delta",
                "log_target", "margin", "p", "mapping"):
        need(key in taken or getattr(lp, key) == defaults[key], f"loss_probe.{key}",
             f"{lp.name} takes no {key}", ", ".join(taken) or "no options")
    need(lp.reduction != "batchmean" or lp.name == "kl_div", "loss_probe.reduction",
         f"batchmean applies to kl_div only, not {lp.name}", "none, mean, sum")
    for key in ("weight", "pos_weight"):
        value = getattr(lp, key)
        need(value is None or len(value) == lp.classes(), f"loss_probe.{key}",
             f"{len(value or ())} values for {lp.classes()} classes (the last axis of shape)",
             f"{lp.classes()} numbers")
        need(value is None or all(v >= 0 for v in value), f"loss_probe.{key}", f"{list(value or ())} has a negative",
             "numbers >= 0")
    need(0.0 <= lp.label_smoothing < 1.0, "loss_probe.label_smoothing", f"{lp.label_smoothing} out of range",
         "0 <= label_smoothing < 1")
    need(lp.ignore_index is None or not lp.soft_labels, "loss_probe.ignore_index",
         "ignore_index applies to class-index targets, and soft_labels gives probabilities", "leave it out")
    for key in ("beta", "delta"):
        value = getattr(lp, key)
        need(value is None or value > 0, f"loss_probe.{key}", f"{value} <= 0", "a number > 0")
    need(lp.p in (1, 2), "loss_probe.p", f"{lp.p} is not a multi-margin exponent", "1, 2")


def validate_sweep(sweep: SweepSpec, raw: dict, path: str | Path) -> None:
    """Ranges that make sense, and keys that make a valid case at both ends of their range."""
    def need(ok: bool, key: str, problem: str, accepted: str | None = None):
        if not ok:
            raise SpecError(path, key, problem, accepted)

    need(bool(sweep.ranges), "sweep.ranges", "is empty", "at least one dotted key, e.g. \"optimizer.lr\"")
    for name in ("examples", "ci_examples"):
        n = getattr(sweep, name)
        need(n >= 1, f"sweep.{name}", f"{n} < 1", "an integer >= 1")
    for key, r in sweep.ranges.items():
        at = f"sweep.ranges.{key}"
        try:
            dotted.parse(key)
        except ValueError as exc:
            raise SpecError(path, at, str(exc), "dotted keys like optimizer.lr or model.sizes[1]") from None
        need(r.low < r.high, at, f"low {r.low:g} is not below high {r.high:g}", "low < high")
        need(r.scale != "log" or r.low > 0, f"{at}.low", f"{r.low:g} on a log scale", "low > 0 with scale = 'log'")
        need(r.steps >= 1, f"{at}.steps", f"{r.steps} < 1", "an integer >= 1")
        if r.integer:
            need(r.low.is_integer() and r.high.is_integer(), at, f"[{r.low:g}, {r.high:g}] is not whole",
                 "whole low and high with integer = true")
            need(r.scale == "linear", f"{at}.scale", "integer ranges are linear", "scale = 'linear'")
        for end in ("low", "high"):
            value = int(getattr(r, end)) if r.integer else getattr(r, end)
            try:
                variant(raw, {key: value}, path)
            except SpecError as exc:
                raise SpecError(path, at, f"{end} = {value!r} makes the case invalid ({exc.key}: {exc.problem})",
                                exc.accepted) from None


def _validate_ranges(file: str, key: str, ranges: dict[str, str]) -> None:
    """Framework names the runner knows and PEP 440 ranges (see equivalence/versions.py)."""
    # BACKENDS is read at call time: the harness tests swap in fake backends.
    for framework, text in ranges.items():
        if framework not in BACKENDS:
            raise SpecError(file, f"{key}.{framework}", "is not a framework of this suite", ", ".join(BACKENDS))
        try:
            versions.parse(text)
        except ValueError as exc:
            raise SpecError(file, f"{key}.{framework}", str(exc), versions.ACCEPTED) from None


def _validate_step_extensions(case: Case, need) -> None:
    """[schedule], [loss_scaling], [ema] and the routes that go with them."""
    ema_routes = [r for r in case.selected_routes if r in EMA_ROUTES]
    need(not ema_routes or case.ema is not None, "routes", f"{ema_routes} record an EMA and need an [ema] table",
         "[ema], or routes among " + ", ".join(TRAINING_ROUTES))
    if case.schedule is not None:
        _validate_schedule(case, need)
    if case.loss_scaling is not None:
        ls = case.loss_scaling
        need(case.selected_routes == ("optimizer",), "routes",
             f"loss scaling runs through the optimizer route only, got {list(case.selected_routes)}",
             "routes = ['optimizer']")
        need(ls.init_scale > 0, "loss_scaling.init_scale", f"{ls.init_scale} <= 0", "a number > 0")
        need(ls.growth_factor > 1, "loss_scaling.growth_factor", f"{ls.growth_factor} <= 1", "a number > 1")
        need(0 < ls.backoff_factor < 1, "loss_scaling.backoff_factor", f"{ls.backoff_factor} out of range",
             "0 < backoff_factor < 1")
        need(ls.growth_interval >= 1, "loss_scaling.growth_interval", f"{ls.growth_interval} < 1", "an integer >= 1")
        need(ls.backoff_interval >= 1, "loss_scaling.backoff_interval", f"{ls.backoff_interval} < 1",
             "an integer >= 1")
        seen = set()
        for i, item in enumerate(ls.inject):
            need(1 <= item.step <= case.steps and item.step not in seen, f"loss_scaling.inject[{i}].step",
                 f"{item.step} is not a step of this case or is injected twice",
                 f"a distinct step from 1 to steps = {case.steps}")
            seen.add(item.step)
    if case.ema is not None:
        e = case.ema
        need(0 < e.decay < 1, "ema.decay", f"{e.decay} out of range", "0 < decay < 1")
        need(not e.bias_correction or e.init == "zero", "ema.bias_correction",
             f"dividing by 1 - decay**t corrects a zero start, not init = {e.init!r}", "init = 'zero'")
        need(set(case.selected_routes) <= set(EMA_ROUTES), "routes",
             f"an [ema] case records the EMA on its EMA routes, got {list(case.selected_routes)}",
             ", ".join(EMA_ROUTES))
        need(case.regularization is None, "regularization", "an [ema] case takes no regularization",
             "no [regularization] table")


def _validate_schedule(case: Case, need) -> None:
    sch = case.schedule
    taken = SCHEDULE_PARAMETERS[sch.name]
    public = [f.name for f in dataclasses.fields(ScheduleSpec) if not f.metadata.get("internal")]
    for key in public:
        if key in ("name", "mapping") or not sch.given(key):
            continue
        need(key in taken, f"schedule.{key}", f"does not apply to schedule {sch.name!r}",
             ", ".join(taken) or "no parameters")
    for key, default in taken.items():
        need(default is not _REQUIRED or sch.given(key), f"schedule.{key}",
             f"missing: schedule {sch.name!r} needs it", _type_name(typing.get_type_hints(ScheduleSpec)[key]))

    def positive(key, value, strict=True):
        ok = value is None or (value > 0 if strict else value >= 0)
        need(ok, f"schedule.{key}", f"{value} is out of range", "a number > 0" if strict else "a number >= 0")

    for key in ("step_size", "t_max", "t_0", "t_mult", "step_size_up", "step_size_down", "total_steps",
                "warmup_steps", "max_lr", "div_factor", "power", "start_factor", "factor"):
        positive(key, getattr(sch, key))
    for key in ("eta_min", "end_lr", "start_lr", "end_factor", "threshold", "min_lr", "eps", "patience", "cooldown"):
        positive(key, getattr(sch, key), strict=False)
    positive("gamma", sch.gamma)
    if sch.milestones is not None:
        need(len(sch.milestones) > 0 and all(m >= 1 for m in sch.milestones), "schedule.milestones",
             f"{list(sch.milestones)} is not a list of epochs", "integers >= 1")
    modes = PLATEAU_MODES if sch.name == "reduce_on_plateau" else CYCLIC_MODES
    need(sch.mode is None or sch.mode in modes, "schedule.mode", f"{sch.mode!r} is not a mode of {sch.name}",
         ", ".join(modes))
    if sch.name == "one_cycle":
        pct, three = sch.get("pct_start"), sch.get("three_phase")
        need(0 < pct < (0.5 if three else 1), "schedule.pct_start", f"{pct} out of range",
             "0 < pct_start < 0.5 with three_phase, < 1 otherwise")
        need(case.steps <= sch.total_steps, "steps", f"{case.steps} steps run past schedule.total_steps = "
             f"{sch.total_steps}; both frameworks raise there", f"steps <= {sch.total_steps}")
    if sch.name == "linear_warmup":
        cosine = sch.get("after") == "cosine"
        need(cosine == sch.given("t_max"), "schedule.t_max",
             "a cosine after the warm-up needs t_max, a constant takes none", "t_max with after = 'cosine' only")
    if sch.name in ("lambda", "multiplicative"):
        need(sch.given("factors") != sch.given("function"), "schedule.factors",
             "give either a list of factors or a named function", "factors or function")
        if sch.factors is not None:
            need(len(sch.factors) > 0, "schedule.factors", "is empty", "at least one factor")
            need(not sch.given("gamma"), "schedule.gamma", "a list of factors takes no gamma", "factors alone")
        if sch.function is not None:
            need((sch.function == "inverse_sqrt") != sch.given("gamma"), "schedule.gamma",
                 f"function {sch.function!r} " + ("takes no gamma" if sch.given("gamma") else "needs gamma"),
                 "gamma with constant, exponential, inverse_time")
    if sch.name == "reduce_on_plateau" and sch.factor is not None:
        need(sch.factor < 1, "schedule.factor", f"{sch.factor} does not reduce", "0 < factor < 1")


def _validate_optimizer(case: Case, need) -> None:
    """Per-parameter patterns must match a parameter; a left-out hyper-parameter whose defaults differ, or
    an optimizer the frameworks compute differently, needs reference.follows to say whose the reference
    takes."""
    o, follows = case.optimizer, case.reference.follows
    info = _optimizer_registry()[o.name]
    names = case.parameter_names()
    for key, value in o.hyper.items():
        patterns = value if info.hypers[key].kind == "patterns" else (
            tuple(value) if info.hypers[key].kind == "ratios" else ())
        for pattern in patterns:
            need(any(fnmatch.fnmatchcase(n, pattern) for n in names), f"optimizer.{key}",
                 f"{pattern!r} matches no parameter", ", ".join(names))
    given = set(o.hyper) | ({"lr"} if o.lr is not None else set())
    for key, hyper in info.hypers.items():
        if key in given:
            continue
        p, t = hyper.paddle.default, hyper.torch.default
        need(not hyper.defaults_differ() or follows is not None, "reference.follows",
             f"optimizer.{key} is left to each framework's default and they differ (paddle {p!r}, torch {t!r}); "
             "say whose default the reference takes, or set the key", "paddle, torch")
        side = hyper.side(follows or "torch")
        need(side.name is None or side.default is not None, f"optimizer.{key}",
             f"{follows or 'torch'} has no default for it ({side.source}); the reference cannot follow it",
             f"a value for optimizer.{key}")
    need(not info.differs or follows is not None, "reference.follows",
         f"{o.name}: Paddle and Torch compute different updates ({info.differs}); say whose formula the "
         "reference follows", "paddle, torch")
