"""Builders for the bad-input tests of model pairs (imported inside the framework workers only)."""


def torch_mlp():
    import torch
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2))


def paddle_mlp():
    import paddle
    return paddle.nn.Sequential(paddle.nn.Linear(4, 3), paddle.nn.Tanh(), paddle.nn.Linear(3, 2))


def paddle_mlp_without_bias():
    import paddle
    return paddle.nn.Sequential(paddle.nn.Linear(4, 3, bias_attr=False), paddle.nn.Tanh(), paddle.nn.Linear(3, 2))


def paddle_raises():
    raise RuntimeError("the checkpoint file is missing")


def torch_instead_of_paddle():
    return torch_mlp()


def paddle_nan():
    import paddle

    class Nan(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.body = paddle_mlp()

        def forward(self, x):
            return self.body(x) * float("nan")
    return Nan()


def torch_nan():
    import torch

    class Nan(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = torch_mlp()

        def forward(self, x):
            return self.body(x) * float("nan")
    return Nan()


def paddle_two_same_shapes():
    """Names that match nothing in the Torch model and two Linear layers of one shape: ambiguous."""
    import paddle

    class Twin(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.left = paddle.nn.Linear(4, 4)
            self.right = paddle.nn.Linear(4, 4)

        def forward(self, x):
            return self.right(self.left(x))
    return Twin()


def torch_two_same_shapes():
    import torch
    return torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 4))
