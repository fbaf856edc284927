"""The floor: the framework work that any script checking these cases would have to do anyway.

Run as its own process (``python bench/floor.py [CASE_PATH ...]``, default ``cases``). In one process,
with no worker processes, it

1. imports PaddlePaddle and PyTorch once each, through the suite's own backend modules
   (``equivalence.backends.paddle_backend`` / ``torch_backend``, which hold every framework import);
2. loads the cases with ``equivalence.runner.load_all`` (files that fail to load, ``SpecError``s, are
   skipped: the suite runs nothing for them either);
3. for every case and every (backend, route) the suite would run (``equivalence.plan.implementations``,
   the same enumeration ``Runner._run_case`` uses), calls the backend's ``run(case, route)`` directly,
   catching ``NotApplicable`` (a route the framework cannot express costs what it costs, as in the suite).

It then prints one JSON object on stdout, whose ``wall_s`` is the time from the first line of this
script, before any import, to the end of the last framework run, with the import, load and run phases.

Included, because a hand-written script would pay them too: importing both frameworks (the dominant
cost), building each model and optimizer, the forward/backward/step calls, and reading the tensors back
into NumPy (the recording is part of the backends' ``run`` and is what such a script would print or
compare). The case loading (TOML parsing and validation) is included; it is milliseconds.

Excluded, because they are what the suite adds on top of the framework steps: the float64 NumPy
reference and its perturbed / case-dtype variants, the comparisons and verdicts, the reports, the
command line, and the worker processes (spawn start-up, pickling over pipes, crash isolation). The
interpreter's own start-up is not in ``wall_s``; ``bench/run_bench.py`` times this script from outside
as a whole process, exactly as it times the full run, so both sides pay it.

Everything runs sequentially in one process, as the simplest script would: the suite may come in
*below* this floor on a multi-core machine, because its two workers import their frameworks in
parallel. A ratio near 1 therefore means the harness costs nothing beyond the frameworks themselves.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from equivalence.backends import BACKENDS  # noqa: E402
from equivalence.backends.common import NotApplicable  # noqa: E402
from equivalence.plan import implementations  # noqa: E402
from equivalence.runner import load_all  # noqa: E402
from equivalence.spec import Case  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("cases", nargs="*", default=[os.path.join(ROOT, "cases")],
                        help="case files or folders (default: the repository's cases/)")
    args = parser.parse_args(argv)

    t_harness = time.perf_counter()
    modules = {}
    import_s = {}
    for name, module_name in BACKENDS.items():
        t = time.perf_counter()
        modules[name] = importlib.import_module(module_name)
        import_s[name] = time.perf_counter() - t

    t = time.perf_counter()
    cases = [item for item in load_all(args.cases) if isinstance(item, Case)]
    load_s = time.perf_counter() - t

    run_s = {}
    counts = {"ok": 0, "not_applicable": 0, "error": 0}
    for name, module in modules.items():
        t = time.perf_counter()
        for case in cases:
            for _, route, _ in implementations(case, [name]):
                try:
                    module.run(case, route)
                    counts["ok"] += 1
                except NotApplicable:
                    counts["not_applicable"] += 1
                except Exception:  # a framework refusing an input: the suite records an error and goes on
                    counts["error"] += 1
        run_s[name] = time.perf_counter() - t
    end = time.perf_counter()

    json.dump({
        "wall_s": end - T0,
        "harness_import_s": t_harness - T0,
        "framework_import_s": import_s,
        "load_s": load_s,
        "run_s": run_s,
        "cases": len(cases),
        "runs": counts,
        "versions": {"python": platform.python_version(), "numpy": np.__version__,
                     **{name: module.versions().get(name, "?") for name, module in modules.items()}},
    }, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
