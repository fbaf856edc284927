"""The name map between a Paddle model and a Torch model: which entry of one is which entry of the other.

An entry is a parameter or a buffer (BatchNorm's running statistics), named ``<module path>.<canonical role>``
(a Paddle BatchNorm's ``_mean`` is ``running_mean``, see equivalence/layouts.py) with its canonical shape.
The map is explicit where the case gives one, then by equal names, then by a unique (role, shape) among what is
left; whatever stays unmatched, or matches several entries of the same shape, is an error listing both sides.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    name: str  # <module path>.<canonical role>
    attribute: str  # the framework's own name, e.g. bn._mean
    kind: str  # layer kind in equivalence/layouts.py terms, or "other"
    role: str  # weight, bias, running_mean, ...
    shape: tuple[int, ...]  # canonical shape
    trainable: bool = True

    @property
    def module(self) -> str:
        return self.name.rpartition(".")[0]

    def describe(self) -> str:
        return f"{self.name} {list(self.shape)}"


class MapError(ValueError):
    """A name map that cannot be completed; the message lists both sides."""


def _listing(entries) -> str:
    return ", ".join(e.describe() for e in entries) or "(none)"


def build_map(paddle: list[Entry], torch: list[Entry], explicit: dict[str, str]) -> dict[str, str]:
    """paddle entry name -> torch entry name, covering every entry of both sides once."""
    p_by, t_by = {e.name: e for e in paddle}, {e.name: e for e in torch}
    mapping: dict[str, str] = {}
    for p_name, t_name in explicit.items():
        if p_name not in p_by:
            raise MapError(f"pair.map names paddle entry {p_name!r}, which the Paddle model does not have; "
                           f"paddle: {_listing(paddle)}")
        if t_name not in t_by:
            raise MapError(f"pair.map maps {p_name!r} to torch entry {t_name!r}, which the Torch model does not have; "
                           f"torch: {_listing(torch)}")
        mapping[p_name] = t_name
    taken = set(mapping.values())
    for e in paddle:
        if e.name in mapping or e.name not in t_by or e.name in taken:
            continue
        mapping[e.name] = e.name
        taken.add(e.name)
    left_p = [e for e in paddle if e.name not in mapping]
    left_t = [e for e in torch if e.name not in taken]
    for e in list(left_p):
        same = [t for t in left_t if t.shape == e.shape and t.role == e.role]
        rivals = [p for p in left_p if p.shape == e.shape and p.role == e.role]
        if len(same) == 1 and len(rivals) == 1:
            mapping[e.name] = same[0].name
            left_p.remove(e)
            left_t.remove(same[0])
        elif len(same) > 1 or (same and len(rivals) > 1):
            raise MapError(f"ambiguous shape match for paddle {e.describe()}: torch {_listing(same)} have the same "
                           f"role and shape; name the pairs in [pair.map] (paddle name = torch name)")
    if left_p or left_t:
        raise MapError(f"unmatched entries: paddle {_listing(left_p)}; torch {_listing(left_t)}. Give [pair.map] "
                       f"entries (paddle name = torch name); paddle has {_listing(paddle)}; torch has {_listing(torch)}")
    for p_name, t_name in mapping.items():
        p, t = p_by[p_name], t_by[t_name]
        if p.shape != t.shape:
            raise MapError(f"paddle {p.describe()} and torch {t.describe()} are mapped to each other but their "
                           f"canonical shapes differ (a Linear weight is [in, out] in both after conversion)")
    return mapping
