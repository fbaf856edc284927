"""Torch's loss functions for the shared loss probe (``common._run_loss_probe``).

Mapping of the neutral spec (``LossProbeSpec``):
- smooth_l1(beta) is ``smooth_l1_loss(beta=beta)`` (torch/nn/functional.py:4010); huber(delta) is
  ``huber_loss(delta=delta)`` (:4081), and the ``by_name`` mapping (a port of Paddle's smooth_l1_loss(delta=)
  by its name) calls ``smooth_l1_loss(beta=delta)`` instead;
- soft cross-entropy targets are float class probabilities (Torch infers them from the target's dtype);
- class weights, pos_weight and every option are tensors / keywords of the same names.
Keywords that an older Torch lacks raise TypeError, which becomes NotApplicable for that case only.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ...spec import Case
from ..common import NotApplicable

# neutral name -> (functional, layer class name)
_CALLS = {
    "mse": ("mse_loss", "MSELoss"), "l1": ("l1_loss", "L1Loss"), "cross_entropy": ("cross_entropy", "CrossEntropyLoss"),
    "nll": ("nll_loss", "NLLLoss"), "bce": ("binary_cross_entropy", "BCELoss"),
    "bce_with_logits": ("binary_cross_entropy_with_logits", "BCEWithLogitsLoss"),
    "smooth_l1": ("smooth_l1_loss", "SmoothL1Loss"), "huber": ("huber_loss", "HuberLoss"),
    "kl_div": ("kl_div", "KLDivLoss"), "hinge_embedding": ("hinge_embedding_loss", "HingeEmbeddingLoss"),
    "multi_margin": ("multi_margin_loss", "MultiMarginLoss"), "soft_margin": ("soft_margin_loss", "SoftMarginLoss"),
    "margin_ranking": ("margin_ranking_loss", "MarginRankingLoss"),
}


def _call(case: Case) -> tuple[str, str, dict]:
    lp, dtype = case.loss_probe, getattr(torch, case.dtype)
    functional, layer = _CALLS[lp.name]
    kw = {"reduction": lp.reduction}
    if lp.weight is not None:
        kw["weight"] = torch.tensor(lp.weight, dtype=dtype)
    if lp.ignore_index is not None:
        kw["ignore_index"] = lp.ignore_index
    if lp.label_smoothing:
        kw["label_smoothing"] = lp.label_smoothing
    if lp.pos_weight is not None:
        kw["pos_weight"] = torch.tensor(lp.pos_weight, dtype=dtype)
    if lp.name == "smooth_l1":
        kw["beta"] = lp.option("beta")
    if lp.name == "huber":
        if lp.mapping == "by_name":
            functional, layer = _CALLS["smooth_l1"]
            kw["beta"] = lp.option("delta")
        else:
            kw["delta"] = lp.option("delta")
    if lp.log_target:
        kw["log_target"] = True
    if lp.name in ("hinge_embedding", "multi_margin", "margin_ranking"):
        kw["margin"] = lp.option("margin")
    if lp.name == "multi_margin":
        kw["p"] = lp.p
    return functional, layer, kw


def probe(case: Case, route: str, inputs: dict) -> tuple[np.ndarray, np.ndarray]:
    functional, layer, kw = _call(case)
    dtype = getattr(torch, case.dtype)
    x = torch.tensor(inputs["input"], dtype=dtype, requires_grad=True)
    target = inputs["target"]
    target = torch.from_numpy(target) if target.dtype.kind == "i" else torch.tensor(target, dtype=dtype)
    where = f"torch.nn.functional.{functional}" if route == "functional" else f"torch.nn.{layer}"
    try:
        args = (x, target) if "other" not in inputs else \
            (x, torch.tensor(inputs["other"], dtype=dtype), target)  # margin_ranking: (input1, input2, target)
        if route == "functional":
            loss = getattr(F, functional)(*args, **kw)
        else:
            loss = getattr(torch.nn, layer)(**kw)(*args)
        (loss * torch.tensor(inputs["upstream"], dtype=dtype)).sum().backward()
    except TypeError as exc:  # a keyword this Torch version does not take
        raise NotApplicable(f"{where} does not take {sorted(k for k in kw if k != 'reduction')}: {exc}") from None
    except (ValueError, RuntimeError, IndexError) as exc:  # Torch refusing the input is a result
        raise NotApplicable(f"{where} refuses it: {type(exc).__name__}: {exc}") from None
    return loss.detach().numpy(), x.grad.numpy()
