"""Neural-network layers on shared tensors, built from numpy weights or converted from PyTorch."""

from __future__ import annotations

from .convert import SUPPORTED, from_pytorch
from .modules import (AvgPool2d, Conv2d, Flatten, Linear, MaxPool2d, Module, ReLU, Sequential, Sigmoid,
                      Softmax)

__all__ = ["Module", "Linear", "Conv2d", "ReLU", "Sigmoid", "Softmax", "MaxPool2d", "AvgPool2d", "Flatten",
           "Sequential", "from_pytorch", "SUPPORTED"]
