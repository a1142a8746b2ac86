"""from_pytorch: convert a PyTorch model (Sequential of supported layers) into mpc_ml.nn layers."""

from __future__ import annotations

from typing import Any

from ..errors import InputError
from . import modules as m

SUPPORTED = ("Linear", "Conv2d", "ReLU", "MaxPool2d", "AvgPool2d", "Flatten", "Sigmoid", "Softmax", "Sequential",
             "Dropout", "Identity")
IDENTITY_AT_INFERENCE = ("Dropout", "Identity")  # layers that pass x through in eval mode


def _np(t: Any) -> Any:
    return None if t is None else t.detach().cpu().double().numpy()


def _refuse(kind: str, options: dict[str, bool]) -> None:
    """InputError naming the first layer option that is set but not implemented."""
    for name, unsupported in options.items():
        if unsupported:
            raise InputError(f"{kind} with {name} is not supported by from_pytorch")


def _convert(layer: Any) -> m.Module:
    """The mpc_ml layer of a torch layer, marked so that what it computes opens to torch tensors."""
    out = _layer(layer)
    out.from_torch = True
    return out


def _layer(layer: Any) -> m.Module:
    kind = type(layer).__name__
    if kind == "Sequential":
        return m.Sequential(*[_convert(c) for c in layer.children()])
    if kind == "Linear":
        return m.Linear(layer.in_features, layer.out_features, _np(layer.weight), _np(layer.bias))
    if kind == "Conv2d":
        if layer.groups != 1 or tuple(layer.dilation) != (1, 1) or isinstance(layer.padding, str):
            raise InputError("Conv2d with groups, dilation or string padding is not supported")
        _refuse(kind, {f"padding_mode={layer.padding_mode!r}": layer.padding_mode != "zeros"})
        return m.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
                        _np(layer.weight), _np(layer.bias))
    if kind in IDENTITY_AT_INFERENCE:
        return m.Sequential()  # no layers: x unchanged (dropout is off at inference, as in model.eval())
    if kind == "ReLU":
        return m.ReLU()
    if kind == "Sigmoid":
        return m.Sigmoid()
    if kind == "Softmax":
        return m.Softmax(layer.dim)  # None: torch's implicit dim, which depends on the input's dims
    if kind == "Flatten":
        return m.Flatten(layer.start_dim, layer.end_dim)
    if kind in ("MaxPool2d", "AvgPool2d"):
        cls = m.MaxPool2d if kind == "MaxPool2d" else m.AvgPool2d
        _refuse(kind, {"ceil_mode=True": layer.ceil_mode,
                       "dilation": kind == "MaxPool2d" and m._pair(layer.dilation, "dilation") != (1, 1),
                       "return_indices=True": kind == "MaxPool2d" and layer.return_indices,
                       "count_include_pad=False": (kind == "AvgPool2d" and not layer.count_include_pad
                                                   and m._pair(layer.padding, "padding", 0) != (0, 0)),
                       "divisor_override": kind == "AvgPool2d" and layer.divisor_override is not None})
        return cls(layer.kernel_size, layer.stride, layer.padding)
    raise InputError(f"unsupported layer {kind}: from_pytorch supports {', '.join(SUPPORTED)}")


def from_pytorch(model: Any, dummy_input: Any) -> m.Module:
    """mpc_ml.nn layers with the model's (public, until encrypt) weights; layer options they do not
    implement raise InputError naming them, and the model must accept dummy_input."""
    import torch  # the optional `ml` extra

    if not isinstance(model, torch.nn.Module):
        raise InputError(f"from_pytorch needs a torch.nn.Module, got {type(model).__name__}")
    converted = _convert(model)
    with torch.no_grad():
        try:
            model(dummy_input)  # the model must accept the dummy input
        except (RuntimeError, TypeError, ValueError) as exc:
            raise InputError(f"the model does not accept dummy_input: {exc}") from None
    return converted
