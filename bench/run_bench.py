"""Time the full default run against the floor, each repetition in a fresh process.

    python bench/run_bench.py [--cases PATH ...] [--repeat N] [--warmup N] [--python EXE]

(a) the floor, ``bench/floor.py``: both frameworks imported in one process and every framework run of
    every case called directly (see its docstring);
(b) the full run, ``python -m equivalence run --out <fresh temporary folder>`` (plus ``--cases`` when
    given): workers, references, comparisons, reports.

Both are timed from outside, as whole processes (interpreter start-up and shutdown included), after
``--warmup`` untimed runs of each (the frameworks' shared libraries are large: the first load after a
while reads them from disk), alternating floor / full so that a slow spell of the machine hits both. The result, with medians, the ratio
full / floor, the CPU count and the versions, goes to ``bench/results/latest.json``; a Markdown table
for the README goes to stdout. The exit status is 0 whatever the numbers: this measures, it does not
assert (a failed run is recorded in the JSON and flagged in the table).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tabulate import tabulate

ROOT = Path(__file__).resolve().parent.parent
FLOOR = ROOT / "bench" / "floor.py"
RESULTS = ROOT / "bench" / "results" / "latest.json"
TARGET_RATIO = 2.0
TARGET_FULL_S = 15.0
TARGET_CORES = 2


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _timed(cmd: list[str]) -> dict:
    """One process: wall time from outside, CPU time of it and its children (workers included)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True)
        rc, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
    except OSError as exc:  # no such interpreter
        rc, stdout, stderr = None, "", f"{type(exc).__name__}: {exc}"
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "wall_s": wall,
        "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "rc": rc,
        "stdout": stdout,
        "stderr_tail": stderr[-2000:],
    }


def run_floor(python: str, cases: list[str] | None) -> dict:
    sample = _timed([python, str(FLOOR), *(cases or [])])
    try:
        sample["inside"] = json.loads(sample["stdout"].strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        sample["inside"] = None
    sample["ok"] = sample["rc"] == 0 and sample["inside"] is not None
    del sample["stdout"]
    return sample


def run_full(python: str, cases: list[str] | None) -> dict:
    out = tempfile.mkdtemp(prefix="equivalence-bench-")
    try:
        cmd = [python, "-m", "equivalence", "run", "--out", out] + (["--cases", *cases] if cases else [])
        sample = _timed(cmd)
        report_path = Path(out) / "latest.json"
        report = json.loads(report_path.read_text()) if report_path.is_file() else None
    finally:
        shutil.rmtree(out, ignore_errors=True)
    # Exit status 1 means some check failed its expectation: the run still ran every check, so the timing
    # stands. Anything else (a usage error, a crash, no report) means it did not run.
    sample["ok"] = sample["rc"] in (0, 1) and report is not None
    sample["summary"] = report.get("summary") if report else None
    sample["environment"] = report.get("environment") if report else None
    sample["stdout_tail"] = sample.pop("stdout")[-2000:]
    return sample


def _stats(samples: list[dict], key: str = "wall_s") -> dict | None:
    values = [s[key] for s in samples if s["ok"]]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def _git() -> dict:
    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 0


def _median_of(samples: list[dict], path: tuple[str, ...]) -> float | None:
    values = []
    for s in samples:
        value = s.get("inside")
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, (int, float)):
            values.append(value)
    return statistics.median(values) if values else None


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _cpu_busy(seconds: float = 1.0) -> float | None:
    """Fraction of all cores busy over ``seconds`` before the runs (Linux): other processes at work."""
    def sample():
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields), idle
    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return round(1 - (idle1 - idle0) / max(total1 - total0, 1), 3)


def measure(python: str, cases: list[str] | None, repeat: int, warmup: int = 1, progress=None) -> dict:
    load_before, busy_before = _load(), _cpu_busy()
    for i in range(warmup):  # page cache: the frameworks' shared libraries are large; first loads are slow
        for name, fn in (("floor", run_floor), ("full", run_full)):
            sample = fn(python, cases)
            if progress:
                progress(f"[warm-up {i + 1}/{warmup}] {name}: {sample['wall_s']:.2f} s (not counted)")
    floor, full = [], []
    for i in range(repeat):
        for name, fn, into in (("floor", run_floor, floor), ("full", run_full, full)):
            sample = fn(python, cases)
            into.append(sample)
            if progress:
                status = "" if sample["ok"] else f" (FAILED, exit {sample['rc']})"
                progress(f"[{i + 1}/{repeat}] {name}: {sample['wall_s']:.2f} s{status}")
    floor_stats, full_stats = _stats(floor), _stats(full)
    ratio = full_stats["median"] / floor_stats["median"] if floor_stats and full_stats else None
    inside = next((s["inside"] for s in floor if s.get("inside")), None) or {}
    env = next((s["environment"] for s in full if s.get("environment")), None) or {}
    summary = next((s["summary"] for s in full if s.get("summary")), None)
    versions = dict(inside.get("versions", {}))
    for key in ("python", "numpy", "paddle", "torch"):
        versions.setdefault(key, env.get(key, "?"))
    backends = list(inside.get("framework_import_s", {}))
    return {
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": {
            "floor": [python, "bench/floor.py", *(cases or [])],
            "full": [python, "-m", "equivalence", "run", "--out", "<tmp>"] + (["--cases", *cases] if cases else []),
        },
        "cases": cases or ["cases (default)"],
        "case_count": inside.get("cases"),
        "framework_runs": inside.get("runs"),
        "checks": summary,
        "repeat": repeat,
        "warmup": warmup,
        "load_average_before": load_before,
        "cpu_busy_before": busy_before,
        "cpu_count": _cores(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "versions": versions,
        "git": _git(),
        "floor": {
            "wall_s": floor_stats, "cpu_s": _stats(floor, "cpu_s"),
            "inside_median_s": {
                "total": _median_of(floor, ("wall_s",)),
                "harness_import": _median_of(floor, ("harness_import_s",)),
                **{f"import_{b}": _median_of(floor, ("framework_import_s", b)) for b in backends},
                "load_cases": _median_of(floor, ("load_s",)),
                **{f"run_{b}": _median_of(floor, ("run_s", b)) for b in backends},
            },
        },
        "full": {"wall_s": full_stats, "cpu_s": _stats(full, "cpu_s")},
        "ratio": ratio,
        "targets": {
            "ratio_at_most": TARGET_RATIO, "full_s_at_most": TARGET_FULL_S, "on_cores": TARGET_CORES,
            "ratio_met": None if ratio is None else ratio <= TARGET_RATIO,
            "full_s_met": None if full_stats is None else full_stats["median"] <= TARGET_FULL_S,
        },
        "samples": {"floor": floor, "full": full},
    }


def markdown(result: dict) -> str:
    def cell(stats):
        if stats is None:
            return "failed"
        return f"{stats['median']:.2f} s ({stats['min']:.2f}-{stats['max']:.2f})"

    def cpu(stats):
        return "-" if stats is None else f"{stats['median']:.2f} s"

    ratio = result["ratio"]
    rows = [
        ["floor: both frameworks, every run, one process", cell(result["floor"]["wall_s"]),
         cpu(result["floor"]["cpu_s"]), "-" if result["floor"]["wall_s"] is None else "1.00"],
        ["full run: `python -m equivalence run`", cell(result["full"]["wall_s"]), cpu(result["full"]["cpu_s"]),
         "-" if ratio is None else f"{ratio:.2f}"],
    ]
    table = tabulate(rows, headers=["process", "wall, median (min-max)", "CPU, median", "x floor"],
                     tablefmt="github", disable_numparse=True)
    v = result["versions"]
    checks = result["checks"] or {}
    note = (f"{result['repeat']} runs each, {result['cpu_count']} cores, "
            f"{result['case_count'] if result['case_count'] is not None else '?'} cases, "
            f"{sum(checks.values()) if checks else '?'} checks; "
            f"Python {v.get('python', '?')}, NumPy {v.get('numpy', '?')}, Paddle {v.get('paddle', '?')}, "
            f"Torch {v.get('torch', '?')}; `python bench/run_bench.py`.")
    return f"{table}\n\n{note}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--cases", nargs="+", metavar="PATH",
                        help="case files or folders, passed to both (default: the suite's default, cases)")
    parser.add_argument("--repeat", type=int, default=3, metavar="N", help="runs of each (default 3)")
    parser.add_argument("--warmup", type=int, default=1, metavar="N",
                        help="untimed runs of each first, to warm the page cache (default 1)")
    parser.add_argument("--python", default=sys.executable, metavar="EXE",
                        help="interpreter for both processes (default: this one)")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.warmup < 0:
        parser.error("--repeat must be at least 1 and --warmup at least 0")

    cases = [os.path.abspath(p) for p in args.cases] if args.cases else None  # both run in the repository root
    result = measure(args.python, cases, args.repeat, args.warmup, progress=lambda line: print(line, file=sys.stderr))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for name in ("floor", "full"):
        failed = [s for s in result["samples"][name] if not s["ok"]]
        if failed:
            print(f"warning: {len(failed)} {name} run(s) failed (exit {failed[0]['rc']}): "
                  f"{failed[0]['stderr_tail'].strip()[-500:]}", file=sys.stderr)
    busy = result["cpu_busy_before"]
    if busy is not None and busy > 0.2:
        print(f"warning: {busy:.0%} of the CPU was busy with other processes just before the runs; "
              f"these timings may include their interference (the minimum is the better guide)",
              file=sys.stderr)
    inside = result["floor"]["inside_median_s"]
    phases = ", ".join(f"{k} {v:.2f}" for k, v in inside.items() if v is not None)
    if phases:
        print(f"floor phases (median s, inside the process): {phases}", file=sys.stderr)
    print(markdown(result))
    print(f"\nwritten: {RESULTS.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
