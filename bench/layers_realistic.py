"""A layer-list model at realistic size: bench/cases/cnn-1m.toml (~0.96M parameters, four conv - batch_norm -
relu stages, AdamW, float32), 10 steps by default, through the float64 reference and both frameworks in this
process; prints per implementation the wall time and the comparison with the reference (and Paddle vs Torch)
as JSON. Not part of the default run or of the tests: the reference takes about a second per step on 2 cores,
and every trajectory is kept whole (~56 MB per step each for 1M parameters under AdamW), so 100 steps need
some 17 GB until the pipeline streams step by step (issue 9).

    python bench/layers_realistic.py [--steps N] [--dtype float32|float64] [--case PATH]

In float32 it also compares the float32 reference with the float64 one: how much of the frameworks' error is
plain rounding (Adam's first update, g / (|g| + eps), turns the rounding of a gradient near eps into a large
relative error). ``--dtype float64`` runs the case in float64 with the reference told Paddle's flavours
(biased running variance, float32 attributes), where Paddle should agree exactly and Torch differ only in the
running variance and what uses it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from equivalence import reference  # noqa: E402
from equivalence.compare import compare  # noqa: E402
from equivalence.spec import load_case  # noqa: E402
from equivalence.spec.layers import parameter_shapes  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--case", default=os.path.join(ROOT, "bench", "cases", "cnn-1m.toml"))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    args = parser.parse_args(argv)
    case = dataclasses.replace(load_case(args.case), steps=args.steps, dtype=args.dtype)
    if args.dtype == "float64":
        case = dataclasses.replace(case, tolerance=dataclasses.replace(case.tolerance, rtol=None, atol=None),
                                   reference=dataclasses.replace(case.reference, batch_norm_running_var="biased",
                                                                 norm_attributes="float32", attributes="float32"))
    params = sum(int(__import__("numpy").prod(s)) for s in parameter_shapes(case.network()).values())
    out = {"case": case.id, "parameters": params, "steps": case.steps, "runs": {}}
    start = time.perf_counter()
    expected = reference.run(case)
    out["runs"]["reference"] = {"seconds": round(time.perf_counter() - start, 2)}
    if case.dtype == "float32":
        rounding = compare(reference.run(case, dtype="float32"), expected, case)
        out["runs"]["reference/float32"] = {"equal": rounding.equal, "mismatches": rounding.mismatches,
                                            "max_abs_error": rounding.max_abs_error,
                                            "quantities_differing": sorted({d.quantity for d in rounding.details
                                                                            if d.mismatches})}
    trajectories = {}
    for name in ("torch", "paddle"):
        module = __import__(f"equivalence.backends.{name}_backend", fromlist=["run"])
        start = time.perf_counter()
        trajectories[name] = module.run(case, "optimizer")
        result = compare(trajectories[name], expected, case)
        first = result.first.describe() if result.first else None
        out["runs"][name] = {"seconds": round(time.perf_counter() - start, 2), "equal": result.equal,
                             "compared": result.compared, "mismatches": result.mismatches,
                             "max_abs_error": result.max_abs_error, "first_divergence": first,
                             "quantities_differing": sorted({d.quantity for d in result.details if d.mismatches})}
    direct = compare(trajectories["torch"], trajectories["paddle"], case)
    out["torch_vs_paddle"] = {"equal": direct.equal, "mismatches": direct.mismatches,
                              "quantities_differing": sorted({d.quantity for d in direct.details if d.mismatches})}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
