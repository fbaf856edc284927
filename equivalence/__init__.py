"""Cross-framework equivalence suite: does a training step mean the same thing in Paddle and Torch?"""

__version__ = "0.1.0"
