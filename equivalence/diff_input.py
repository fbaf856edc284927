"""What ``diff`` (and ``drift``) accept, checked before anything is compared: a usage error exits 2.

A diff that reads the wrong file passes by accident: an empty results list has no regression, a report of
another schema version may name its fields otherwise, and ``--factor nan`` makes every comparison false.
So each input must be a full report of this schema version (``run``) or a baseline (``baseline``), with at
least one result, each result of the documented shape; the noise settings must be finite.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from .baseline import FORMAT, RAN, STATUSES, VERDICT_KEYS, Report, ReportError, load
from .runner import SCHEMA_VERSION

# Version 2 only added fields (explanation) and a status (not-applicable) to version 1, so a report written
# before an upgrade of the suite still diffs against one written after it.
READABLE_SCHEMA_VERSIONS = (1, SCHEMA_VERSION)

OBSERVED = RAN + ("not-applicable", "error", "skipped")
EXPECTED = ("equal", "divergent")
NON_FINITE = ("nan", "inf", "-inf")


def check_noise(factor: float, floor: float) -> None:
    """--factor and --floor: finite, factor > 1, floor >= 0 (ValueError: the CLI exits 2)."""
    if not math.isfinite(factor) or factor <= 1:
        raise ValueError(f"--factor {factor:g}: must be > 1 and finite (the error growth worth reporting)")
    if not math.isfinite(floor) or floor < 0:
        raise ValueError(f"--floor {floor:g}: must be >= 0 and finite (errors below it are noise)")


def _number(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return math.isfinite(value)
    return value in NON_FINITE  # a report writes NaN and Inf as strings


def _check_result(path: Path, i: int, r) -> None:
    at = f"results[{i}]"
    if not isinstance(r, dict):
        raise ReportError(path, f"{at} is not an object")
    for key in VERDICT_KEYS:
        if not isinstance(r.get(key), str):
            raise ReportError(path, f"{at}.{key} is missing or not a string")
    for key, accepted in (("status", STATUSES), ("observed", OBSERVED), ("expected", EXPECTED)):
        if r[key] not in accepted:
            raise ReportError(path, f"{at}.{key} = {r[key]!r} is not one of {', '.join(accepted)}")
    for key in ("max_abs_error", "max_rel_error"):
        if r.get(key) is not None and not _number(r[key]):
            raise ReportError(path, f"{at}.{key} = {r[key]!r} is not a number")
    if r.get("mismatches") is not None and (isinstance(r["mismatches"], bool) or not isinstance(r["mismatches"], int)):
        raise ReportError(path, f"{at}.mismatches = {r['mismatches']!r} is not an integer")
    first = r.get("first_divergence")
    if first is not None:
        if not isinstance(first, dict):
            raise ReportError(path, f"{at}.first_divergence is not an object")
        if isinstance(first.get("step"), bool) or not isinstance(first.get("step"), int):
            raise ReportError(path, f"{at}.first_divergence.step is missing or not an integer")
        for key in ("quantity", "parameter"):
            if not isinstance(first.get(key), str):
                raise ReportError(path, f"{at}.first_divergence.{key} is missing or not a string")
    if r.get("message") is not None and not isinstance(r["message"], str):
        raise ReportError(path, f"{at}.message is not a string")


def load_checked(path: str | Path) -> Report:
    """A report or baseline for diff/drift, or a ReportError naming the file and what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise ReportError(path, "no such file")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, RecursionError, ValueError) as exc:
        raise ReportError(path, f"not a readable JSON report ({type(exc).__name__}: {exc})") from None
    if not isinstance(doc, dict):
        raise ReportError(path, "not an equivalence report: expected a JSON object")
    if "format" in doc:
        if doc["format"] != FORMAT:
            raise ReportError(path, f"not an equivalence report: format {doc['format']!r} is not {FORMAT!r}")
    elif doc.get("schema_version") not in READABLE_SCHEMA_VERSIONS:
        raise ReportError(path, f"not an equivalence report of a known version: schema_version "
                                f"{doc.get('schema_version')!r} is not one of {list(READABLE_SCHEMA_VERSIONS)}; "
                                f"accepted: a report of schema_version {' or '.join(map(str, READABLE_SCHEMA_VERSIONS))}"
                                f" or a baseline (format {FORMAT!r})")
    if not isinstance(doc.get("environment"), dict):
        raise ReportError(path, "not an equivalence report: 'environment' is missing or not an object")
    results = doc.get("results")
    if not isinstance(results, list):
        raise ReportError(path, "not an equivalence report: 'results' is missing or not a list")
    if not results:
        raise ReportError(path, "'results' is empty: a run that compared nothing cannot show a regression")
    for i, r in enumerate(results):
        _check_result(path, i, r)
    return load(path)
