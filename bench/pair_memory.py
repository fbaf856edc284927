"""Peak memory of a model-pair run: the whole process tree (harness and both framework workers), sampled from
/proc every 0.1 s while `python -m equivalence run` runs bench/pair/pair-1m.toml (1M parameters, 50 steps).

    python bench/pair_memory.py [--case bench/pair/pair-1m.toml] [--python EXE]

Prints the peak of the summed resident set sizes (an upper bound of the run's peak: each process's own peak
is not reached at the same moment), each process's peak, the wall time and the verdicts. Exit status 0."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry))
    return out


def _tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(_children(p))
    return found


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", default=str(HERE / "pair" / "pair-1m.toml"))
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    out = tempfile.mkdtemp(prefix="pair-memory-")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]))
    start = time.monotonic()
    proc = subprocess.Popen([args.python, "-m", "equivalence", "run", "--cases", args.case, "--out", out],
                            cwd=Path(args.case).resolve().parent, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    peak_total, peaks = 0, {}
    while proc.poll() is None:
        sizes = {p: _rss_kib(p) for p in _tree(proc.pid)}
        peak_total = max(peak_total, sum(sizes.values()))
        for p, kib in sizes.items():
            peaks[p] = max(peaks.get(p, 0), kib)
        time.sleep(0.1)
    wall = time.monotonic() - start
    output = proc.stdout.read()
    results = json.loads((Path(out) / "latest.json").read_text())["results"] if (Path(out) / "latest.json").exists() else []
    print(json.dumps({
        "case": args.case, "wall_s": round(wall, 1), "peak_rss_total_mib": round(peak_total / 1024, 1),
        "peak_rss_per_process_mib": sorted((round(k / 1024, 1) for k in peaks.values()), reverse=True)[:4],
        "verdicts": {f"{r['implementation']} vs {r['compared_with']}": r["status"] for r in results},
        "compared_elements": {r["implementation"]: r["compared_elements"] for r in results},
        "exit": proc.returncode, "tail": output.strip().splitlines()[-1:] if output.strip() else [],
    }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
