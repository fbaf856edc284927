"""Weight layouts: where each framework keeps a layer's parameters and buffers, and how its arrays convert to
and from the canonical layout every record uses. Framework-free (NumPy only), so any code holding a Paddle or
Torch state dict as arrays can use it (a user's own model pair as well as the suite's backends).

Canonical layout, per layer kind and role:

| kind | role | canonical | Paddle | Torch |
|---|---|---|---|---|
| linear | weight | [in, out] (y = x @ W + b) | `weight` [in, out] | `weight` [out, in] (transposed) |
| linear, conv* | bias | [out] | `bias` | `bias` |
| conv1d / conv2d | weight | [out, in/groups, k...] | `weight`, same | `weight`, same |
| conv2d_transpose | weight | [in, out/groups, kh, kw] | `weight`, same | `weight`, same |
| embedding | weight | [num_embeddings, dim] | `weight`, same | `weight`, same |
| batch_norm | weight, bias | [C] | `weight`, `bias` | `weight`, `bias` |
| batch_norm | running_mean, running_var | [C] | `_mean`, `_variance` | `running_mean`, `running_var` |
| layer_norm | weight, bias | normalized_shape | `weight`, `bias` flattened to [prod(shape)] | same shape |
| instance_norm | weight, bias | [C] | `scale`, `bias` | `weight`, `bias` |
| group_norm | weight, bias | [C] | `weight`, `bias` | `weight`, `bias` |

The one transposition (Torch's Linear) is the classic porting bug: a Paddle Linear weight copied into Torch
without it is refused unless the layer is square, where it is accepted silently (``wrong_port``).
"""

from __future__ import annotations

import numpy as np

FRAMEWORKS = ("paddle", "torch")

# (framework, kind) -> {canonical role: the framework's attribute name}; roles not listed keep their name.
ATTRIBUTES = {
    ("paddle", "batch_norm"): {"running_mean": "_mean", "running_var": "_variance"},
    ("paddle", "instance_norm"): {"weight": "scale"},
}


class LayoutError(ValueError):
    """An array that does not fit the layout it is converted to."""


def attribute(framework: str, kind: str, role: str) -> str:
    """The framework's attribute holding the canonical role of a layer kind (Paddle's BatchNorm keeps its
    running mean in ``_mean``)."""
    return ATTRIBUTES.get((framework, kind), {}).get(role, role)


def _transposed(framework: str, kind: str, role: str) -> bool:
    return framework == "torch" and kind == "linear" and role == "weight"


def framework_shape(framework: str, kind: str, role: str, canonical_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape the framework keeps a canonical array in."""
    if _transposed(framework, kind, role):
        return tuple(reversed(canonical_shape))
    if framework == "paddle" and kind == "layer_norm":
        return (int(np.prod(canonical_shape)),)
    return tuple(canonical_shape)


def to_canonical(framework: str, kind: str, role: str, array: np.ndarray,
                 canonical_shape: tuple[int, ...]) -> np.ndarray:
    """A framework's array in the canonical layout (a copy)."""
    _check(framework)
    array = np.asarray(array)
    expected = framework_shape(framework, kind, role, canonical_shape)
    if array.shape != expected:
        raise LayoutError(f"{framework} {kind}.{role}: shape {list(array.shape)}, expected {list(expected)}")
    if _transposed(framework, kind, role):
        return array.T.copy()
    return array.reshape(canonical_shape).copy()


def from_canonical(framework: str, kind: str, role: str, array: np.ndarray) -> np.ndarray:
    """A canonical array in the framework's layout (a copy)."""
    _check(framework)
    array = np.asarray(array)
    if _transposed(framework, kind, role):
        return array.T.copy()
    return array.reshape(framework_shape(framework, kind, role, array.shape)).copy()


def wrong_port(framework: str, kind: str, role: str, array: np.ndarray) -> np.ndarray:
    """The canonical array copied into the framework without conversion, as a tensor copy would take it: the
    same shape or refused (a square Linear weight is accepted, untransposed)."""
    expected = framework_shape(framework, kind, role, array.shape)
    if tuple(np.shape(array)) != expected:
        raise LayoutError(f"an unconverted {kind}.{role} of shape {list(array.shape)} does not fit {framework}'s "
                          f"{list(expected)}: the copy is refused (only a square Linear weight is accepted silently)")
    return np.array(array, copy=True)


def _check(framework: str) -> None:
    if framework not in FRAMEWORKS:
        raise ValueError(f"unknown framework {framework!r}; accepted: {', '.join(FRAMEWORKS)}")
