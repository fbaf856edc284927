"""The Paddle port: one correct, and the porting mistakes the examples plant."""

import paddle
from paddle import nn

from .checkpoint import torch_state


class SmallCNN(nn.Layer):
    def __init__(self, bn_momentum: float = 0.9, dropout: float = 0.0):
        super().__init__()
        self.conv = nn.Conv2D(3, 8, 3, padding=1, bias_attr=False)  # BatchNorm's shift is the bias
        # Paddle's momentum weighs the old running value: Torch's 0.1 is Paddle's 0.9.
        self.bn = nn.BatchNorm2D(8, momentum=bn_momentum)
        self.pool = nn.MaxPool2D(2)
        self.fc1 = nn.Linear(128, 32)
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(32, 32)
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        x = self.pool(nn.functional.relu(self.bn(self.conv(x))))
        x = self.drop(nn.functional.relu(self.fc1(paddle.flatten(x, 1))))
        return self.head(nn.functional.relu(self.fc2(x)))


def build():
    return SmallCNN()


def build_bn_momentum_verbatim():
    """Mistake: Torch's BatchNorm momentum=0.1 copied as it is."""
    return SmallCNN(bn_momentum=0.1)


def build_with_dropout():
    return SmallCNN(dropout=0.3)


def _load(model, transpose_linear: set):
    state = torch_state()
    for name, param in model.named_parameters():
        if name not in state:  # BatchNorm's running statistics (_mean, _variance) keep their initial values
            continue
        value = state[name]
        if name.split(".")[0] in transpose_linear and name.endswith(".weight"):
            value = value.T  # Paddle's Linear keeps [in, out], Torch's [out, in]
        param.set_value(value)
    return model


def build_pretrained():
    """The checkpoint converted correctly: every Linear weight transposed."""
    return _load(SmallCNN(), {"fc1", "fc2", "head"})


def build_pretrained_untransposed_fc2():
    """Mistake: fc2's weight (square, so the copy is accepted) not transposed."""
    return _load(SmallCNN(), {"fc1", "head"})


def build_wrong_framework():
    """Bad input: a Torch module where a Paddle layer is expected."""
    from .torch_models import build as torch_build
    return torch_build()
