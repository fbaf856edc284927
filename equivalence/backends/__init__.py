"""Framework backends. Each backend module owns every import of its framework and exposes:

- ``NAME``: the framework's name, the first part of its implementation ids;
- ``ROUTE_LABELS``: neutral route -> the framework's own word for it (``per_parameter`` is Paddle's
  ``param_attr`` and Torch's ``param_group``), the second part of the ids;
- ``versions()``: the framework's version strings, for the report;
- ``run(case, route) -> Trajectory`` in the canonical layout, or ``NotApplicable`` with the reason.

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
               "ema_module": "static_ema", "ema_manual": "manual_ema"},
    "torch": {"optimizer": "optimizer", "per_parameter": "param_group", "loss_penalty": "loss_penalty",
              "layer": "layer", "functional": "functional",
              "ema_module": "averaged_model", "ema_manual": "manual_ema"},
}


def implementation_id(backend: str, route: str) -> str:
    return f"{backend}/{ROUTE_LABELS.get(backend, {}).get(route, route)}"
