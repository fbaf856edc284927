"""A pretrained checkpoint as a Torch state dict would hold it (NumPy arrays, Torch layouts), for the
builders that load their own weights (case files with pair.weights_from = "none")."""

import numpy as np

SHAPES = {"conv.weight": (8, 3, 3, 3), "bn.weight": (8,), "bn.bias": (8,),
          "fc1.weight": (32, 128), "fc1.bias": (32,), "fc2.weight": (32, 32), "fc2.bias": (32,),
          "head.weight": (10, 32), "head.bias": (10,)}


def torch_state() -> dict:
    rng = np.random.default_rng(1234)
    return {name: rng.uniform(-0.3, 0.3, size=shape).astype(np.float32) for name, shape in SHAPES.items()}


def batches():
    """Two batches of 8 images 3x8x8 with class labels: the data source of some case files."""
    rng = np.random.default_rng(5)
    return [(rng.standard_normal((8, 3, 8, 8)).astype(np.float32), rng.integers(0, 10, 8)) for _ in range(2)]
