"""A gate that compared nothing does not pass.

A run with no case, or whose every framework check was skipped (no framework importable, every version
outside the cases' ranges), has no failure, yet it showed nothing: a CI job gating on it would pass having
compared nothing. ``python -m equivalence run`` exits ``EXIT_NOTHING_COMPARED`` then, and the pytest run
exits with pytest's "no tests" status, each with a line saying why, unless the user allows it
(``--allow-empty`` / ``--equivalence-allow-empty``).
"""

from __future__ import annotations

EXIT_NOTHING_COMPARED = 3
RAN = ("equal", "divergent")


def nothing_compared(results) -> str:
    """Why ``results`` (runner Results) compared no framework run, or "" when at least one did."""
    results = list(results)
    if not results:
        return "no case was run"
    framework = [r for r in results if r.kind in ("equivalence", "direct")]
    if not framework:
        return f"none of the {len(results)} results compares a framework run (every case file is malformed)" \
            if all(r.kind == "spec" for r in results) else "no framework check was planned"
    if not any(r.observed in RAN for r in framework):
        reasons = sorted({r.message.split(";")[0] for r in framework if r.status == "skipped"})[:3]
        why = f" ({'; '.join(reasons)})" if reasons else ""
        return f"none of the {len(framework)} framework checks compared anything{why}"
    return ""
