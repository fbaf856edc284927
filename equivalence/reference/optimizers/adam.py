"""Adam (with AMSGrad) and AdamW.

Both frameworks compute the same update; they only arrange it differently. Paddle scales the learning
rate and epsilon (paddle/include/paddle/phi/kernels/funcs/adam_functors.h:330-346):
    lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t);  w -= lr_t * m / (sqrt(v) + eps * sqrt(1 - beta2^t))
Torch divides by the bias corrections (torch/optim/adam.py:530-546):
    w -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
which is the same number. AdamW first decays the parameter by lr * weight_decay, using the parameter
before the step (paddle/include/paddle/phi/kernels/funcs/jit/refer/refer.h:572, torch/optim/adam.py:419).
"""

from __future__ import annotations

import numpy as np

from .base import Arg, Hyper, OptimizerInfo, in_unit_interval, matches, non_negative, prior, ratio_for


def adam_moments(step, g, state):
    """m, v (and the running max of v for AMSGrad), the step count, and the beta powers as Paddle keeps
    them: beta^(t+1) after step t, the power the next step will use (paddle/optimizer/adam.py:285-310
    fill them with beta; the kernel multiplies after use)."""
    b1, b2 = step.value("beta1"), step.value("beta2")
    t = state.get("step", 0) + 1
    # m = b1*m + (1 - b1)*g and v = b2*v + ((1 - b2)*g)*g, each operation rounded as written; in place on
    # the fresh arrays only (the previous moments are recorded), to spare a model-sized temporary per term
    m = b1 * prior(state, "moment1", g)
    m += (1 - b1) * g
    v = b2 * prior(state, "moment2", g)
    g2 = (1 - b2) * g
    g2 *= g
    v += g2
    state["moment1"], state["moment2"], state["step"] = m, v, t
    if step.flag("amsgrad"):
        v = np.maximum(prior(state, "moment2_max", g), v)
        state["moment2_max"] = v
    state["beta1_power"] = b1 ** (t + 1)
    state["beta2_power"] = b2 ** (t + 1)
    bias1 = 1 - b1 ** t
    bias2 = 1 - b2 ** t
    return m, v, bias1, bias2


def adam_update(step, w, g, state):
    """With Torch's decoupled_weight_decay=True the case's L2 coefficient decays the parameter as AdamW does,
    w *= 1 - lr * c, instead of entering the gradient (torch/optim/adam.py:419-420)."""
    if step.flag("decoupled_weight_decay"):
        w = w - step.lr * step.dtype.type(step.case.coefficients()[step.name].l2) * w
    m, v, bias1, bias2 = adam_moments(step, g, state)
    return w - _step_size(step.lr / bias1, m, v, bias2, step.value("epsilon"))


def _step_size(lr_corrected, m, v, bias2, epsilon):
    """lr_corrected * m / (sqrt(v) / sqrt(bias2) + epsilon), each operation rounded as written, on two
    fresh temporaries instead of five."""
    numerator = lr_corrected * m
    denominator = np.sqrt(v)
    denominator /= np.sqrt(bias2)
    denominator += epsilon
    numerator /= denominator
    return numerator


def adamw_update(step, w, g, state):
    """Decoupled decay w *= 1 - lr * ratio * weight_decay, then Adam with lr * ratio; parameters in
    decay_exclude skip the decay (Paddle apply_decay_param_fun, paddle/optimizer/adamw.py:479-484)."""
    ratio = ratio_for(step.name, step.values["lr_ratio"])
    if step.case.reference.attributes == "float32":  # Paddle's adamw kernel takes lr_ratio as a float
        ratio = float(np.float32(ratio))
    lr = step.lr * step.dtype.type(ratio)
    if not matches(step.name, step.values["decay_exclude"]):
        if step.case.reference.decay == "coupled_l2":
            g = g + step.attribute("weight_decay") * w
        else:
            w = w - lr * step.attribute("weight_decay") * w
    m, v, bias1, bias2 = adam_moments(step, g, state)
    return w - _step_size(lr / bias1, m, v, bias2, step.value("epsilon"))


def _adam_hypers(paddle_file: str, torch_file: str, lines: dict[str, tuple[int, int]]) -> dict[str, Hyper]:
    def arg(framework, name, default, key):
        line = lines[key][0 if framework == "paddle" else 1]
        return Arg(name, default, f"{paddle_file if framework == 'paddle' else torch_file}:{line}")

    return {
        "lr": Hyper("Learning rate.", arg("paddle", "learning_rate", 0.001, "lr"), arg("torch", "lr", 0.001, "lr")),
        "beta1": Hyper("Decay of the first moment.", arg("paddle", "beta1", 0.9, "beta1"),
                       arg("torch", "betas[0]", 0.9, "beta1"), valid=in_unit_interval, valid_text="0 <= beta1 < 1"),
        "beta2": Hyper("Decay of the second moment.", arg("paddle", "beta2", 0.999, "beta2"),
                       arg("torch", "betas[1]", 0.999, "beta2"), valid=in_unit_interval, valid_text="0 <= beta2 < 1"),
        "epsilon": Hyper("Added to the bias-corrected sqrt(v).", arg("paddle", "epsilon", 1e-8, "epsilon"),
                         arg("torch", "eps", 1e-8, "epsilon"), valid=non_negative, valid_text="epsilon >= 0"),
        "amsgrad": Hyper("AMSGrad: divide by the running maximum of v.", arg("paddle", "amsgrad", False, "amsgrad"),
                         arg("torch", "amsgrad", False, "amsgrad"), kind="boolean"),
    }


ADAM = OptimizerInfo(
    name="adam", doc="Adam; AMSGrad with amsgrad = true. Coupled L2 decay is [regularization] l2.",
    paddle="Adam", torch="Adam", update=adam_update,
    hypers=_adam_hypers("paddle/optimizer/adam.py", "torch/optim/adam.py",
                        {"lr": (203, 38), "beta1": (204, 39), "beta2": (205, 39), "epsilon": (206, 40),
                         "amsgrad": (215, 42)}) | {
        "decoupled_weight_decay": Hyper(
            "Torch Adam only: [regularization] l2 decays the parameter (w *= 1 - lr*c, AdamW) instead of entering "
            "the gradient; Paddle's counterpart is AdamW.", Arg(None, False),
            Arg("decoupled_weight_decay", False, "torch/optim/adam.py:49"), kind="boolean")})

ADAMW = OptimizerInfo(
    name="adamw", doc="Adam with decoupled weight decay (AdamW).",
    paddle="AdamW", torch="AdamW", update=adamw_update,
    hypers={
        **_adam_hypers("paddle/optimizer/adamw.py", "torch/optim/adamw.py",
                       {"lr": (181, 24), "beta1": (182, 25), "beta2": (183, 25), "epsilon": (184, 26),
                        "amsgrad": (195, 28)}),
        "weight_decay": Hyper(
            "Decoupled decay coefficient: w *= 1 - lr * weight_decay before the Adam step.",
            Arg("weight_decay", 0.01, "paddle/optimizer/adamw.py:188", float32=True),
            Arg("weight_decay", 0.01, "torch/optim/adamw.py:27"), valid=non_negative, valid_text=">= 0"),
        "decay_exclude": Hyper(
            "Parameter names or fnmatch patterns that skip the decoupled decay (Paddle apply_decay_param_fun; "
            "Torch: a param group with weight_decay = 0).",
            Arg("apply_decay_param_fun", (), "paddle/optimizer/adamw.py:191"),
            Arg("param_groups[].weight_decay", (), "torch/optim/optimizer.py:1163"), kind="patterns"),
        "lr_ratio": Hyper(
            "Per-parameter learning-rate multipliers, pattern -> ratio (Paddle lr_ratio(param); Torch: a param "
            "group with its own lr). The ratio scales the decay too.",
            Arg("lr_ratio", {}, "paddle/optimizer/adamw.py:190", float32=True),
            Arg("param_groups[].lr", {}, "torch/optim/optimizer.py:1163"), kind="ratios"),
    })
