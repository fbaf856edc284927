"""Scale benchmark: the suite's wall time and peak memory against the raw floor as the model grows.

    python bench/scale_bench.py [--params 1e4 1e5 1e6 1e7] [--steps 10 100] [--optimizers adam momentum]
                                [--skip 1e7x100] [--repeat N] [--python EXE] [--out bench/results/scale.json]

For each (parameters, optimizer, steps) it writes one float32 case, Linear(n, n) with a bias (n^2 + n
parameters, n = sqrt(parameters) rounded), batch 32 with a fresh batch each step, MSE loss against seeded
targets, and runs, each as a fresh process timed from outside (``--repeat`` times each, alternating):
(a) the suite, ``python -m equivalence run --cases CASE --out TMP``: both workers, the float64, float32 and
    perturbed references, every comparison, the reports;
(b) the raw floor, ``bench/scale_floor.py CASE``: both frameworks imported once, the same steps, nothing
    recorded.
Peak RSS is the largest sum, over the process and all its descendants (the workers), of their resident
memory, sampled from /proc every 50 ms. CPU time (user + system, the workers included) is reported beside
wall time: on a machine shared with other jobs it is the steadier measure of the suite's overhead. The Markdown table goes to stdout, everything to the JSON file.
It measures; it never fails on the numbers.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tabulate import tabulate

ROOT = Path(__file__).resolve().parent.parent
FLOOR = ROOT / "bench" / "scale_floor.py"


def case_text(params: float, optimizer: str, steps: int) -> tuple[str, str]:
    n = max(2, round(math.sqrt(params)))
    case_id = f"scale-{optimizer}-{n}x{n}-{steps}"
    hyper = 'lr = 0.001' if optimizer == "adam" else 'lr = 0.01\nmomentum = 0.9'
    # batches = steps: each step trains on a fresh batch, one pass over steps x 32 seeded samples, as a training
    # script's data loader does (one batch repeated 100 times is memorised; README "Scale" says what that does)
    text = (f'id = "{case_id}"\ndescription = "Linear({n}, {n}), {optimizer}, float32, batch 32, {steps} steps"\n'
            f'tags = ["scale"]\nsteps = {steps}\ndtype = "float32"\nloss = "mse"\n\n[model]\nsizes = [{n}, {n}]\nbias = true\n\n'
            f'[data]\nseed = 0\nbatch_size = 32\nbatches = {steps}\n\n[optimizer]\nname = "{optimizer}"\n{hyper}\n')
    return case_id, text


def _tree_rss(root: int) -> int:
    """Resident bytes of a process and all its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            with open(f"/proc/{entry}/statm", "rb") as f:
                rss[int(entry)] = int(f.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


def measured(cmd: list[str]) -> dict:
    """Wall time, CPU time (user + system of the process and every descendant it waited for: the workers)
    and peak tree RSS of one command."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_bytes": peak[0], "rc": proc.returncode, "stdout": stdout[-4000:],
            "stderr_tail": stderr[-2000:]}


def _median(runs: list[dict]) -> dict:
    """Median wall and CPU time of the runs, the largest peak RSS, the last run's output; every run kept."""
    def mid(key):
        values = sorted(r[key] for r in runs)
        return values[len(values) // 2] if len(values) % 2 else sum(values[len(values) // 2 - 1:][:2]) / 2
    return runs[-1] | {"wall_s": mid("wall_s"), "cpu_s": mid("cpu_s"),
                       "peak_rss_bytes": max(r["peak_rss_bytes"] for r in runs), "runs": [
                           {k: r[k] for k in ("wall_s", "cpu_s", "peak_rss_bytes", "rc")} for r in runs]}


def _write(out: str, samples: list) -> None:
    """The samples so far (rewritten after each configuration, so an interrupted run keeps them)."""
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps({"samples": samples, "cpus": os.cpu_count(), "load_average": os.getloadavg()},
                                    indent=1), encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--params", nargs="+", type=float, default=[1e4, 1e5, 1e6, 1e7])
    parser.add_argument("--steps", nargs="+", type=int, default=[10, 100])
    parser.add_argument("--optimizers", nargs="+", default=["adam", "momentum"])
    parser.add_argument("--skip", nargs="*", default=["1e7x100"], help="PARAMSxSTEPS combinations to leave out")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each side, alternating; medians reported")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "scale.json"))
    args = parser.parse_args(argv)
    skip = {(float(p), int(s)) for p, s in (item.split("x") for item in args.skip)}
    rows, samples = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for params in args.params:
            for optimizer in args.optimizers:
                for steps in args.steps:
                    if (params, steps) in skip:
                        continue
                    case_id, text = case_text(params, optimizer, steps)
                    path = Path(tmp) / f"{case_id}.toml"
                    path.write_text(text, encoding="utf-8")
                    out = Path(tmp) / case_id
                    floors, suites = [], []
                    for _ in range(max(1, args.repeat)):
                        floors.append(measured([args.python, str(FLOOR), str(path)]))
                        suites.append(measured([args.python, "-m", "equivalence", "run", "--cases", str(path),
                                                "--out", str(out)]))
                    floor, suite = _median(floors), _median(suites)
                    counts = "?"
                    report = out / "latest.json"
                    if report.exists():
                        counts = json.loads(report.read_text()).get("summary", "?")
                    sample = {"case": case_id, "params": params, "optimizer": optimizer, "steps": steps,
                              "floor": floor, "suite": suite, "counts": counts}
                    samples.append(sample)
                    ratio = suite["wall_s"] / floor["wall_s"] if floor["wall_s"] else float("nan")
                    verdicts = (f"{counts['pass']} pass, {counts['fail']} fail, {counts['error']} error"
                                if isinstance(counts, dict) else f"rc {suite['rc']}")
                    cpu_ratio = suite["cpu_s"] / floor["cpu_s"] if floor["cpu_s"] else float("nan")
                    rows.append([f"{params:.0e}", optimizer, steps, f"{floor['wall_s']:.1f} s",
                                 f"{suite['wall_s']:.1f} s", f"{ratio:.2f}", f"{floor['cpu_s']:.1f} s",
                                 f"{suite['cpu_s']:.1f} s", f"{cpu_ratio:.2f}",
                                 f"{floor['peak_rss_bytes'] / 2**20:.0f} MiB",
                                 f"{suite['peak_rss_bytes'] / 2**20:.0f} MiB", verdicts])
                    print(" | ".join(map(str, rows[-1])), file=sys.stderr, flush=True)
                    _write(args.out, samples)
    _write(args.out, samples)
    print(tabulate(rows, headers=["params", "optimizer", "steps", "floor wall", "suite wall", "x floor (wall)",
                                  "floor CPU", "suite CPU", "x floor (CPU)", "floor peak RSS", "suite peak RSS",
                                  "verdicts"], tablefmt="github"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
