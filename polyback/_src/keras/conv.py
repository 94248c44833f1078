"""Keras convolutions and pooling, with Keras 2.3 semantics (its TensorFlow backend).

Every function is a composition of the ``conv`` and ``pool`` primitives, which work channels
last: a ``channels_first`` input is transposed in and the result transposed back. Padding:
``'valid'`` is no padding, ``'same'`` TensorFlow's rule (``ceil(size / stride)`` outputs, the odd
element of padding after; resolved when the spatial sizes are known), ``'causal'`` (conv1d) pads
``dilation_rate * (kernel_size - 1)`` steps before. Kernels: ``(*kernel_size, in_channels,
out_channels)``; transposed convolutions take ``(*kernel_size, out_channels, in_channels)``.
"""

from __future__ import annotations

import itertools
import math

from polyback import config
from polyback._src import prims as P
from polyback._src.ir.dtypes import is_float
from polyback._src.ir.tensor import Tensor
from polyback._src.keras.misc import normalize_data_format
from polyback._src.keras.ops import cast, operands
from polyback._src.prims.shape import index_spec

# -- argument handling ---------------------------------------------------------------------


def _floats(x, kernel) -> tuple[Tensor, Tensor]:
    x, kernel = operands(x, kernel)
    if not is_float(x.dtype):
        x, kernel = cast(x, config.floatx()), cast(kernel, config.floatx())
    return x, kernel


def _ints(value, n: int, what: str, fn: str) -> tuple[int, ...]:
    """``value`` (an int or a sequence of n ints) as a tuple of n ints."""
    values = (value,) * n if isinstance(value, int) else tuple(value)
    if len(values) != n or not all(isinstance(v, int) and v >= 1 for v in values):
        raise ValueError(
            f"K.{fn}: `{what}` must be an int or a tuple of {n} ints >= 1, got {value!r}"
        )
    return tuple(int(v) for v in values)


def _padding(padding, fn: str, n: int, kernel_size=None, dilation=None, causal=False):
    """Keras's padding name as the primitives take it: (before, after) pairs, or 'same'."""
    mode = str(padding).lower()
    if mode == "valid":
        return ((0, 0),) * n
    if mode == "same":
        return "same"
    if mode == "causal" and causal:
        return ((dilation[0] * (kernel_size[0] - 1), 0),)
    allowed = "'valid', 'same' or 'causal'" if causal else "'valid' or 'same'"
    raise ValueError(f"K.{fn}: invalid padding {padding!r}; use {allowed}")


def _rank(t: Tensor, rank: int, what: str, fn: str) -> None:
    if t.ndim != rank:
        raise ValueError(f"K.{fn} needs a {what} of rank {rank}, got '{t.label}' {t.type}")


def _channels_last(x: Tensor, data_format: str) -> Tensor:
    if data_format == "channels_last":
        return x
    n = x.ndim - 2
    return P.transpose(x, perm=(0, *range(2, n + 2), 1))


def _back(y: Tensor, data_format: str) -> Tensor:
    """A channels-last result in ``data_format``."""
    if data_format == "channels_last":
        return y
    n = y.ndim - 2
    return P.transpose(y, perm=(0, n + 1, *range(1, n + 1)))


def _conv(x, kernel, n, strides, padding, data_format, dilation_rate, fn, groups=1):
    data_format = normalize_data_format(data_format)
    x, kernel = _floats(x, kernel)
    _rank(x, n + 2, "input", fn)
    _rank(kernel, n + 2, "kernel", fn)
    strides = _ints(strides, n, "strides", fn)
    dilation = _ints(dilation_rate, n, "dilation_rate", fn)
    pads = _padding(padding, fn, n, kernel.shape, dilation, causal=fn == "conv1d")
    y = P.conv(
        _channels_last(x, data_format),
        kernel,
        strides=strides,
        padding=pads,
        dilation=dilation,
        groups=groups,
    )
    return _back(y, data_format)


# -- convolutions ------------------------------------------------------------------------------


def conv1d(x, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1) -> Tensor:
    """1-D convolution of ``x`` (batch, steps, channels) with ``kernel`` (width, in, out).

    ``padding``: 'valid', 'same' or 'causal' (the output at step t sees inputs up to t only).
    """
    return _conv(x, kernel, 1, strides, padding, data_format, dilation_rate, "conv1d")


def conv2d(
    x, kernel, strides=(1, 1), padding="valid", data_format=None, dilation_rate=(1, 1)
) -> Tensor:
    """2-D convolution of ``x`` with ``kernel`` (rows, cols, in_channels, out_channels)."""
    return _conv(x, kernel, 2, strides, padding, data_format, dilation_rate, "conv2d")


def conv3d(
    x, kernel, strides=(1, 1, 1), padding="valid", data_format=None, dilation_rate=(1, 1, 1)
) -> Tensor:
    """3-D convolution of ``x`` with ``kernel`` (depth, rows, cols, in_channels, out_channels)."""
    return _conv(x, kernel, 3, strides, padding, data_format, dilation_rate, "conv3d")


def _depthwise(x, depthwise_kernel, n, strides, padding, data_format, dilation_rate, fn):
    """Channels last: each input channel convolved with its own ``depth_multiplier`` filters;
    output channel ``c * depth_multiplier + m``."""
    x, kernel = _floats(x, depthwise_kernel)
    _rank(kernel, n + 2, "depthwise kernel", fn)
    if kernel.shape is None or None in kernel.shape:
        raise ValueError(f"K.{fn} needs a depthwise kernel of known shape, got {kernel.type}")
    *window, channels, multiplier = kernel.shape
    kernel = P.reshape(kernel, shape=(*window, 1, channels * multiplier))
    return _conv(x, kernel, n, strides, padding, data_format, dilation_rate, fn, channels)


def depthwise_conv2d(
    x, depthwise_kernel, strides=(1, 1), padding="valid", data_format=None, dilation_rate=(1, 1)
) -> Tensor:
    """Depthwise 2-D convolution: ``depthwise_kernel`` (rows, cols, in_channels,
    depth_multiplier) gives ``in_channels * depth_multiplier`` output channels, channel
    ``c * depth_multiplier + m`` from input channel ``c`` alone."""
    return _depthwise(
        x, depthwise_kernel, 2, strides, padding, data_format, dilation_rate, "depthwise_conv2d"
    )


def _separable(x, depthwise_kernel, pointwise_kernel, n, strides, padding, fmt, dilation, fn):
    fmt = normalize_data_format(fmt)
    x = _floats(x, depthwise_kernel)[0]
    _rank(x, n + 2, "input", fn)
    x = _channels_last(x, fmt)
    y = _depthwise(x, depthwise_kernel, n, strides, padding, "channels_last", dilation, fn)
    y, pointwise_kernel = _floats(y, pointwise_kernel)
    _rank(pointwise_kernel, n + 2, "pointwise kernel", fn)
    y = P.conv(
        y,
        pointwise_kernel,
        strides=(1,) * n,
        padding=((0, 0),) * n,
        dilation=(1,) * n,
        groups=1,
    )
    return _back(y, fmt)


def separable_conv1d(
    x,
    depthwise_kernel,
    pointwise_kernel,
    strides=1,
    padding="valid",
    data_format=None,
    dilation_rate=1,
) -> Tensor:
    """Depthwise 1-D convolution (``depthwise_kernel``: width, in, multiplier) followed by a
    pointwise one (``pointwise_kernel``: 1, in * multiplier, out)."""
    return _separable(
        x,
        depthwise_kernel,
        pointwise_kernel,
        1,
        strides,
        padding,
        data_format,
        dilation_rate,
        "separable_conv1d",
    )


def separable_conv2d(
    x,
    depthwise_kernel,
    pointwise_kernel,
    strides=(1, 1),
    padding="valid",
    data_format=None,
    dilation_rate=(1, 1),
) -> Tensor:
    """Depthwise 2-D convolution (``depthwise_kernel``: rows, cols, in, multiplier; strides,
    padding and dilation apply here) followed by a pointwise one (``pointwise_kernel``:
    1, 1, in * multiplier, out)."""
    return _separable(
        x,
        depthwise_kernel,
        pointwise_kernel,
        2,
        strides,
        padding,
        data_format,
        dilation_rate,
        "separable_conv2d",
    )


# -- transposed convolutions ---------------------------------------------------------------------


def _conv_transpose(x, kernel, output_shape, n, strides, padding, data_format, dilation, fn):
    data_format = normalize_data_format(data_format)
    x, kernel = _floats(x, kernel)
    _rank(x, n + 2, "input", fn)
    _rank(kernel, n + 2, "kernel", fn)
    if isinstance(output_shape, Tensor):
        raise TypeError(f"K.{fn} takes output_shape as a tuple of ints, not a tensor")
    output_shape = tuple(None if d is None or int(d) < 0 else int(d) for d in output_shape)
    if len(output_shape) != n + 2:
        raise ValueError(f"K.{fn}: output_shape must have {n + 2} entries, got {output_shape}")
    first = data_format == "channels_first"
    spatial = output_shape[2:] if first else output_shape[1:-1]
    channels = output_shape[1] if first else output_shape[-1]
    if None in spatial:
        raise ValueError(f"K.{fn}: the spatial entries of output_shape must be known")
    if channels is not None and kernel.shape[-2] is not None and channels != kernel.shape[-2]:
        raise ValueError(
            f"K.{fn}: output_shape has {channels} channels, the kernel {kernel.shape[-2]}"
        )
    batch = output_shape[0]
    if batch is not None and x.shape[0] is not None and batch != x.shape[0]:
        raise ValueError(f"K.{fn}: output_shape has batch {batch}, the input {x.shape[0]}")
    strides = _ints(strides, n, "strides", fn)
    dilation = _ints(dilation, n, "dilation_rate", fn)
    y = P.conv_transpose(
        _channels_last(x, data_format),
        kernel,
        strides=strides,
        padding=_padding(padding, fn, n),
        dilation=dilation,
        groups=1,
        spatial=spatial,
    )
    return _back(y, data_format)


def conv2d_transpose(
    x,
    kernel,
    output_shape,
    strides=(1, 1),
    padding="valid",
    data_format=None,
    dilation_rate=(1, 1),
) -> Tensor:
    """2-D transposed convolution (the gradient of ``conv2d`` with respect to its input).

    ``kernel``: (rows, cols, out_channels, in_channels); ``output_shape``: the full output shape
    in ``data_format`` (its batch entry may be None), whose ``conv2d`` with the same strides,
    padding and dilation has ``x``'s spatial shape.
    """
    return _conv_transpose(
        x, kernel, output_shape, 2, strides, padding, data_format, dilation_rate,
        "conv2d_transpose",
    )  # fmt: skip


def conv3d_transpose(
    x, kernel, output_shape, strides=(1, 1, 1), padding="valid", data_format=None
) -> Tensor:
    """3-D transposed convolution; ``kernel``: (depth, rows, cols, out_channels, in_channels)."""
    return _conv_transpose(
        x, kernel, output_shape, 3, strides, padding, data_format, 1, "conv3d_transpose"
    )


# -- pooling ------------------------------------------------------------------------------------


def _pool(x, pool_size, strides, padding, data_format, pool_mode, n, fn):
    data_format = normalize_data_format(data_format)
    if pool_mode not in ("max", "avg"):
        raise ValueError(f"K.{fn}: invalid pooling mode {pool_mode!r}; use 'max' or 'avg'")
    x = _floats(x, 0.0)[0]
    _rank(x, n + 2, "input", fn)
    y = P.pool(
        _channels_last(x, data_format),
        window=_ints(pool_size, n, "pool_size", fn),
        strides=_ints(strides, n, "strides", fn),
        padding=_padding(padding, fn, n),
        mode=pool_mode,
    )
    return _back(y, data_format)


def pool2d(
    x, pool_size, strides=(1, 1), padding="valid", data_format=None, pool_mode="max"
) -> Tensor:
    """2-D max or average pooling (``pool_mode``). With 'same' padding the average counts only
    the inputs in the window, not the padding (TensorFlow's rule)."""
    return _pool(x, pool_size, strides, padding, data_format, pool_mode, 2, "pool2d")


def pool3d(
    x, pool_size, strides=(1, 1, 1), padding="valid", data_format=None, pool_mode="max"
) -> Tensor:
    """3-D max or average pooling, as ``pool2d``."""
    return _pool(x, pool_size, strides, padding, data_format, pool_mode, 3, "pool3d")


# -- locally connected (unshared weights) ----------------------------------------------------


def _local_conv(inputs, kernel, kernel_size, strides, output_shape, data_format, fn):
    """For each output position, the window's inputs flattened (in the input's layout: window
    then channels for channels_last, channels then window for channels_first) times that
    position's own matrix ``kernel[position]`` (features, filters)."""
    data_format = normalize_data_format(data_format)
    output_shape = tuple(int(d) for d in output_shape)
    n = len(output_shape)
    x, kernel = _floats(inputs, kernel)
    _rank(x, n + 2, "input", fn)
    _rank(kernel, 3, "kernel", fn)
    kernel_size = _ints(kernel_size, n, "kernel_size", fn)
    strides = _ints(strides, n, "strides", fn)
    x = _channels_last(x, data_format)
    channels = x.shape[-1]
    if channels is None or kernel.shape is None or None in kernel.shape:
        raise ValueError(f"K.{fn} needs known input channels and kernel shape")
    items, features, filters = kernel.shape
    taps = math.prod(kernel_size)
    if items != math.prod(output_shape) or features != taps * channels:
        raise ValueError(
            f"K.{fn}: a kernel {kernel.shape} does not fit {math.prod(output_shape)} outputs "
            f"of {taps} * {channels} features"
        )
    for size, o, k, s in zip(x.shape[1:-1], output_shape, kernel_size, strides):
        if size is not None and (o - 1) * s + k > size:
            raise ValueError(f"K.{fn}: output_shape {output_shape} needs more input than {x.type}")
    if data_format == "channels_last":
        weights = P.reshape(kernel, shape=(items, taps, channels, filters))
    else:
        weights = P.reshape(kernel, shape=(items, channels, taps, filters))
    total = None
    for j, tap in enumerate(itertools.product(*map(range, kernel_size))):
        box = (slice(t, t + (o - 1) * s + 1, s) for t, o, s in zip(tap, output_shape, strides))
        patch = P.getitem(x, index=index_spec((slice(None), *box, slice(None))))
        patch = P.reshape(patch, shape=(-1, items, channels))
        if data_format == "channels_last":
            w = P.getitem(weights, index=index_spec((slice(None), j)))
        else:
            w = P.getitem(weights, index=index_spec((slice(None), slice(None), j)))
        part = P.einsum(patch, w, spec="boc,ocf->bof")
        total = part if total is None else P.add(total, part)
    y = P.reshape(total, shape=(-1, *output_shape, filters))
    return _back(y, data_format)


def local_conv1d(inputs, kernel, kernel_size, strides, data_format=None) -> Tensor:
    """1-D convolution with unshared weights: ``kernel`` (output_length, kernel_size *
    in_channels, filters), one matrix per output step."""
    kernel_shape = getattr(kernel, "shape", None)
    if kernel_shape is None or kernel_shape[0] is None:
        raise ValueError("K.local_conv1d needs a kernel of known shape")
    return _local_conv(
        inputs, kernel, kernel_size, strides, (kernel_shape[0],), data_format, "local_conv1d"
    )


def local_conv2d(inputs, kernel, kernel_size, strides, output_shape, data_format=None) -> Tensor:
    """2-D convolution with unshared weights: ``kernel`` (rows * cols of the output,
    kernel rows * kernel cols * in_channels, filters); ``output_shape`` is (rows, cols)."""
    return _local_conv(
        inputs, kernel, kernel_size, strides, output_shape, data_format, "local_conv2d"
    )


__all__ = [
    "conv1d",
    "conv2d",
    "conv2d_transpose",
    "conv3d",
    "conv3d_transpose",
    "depthwise_conv2d",
    "local_conv1d",
    "local_conv2d",
    "pool2d",
    "pool3d",
    "separable_conv1d",
    "separable_conv2d",
]
