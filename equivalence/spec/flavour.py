"""The [reference] table: formula flavours of the NumPy reference where Paddle, Torch and textbooks differ."""

from __future__ import annotations

from dataclasses import dataclass, field

from .base import _doc
from .clip import CLIP_NORM_FORMULAS, CLIP_ORDERS
from .normalization import RUNNING_VARIANCES

MOMENTUM_FORMS = ("heavy_ball", "ema")
ATTRIBUTE_PRECISIONS = ("exact", "float32")
FLAVOURS = ("paddle", "torch")
DECAY_FORMS = ("decoupled", "coupled_l2")
L2_ATTRIBUTES = ("kernel", "exact")
AUTOCAST_FLAVOURS = ("off", "bfloat16")


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
    l2_attribute: str = field(default="kernel", metadata=_doc(
        "kernel: an L2 coefficient fused into the optimizer's kernel follows `attributes` (Paddle's Momentum); "
        "exact: the coefficient stays exact under attributes = 'float32', as when the L2 term is a loss "
        "penalty, whose coefficient is no kernel attribute (Paddle's loss_penalty route).", L2_ATTRIBUTES))
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
    autocast: str = field(default="off", metadata=_doc(
        "off: the reference computes in the case dtype whatever the case's autocast (what Paddle does on a CPU "
        "place); bfloat16: it rounds where torch.autocast(dtype=bfloat16) rounds: each Linear's inputs and "
        "output, the activation's output, and in the backward pass the gradient reaching the model output and "
        "each product and sum (equivalence/reference/model.py).", AUTOCAST_FLAVOURS))
    initializer: str | None = field(default=None, metadata=_doc(
        "model.init = framework_default: whose documented initialisers the reference draws its own start from "
        "(default: follows); the init-other-framework perturbation sets the other.", FLAVOURS))
