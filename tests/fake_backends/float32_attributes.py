"""A fake framework that keeps the optimizer's hyper-parameters as float32 attributes (as Paddle's kernels
do): the reference under the flavour attributes = "float32", for the explanation of a precision divergence."""

from __future__ import annotations

import dataclasses

from equivalence import reference
from equivalence.record import Trajectory

NAME = "fake32"


def versions() -> dict[str, str]:
    return {NAME: "1.0"}


def run(case, route: str) -> Trajectory:
    return reference.run(dataclasses.replace(case, reference=dataclasses.replace(case.reference, attributes="float32")))
