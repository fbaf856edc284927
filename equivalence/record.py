"""The canonical record of a run: every quantity at every step, in one layout for every implementation.

``Trajectory.steps[t][quantity][name]`` is a NumPy array for step t+1 (float32 where the run computed it in
float32, else float64). A run produces it as a stream: the initial parameters, then one step dict at a
time, so a comparison can consume and drop each step (``Trajectory.stream``, ``collect``). Scalar quantities (loss, lr,
keep_ratio) use the name ``SCALAR``. Parameter-shaped quantities use the canonical parameter names and
layout of ``equivalence.data`` (Linear weight [in, out]). Optimizer state uses neutral names under
``state.``: ``state.velocity`` is Paddle's ``velocity`` accumulator and Torch's ``momentum_buffer``. State
that is one number per parameter (a step count, a beta power) is a 0-d array however the framework keeps
it. Effective hyper-parameters are scalars under ``hyper.`` (``hyper.epsilon``).

A normalization probe records ``steps + 1`` entries: one per train-mode batch (output, input_grad, the
``grad`` of ``weight`` and ``bias``, running statistics), then the eval forward (eval_output, and the
running statistics after it, which an eval forward must leave alone).
"""

from __future__ import annotations

import functools

from dataclasses import dataclass, field

import numpy as np

SCALAR = "-"

HYPER = "hyper.<name>"  # every hyper.* quantity ranks (and is documented) as this one entry

# The order in which a step computes its quantities; the first divergence is the earliest in this order.
# Effective hyper-parameters come first: a differing default explains everything after it.
QUANTITY_ORDER = (
    HYPER, "init_z", "loss", "lr", "loss_scale", "param_lr", "dropout_mask", "grad", "step_skipped", "grad_norm",
    "grad_clipped", "grad_regularized",
    "state.step", "state.beta1_power", "state.beta2_power", "state.momentum_decay_power", "state.mu_product",
    "state.rho_term", "state.eta", "state.mu",
    "state.moment1", "state.moment2", "state.moment2_max", "state.inf_norm", "state.accumulator",
    "state.mean_square", "state.mean_grad", "state.mean_square_update", "state.velocity", "state.lr_velocity",
    "state.prev_grad", "state.step_size", "state.grad_sum", "state.grad_table", "state.average",
    "state.func_evals", "state.n_iter", "state.history", "state.h_diag",
    "update", "param", "ema",
    "output", "input_grad", "running_mean", "running_var", "eval_output", "keep_ratio", "batch_agreement",
)

QUANTITY_DOCS = {
    HYPER: "a hyper-parameter as the optimizer holds it (Paddle's attribute, Torch's param_groups[0] entry), "
           "under its neutral name, e.g. hyper.epsilon; the reference records the value it used",
    "init_z": "framework_default initialisation: [z of the mean, z of the std, bound flag (0 inside the support, "
              "inf outside)] of each parameter's start against the documented initialiser of the framework the "
              "reference follows (equivalence/initializers.py); recorded at step 1",
    "loss": "data loss (without any regularization penalty)",
    "lr": "learning rate used by the step (with a schedule: the schedule at epoch step-1)",
    "loss_scale": "loss scale the step's backward pass used (dynamic loss scaling)",
    "dropout_mask": "keep mask (1 kept, 0 dropped) of each dropout layer, recovered from its output and input "
                    "gradient, at the shape of one draw (per channel for whole-channel dropout)",
    "grad": "gradient of the data loss, before regularization (unscaled; absent at a step whose gradients "
            "overflowed under loss scaling)",
    "step_skipped": "1 where loss scaling found inf/NaN gradients and skipped the optimizer step, else 0",
    "grad_regularized": "gradient after regularization (observable where autograd computes it)",
    "param_lr": "learning rate of each parameter: lr times its multiplier and AdamW lr_ratio (cases with either)",
    "grad_norm": "norm of the gradients before clipping, one global value (global_norm) or one per parameter "
                 "(norm), as the clip function returns it",
    "grad_clipped": "gradient after clipping (observable where the clip function runs before step(); the "
                    "optimizer's grad_clip= clips inside step())",
    "state.step": "steps taken by the optimizer (Torch's step; Paddle ASGD's m)",
    "state.beta1_power": "beta1 to the power the optimizer keeps (Paddle's beta1_pow_acc / beta1_pow): "
                         "beta1^(t+1) after step t for Adam, AdamW, Adamax and Lamb, beta1^t for RAdam",
    "state.beta2_power": "beta2 to the power Paddle keeps: beta2^(t+1) after step t for Adam, AdamW and Lamb, "
                         "beta2^t for NAdam and RAdam",
    "state.momentum_decay_power": "NAdam: 0.96^t (Paddle's momentum_decay_pow)",
    "state.mu_product": "NAdam: the product of the momentum coefficients mu_1..mu_t",
    "state.rho_term": "RAdam: t*beta2^t/(1-beta2^t), so rho_t = rho_inf - 2*rho_term (Paddle's rho)",
    "state.eta": "Torch ASGD: the step size for the next step, lr/(1 + lambd*lr*t)^alpha",
    "state.mu": "Torch ASGD: the averaging coefficient for the next step, 1/max(1, t - t0)",
    "state.moment1": "first moment m (Paddle moment1/moment, Torch exp_avg)",
    "state.moment2": "second moment v (Paddle moment2, Torch exp_avg_sq)",
    "state.moment2_max": "AMSGrad: running maximum of v (Paddle moment2_max, Torch max_exp_avg_sq)",
    "state.inf_norm": "Adamax: exponentially weighted infinity norm u (Paddle inf_norm, Torch exp_inf)",
    "state.accumulator": "Adagrad: sum of squared gradients (Paddle moment, Torch sum)",
    "state.mean_square": "running mean of g^2 (RMSProp: Paddle mean_square, Torch square_avg; Adadelta: "
                         "Paddle _avg_squared_grad, Torch square_avg)",
    "state.mean_grad": "centered RMSProp: running mean of g (Paddle mean_grad, Torch grad_avg)",
    "state.mean_square_update": "Adadelta: running mean of squared updates (Paddle _avg_squared_update, Torch "
                                "acc_delta)",
    "state.velocity": "momentum buffer without the learning rate: v = mu*v + g (Momentum: Paddle velocity, Torch "
                      "momentum_buffer); v = mu*v + g/denominator (RMSProp: Torch momentum_buffer)",
    "state.lr_velocity": "RMSProp momentum buffer with the learning rate inside, v = mu*v + lr*g/denominator "
                         "(Paddle's momentum accumulator; the step is w -= v)",
    "state.prev_grad": "Rprop: the previous gradient, zeroed where its sign flipped (Paddle prevs, Torch prev)",
    "state.step_size": "Rprop: per-element step sizes (Paddle learning_rates, Torch step_size); L-BFGS: the step "
                       "length t of the last iteration (Paddle alpha, Torch t)",
    "state.grad_sum": "Paddle ASGD (SAG): sum of the stored batch gradients d",
    "state.grad_table": "Paddle ASGD (SAG): the stored gradient of each of the batch_num slots y",
    "state.average": "Torch ASGD: the running average of the parameter ax",
    "state.func_evals": "L-BFGS: loss evaluations through the closure so far (recorded under the first parameter)",
    "state.n_iter": "L-BFGS: iterations so far, over all steps",
    "state.history": "L-BFGS: curvature pairs (y, s) kept (Paddle len(old_yk), Torch len(old_dirs))",
    "state.h_diag": "L-BFGS: the initial inverse-Hessian scale y.s / y.y of the two-loop recursion (H_diag)",
    "update": "parameter after the step minus parameter before",
    "param": "parameter after the step",
    "ema": "exponential moving average of the parameter after the step (bias-corrected where the case says)",
    "output": "probe layer's output in training mode (dropout, normalization)",
    "input_grad": "gradient of sum(output * upstream) with respect to the probe layer's input",
    "running_mean": "normalization layer's running mean after the forward (where the layer keeps one)",
    "running_var": "normalization layer's running variance after the forward (where the layer keeps one)",
    "eval_output": "probe layer's output in eval mode",
    "keep_ratio": "fraction of kept mask entries (elements, or channels for whole-channel dropout)",
    "batch_agreement": "fraction of mask entries equal to the same entry one step along axis 0 (the batch): "
                       "q^2 + (1-q)^2 for independent draws with keep probability q, 1 for a mask shared "
                       "across the batch",
}


def _entry(quantity: str) -> str:
    return HYPER if quantity.startswith("hyper.") else quantity


def is_quantity(quantity: str) -> bool:
    """A recorded quantity: one of QUANTITY_ORDER, or any hyper.<name>."""
    return _entry(quantity) in QUANTITY_ORDER and quantity != HYPER


@functools.lru_cache(maxsize=4096)  # a sort key of every entry of every step: a few dozen distinct names
def quantity_rank(quantity: str) -> tuple[int, str]:
    """Sort key: position in QUANTITY_ORDER (hyper.* first), then name."""
    entry = _entry(quantity)
    return (QUANTITY_ORDER.index(entry) if entry in QUANTITY_ORDER else len(QUANTITY_ORDER), quantity)


def item_bytes(item: dict) -> int:
    """Bytes of one recorded item's arrays: {name: array} (initial parameters) or {quantity: {name: array}}
    (a step)."""
    return sum(value.nbytes if isinstance(value, np.ndarray) else sum(v.nbytes for v in value.values())
               for value in item.values())


@dataclass
class Trajectory:
    initial: dict[str, np.ndarray] = field(default_factory=dict)
    steps: list[dict[str, dict[str, np.ndarray]]] = field(default_factory=list)

    def new_step(self) -> dict[str, dict[str, np.ndarray]]:
        self.steps.append({})
        return self.steps[-1]

    def quantities(self) -> set[str]:
        return {q for step in self.steps for q in step}

    def stream(self):
        """The trajectory as a run streams it: the initial parameters, then one step at a time."""
        yield self.initial
        yield from self.steps


def collect(stream) -> Trajectory:
    """A whole Trajectory from a stream (initial parameters first, then the steps): for tests and tools
    that want every step at once. The runner compares streams step by step instead."""
    stream = iter(stream)
    trajectory = Trajectory(initial=next(stream))
    trajectory.steps.extend(stream)
    return trajectory


def put(step: dict, quantity: str, name: str, value, owned: bool = False) -> None:
    """Record a copy of ``value``: float32 stays float32 (half the bytes to send and keep, and the float64
    comparison of a float32 value is exact), everything else becomes float64. ``owned``: the caller hands
    over an array that nothing writes to again (the reference's training step makes new arrays each step),
    kept as it is where it already has the record's dtype and is contiguous."""
    dtype = np.float32 if getattr(value, "dtype", None) == np.float32 else np.float64
    record = np.asarray(value, dtype=dtype) if owned else np.array(value, dtype=dtype, copy=True)
    if owned and not record.flags.c_contiguous:
        record = record.copy()
    step.setdefault(quantity, {})[name] = record
