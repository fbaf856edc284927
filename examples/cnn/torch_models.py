"""The Torch original."""

import torch
from torch import nn

from .checkpoint import torch_state


class SmallCNN(nn.Module):
    def __init__(self, dropout: float = 0.0):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)  # BatchNorm's shift is the bias
        self.bn = nn.BatchNorm2d(8)  # momentum 0.1: the new batch statistic's weight
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(128, 32)
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(32, 32)
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        x = self.pool(torch.relu(self.bn(self.conv(x))))
        x = self.drop(torch.relu(self.fc1(x.flatten(1))))
        return self.head(torch.relu(self.fc2(x)))


def build():
    torch.manual_seed(0)
    return SmallCNN()


def build_with_dropout():
    torch.manual_seed(0)
    return SmallCNN(dropout=0.3)


def build_pretrained():
    model = SmallCNN()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in torch_state().items()}, strict=False)
    return model
