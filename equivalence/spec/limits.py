"""Bounds on everything a case file can make large, and the safe alphabet of ids and tags.

A case file is data, so a typo (``steps = 10000000000000000``) or a hostile file must end in a SpecError
naming the key and the limit, not in a run that grows memory until the machine stops. The limits leave room
for realistic cases (10^7 parameters, 1000 steps, 10^5-element probes) and keep one case within what the
2-core, 24 GB machines of this project hold: every recorded quantity of every step is one array of the
model's size, so the bound that matters is parameters x steps (``MAX_PARAM_STEPS``).
"""

from __future__ import annotations

import math
import re

# Every integer of a case file (a seed, a step, a schedule's epoch count): beyond this, it is a typo.
MAX_INT = 2**31 - 1
# Nesting of tables and lists: the deepest case schema is 4 (tolerance.quantities.<q>.rtol; data.inputs[i][j]).
MAX_DEPTH = 16
# A case file is read whole before it is parsed.
MAX_FILE_BYTES = 64 * 2**20
# Items of one list (data.inputs rows, loss_probe.weight, schedule milestones, ...).
MAX_LIST_ITEMS = 1_000_000
MAX_STEPS = 100_000
MAX_BATCHES = 100_000
MAX_RANK = 6
# One tensor (a batch of inputs, a dropout or normalization probe's input, a layer's weight): 8e8 bytes in float64.
MAX_ELEMENTS = 10**8
MAX_PARAMS = 5 * 10**7
# Parameters (or a probe's elements) times steps: 10^7 parameters x 20 steps, 10^6 x 100 and 10^5 x 1000 fit.
MAX_PARAM_STEPS = 10**9
MAX_SEED = 2**32 - 1  # what every RNG involved accepts (NumPy, Paddle, Torch)
MAX_INIT_BOUND = 1e3  # beyond it tanh saturates and the float32 gradients are all rounding
MAX_SWEEP_EXAMPLES = 10_000
MAX_SWEEP_GRID = 10**6

ID_PATTERN = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
ID_ACCEPTED = "lowercase letters and digits in words joined by single '-' (e.g. l2decay-vs-penalty), at most 100 characters"
TAG_PATTERN = re.compile(r"[A-Za-z0-9]+([-_][A-Za-z0-9]+)*")
TAG_ACCEPTED = "letters and digits in words joined by '-' or '_' (e.g. weight-decay), at most 60 characters"


def is_safe_id(text: object) -> bool:
    """Whether ``text`` may name a case: it becomes a file name (sweep-<id>.json), a test id and a Markdown
    code span, so nothing but [a-z0-9-] passes."""
    return isinstance(text, str) and len(text) <= 100 and ID_PATTERN.fullmatch(text) is not None


def is_safe_tag(text: object) -> bool:
    return isinstance(text, str) and len(text) <= 60 and TAG_PATTERN.fullmatch(text) is not None


def deepest(value, key: str = "", depth: int = 0) -> tuple[int, str]:
    """(depth, dotted key) of the most nested point of a TOML document, looking no deeper than MAX_DEPTH + 1
    (iteratively bounded, so a document nested thousands of levels deep cannot exhaust the stack)."""
    if depth > MAX_DEPTH:
        return depth, key
    best = (depth, key)
    if isinstance(value, dict):
        children = ((f"{key}.{k}" if key else str(k), v) for k, v in value.items())
    elif isinstance(value, list):
        children = ((f"{key}[{i}]", v) for i, v in enumerate(value))
    else:
        return best
    for child_key, child in children:
        found = deepest(child, child_key, depth + 1)
        if found[0] > best[0]:
            best = found
            if best[0] > MAX_DEPTH:
                break
    return best


def elements(shape) -> int:
    return math.prod(shape)
