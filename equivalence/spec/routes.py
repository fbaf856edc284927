"""Neutral route names of training cases; each backend labels them its own way (equivalence/backends)."""

from __future__ import annotations

TRAINING_ROUTES = ("optimizer", "per_parameter", "loss_penalty")
# Paddle's parameters= also takes a list of group dicts: parameter_groups puts the per-parameter options
# in the dicts, param_attr_in_groups keeps them in ParamAttr and passes plain dicts. Torch has one form.
GROUP_ROUTES = ("parameter_groups", "param_attr_in_groups")
PER_PARAMETER_ROUTES = ("per_parameter",) + GROUP_ROUTES
# How a clipping case clips: clip_function (paddle.nn.utils / torch.nn.utils clip_grad_*_ before step())
# or clip_argument (the optimizer's grad_clip=, Paddle only). Alone they are the optimizer route that clips;
# 'per_parameter+clip_argument' is a per-parameter route that clips.
CLIP_ROUTES = ("clip_function", "clip_argument")
BASE_ROUTES = TRAINING_ROUTES + GROUP_ROUTES
EMA_ROUTES = ("ema_module", "ema_manual")
# The optimizer route through another implementation of the same update: Torch's foreach=True / fused=True
# (Paddle: use_multi_tensor=True for foreach; no fused argument). Each is also compared with the framework's
# own optimizer route.
VARIANT_ROUTES = ("foreach", "fused")
# The natural port a user writes: the other framework's closest call, an argument it lacks dropped, its public
# API called as documented (a GradScaler that disables itself stays disabled). Where a framework has the
# feature, its port is the faithful call. Any kind of case may run it (equivalence/backends/common.py, port).
PORT_ROUTE = "port"


def clipped_route(base: str, clip: str) -> str:
    return clip if base == "optimizer" else f"{base}+{clip}"


# A clip route that only the first framework has, and the route its port to the other framework takes:
# Paddle's grad_clip= is ported to Torch as clip_grad_*_ before step(). Their direct checks are planned.
CLIP_PORTS = {"clip_argument": "clip_function"}


def ported_route(route: str) -> str | None:
    """The route the other framework's port of ``route`` takes, where it differs; else None."""
    base, clip = split_route(route)
    return clipped_route(base, CLIP_PORTS[clip]) if clip in CLIP_PORTS else None


def split_route(route: str) -> tuple[str, str | None]:
    """(base route, clip route or None): 'clip_function' -> ('optimizer', 'clip_function')."""
    if route in CLIP_ROUTES:
        return "optimizer", route
    base, _, clip = route.partition("+")
    return base, clip or None


CLIPPED_ROUTES = tuple(clipped_route(b, c) for b in BASE_ROUTES for c in CLIP_ROUTES)
TRAINING_ROUTE_NAMES = BASE_ROUTES + CLIPPED_ROUTES + VARIANT_ROUTES
