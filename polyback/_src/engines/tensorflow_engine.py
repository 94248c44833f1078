"""The TensorFlow engine: each specialised program becomes one XLA-compiled ``tf.function``.

``compile`` traces the straight-line program once, with an input signature taken from the
program's static shapes, and keeps the concrete function; XLA compiles it on the first call. A
call converts the fed NumPy arrays and runs the graph: no retracing, no Python per node. Variable
values live as TensorFlow tensors: they go in as arguments and their new values come back as
outputs, so a training loop never copies weights through NumPy.

Devices: TensorFlow places the graph on its default device, the first GPU when it sees one.
Fed arrays are then copied to the GPU by the call, variable values stay there between calls
(they are outputs of the graph), and ``to_numpy`` copies results back to the host. Nothing here
names a device, so the same code runs on CPU and GPU.

Logs: TensorFlow's C++ runtime prints a few lines when it is imported and when XLA first
compiles; only an environment variable read before the import silences them, so this module
leaves them alone (it does not touch TensorFlow's Python logger either: it is quiet here).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.python.eager import context

from polyback._src.engines.base import Engine
from polyback._src.prims.convolution import window_counts
from polyback._src.prims.debug import print_value
from polyback._src.prims.shape import to_index
from polyback._src.specialize import Program

# XLA fuses a program into a few kernels; without it every node is one kernel launched by
# TensorFlow's executor. Measured on CPU: the linear-regression step runs in about half the time
# with XLA; the Otto step about as fast (XLA's fused elementwise part is twice as fast, its
# transposed matmul half as fast); XLA's compile adds some 0.3 s to the Otto step's first call.
JIT_COMPILE = True


def _axis(axis):
    """polyback's ``axis`` (None, an int or a tuple, maybe empty) as TensorFlow takes it."""
    return list(axis) if isinstance(axis, tuple) else axis


def _reduction(reduce):
    """A reduction taking polyback's ``axis`` and ``keepdims``."""

    def lowered(x, axis=None, keepdims=False):
        return reduce(x, axis=_axis(axis), keepdims=keepdims)

    lowered.__name__ = reduce.__name__
    return lowered


# NaN: NumPy propagates it through maximum, minimum, clip, max and min, and argmax and argmin
# find the first one. XLA on CPU returns the other operand of maximum and minimum and skips NaN
# in reduce_max and reduce_min; TensorFlow's argmax skips NaN. The lowerings of these
# primitives mark NaN explicitly for float tensors (under XLA the test fuses into the kernel).


def _nan_where(mask, result):
    """``result`` with NaN where ``mask`` is True."""
    return tf.where(mask, tf.constant(math.nan, result.dtype), result)


def _elementwise_extremum(op):
    """maximum or minimum, NaN where either operand is NaN."""

    def lowered(x, y):
        result = op(x, y)
        if not x.dtype.is_floating:
            return result
        return _nan_where(tf.math.is_nan(x) | tf.math.is_nan(y), result)

    lowered.__name__ = op.__name__
    return lowered


def _extremum_reduction(reduce):
    """reduce_max or reduce_min, NaN where the reduced elements hold a NaN."""

    def lowered(x, axis=None, keepdims=False):
        result = reduce(x, axis=_axis(axis), keepdims=keepdims)
        if not x.dtype.is_floating:
            return result
        any_nan = tf.math.reduce_any(tf.math.is_nan(x), axis=_axis(axis), keepdims=keepdims)
        return _nan_where(any_nan, result)

    lowered.__name__ = reduce.__name__
    return lowered


def _arg_reduction(reduce):
    """argmax or argmin as int64, the index of the first NaN where there is one."""

    def lowered(x, axis):
        result = reduce(x, axis=axis, output_type=tf.int64)
        if not x.dtype.is_floating:
            return result
        nan = tf.math.is_nan(x)
        first_nan = tf.math.argmax(tf.cast(nan, tf.int8), axis=axis, output_type=tf.int64)
        return tf.where(tf.math.reduce_any(nan, axis=axis), first_nan, result)

    lowered.__name__ = reduce.__name__
    return lowered


def _clip(x, low, high):
    """NumPy's clip: the bounds take the dtype of ``x``; an infinite bound is no bound."""
    scalar = x.dtype.as_numpy_dtype
    result = x
    if low != -math.inf:
        result = tf.math.maximum(result, scalar(low))
    if high != math.inf:
        result = tf.math.minimum(result, scalar(high))
    if not x.dtype.is_floating or result is x:
        return result
    return _nan_where(tf.math.is_nan(x), result)


def _integer_by_nonzero(fn, x, y):
    """``fn(x, y)`` for integers, 0 where ``y`` is 0 (NumPy's result; TensorFlow's differs)."""
    zero = tf.equal(y, 0)
    return tf.where(zero, tf.zeros_like(x), fn(x, tf.where(zero, tf.ones_like(y), y)))


def _mod(x, y):
    if x.dtype.is_floating:
        return tf.math.floormod(x, y)
    return _integer_by_nonzero(tf.math.floormod, x, y)


def _floor_divide(x, y):
    """NumPy's floor_divide. For floats NumPy takes the quotient from ``fmod``, so that it agrees
    with mod (1 // 0.1 is 9.0); TensorFlow's floordiv is floor(x / y), which gives 10.0."""
    if not x.dtype.is_floating:
        return _integer_by_nonzero(tf.math.floordiv, x, y)
    mod = tf.truncatemod(x, y)  # C's fmod
    div = (x - mod) / y
    div = tf.where((mod != 0) & ((y < 0) != (mod < 0)), div - 1, div)
    floor = tf.math.floor(div)
    quotient = tf.where(div - floor > 0.5, floor + 1, floor)  # snapped to the nearest integer
    return tf.where(y == 0, x / y, quotient)


def _getitem(x, index):
    return x[to_index(index)]


def _box(positions: np.ndarray, shape: tuple[int, ...]) -> tuple[list, list] | None:
    """``(starts, sizes)`` when ``positions`` (flat indices, in order) fill a box of ``shape``."""
    flat = positions.ravel()
    if flat.size == 0:
        return None
    coords = np.unravel_index(flat, shape)
    starts = [int(c.min()) for c in coords]
    sizes = [int(c.max()) - s + 1 for c, s in zip(coords, starts)]
    # Distinct positions as many as the box holds fill it; increasing, they are in its order.
    increasing = bool(np.all(flat[1:] > flat[:-1]))
    return (starts, sizes) if increasing and math.prod(sizes) == flat.size else None


def _index_grad(g, x, index):
    """Zeros shaped like ``x`` with ``g`` written at ``index``.

    The positions are computed once with NumPy (shapes are static): a box (unit steps) becomes a
    pad, any other index a scatter.
    """
    shape = tuple(x.shape.as_list())
    if not shape:  # x is a scalar: g holds its one element
        return tf.reshape(g, shape)
    positions = np.arange(math.prod(shape)).reshape(shape)[to_index(index)]
    box = _box(positions, shape)
    if box is not None:
        starts, sizes = box
        padding = [(s, d - s - n) for s, n, d in zip(starts, sizes, shape)]
        return tf.pad(tf.reshape(g, sizes), padding)
    flat = tf.scatter_nd(positions.reshape(-1, 1), tf.reshape(g, [-1]), [math.prod(shape)])
    return tf.reshape(flat, shape)


def _one_hot(indices, num_classes, dtype):
    # Out-of-range and negative indices give rows of zeros, as in the NumPy engine.
    return tf.one_hot(indices, num_classes, dtype=dtype)


def _concatenate(*xs, axis):
    return tf.concat(list(xs), axis=axis)


def _int_indices(indices):
    """Indices as gather and segment sums take them (int32 or int64)."""
    return indices if indices.dtype in (tf.int32, tf.int64) else tf.cast(indices, tf.int64)


def _take(x, indices, axis):
    return tf.gather(x, _int_indices(indices), axis=axis)


def _take_grad(g, x, indices, axis):
    """Zeros shaped like ``x`` plus ``g`` added at ``indices`` along ``axis`` (repeated indices
    add up): a segment sum over the index axes of ``g``, moved to the front and back."""
    ndim = len(x.shape)
    axis %= ndim
    k = len(indices.shape)
    front = [*range(axis, axis + k), *range(axis), *range(axis + k, ndim + k - 1)]
    moved = tf.transpose(g, front)
    summed = tf.math.unsorted_segment_sum(moved, _int_indices(indices), x.shape[axis])
    return tf.transpose(summed, [*range(1, axis + 1), 0, *range(axis + 1, ndim)])


def _identity_print(x, message):
    """``x``, printed from Python when the graph runs (``tf.print`` formats differently and
    XLA compiles neither; programs holding this op run without XLA, see ``compile``)."""

    def show(value):
        print_value(message, value)
        return value

    out = tf.numpy_function(show, [x], Tout=x.dtype, stateful=True)
    out.set_shape(x.shape)
    return out


#: Primitives XLA cannot compile: programs holding one run on TensorFlow's executor.
NO_XLA = frozenset({"identity_print"})


def _einsum(x, y, spec):
    return tf.einsum(spec, x, y)


# -- convolution and pooling (channels last; padding as static (before, after) pairs) ---------


def _padded(x, padding, fill=0.0):
    if not any(lo or hi for lo, hi in padding):
        return x
    return tf.pad(x, [(0, 0), *padding, (0, 0)], constant_values=fill)


def _conv(x, kernel, strides, padding, dilation, groups):
    """tf.nn.convolution on the explicitly padded input (grouped when the input has ``groups``
    times the kernel's input channels). It refuses strides and dilation together: then the
    dilated convolution is computed at every position and subsampled."""
    x = _padded(x, padding)
    if any(s > 1 for s in strides) and any(d > 1 for d in dilation):
        y = tf.nn.convolution(x, kernel, strides=1, padding="VALID", dilations=dilation)
        return y[(slice(None), *(slice(None, None, s) for s in strides), slice(None))]
    return tf.nn.convolution(x, kernel, strides=strides, padding="VALID", dilations=dilation)


def _tap_pool(x, window, strides, mode):
    """Pooling of the padded ``x`` as a reduction over the window's taps (strided slices)."""
    outs = [(d - w) // s + 1 for d, w, s in zip(x.shape.as_list()[1:-1], window, strides)]
    taps = [
        x[(slice(None), *(slice(t, t + (o - 1) * s + 1, s) for t, o, s in zip(tap, outs, strides)))]
        for tap in itertools.product(*map(range, window))
    ]
    reduce = tf.math.reduce_max if mode == "max" else tf.math.reduce_mean
    return reduce(tf.stack(taps), axis=0)


def _pool(x, window, strides, padding, mode):
    """tf.nn.max_pool / avg_pool on the explicitly padded input; the average is rescaled so that
    padding does not count. TensorFlow's 3-d pooling has no float64 kernel: taps are reduced."""
    fill = -math.inf if mode == "max" else 0.0
    padded = _padded(x, padding, fill)
    if len(window) == 3 and x.dtype == tf.float64:
        pooled = _tap_pool(padded, window, strides, mode)
    elif mode == "max":
        return tf.nn.max_pool(padded, window, strides, "VALID")
    else:
        pooled = tf.nn.avg_pool(padded, window, strides, "VALID")
    if mode == "max" or not any(lo or hi for lo, hi in padding):
        return pooled
    sizes = x.shape.as_list()[1:-1]
    counts = window_counts(sizes, window, strides, padding, x.dtype.name)
    return pooled * (math.prod(window) / counts)


# Every entry takes the operands positionally and the node's params by keyword; TensorFlow's
# keyword names (shape, perm, axis, dtype, keepdims) match polyback's where an entry is bare.
LOWERINGS: dict[str, Callable[..., Any]] = {
    # elementwise
    "negative": tf.math.negative,
    "abs": tf.math.abs,
    "sign": tf.math.sign,
    "exp": tf.math.exp,
    "log": tf.math.log,
    "log1p": tf.math.log1p,
    "sqrt": tf.math.sqrt,
    "tanh": tf.math.tanh,
    "sigmoid": tf.math.sigmoid,
    "softplus": tf.math.softplus,
    "sin": tf.math.sin,
    "cos": tf.math.cos,
    "floor": tf.math.floor,
    "ceil": tf.math.ceil,
    "round": tf.math.round,  # half to even
    "logical_not": tf.math.logical_not,
    "add": tf.math.add,
    "subtract": tf.math.subtract,
    "multiply": tf.math.multiply,
    "divide": tf.math.truediv,
    "power": tf.math.pow,
    "maximum": _elementwise_extremum(tf.math.maximum),
    "minimum": _elementwise_extremum(tf.math.minimum),
    "mod": _mod,  # the sign of the divisor
    "floor_divide": _floor_divide,
    "equal": tf.math.equal,
    "not_equal": tf.math.not_equal,
    "less": tf.math.less,
    "less_equal": tf.math.less_equal,
    "greater": tf.math.greater,
    "greater_equal": tf.math.greater_equal,
    "logical_and": tf.math.logical_and,
    "logical_or": tf.math.logical_or,
    "where": tf.where,
    "cast": tf.cast,
    "clip": _clip,
    # reductions
    "sum": _reduction(tf.math.reduce_sum),
    "prod": _reduction(tf.math.reduce_prod),
    "max": _extremum_reduction(tf.math.reduce_max),
    "min": _extremum_reduction(tf.math.reduce_min),
    "any": _reduction(tf.math.reduce_any),
    "all": _reduction(tf.math.reduce_all),
    "argmax": _arg_reduction(tf.math.argmax),
    "argmin": _arg_reduction(tf.math.argmin),
    # scans
    "cumsum": tf.math.cumsum,
    "cumprod": tf.math.cumprod,
    # shape
    "getitem": _getitem,
    "index_grad": _index_grad,
    "reshape": tf.reshape,
    "transpose": tf.transpose,
    "expand_dims": tf.expand_dims,
    "squeeze": tf.squeeze,
    "broadcast_to": tf.broadcast_to,
    "one_hot": _one_hot,
    "concatenate": _concatenate,
    "take": _take,
    "take_grad": _take_grad,
    # debugging
    "identity_print": _identity_print,
    # linear algebra
    "matmul": tf.linalg.matmul,  # broadcasts batch dimensions, as NumPy
    "matrix_transpose": tf.linalg.matrix_transpose,
    "einsum": _einsum,
    # convolution and pooling
    "conv": _conv,
    "pool": _pool,
}


def _runner(concrete, n_inputs: int, n_outputs: int) -> Callable[..., list]:
    """``run(*input_arrays, *variable_values)``: one call of ``concrete``'s graph, by its name.

    This is what ``ConcreteFunction.__call__`` does in the end (with no gradient tape
    recording), without its per-call binding of arguments to the Python signature, which costs
    several times the run of a small graph. ``run`` keeps ``concrete`` alive: the runtime
    forgets the graph when it is collected.
    """
    call_function = context.context().call_function
    name = concrete.name
    captures = concrete.captured_inputs  # constants of the program
    constant = tf.constant

    def run(*args):
        tensors = [constant(a) for a in args[:n_inputs]]
        return call_function(name, [*tensors, *args[n_inputs:], *captures], n_outputs)

    run.concrete = concrete
    return run


class TensorflowEngine(Engine):
    name = "tensorflow"
    lowerings = LOWERINGS

    def compile(self, program: Program) -> Callable[..., list]:
        """The program traced once into a concrete ``tf.function`` of fixed signature."""
        if not program.outputs:  # nothing to run (the runtime would answer None, not [])
            return lambda *args: []
        fn = self.trace_function(program)
        signature = [tf.TensorSpec(t.shape, t.dtype) for t in (*program.inputs, *program.variables)]
        xla = JIT_COMPILE and not any(node.prim.name in NO_XLA for node in program.nodes)
        graph = tf.function(fn, input_signature=signature, jit_compile=xla, autograph=False)
        concrete = graph.get_concrete_function()
        return _runner(concrete, len(program.inputs), len(program.outputs))

    def from_numpy(self, array: np.ndarray, dtype: str) -> tf.Tensor:
        return tf.constant(array, dtype=dtype)

    def to_numpy(self, value: tf.Tensor) -> np.ndarray:
        return np.array(value)  # a copy (from the GPU, if there), an array even for 0-d


ENGINE_CLASS = TensorflowEngine
