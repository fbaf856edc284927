"""Case ids are unique: two files with one id are both errors, each naming the other.

Neither copy runs: which one is "the real case" cannot be known, and results filed under a shared id would
mix two cases (in pytest the later file silently replaced the earlier one). ``python -m equivalence`` sees
every file it loads at once (``mark_duplicates``); pytest collects one file at a time, so a file collected
there is checked against every case file under its ``cases`` folder (``load_unique_case``).
"""

from __future__ import annotations

from pathlib import Path

from .base import SpecError
from .case import Case, load_case, read_raw

ACCEPTED = "unique ids: an id no other case file uses"


def _error(path: str, case_id: str, others: list[str]) -> SpecError:
    return SpecError(path, "id", f"{case_id!r} is also the id of {', '.join(others)}", ACCEPTED)


def mark_duplicates(items: list) -> list:
    """``items`` (Case or SpecError, as loaded) with every case whose id another case shares replaced by a
    SpecError naming the other files."""
    files: dict[str, list[str]] = {}
    for item in items:
        if isinstance(item, Case):
            files.setdefault(item.id, []).append(item.path)
    marked = []
    for item in items:
        if isinstance(item, Case) and len(files[item.id]) > 1:
            item = _error(item.path, item.id, [p for p in files[item.id] if p != item.path])
        marked.append(item)
    return marked


def _cases_root(path: Path) -> Path | None:
    """The nearest folder named ``cases`` above the file (the pytest plugin collects files under one)."""
    for parent in path.resolve().parents:
        if parent.name == "cases":
            return parent
    return None


_ID_CACHE: dict[Path, tuple[tuple, dict[str, list[Path]]]] = {}


def _ids_under(root: Path) -> dict[str, list[Path]]:
    """id -> files under ``root``, read once per state of the folder (pytest asks once per file)."""
    files = sorted(root.rglob("*.toml"))
    stamp = tuple((p, p.stat().st_mtime_ns, p.stat().st_size) for p in files if p.is_file())
    cached = _ID_CACHE.get(root)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    ids: dict[str, list[Path]] = {}
    for p, *_ in stamp:
        try:
            case_id = read_raw(p).get("id")
        except SpecError:
            continue  # that file reports its own error
        if isinstance(case_id, str):
            ids.setdefault(case_id, []).append(p)
    _ID_CACHE[root] = (stamp, ids)
    return ids


def load_unique_case(path: str | Path) -> Case:
    """``load_case``, and a SpecError when another case file under the same ``cases`` folder has its id."""
    case = load_case(path)
    root = _cases_root(Path(path))
    if root is not None:
        own = Path(path).resolve()
        others = [str(p) for p in _ids_under(root).get(case.id, []) if p.resolve() != own]
        if others:
            raise _error(case.path, case.id, others)
    return case
