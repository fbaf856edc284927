"""NAdam with momentum decay: mu_t = b1*(1 - 0.5*0.96^(t*psi)), m_hat = mu_{t+1}*m/(1 - prod mu_1..mu_{t+1})
+ (1 - mu_t)*g/(1 - prod mu_1..mu_t), w -= lr * m_hat / (sqrt(v/(1 - b2^t)) + eps). The same formula in
both (paddle/include/paddle/phi/kernels/impl/nadam_kernel_impl.h:77-109, torch/optim/nadam.py:347-378).

Paddle keeps 0.96^t, beta2^t and the mu product as parameter-shaped accumulators (nadam.py:218-235) and takes
beta1, beta2, epsilon and psi as float attributes. Torch keeps the mu product as a 0-d tensor of the default
dtype, float32 unless torch.get_default_dtype() is float64 (torch/optim/nadam.py:136-139,
torch/optim/optimizer.py:210-214), so a float64 run multiplies the mu product in float32."""

from __future__ import annotations

import numpy as np

from .base import Arg, Hyper, OptimizerInfo, in_unit_interval, non_negative, prior


def nadam_update(step, w, g, state):
    b1, b2, eps, psi = (step.attribute(k) for k in ("beta1", "beta2", "epsilon", "momentum_decay"))
    one, half, decay = step.dtype.type(1), step.dtype.type(0.5), step.dtype.type(0.96)
    t = state.get("step", 0) + 1
    decay_power = state.get("momentum_decay_power", one) * decay  # 0.96^t
    mu = b1 * (one - half * decay_power ** psi)
    mu_next = b1 * (one - half * (decay_power * decay) ** psi)
    mu_product = state.get("mu_product", one) * mu
    beta2_power = state.get("beta2_power", one) * b2
    m = b1 * prior(state, "moment1", w) + (one - b1) * g
    v = b2 * prior(state, "moment2", w) + (one - b2) * g * g
    state.update(step=t, momentum_decay_power=decay_power, mu_product=mu_product, beta2_power=beta2_power,
                 moment1=m, moment2=v)
    m_hat = mu_next * m / (one - mu_product * mu_next) + (one - mu) * g / (one - mu_product)
    return w - step.lr * m_hat / (np.sqrt(v / (one - beta2_power)) + eps)


P, T = "paddle/optimizer/nadam.py", "torch/optim/nadam.py"

NADAM = OptimizerInfo(
    name="nadam", doc="NAdam (Adam with Nesterov momentum and momentum decay psi).",
    paddle="NAdam", torch="NAdam", update=nadam_update,
    hypers={
        "lr": Hyper("Learning rate.", Arg("learning_rate", 0.002, f"{P}:156"), Arg("lr", 0.002, f"{T}:36")),
        "beta1": Hyper("Decay of the first moment.", Arg("beta1", 0.9, f"{P}:157", float32=True),
                       Arg("betas[0]", 0.9, f"{T}:37"), valid=in_unit_interval, valid_text="0 <= beta1 < 1"),
        "beta2": Hyper("Decay of the second moment.", Arg("beta2", 0.999, f"{P}:158", float32=True),
                       Arg("betas[1]", 0.999, f"{T}:37"), valid=in_unit_interval, valid_text="0 <= beta2 < 1"),
        "epsilon": Hyper("Added to the bias-corrected sqrt(v).", Arg("epsilon", 1e-8, f"{P}:159", float32=True),
                         Arg("eps", 1e-8, f"{T}:38"), valid=non_negative, valid_text=">= 0"),
        "momentum_decay": Hyper("psi in mu_t = beta1*(1 - 0.5*0.96^(t*psi)).",
                                Arg("momentum_decay", 0.004, f"{P}:160", float32=True),
                                Arg("momentum_decay", 0.004, f"{T}:40"), valid=non_negative, valid_text=">= 0"),
    })
