"""from_pytorch: convert a PyTorch model (Sequential of supported layers) into mpc_ml.nn layers."""

from __future__ import annotations

from typing import Any

from ..errors import InputError
from . import modules as m

SUPPORTED = ("Linear", "Conv2d", "ReLU", "MaxPool2d", "AvgPool2d", "Flatten", "Sigmoid", "Softmax", "Sequential")


def _np(t: Any) -> Any:
    return None if t is None else t.detach().cpu().double().numpy()


def _convert(layer: Any) -> m.Module:
    kind = type(layer).__name__
    if kind == "Sequential":
        return m.Sequential(*[_convert(c) for c in layer.children()])
    if kind == "Linear":
        return m.Linear(layer.in_features, layer.out_features, _np(layer.weight), _np(layer.bias))
    if kind == "Conv2d":
        if layer.groups != 1 or tuple(layer.dilation) != (1, 1) or isinstance(layer.padding, str):
            raise InputError("Conv2d with groups, dilation or string padding is not supported")
        return m.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
                        _np(layer.weight), _np(layer.bias))
    if kind == "ReLU":
        return m.ReLU()
    if kind == "Sigmoid":
        return m.Sigmoid()
    if kind == "Softmax":
        return m.Softmax(layer.dim if layer.dim is not None else -1)
    if kind == "Flatten":
        return m.Flatten(layer.start_dim)
    if kind in ("MaxPool2d", "AvgPool2d"):
        cls = m.MaxPool2d if kind == "MaxPool2d" else m.AvgPool2d
        return cls(layer.kernel_size, layer.stride, layer.padding)
    raise InputError(f"unsupported layer {kind}: from_pytorch supports {', '.join(SUPPORTED)}")


def from_pytorch(model: Any, dummy_input: Any) -> m.Module:
    """mpc_ml.nn layers with the model's (public, until encrypt) weights; checked on dummy_input."""
    import torch  # the optional `ml` extra

    if not isinstance(model, torch.nn.Module):
        raise InputError(f"from_pytorch needs a torch.nn.Module, got {type(model).__name__}")
    converted = _convert(model)
    with torch.no_grad():
        model(dummy_input)  # the model must accept the dummy input
    return converted
