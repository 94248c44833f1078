"""Convolution and pooling over 1 to 3 spatial axes, channels last: ``(batch, *spatial, channels)``.

Two primitives are lowered by the engines:
- ``conv(x, kernel)``: cross-correlation (as every deep-learning library calls convolution) with
  a kernel ``(*window, in_channels // groups, out_channels)``, ``strides``, ``dilation``,
  ``groups`` (grouped / depthwise convolution) and ``padding``;
- ``pool(x)``: max or average over windows (``mode``), padding not counted by the average.

``padding`` is a tuple of static ``(before, after)`` pairs, one per spatial axis, or ``"same"``:
TensorFlow's rule (``ceil(size / stride)`` outputs, the odd element of padding after), resolved
into pairs when the graph is specialised and the spatial sizes are known. Engines only see pairs.

Gradients are four symbolic-only primitives, which specialisation replaces by compositions of
``conv``, ``pool`` and shape primitives once every shape is known:
- ``conv_transpose(g, kernel)``: the adjoint of ``conv`` in its input (also Keras's transposed
  convolution): ``g`` dilated by the strides (zeros inserted), padded, convolved with the
  spatially flipped kernel whose two channel axes are swapped within each group;
- ``conv_kernel_grad(x, g)``: the adjoint of ``conv`` in its kernel: a grouped convolution of
  ``x`` (batch and channel axes swapped) with ``g`` as the kernel, the roles of strides and
  dilation exchanged;
- ``pool_grad(x, g)``: max: the gradient of each window goes to its first maximum in row-major
  window order (TensorFlow's MaxPoolGrad); avg: it is spread evenly over the window's inputs;
- ``pool_gather(x, h)``: the adjoint of max ``pool_grad`` in ``g``: ``h`` read at those maxima.
``conv``, ``conv_transpose`` and ``conv_kernel_grad`` are the three bilinear faces of one
trilinear form ``<conv(x, k), g>``, so their gradients are one another and nest to any order.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from polyback._src import prims as P
from polyback._src.ir.tensor import Constant, Tensor, TensorType
from polyback._src.prims.base import Example, InferenceError, Primitive, sample, scalar
from polyback._src.prims.infer import require_float, same_dtype
from polyback._src.prims.shape import index_spec, to_index

__all__ = [
    "conv",
    "conv_kernel_grad",
    "conv_transpose",
    "pool",
    "pool_gather",
    "pool_grad",
]

Pairs = tuple[tuple[int, int], ...]

# -- static geometry (also used by the engines' lowerings) -------------------------------------


def same_padding(size: int, window: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's 'SAME' padding of one axis: ``ceil(size / stride)`` outputs, the odd
    element of padding after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + dilation * (window - 1) + 1 - size, 0)
    return (total // 2, total - total // 2)


def resolve_padding(padding, sizes, window, strides, dilation=None) -> Pairs:
    """``padding`` as (before, after) pairs for spatial ``sizes`` (all known)."""
    if padding != "same":
        return padding
    dilation = dilation or (1,) * len(sizes)
    return tuple(same_padding(*a) for a in zip(sizes, window, strides, dilation))


def output_size(size, window: int, stride: int, dilation: int, pad) -> int | None:
    """Outputs along one axis of ``size`` (None: unknown); ``pad`` is a pair or ``"same"``."""
    if size is None:
        return None
    if pad == "same":
        return -(-size // stride)
    span = dilation * (window - 1) + 1
    if size + pad[0] + pad[1] < span:
        raise InferenceError(
            f"a window spanning {span} does not fit an axis of {size} padded by {pad}"
        )
    return (size + pad[0] + pad[1] - span) // stride + 1


def window_counts(sizes, window, strides, padding: Pairs, dtype: str) -> np.ndarray:
    """How many inputs (not padding) each pooling window holds, shaped ``(1, *out, 1)``."""
    counts = np.ones((), dtype=dtype)
    for size, w, s, pad in zip(sizes, window, strides, padding):
        start = np.arange(output_size(size, w, s, 1, pad)) * s - pad[0]
        along = np.minimum(start + w, size) - np.maximum(start, 0)
        counts = np.multiply.outer(counts, along.astype(dtype))
    return counts.reshape((1, *counts.shape, 1))


# -- parameter checks -------------------------------------------------------------------------


def _check_ints(name: str, value, n: int, low: int = 1) -> None:
    if not isinstance(value, tuple) or len(value) != n:
        raise InferenceError(f"{name} must be a tuple of {n} ints, got {value!r}")
    if not all(isinstance(v, int) and v >= low for v in value):
        raise InferenceError(f"{name} must hold ints >= {low}, got {value!r}")


def _check_padding(padding, n: int) -> None:
    if padding == "same":
        return
    ok = isinstance(padding, tuple) and len(padding) == n
    ok = ok and all(isinstance(p, tuple) and len(p) == 2 for p in padding)
    if not ok or not all(isinstance(v, int) and v >= 0 for p in padding for v in p):
        raise InferenceError(
            f"padding must be 'same' or a tuple of {n} (before, after) pairs of ints >= 0, "
            f"got {padding!r}"
        )


def _conv_geometry(x: TensorType, kernel: TensorType, strides, padding, dilation, groups):
    """Checks common to the convolutions; returns (spatial rank, dtype, kernel window)."""
    dtype = same_dtype(x, kernel)
    require_float(x)
    if kernel.shape is None or None in kernel.shape:
        raise InferenceError(f"the kernel's shape must be fully known, got {kernel}")
    n = len(kernel.shape) - 2
    if not 1 <= n <= 3:
        raise InferenceError(
            f"convolutions have 1 to 3 spatial axes: a kernel of rank 3 to 5, got {kernel}"
        )
    if x.shape is not None and len(x.shape) != n + 2:
        raise InferenceError(f"a kernel of rank {n + 2} needs an input of rank {n + 2}, got {x}")
    _check_ints("strides", strides, n)
    _check_ints("dilation", dilation, n)
    _check_padding(padding, n)
    if not isinstance(groups, int) or groups < 1 or kernel.shape[-1] % groups:
        raise InferenceError(f"groups={groups!r} must divide the {kernel.shape[-1]} filters")
    return n, dtype, kernel.shape[:n]


def _spatial_out(sizes, window, strides, dilation, padding):
    pads = (padding,) * len(window) if padding == "same" else padding
    return tuple(map(output_size, sizes, window, strides, dilation, pads))


# -- conv ---------------------------------------------------------------------------------------


def infer_conv(x, kernel, strides, padding, dilation, groups) -> TensorType:
    n, dtype, window = _conv_geometry(x, kernel, strides, padding, dilation, groups)
    if x.shape is None:
        return TensorType((None,) * (n + 2), dtype)
    channels = x.shape[-1]
    if channels is not None and channels != kernel.shape[-2] * groups:
        raise InferenceError(
            f"{channels} input channels do not match a kernel of {kernel.shape[-2]} input "
            f"channels in {groups} group(s)"
        )
    spatial = _spatial_out(x.shape[1:-1], window, strides, dilation, padding)
    return TensorType((x.shape[0], *spatial, kernel.shape[-1]), dtype)


def _known_spatial(t: Tensor) -> tuple[int, ...] | None:
    if t.shape is None or None in t.shape[1:-1]:
        return None
    return tuple(t.shape[1:-1])


def _vjp_conv(node, g):
    x, kernel = node.inputs
    spatial = _known_spatial(x)
    refs = (x,) if spatial is None else ()
    gx = conv_transpose(g, kernel, *refs, spatial=spatial, **node.params)
    gk = conv_kernel_grad(x, g, kernel_shape=kernel.shape, **node.params)
    return (gx, gk)


def _fold_conv(inputs, params, out_type):
    """Resolve 'same' padding once the spatial sizes are known."""
    if params["padding"] != "same":
        return None
    x, kernel = inputs
    n = kernel.ndim - 2
    strides, dilation = params["strides"], params["dilation"]
    pairs = resolve_padding("same", x.shape[1:-1], kernel.shape[:n], strides, dilation)
    return conv(x, kernel, **{**params, "padding": pairs})


def _ref_conv(x, kernel, strides, padding, dilation, groups):
    """Direct loops: for every output position and kernel tap, a matrix product per group."""
    n = x.ndim - 2
    window = kernel.shape[:n]
    pairs = resolve_padding(padding, x.shape[1:-1], window, strides, dilation)
    xp = np.pad(x, ((0, 0), *pairs, (0, 0)))
    out_sizes = [
        (xp.shape[1 + a] - dilation[a] * (window[a] - 1) - 1) // strides[a] + 1 for a in range(n)
    ]
    cin, cout = kernel.shape[-2], kernel.shape[-1]
    per_group = cout // groups
    out = np.zeros((x.shape[0], *out_sizes, cout), dtype=x.dtype)
    for o in np.ndindex(*out_sizes):
        for k in np.ndindex(*window):
            pos = tuple(o[a] * strides[a] + k[a] * dilation[a] for a in range(n))
            pixel = xp[(slice(None), *pos)]  # (batch, channels)
            for grp in range(groups):
                cols = slice(grp * per_group, (grp + 1) * per_group)
                rows = slice(grp * cin, (grp + 1) * cin)
                out[(slice(None), *o, cols)] += pixel[:, rows] @ kernel[k][:, cols]
    return out


def _conv_example(xs, ks, **params):
    return Example([sample(*xs), sample(*ks, seed=1)], _ref_conv, params)


conv = Primitive(
    "conv",
    infer_conv,
    _vjp_conv,
    fold=_fold_conv,
    examples=[
        _conv_example(
            (1, 5, 5, 2), (3, 3, 2, 3),
            strides=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1), groups=1,
        ),
        _conv_example(
            (2, 5, 4, 2), (2, 3, 2, 2),
            strides=(2, 1), padding="same", dilation=(1, 2), groups=1,
        ),
        _conv_example(
            (2, 7, 4), (3, 2, 6), strides=(2,), padding=((2, 1),), dilation=(1,), groups=2
        ),
        _conv_example(
            (1, 6, 5, 3), (2, 2, 1, 6),
            strides=(2, 2), padding=((1, 0), (0, 2)), dilation=(2, 1), groups=3,
        ),
        _conv_example(
            (1, 4, 3, 4, 2), (2, 2, 2, 2, 2),
            strides=(1, 2, 1), padding=((1, 0), (0, 1), (1, 1)), dilation=(1, 1, 2), groups=1,
        ),
    ],
)  # fmt: skip

# -- conv_transpose: the adjoint of conv in its input ---------------------------------------


def infer_conv_transpose(
    g, kernel, *ref, strides, padding, dilation, groups, spatial
) -> TensorType:
    n, dtype, window = _conv_geometry(g, kernel, strides, padding, dilation, groups)
    if spatial is None:
        if len(ref) != 1 or ref[0].shape is None:
            raise InferenceError("conv_transpose needs its spatial shape or a reference tensor")
        spatial = tuple(ref[0].shape[1:-1])
    elif len(spatial) != n or not all(isinstance(d, int) and d > 0 for d in spatial):
        raise InferenceError(f"spatial must be a tuple of {n} positive ints, got {spatial!r}")
    if g.shape is not None:
        if g.shape[-1] is not None and g.shape[-1] != kernel.shape[-1]:
            raise InferenceError(
                f"{g.shape[-1]} channels do not match a kernel of {kernel.shape[-1]} filters"
            )
        expected = _spatial_out(spatial, window, strides, dilation, padding)
        for e, d in zip(expected, g.shape[1:-1]):
            if e is not None and d is not None and e != d:
                raise InferenceError(
                    f"a convolution of spatial shape {spatial} gives {expected}, "
                    f"not {g.shape[1:-1]}"
                )
    batch = None if g.shape is None else g.shape[0]
    return TensorType((batch, *spatial, kernel.shape[-2] * groups), dtype)


def _vjp_conv_transpose(node, dy):
    g, kernel = node.inputs[:2]
    params = {k: v for k, v in node.params.items() if k != "spatial"}
    dg = conv(dy, kernel, **params)
    dk = conv_kernel_grad(dy, g, kernel_shape=kernel.shape, **params)
    return (dg, dk, *(None for _ in node.inputs[2:]))


def _crop_or_pad(x: Tensor, pads) -> tuple[Tensor, Pairs]:
    """Crop ``x``'s spatial axes where a pad is negative; return the non-negative pads left."""
    index = [slice(None)]
    for (lo, hi), size in zip(pads, x.shape[1:-1]):
        index.append(slice(max(-lo, 0), size - max(-hi, 0)))
    index.append(slice(None))
    if any(lo < 0 or hi < 0 for lo, hi in pads):
        x = P.getitem(x, index=index_spec(tuple(index)))
    return x, tuple((max(lo, 0), max(hi, 0)) for lo, hi in pads)


def _fold_conv_transpose(inputs, params, out_type):
    """``g`` dilated by the strides, padded, convolved with the flipped, swapped kernel."""
    g, kernel = inputs[:2]
    strides, dilation, groups = params["strides"], params["dilation"], params["groups"]
    n = kernel.ndim - 2
    window = kernel.shape[:n]
    sizes = out_type.shape[1:-1]
    pairs = resolve_padding(params["padding"], sizes, window, strides, dilation)
    outs = g.shape[1:-1]
    if any(s > 1 for s in strides):  # zeros between the elements of g
        dilated = (g.shape[0], *((o - 1) * s + 1 for o, s in zip(outs, strides)), g.shape[-1])
        zeros = P.broadcast_to(scalar(0, g.dtype), shape=dilated)
        every = tuple(slice(None, None, s) for s in strides)
        g = P.index_grad(g, zeros, index=index_spec((slice(None), *every, slice(None))))
    pads = tuple(
        (d * (k - 1) - lo, size + lo - (o - 1) * s - 1)
        for (lo, _), size, o, s, d, k in zip(pairs, sizes, outs, strides, dilation, window)
    )
    g, pads = _crop_or_pad(g, pads)
    cin, cout = kernel.shape[-2], kernel.shape[-1]
    if groups > 1:  # (..., cin, G * cout/G) -> (..., cout/G, G * cin)
        kernel = P.reshape(kernel, shape=(*window, cin, groups, cout // groups))
        kernel = P.transpose(kernel, perm=(*range(n), n + 2, n + 1, n))
        kernel = P.reshape(kernel, shape=(*window, cout // groups, groups * cin))
    else:
        kernel = P.transpose(kernel, perm=(*range(n), n + 1, n))
    flip = (*(slice(None, None, -1),) * n, slice(None), slice(None))
    kernel = P.getitem(kernel, index=index_spec(flip))
    return conv(g, kernel, strides=(1,) * n, padding=pads, dilation=dilation, groups=groups)


conv_transpose = Primitive(
    "conv_transpose",
    infer_conv_transpose,
    _vjp_conv_transpose,
    fold=_fold_conv_transpose,
    symbolic_only=True,
)

# -- conv_kernel_grad: the adjoint of conv in its kernel --------------------------------------


def infer_conv_kernel_grad(x, g, strides, padding, dilation, groups, kernel_shape) -> TensorType:
    if not isinstance(kernel_shape, tuple) or not all(isinstance(d, int) for d in kernel_shape):
        raise InferenceError(f"kernel_shape must be a tuple of ints, got {kernel_shape!r}")
    kernel = TensorType(kernel_shape, x.dtype)
    expected = infer_conv(x, kernel, strides, padding, dilation, groups)
    same_dtype(x, g)
    if g.shape is not None and len(g.shape) != len(expected.shape):
        raise InferenceError(f"the output gradient {g} does not match the convolution {expected}")
    return kernel


def _vjp_conv_kernel_grad(node, dk):
    x, g = node.inputs
    params = {k: v for k, v in node.params.items() if k != "kernel_shape"}
    spatial = _known_spatial(x)
    refs = (x,) if spatial is None else ()
    dx = conv_transpose(g, dk, *refs, spatial=spatial, **params)
    dg = conv(x, dk, **params)
    return (dx, dg)


def _fold_conv_kernel_grad(inputs, params, out_type):
    """A grouped convolution: batch ``x``'s channels, convolve with ``g`` as the kernel over its
    batch axis, strides and dilation exchanged; crop the window to the kernel's."""
    x, g = inputs
    strides, dilation, groups = params["strides"], params["dilation"], params["groups"]
    window, cin = out_type.shape[:-2], out_type.shape[-2]
    n = len(window)
    batch, sizes = x.shape[0], x.shape[1:-1]
    pairs = resolve_padding(params["padding"], sizes, window, strides, dilation)
    # x: (batch, *sizes, G * cin) -> (cin, *sizes, G * batch)
    x = P.reshape(x, shape=(batch, *sizes, groups, cin))
    x = P.transpose(x, perm=(n + 2, *range(1, n + 1), n + 1, 0))
    x = P.reshape(x, shape=(cin, *sizes, groups * batch))
    # g: (batch, *outs, cout) -> (*outs, batch, cout)
    g = P.transpose(g, perm=(*range(1, n + 1), 0, n + 1))
    dk = conv(x, g, strides=dilation, padding=pairs, dilation=strides, groups=groups)
    if tuple(dk.shape[1:-1]) != tuple(window):
        crop = (slice(None), *(slice(0, k) for k in window), slice(None))
        dk = P.getitem(dk, index=index_spec(crop))
    return P.transpose(dk, perm=(*range(1, n + 1), 0, n + 1))


conv_kernel_grad = Primitive(
    "conv_kernel_grad",
    infer_conv_kernel_grad,
    _vjp_conv_kernel_grad,
    fold=_fold_conv_kernel_grad,
    symbolic_only=True,
)

# -- pool ---------------------------------------------------------------------------------------


def infer_pool(x, window, strides, padding, mode) -> TensorType:
    require_float(x)
    if mode not in ("max", "avg"):
        raise InferenceError(f"mode must be 'max' or 'avg', got {mode!r}")
    if not isinstance(window, tuple) or not window:
        raise InferenceError(f"window must be a non-empty tuple of ints, got {window!r}")
    n = len(window)
    if n > 3:
        raise InferenceError(f"pooling has 1 to 3 spatial axes, got a window of {n}")
    _check_ints("window", window, n)
    _check_ints("strides", strides, n)
    _check_padding(padding, n)
    if padding != "same" and any(lo >= w or hi >= w for (lo, hi), w in zip(padding, window)):
        raise InferenceError(f"padding {padding} must be smaller than the window {window}")
    if x.shape is None:
        return TensorType((None,) * (n + 2), x.dtype)
    if len(x.shape) != n + 2:
        raise InferenceError(f"a window of {n} axes needs an input of rank {n + 2}, got {x}")
    spatial = _spatial_out(x.shape[1:-1], window, strides, (1,) * n, padding)
    return TensorType((x.shape[0], *spatial, x.shape[-1]), x.dtype)


def _vjp_pool(node, g):
    return (pool_grad(node.inputs[0], g, **node.params),)


def _fold_pool(inputs, params, out_type):
    if params["padding"] != "same":
        return None
    (x,) = inputs
    pairs = resolve_padding("same", x.shape[1:-1], params["window"], params["strides"])
    return pool(x, **{**params, "padding": pairs})


def _ref_pool(x, window, strides, padding, mode):
    n = x.ndim - 2
    pairs = resolve_padding(padding, x.shape[1:-1], window, strides)
    sizes = x.shape[1:-1]
    outs = [(sizes[a] + sum(pairs[a]) - window[a]) // strides[a] + 1 for a in range(n)]
    out = np.zeros((x.shape[0], *outs, x.shape[-1]), dtype=x.dtype)
    for o in np.ndindex(*outs):
        starts = [o[a] * strides[a] - pairs[a][0] for a in range(n)]
        box = tuple(slice(max(s, 0), min(s + w, d)) for s, w, d in zip(starts, window, sizes))
        block = x[(slice(None), *box)]
        axes = tuple(range(1, n + 1))
        value = block.max(axis=axes) if mode == "max" else block.mean(axis=axes)
        out[(slice(None), *o)] = value
    return out


def _pool_example(shape, **params):
    return Example([sample(*shape, seed=3)], _ref_pool, params)


pool = Primitive(
    "pool",
    infer_pool,
    _vjp_pool,
    fold=_fold_pool,
    examples=[
        _pool_example((1, 5, 5, 2), window=(2, 2), strides=(2, 2), padding=((0, 0), (0, 0)),
                      mode="max"),
        _pool_example((2, 5, 4, 3), window=(3, 3), strides=(2, 1), padding="same", mode="max"),
        _pool_example((1, 5, 5, 2), window=(3, 3), strides=(2, 2), padding="same", mode="avg"),
        _pool_example((2, 7, 3), window=(3,), strides=(2,), padding=((0, 0),), mode="avg"),
        _pool_example((1, 4, 4, 3, 2), window=(2, 2, 2), strides=(1, 2, 1),
                      padding=((0, 1), (0, 0), (1, 0)), mode="max"),
        _pool_example((1, 4, 5, 2), window=(2, 3), strides=(1, 2), padding=((1, 0), (1, 1)),
                      mode="avg"),
    ],
)  # fmt: skip

# -- pool_grad and pool_gather ------------------------------------------------------------------


def infer_pool_grad(x, g, window, strides, padding, mode) -> TensorType:
    expected = infer_pool(x, window, strides, padding, mode)
    same_dtype(x, g)
    if g.shape is not None and len(g.shape) != len(expected.shape):
        raise InferenceError(f"the output gradient {g} does not match the pooling {expected}")
    return x


def infer_pool_gather(x, h, window, strides, padding) -> TensorType:
    same_dtype(x, h)
    return infer_pool(x, window, strides, padding, "max")


def _vjp_pool_grad(node, h):
    x = node.inputs[0]
    params = dict(node.params)
    if params.pop("mode") == "max":
        return (None, pool_gather(x, h, **params))
    return (None, pool(h, mode="avg", **params))


def _vjp_pool_gather(node, gg):
    return (None, pool_grad(node.inputs[0], gg, mode="max", **node.params))


def _windows(x: Tensor, window, strides, pairs):
    """``(index, pad_index)`` per window tap, in row-major order: ``index`` reads the tap of every
    window from ``x`` padded by ``pairs``; ``pad_index`` reads ``x`` back from the padded one."""
    sizes = [d + lo + hi for d, (lo, hi) in zip(x.shape[1:-1], pairs)]
    outs = [(d - w) // s + 1 for d, w, s in zip(sizes, window, strides)]
    taps = []
    for tap in itertools.product(*map(range, window)):
        box = (slice(t, t + (o - 1) * s + 1, s) for t, o, s in zip(tap, outs, strides))
        taps.append(index_spec((slice(None), *box, slice(None))))
    inner = (slice(lo, lo + d) for d, (lo, _) in zip(x.shape[1:-1], pairs))
    return taps, index_spec((slice(None), *inner, slice(None))), sizes


def _padded(x: Tensor, pairs, inner, sizes, fill: float) -> Tensor:
    """``x`` padded by ``pairs`` with ``fill``."""
    if not any(lo or hi for lo, hi in pairs):
        return x
    shape = (x.shape[0], *sizes, x.shape[-1])
    zeros = P.broadcast_to(scalar(0, x.dtype), shape=shape)
    padded = P.index_grad(x, zeros, index=inner)
    if fill == 0:
        return padded
    border = np.full((1, *sizes, 1), fill, dtype=x.dtype)
    border[to_index(inner)] = 0
    return P.add(padded, Constant(border))


def _first_max_masks(x: Tensor, params):
    """The tap indices, and for each tap where its input is the first maximum of its window."""
    window, strides = params["window"], params["strides"]
    pairs = resolve_padding(params["padding"], x.shape[1:-1], window, strides)
    taps, inner, sizes = _windows(x, window, strides, pairs)
    padded = _padded(x, pairs, inner, sizes, -math.inf)
    best = pool(x, window=window, strides=strides, padding=pairs, mode="max")
    masks, taken = [], None
    for tap in taps:
        hit = P.equal(P.getitem(padded, index=tap), best)
        if taken is None:
            taken = hit
        else:
            hit = P.logical_and(hit, P.logical_not(taken))
            taken = P.logical_or(taken, hit)
        masks.append(hit)
    return taps, masks, pairs, inner, sizes


def _fold_pool_grad(inputs, params, out_type):
    x, g = inputs
    window, strides = params["window"], params["strides"]
    if params["mode"] == "max":
        taps, masks, pairs, inner, sizes = _first_max_masks(x, params)
        parts = [P.where(m, g, scalar(0, g.dtype)) for m in masks]
    else:
        pairs = resolve_padding(params["padding"], x.shape[1:-1], window, strides)
        taps, inner, sizes = _windows(x, window, strides, pairs)
        counts = window_counts(x.shape[1:-1], window, strides, pairs, g.dtype)
        parts = [P.divide(g, Constant(counts))] * len(taps)
    shape = (x.shape[0], *sizes, x.shape[-1])
    zeros = P.broadcast_to(scalar(0, g.dtype), shape=shape)
    total = None
    for tap, part in zip(taps, parts):
        spread = P.index_grad(part, zeros, index=tap)
        total = spread if total is None else P.add(total, spread)
    return total if tuple(sizes) == tuple(x.shape[1:-1]) else P.getitem(total, index=inner)


def _fold_pool_gather(inputs, params, out_type):
    x, h = inputs
    taps, masks, pairs, inner, sizes = _first_max_masks(x, params)
    padded = _padded(h, pairs, inner, sizes, 0)
    total = None
    for tap, mask in zip(taps, masks):
        part = P.where(mask, P.getitem(padded, index=tap), scalar(0, h.dtype))
        total = part if total is None else P.add(total, part)
    return total


pool_grad = Primitive(
    "pool_grad", infer_pool_grad, _vjp_pool_grad, fold=_fold_pool_grad, symbolic_only=True
)
pool_gather = Primitive(
    "pool_gather", infer_pool_gather, _vjp_pool_gather, fold=_fold_pool_gather,
    symbolic_only=True,
)  # fmt: skip
