"""L-BFGS (Torch ``torch.optim.LBFGS``, Paddle ``paddle.optimizer.LBFGS``), written from the algorithm both
document: Nocedal & Wright, Numerical Optimization (2nd ed.), Algorithm 7.4 (the two-loop recursion over the
last ``history_size`` curvature pairs, initial Hessian gamma*I with gamma = s.y / y.y, eq. 7.20) and
Algorithms 3.5 / 3.6 (a line search satisfying the strong Wolfe conditions, c1 = 1e-4, c2 = 0.9, zooming by
cubic interpolation, eq. 3.59).

One ``step(closure)`` runs up to ``max_iter`` iterations on the same batch, each re-evaluating the loss and
gradient through the closure, and keeps its state across steps. Both frameworks share these details
(torch/optim/lbfgs.py:337-530, paddle/optimizer/lbfgs.py:625-820; line searches at lbfgs.py:40 and :117):
- the first iteration of the first step moves by t = min(1, 1/|g|_1) * lr along -g, every later one by lr
  (or the line search's t);
- a pair (y, s) enters the history only when y.s > 1e-10;
- without a line search, the gradient is re-evaluated after every iteration but the last of a step;
- the step stops on |g|_inf <= tolerance_grad (also before the first iteration), g.d > -tolerance_change,
  |t*d|_inf <= tolerance_change, |loss change| < tolerance_change, max_iter iterations or max_eval
  evaluations.
They differ in one bound: Torch lets the line search evaluate at most max_eval - (evaluations so far)
times (torch/optim/lbfgs.py:479), Paddle always 25 (its call at paddle/optimizer/lbfgs.py:774-776 passes no
max_ls, default 25 at :128). ``reference.follows`` picks
(default torch).
"""

from __future__ import annotations

import math

import numpy as np

from .base import Arg, Hyper, OptimizerInfo, non_negative, positive

C1, C2 = 1e-4, 0.9
CURVATURE_MIN = 1e-10
PADDLE_MAX_LS = 25
LINE_SEARCHES = ("none", "strong_wolfe")


def _cubic_minimum(x1, f1, g1, x2, f2, g2, bounds=None):
    """Minimiser of the cubic through (x1, f1, g1), (x2, f2, g2) (Nocedal & Wright eq. 3.59), clamped to
    ``bounds`` (default the interval); the midpoint when the cubic has no real minimiser."""
    low, high = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 * d1 - g1 * g2
    if d2_square < 0:
        return (low + high) / 2.0
    d2 = math.sqrt(d2_square)
    if x1 <= x2:
        position = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        position = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(position, low), high)


def strong_wolfe(evaluate, t, d, f, g, gtd, max_ls, tolerance_change=1e-9):
    """(loss, gradient, step, evaluations) of a step t along d meeting the strong Wolfe conditions
    f(t) <= f + c1*t*g.d and |g(t).d| <= -c2*g.d: bracket the step, growing it by cubic extrapolation up to
    10x (Algorithm 3.5), then zoom into the bracket by cubic interpolation, keeping each new trial at least a
    tenth of the bracket from its ends (Algorithm 3.6). ``evaluate(t)`` gives (loss, gradient) at x + t*d."""
    d_norm = float(np.max(np.abs(d)))
    f_new, g_new = evaluate(t)
    evals, gtd_new = 1, float(g_new @ d)
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done, iteration = False, 0
    bracket = None
    while iteration < max_ls:
        if f_new > f + C1 * t * gtd or (iteration > 1 and f_new >= f_prev):
            bracket = [[t_prev, f_prev, g_prev, gtd_prev], [t, f_new, g_new, gtd_new]]
            break
        if abs(gtd_new) <= -C2 * gtd:
            bracket, done = [[t, f_new, g_new, gtd_new]], True
            break
        if gtd_new >= 0:
            bracket = [[t_prev, f_prev, g_prev, gtd_prev], [t, f_new, g_new, gtd_new]]
            break
        grown = _cubic_minimum(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                               bounds=(t + 0.01 * (t - t_prev), t * 10))
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new, gtd_new
        t = grown
        f_new, g_new = evaluate(t)
        evals, gtd_new, iteration = evals + 1, float(g_new @ d), iteration + 1
    if iteration == max_ls:
        bracket = [[0.0, f, g, None], [t, f_new, g_new, None]]
    low, high = (0, 1) if bracket[0][1] <= bracket[-1][1] else (1, 0)
    stuck = False
    while not done and iteration < max_ls:
        if abs(bracket[1][0] - bracket[0][0]) * d_norm < tolerance_change:
            break
        t = _cubic_minimum(bracket[0][0], bracket[0][1], bracket[0][3], bracket[1][0], bracket[1][1],
                           bracket[1][3])
        ends = (min(bracket[0][0], bracket[1][0]), max(bracket[0][0], bracket[1][0]))
        margin = 0.1 * (ends[1] - ends[0])
        if min(ends[1] - t, t - ends[0]) < margin:
            if stuck or t >= ends[1] or t <= ends[0]:
                t = ends[1] - margin if abs(t - ends[1]) < abs(t - ends[0]) else ends[0] + margin
                stuck = False
            else:
                stuck = True
        else:
            stuck = False
        f_new, g_new = evaluate(t)
        evals, gtd_new, iteration = evals + 1, float(g_new @ d), iteration + 1
        if f_new > f + C1 * t * gtd or f_new >= bracket[low][1]:
            bracket[high] = [t, f_new, g_new, gtd_new]
            low, high = (0, 1) if bracket[0][1] <= bracket[1][1] else (1, 0)
        else:
            if abs(gtd_new) <= -C2 * gtd:
                done = True
            elif gtd_new * (bracket[high][0] - bracket[low][0]) >= 0:
                bracket[high] = list(bracket[low])
            bracket[low] = [t, f_new, g_new, gtd_new]
    t, f_new, g_new, _ = bracket[low]
    return f_new, g_new, t, evals


def _direction(g, state, history_size):
    """-H g by the two-loop recursion over the stored pairs (Algorithm 7.4), after adding the newest pair."""
    y, s = g - state["prev_grad"], state["d"] * state["t"]
    ys = float(y @ s)
    if ys > CURVATURE_MIN:
        if len(state["ys"]) == history_size:
            for key in ("ys", "ss", "rho"):
                state[key].pop(0)
        state["ys"].append(y)
        state["ss"].append(s)
        state["rho"].append(1.0 / ys)
        state["h_diag"] = ys / float(y @ y)
    r = -g  # updated in place: at a million parameters each temporary costs more than its arithmetic
    alphas = [0.0] * len(state["ys"])
    for i in reversed(range(len(state["ys"]))):
        alphas[i] = float(state["ss"][i] @ r) * state["rho"][i]
        r -= alphas[i] * state["ys"][i]
    r *= state["h_diag"]
    for i in range(len(state["ys"])):
        beta = float(state["ys"][i] @ r) * state["rho"][i]
        r += (alphas[i] - beta) * state["ss"][i]
    return r


def lbfgs_step(values: dict, state: dict, x: np.ndarray, evaluate, follows: str | None) -> np.ndarray:
    """One optimizer step from the flat parameters ``x``; ``evaluate(x)`` is the closure: (loss, flat
    gradient). Returns the new flat parameters; ``state`` keeps the history between steps and the neutral
    state quantities (func_evals, n_iter, history, step_size, h_diag)."""
    lr, max_iter, max_eval = values["lr"], values["max_iter"], values["max_eval"]
    tolerance_grad, tolerance_change = values["tolerance_grad"], values["tolerance_change"]
    state.setdefault("func_evals", 0)
    state.setdefault("n_iter", 0)
    loss, g = evaluate(x)
    evals = 1
    state["func_evals"] += 1
    if np.max(np.abs(g)) <= tolerance_grad:
        return x
    iteration = 0
    while iteration < max_iter:
        iteration += 1
        state["n_iter"] += 1
        if state["n_iter"] == 1:
            d = -g
            state.update(ys=[], ss=[], rho=[], h_diag=1.0)
        else:
            d = _direction(g, state, values["history_size"])
        state["prev_grad"], previous_loss = g, loss
        t = min(1.0, 1.0 / float(np.sum(np.abs(g)))) * lr if state["n_iter"] == 1 else lr
        gtd = float(g @ d)
        if gtd > -tolerance_change:
            break
        added = 0
        converged = False
        if values["line_search"] == "strong_wolfe":
            max_ls = max_eval - evals if (follows or "torch") == "torch" else PADDLE_MAX_LS
            start = x
            loss, g, t, added = strong_wolfe(lambda step: evaluate(start + step * d), t, d, loss, g, gtd, max_ls)
            x = x + t * d
            converged = np.max(np.abs(g)) <= tolerance_grad
        else:
            x = x + t * d
            if iteration != max_iter:
                loss, g = evaluate(x)
                converged = np.max(np.abs(g)) <= tolerance_grad
                added = 1
        evals += added
        state["func_evals"] += added
        state["d"], state["t"] = d, t
        if (iteration == max_iter or evals >= max_eval or converged or np.max(np.abs(d * t)) <= tolerance_change
                or abs(loss - previous_loss) < tolerance_change):
            break
    state["d"], state["t"] = d, t
    return x


def recorded_state(state: dict) -> dict:
    """The neutral state quantities, as both frameworks keep them."""
    if "n_iter" not in state:
        return {}
    out = {"func_evals": np.asarray(float(state["func_evals"])), "n_iter": np.asarray(float(state["n_iter"]))}
    if "ys" in state:
        out["history"] = np.asarray(float(len(state["ys"])))
        out["h_diag"] = np.asarray(float(state["h_diag"]))
    if "t" in state:
        out["step_size"] = np.asarray(float(state["t"]))
    return out


def _integer_at_least_one(value) -> bool:
    return value >= 1


def lbfgs_update(step, w, g, state):
    raise TypeError("L-BFGS steps all parameters at once through a closure (reference/training.py)")


LBFGS = OptimizerInfo(
    name="lbfgs", doc="L-BFGS with a closure that re-evaluates the loss; line search none or strong_wolfe.",
    paddle="LBFGS", torch="LBFGS", update=lbfgs_update, closure=True,
    hypers={
        "lr": Hyper("Step length of every iteration but the first (t = min(1, 1/|g|_1) * lr).",
                    Arg("learning_rate", 1.0, "paddle/optimizer/lbfgs.py:450"),
                    Arg("lr", 1, "torch/optim/lbfgs.py:243")),
        "max_iter": Hyper("Iterations per optimizer step.", Arg("max_iter", 20, "paddle/optimizer/lbfgs.py:451"),
                          Arg("max_iter", 20, "torch/optim/lbfgs.py:244"), kind="integer",
                          valid=_integer_at_least_one, valid_text="an integer >= 1"),
        "max_eval": Hyper("Loss evaluations per optimizer step; left out: max_iter * 5 // 4 in both.",
                          Arg("max_eval", 25, "paddle/optimizer/lbfgs.py:452"),
                          Arg("max_eval", 25, "torch/optim/lbfgs.py:245"), kind="integer",
                          valid=_integer_at_least_one, valid_text="an integer >= 1",
                          default_from=lambda values: values["max_iter"] * 5 // 4),
        "tolerance_grad": Hyper("Stop when max |g| <= tolerance_grad.",
                                Arg("tolerance_grad", 1e-7, "paddle/optimizer/lbfgs.py:453"),
                                Arg("tolerance_grad", 1e-7, "torch/optim/lbfgs.py:246"),
                                valid=non_negative, valid_text=">= 0"),
        "tolerance_change": Hyper("Stop when the step, the loss change or g.d is below it.",
                                  Arg("tolerance_change", 1e-9, "paddle/optimizer/lbfgs.py:454"),
                                  Arg("tolerance_change", 1e-9, "torch/optim/lbfgs.py:247"),
                                  valid=non_negative, valid_text=">= 0"),
        "history_size": Hyper("Curvature pairs kept.", Arg("history_size", 100, "paddle/optimizer/lbfgs.py:455"),
                              Arg("history_size", 100, "torch/optim/lbfgs.py:248"), kind="integer",
                              valid=positive, valid_text="an integer >= 1"),
        "line_search": Hyper("none, or strong_wolfe (line_search_fn='strong_wolfe').",
                             Arg("line_search_fn", "none", "paddle/optimizer/lbfgs.py:456"),
                             Arg("line_search_fn", "none", "torch/optim/lbfgs.py:249"), kind="text",
                             valid=lambda v: v in LINE_SEARCHES, valid_text=", ".join(LINE_SEARCHES),
                             framework_value=lambda v: None if v == "none" else v),
    })
