"""Reports as the upgrade checks read them, and their compact form: the committed baselines.

``python -m equivalence run --stem paddle331`` writes a full report (reports/paddle331.json, the contract of
reports/README.md). ``python -m equivalence baseline`` keeps of it what says how the frameworks behaved and
drops what changes from one run or one machine to the next:

- kept, per check: the verdict (expected, observed, status), the worst absolute error to three significant
  digits (a run that differs in the last bits rewrites no line), the mismatch count, where the runs first
  part (step, quantity, parameter), and the first 160 characters of the message of a check that did not
  compare (error, skipped, not applicable: why not), with the virtual environment's path replaced by
  ``<venv>``;
- kept, of the environment: python, numpy, machine, device and every framework version;
- dropped: the time, the executable's path and the kernel (``platform``); the reason, references, tags and
  file of a check (the case file holds them); the worst relative error (``diff`` reads the absolute one:
  the relative error of an element near zero swings with its last bits); the values and index of the first
  divergence and the messages of checks that compared (they only repeat the errors in words).

A baseline holds one result per line, grouped by case, so the git diff of a regenerated baseline names
exactly the checks that changed. ``diff`` and ``drift`` read baselines and full reports alike.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

FORMAT = "equivalence-baseline"
# Every status a check can end in; runner.py reports these (not-applicable: a route a framework cannot express).
STATUSES = ("pass", "fail", "error", "skipped", "not-applicable")
RAN = ("equal", "divergent")  # observed verdicts of a check that compared two runs
# Environment keys that are not framework versions; "time", "executable" and "platform" are dropped.
GENERAL_ENVIRONMENT = ("python", "numpy", "machine", "device")
DROPPED_ENVIRONMENT = ("time", "executable", "platform")
MESSAGE_CHARS = 160
VERDICT_KEYS = ("case", "implementation", "compared_with", "kind", "expected", "observed", "status")

Key = tuple[str, str, str]  # (case, implementation, compared_with)


class ReportError(ValueError):
    """A file that is not a report or a baseline: names the file and what is wrong."""

    def __init__(self, path, problem: str):
        super().__init__(f"{path}: {problem}")


@dataclass
class Report:
    path: str
    environment: dict
    results: dict[Key, dict]  # compact results, in report order
    time: str = ""  # when the run ran (full reports only; not part of a baseline)
    # Per check, what a full report says about its expectation (reason, references); not part of a
    # baseline (the case files hold it), read by diff to say why a behaviour change was expected.
    context: dict[Key, dict] = field(default_factory=dict)

    @property
    def frameworks(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.environment.items()
                if k not in GENERAL_ENVIRONMENT + DROPPED_ENVIRONMENT}

    @property
    def label(self) -> str:
        """'paddle 3.3.1, torch 2.13.0+cpu': what the run ran."""
        return ", ".join(f"{k} {v}" for k, v in self.frameworks.items()) or Path(self.path).stem

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for r in self.results.values():
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        return counts

    def cases(self) -> list[str]:
        return list(dict.fromkeys(key[0] for key in self.results))


def check_id(result: dict) -> str:
    """The check's pytest id, as equivalence.plan.Check.test_id and the runner's spec errors name it."""
    if result["kind"] == "spec":
        return f"{result['case']}[spec]"
    if result["compared_with"] == "reference":
        return f"{result['case']}[{result['implementation']}]"
    return f"{result['case']}[{result['implementation']}-vs-{result['compared_with']}]"


def significant(x, digits: int = 3):
    """A float to ``digits`` significant digits; non-finite values stay the report's strings."""
    if not isinstance(x, (int, float)) or isinstance(x, bool) or not math.isfinite(x) or x == 0:
        return x
    return float(f"{x:.{digits - 1}e}")


def compact(result: dict, venv: str = "") -> dict:
    out = {k: result[k] for k in VERDICT_KEYS}
    if result.get("max_abs_error") is not None:
        out["max_abs_error"] = significant(result["max_abs_error"])
    if result.get("mismatches"):
        out["mismatches"] = result["mismatches"]
    first = result.get("first_divergence")
    if first:
        out["first_divergence"] = {k: first[k] for k in ("step", "quantity", "parameter")}
    if result["observed"] not in RAN and result.get("message"):
        message = " ".join(result["message"].split())
        message = message.replace(venv, "<venv>") if venv else message
        out["message"] = message if len(message) <= MESSAGE_CHARS else message[:MESSAGE_CHARS - 3] + "..."
    return out


def _venv(environment: dict) -> str:
    """The virtual environment (or Python prefix) of the run: the executable's grandparent folder."""
    executable = environment.get("executable")
    return str(Path(executable).parent.parent) if executable else ""


def load(path: str | Path) -> Report:
    """A full report (``run``) or a baseline (``baseline``), its results compacted alike."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(path, "no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(path, f"not a readable JSON report ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list) \
            or not isinstance(doc.get("environment"), dict):
        raise ReportError(path, "not an equivalence report: expected an object with 'environment' and 'results'")
    venv = _venv(doc["environment"])
    results: dict[Key, dict] = {}
    context: dict[Key, dict] = {}
    for i, r in enumerate(doc["results"]):
        missing = [k for k in VERDICT_KEYS if not isinstance(r, dict) or k not in r]
        if missing:
            raise ReportError(path, f"results[{i}] lacks {', '.join(missing)}")
        key = (r["case"], r["implementation"], r["compared_with"])
        if key in results:
            raise ReportError(path, f"results[{i}]: {check_id(r)} appears twice")
        results[key] = compact(r, venv)
        if r.get("reason"):
            context[key] = {"reason": str(r["reason"]), "references": [str(x) for x in r.get("references") or ()]}
    environment = {k: v for k, v in doc["environment"].items() if k not in DROPPED_ENVIRONMENT}
    return Report(str(path), environment, results, time=str(doc["environment"].get("time", "")), context=context)


def render(report: Report) -> str:
    """The baseline file: JSON with one result per line, grouped by case in report order."""
    order = {case: i for i, case in enumerate(report.cases())}
    results = sorted(report.results.values(), key=lambda r: order[r["case"]])
    head = {"format": FORMAT, "generated_by": "python -m equivalence baseline (see tox.ini: tox -m baselines)",
            "environment": report.environment, "summary": report.counts()}
    lines = [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()]
    body = ",\n".join(f"    {json.dumps(r, allow_nan=False)}" for r in results)
    return "{\n" + "\n".join(lines) + '\n  "results": [\n' + body + ("\n" if body else "") + "  ]\n}\n"
