"""A ~1M-parameter model pair for the memory bench: 512 -> 1024 -> 512, tanh, then 10 outputs."""

WIDTHS = (512, 1024, 512, 10)


def build_torch():
    import torch
    torch.manual_seed(0)
    layers = []
    for i, (a, b) in enumerate(zip(WIDTHS[:-1], WIDTHS[1:])):
        layers += [torch.nn.Linear(a, b)] + ([torch.nn.Tanh()] if i < len(WIDTHS) - 2 else [])
    return torch.nn.Sequential(*layers)


def build_paddle():
    import paddle
    layers = []
    for i, (a, b) in enumerate(zip(WIDTHS[:-1], WIDTHS[1:])):
        layers += [paddle.nn.Linear(a, b)] + ([paddle.nn.Tanh()] if i < len(WIDTHS) - 2 else [])
    return paddle.nn.Sequential(*layers)
