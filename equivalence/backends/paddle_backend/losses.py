"""Paddle's loss functions for the shared loss probe (``common._run_loss_probe``).

Mapping of the neutral spec (``LossProbeSpec``):
- huber(delta) is ``smooth_l1_loss(delta=delta)``: Paddle's smooth_l1_loss is the Huber loss
  (paddle/nn/functional/loss.py:1124-1125, 0.5 d^2 or delta |d| - 0.5 delta^2; ``_C_ops.huber_loss`` at :1166);
- smooth_l1(beta) is ``smooth_l1_loss(delta=beta, is_huber=False)``, which divides by delta (:1194-1195); the
  ``by_name`` mapping leaves is_huber at its default True;
- soft cross-entropy targets pass ``soft_label=True``; label smoothing passes ``label_smoothing`` (which turns
  integer labels into smoothed one-hot soft labels, :3008-3020);
- class weights, pos_weight and every option are tensors / keywords of the same names.
Keywords that an older Paddle lacks raise TypeError, which becomes NotApplicable for that case only.
"""

from __future__ import annotations

import warnings

import numpy as np

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import paddle
    import paddle.nn.functional as F

from ...spec import Case
from ..common import NotApplicable

# neutral name -> (functional, layer class name)
_CALLS = {
    "mse": ("mse_loss", "MSELoss"), "l1": ("l1_loss", "L1Loss"), "cross_entropy": ("cross_entropy", "CrossEntropyLoss"),
    "nll": ("nll_loss", "NLLLoss"), "bce": ("binary_cross_entropy", "BCELoss"),
    "bce_with_logits": ("binary_cross_entropy_with_logits", "BCEWithLogitsLoss"),
    "smooth_l1": ("smooth_l1_loss", "SmoothL1Loss"), "huber": ("smooth_l1_loss", "SmoothL1Loss"),
    "kl_div": ("kl_div", "KLDivLoss"), "hinge_embedding": ("hinge_embedding_loss", "HingeEmbeddingLoss"),
    "multi_margin": ("multi_margin_loss", "MultiMarginLoss"), "soft_margin": ("soft_margin_loss", "SoftMarginLoss"),
    "margin_ranking": ("margin_ranking_loss", "MarginRankingLoss"),
}


def _keywords(case: Case) -> dict:
    lp, dtype = case.loss_probe, case.dtype
    kw = {"reduction": lp.reduction}
    if lp.weight is not None:
        kw["weight"] = paddle.to_tensor(np.asarray(lp.weight, dtype=dtype))
    if lp.ignore_index is not None:
        kw["ignore_index"] = lp.ignore_index
    if lp.label_smoothing:
        kw["label_smoothing"] = lp.label_smoothing
    if lp.soft_labels:
        kw["soft_label"] = True
    if lp.pos_weight is not None:
        kw["pos_weight"] = paddle.to_tensor(np.asarray(lp.pos_weight, dtype=dtype))
    if lp.name == "smooth_l1":
        kw["delta"] = lp.option("beta")
        if lp.mapping == "right":
            kw["is_huber"] = False
    if lp.name == "huber":
        kw["delta"] = lp.option("delta")
    if lp.nd_classes() and lp.mapping == "right":
        kw["axis"] = 1  # Paddle's classes default to the last axis (paddle/nn/functional/loss.py:2705)
    if lp.log_target:
        kw["log_target"] = True
    if lp.name in ("hinge_embedding", "multi_margin", "margin_ranking"):
        kw["margin"] = lp.option("margin")
    if lp.name == "multi_margin":
        kw["p"] = lp.p
    return kw


def probe(case: Case, route: str, inputs: dict) -> tuple[np.ndarray, np.ndarray]:
    lp = case.loss_probe
    functional, layer = _CALLS[lp.name]
    kw = _keywords(case)
    x = paddle.to_tensor(inputs["input"].astype(case.dtype), stop_gradient=False)
    target = inputs["target"]
    target = paddle.to_tensor(target if target.dtype.kind == "i" else target.astype(case.dtype))
    where = f"paddle.nn.functional.{functional}" if route == "functional" else f"paddle.nn.{layer}"
    try:
        args = (x, target) if "other" not in inputs else \
            (x, paddle.to_tensor(inputs["other"].astype(case.dtype)), target)  # margin_ranking: (input, other, label)
        if route == "functional":
            loss = getattr(F, functional)(*args, **kw)
        else:
            loss = getattr(paddle.nn, layer)(**kw)(*args)
        upstream = paddle.to_tensor(inputs["upstream"].astype(case.dtype))
        paddle.sum(loss * upstream).backward()
    except TypeError as exc:  # a keyword this Paddle version does not take
        raise NotApplicable(f"{where} does not take {sorted(k for k in kw if k != 'reduction')}: {exc}") from None
    except (ValueError, RuntimeError) as exc:  # Paddle refusing the input is a result
        raise NotApplicable(f"{where} refuses it: {type(exc).__name__}: {str(exc).split('[Hint')[0].strip()}") from None
    return loss.numpy(), x.grad.numpy()
