"""Time ``pytest`` serial against ``pytest -n N`` (pytest-xdist), each repetition in a fresh process.

    python bench/pytest_xdist.py [--target PATHS ...] [--workers N] [--repeat N] [--warmup N] [--python EXE]
                                  [--results PATH]

A target is what follows ``python -m pytest -q -p no:cacheprovider`` (``default``: no path, pytest's
``testpaths``, i.e. tests/ and cases/). Default targets: ``cases`` (every case) and ``cases/regularization``.
Serial and parallel runs alternate, so a slow spell of the machine hits both. The samples, with the load
before the runs, go to ``bench/results/pytest_xdist.json``; a Markdown table to stdout. It measures, it does
not assert: the exit status is 0 whatever the numbers (a run whose summary differs from its serial twin,
or that exits neither 0 nor 1, is flagged in the table).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import re
import shlex
import statistics
import sys
from pathlib import Path

from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_bench import ROOT, _cores, _cpu_busy, _git, _load, _timed  # noqa: E402  (bench/ is not a package)

RESULTS = ROOT / "bench" / "results" / "pytest_xdist.json"
DEFAULT_TARGETS = ["cases", "cases/regularization"]
_COUNTS = re.compile(r"(\d+) (passed|failed|skipped|xfailed|xpassed|error|errors|deselected)")


def _command(python: str, target: str, workers: int) -> list[str]:
    paths = [] if target == "default" else shlex.split(target)
    return [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *paths,
            *(["-n", str(workers)] if workers else [])]


def run_pytest(python: str, target: str, workers: int) -> dict:
    sample = _timed(_command(python, target, workers))
    lines = [l for l in sample.pop("stdout").splitlines() if l.strip()]
    last = lines[-1] if lines else ""
    sample["summary"] = dict(sorted((kind, int(n)) for n, kind in _COUNTS.findall(last)))
    sample["ok"] = sample["rc"] in (0, 1) and bool(sample["summary"])  # 1: some test failed, all ran
    sample["summary_line"] = last
    sample["failed"] = [l for l in lines if l.startswith(("FAILED", "ERROR"))][:50]  # the -ra lines of addopts
    return sample


def _stats(samples: list[dict], key: str) -> dict | None:
    values = [s[key] for s in samples if s["ok"]]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def measure(python: str, targets: list[str], workers: int, repeat: int, warmup: int, progress=print) -> dict:
    load_before, busy_before = _load(), _cpu_busy()
    rows = []
    for target in targets:
        for _ in range(warmup):  # page cache: the frameworks' shared libraries are large
            for n in (0, workers):
                run_pytest(python, target, n)
        samples: dict[str, list[dict]] = {"serial": [], "parallel": []}
        for i in range(repeat):
            for label, n in (("serial", 0), ("parallel", workers)):
                sample = run_pytest(python, target, n)
                samples[label].append(sample)
                progress(f"{target} {label} {i + 1}/{repeat}: {sample['wall_s']:.2f} s, rc {sample['rc']}, "
                         f"{sample['summary_line']}")
        serial, parallel = _stats(samples["serial"], "wall_s"), _stats(samples["parallel"], "wall_s")
        rows.append({
            "target": target, "command_serial": _command(python, target, 0),
            "command_parallel": _command(python, target, workers), "samples": samples,
            "serial_wall": serial, "parallel_wall": parallel,
            "serial_cpu": _stats(samples["serial"], "cpu_s"), "parallel_cpu": _stats(samples["parallel"], "cpu_s"),
            "speedup": serial["median"] / parallel["median"] if serial and parallel else None,
            "same_summary": len({json.dumps(s["summary"]) for s in samples["serial"] + samples["parallel"]}) == 1,
        })
    return {
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(), "cores": _cores(), "workers": workers, "repeat": repeat,
        "warmup": warmup, "load_average_before": load_before, "cpu_busy_before": busy_before, "git": _git(),
        "rows": rows,
    }


def _cell(stats: dict | None) -> str:
    if stats is None:
        return "failed"
    return f"{stats['median']:.1f} s ({stats['min']:.1f}-{stats['max']:.1f})"


def markdown(result: dict) -> str:
    n = result["workers"]
    table = [[("`pytest`" if r["target"] == "default" else f"`pytest {r['target']}`")
              + ("" if r["same_summary"] else " (summaries differ!)"),
              _cell(r["serial_wall"]), _cell(r["parallel_wall"]),
              f"{r['serial_cpu']['median']:.1f} s / {r['parallel_cpu']['median']:.1f} s"
              if r["serial_cpu"] and r["parallel_cpu"] else "-",
              f"{r['speedup']:.2f}x" if r["speedup"] else "-"] for r in result["rows"]]
    return tabulate(table, headers=["run", "serial wall, median (min-max)", f"-n {n} wall, median (min-max)",
                                    f"CPU serial / -n {n}", f"speed-up (serial / -n {n})"], tablefmt="github")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", action="append", default=None,
                        help="paths after `pytest` (repeatable; `default`: pytest's testpaths)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"JSON output (default {RESULTS})")
    args = parser.parse_args(argv)
    result = measure(args.python, args.target or DEFAULT_TARGETS, args.workers, args.repeat, args.warmup,
                     progress=lambda line: print(line, file=sys.stderr, flush=True))
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(markdown(result))
    if result["cpu_busy_before"] and result["cpu_busy_before"] > 0.2:
        print(f"warning: other processes kept {result['cpu_busy_before']:.0%} of the CPU busy before the runs",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
