"""A small CNN written once in Torch and once in Paddle: the user's own model pair of the examples."""
