"""Framework backends. Each backend module owns every import of its framework and exposes:

- ``NAME``: the framework's name, the first part of its implementation ids;
- ``ROUTE_LABELS``: neutral route -> the framework's own word for it (``per_parameter`` is Paddle's
  ``param_attr`` and Torch's ``param_group``), the second part of the ids;
- ``versions()``: the framework's version strings, for the report;
- ``run(case, route) -> Trajectory`` in the canonical layout, or ``NotApplicable`` with the reason;
- optionally ``stream(case, route)``: the same run as a generator (initial parameters, then one step's
  records at a time), which the workers forward step by step; without it a worker streams ``run``'s result.

Backends are imported by name inside a worker process, so a missing or crashing framework never takes
the harness down with it.
"""

from __future__ import annotations

# name -> importable module. Tests add fake backends to exercise crashes and missing frameworks.
BACKENDS = {
    "paddle": "equivalence.backends.paddle_backend",
    "torch": "equivalence.backends.torch_backend",
}

ROUTE_LABELS = {
    "paddle": {"optimizer": "optimizer", "per_parameter": "param_attr", "loss_penalty": "loss_penalty",
               "layer": "layer", "functional": "functional",
               "parameter_groups": "param_group", "param_attr_in_groups": "param_attr_in_groups",
               "clip_function": "clip_fn", "clip_argument": "grad_clip",
               "ema_module": "static_ema", "ema_manual": "manual_ema", "foreach": "multi_tensor", "fused": "fused", "port": "port"},
    # Torch's one per-parameter form is its param groups, whichever form the Paddle route takes: the
    # group routes share the label, so Torch runs them once and each Paddle form is compared with it.
    "torch": {"optimizer": "optimizer", "per_parameter": "param_group", "loss_penalty": "loss_penalty",
              "layer": "layer", "functional": "functional",
              "parameter_groups": "param_group", "param_attr_in_groups": "param_group",
              "clip_function": "clip_fn", "clip_argument": "grad_clip",
              "ema_module": "averaged_model", "ema_manual": "manual_ema", "foreach": "foreach", "fused": "fused", "port": "port"},
}


def implementation_id(backend: str, route: str) -> str:
    """'paddle/param_attr' for ('paddle', 'per_parameter'); a clipping route joins its two labels with '+':
    'paddle/param_attr+grad_clip' for 'per_parameter+clip_argument', 'paddle/clip_fn' for 'clip_function'."""
    labels = ROUTE_LABELS.get(backend, {})
    return f"{backend}/" + "+".join(labels.get(part, part) for part in route.split("+"))
