"""The JAX engine: each specialised program becomes one ``jax.jit`` function, one XLA computation.

- float64: importing this module turns on ``jax_enable_x64`` for the whole process, without which
  JAX silently computes float64 in float32. Other JAX code in the process sees it too: Python
  floats then default to float64 there, as in NumPy.
- Devices: arrays live on JAX's default device, the first accelerator when JAX sees one (GPU, TPU)
  and the CPU otherwise. Constants and ``from_numpy`` place arrays there, the jitted call moves fed
  NumPy inputs there, and Variables stay there between calls (their new values are the arrays the
  call returned). Nothing here is device-specific: with a GPU build of jaxlib installed, the same
  code runs on the GPU.
- Matmul and einsum ask for ``Precision.HIGHEST``, so that float32 products on a GPU are true
  float32 (not TF32), as NumPy computes them; on the CPU this costs nothing.
- JAX arrays are immutable: updates are new arrays returned by the call.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import io_callback

from polyback._src.engines.base import Engine, arg_reduction, keyword_reduction
from polyback._src.prims.convolution import window_counts
from polyback._src.prims.debug import print_value
from polyback._src.prims.shape import to_index
from polyback._src.specialize import Program

# (Importing jax draws from NumPy's global generator; the engine registry restores its state.)
jax.config.update("jax_enable_x64", True)

HIGHEST = jax.lax.Precision.HIGHEST


def _cast(x, dtype):
    return x.astype(dtype)


def _clip(x, low, high):
    # An infinite bound clips nothing (and has no value in an integer dtype).
    if low != -np.inf:
        x = jnp.maximum(x, jnp.asarray(low, x.dtype))
    if high != np.inf:
        x = jnp.minimum(x, jnp.asarray(high, x.dtype))
    return x


def _getitem(x, index):
    return x[to_index(index)]


def _index_grad(g, x, index):
    return jnp.zeros(x.shape, g.dtype).at[to_index(index)].set(g)


def _reshape(x, shape):
    return jnp.reshape(x, shape)


def _transpose(x, perm):
    return jnp.transpose(x, perm)


def _expand_dims(x, axis):
    return jnp.expand_dims(x, axis)


def _squeeze(x, axis):
    return jnp.squeeze(x, axis)


def _broadcast_to(x, shape):
    return jnp.broadcast_to(x, shape)


def _one_hot(indices, num_classes, dtype):
    return (jnp.expand_dims(indices, -1) == jnp.arange(num_classes)).astype(dtype)


def _concatenate(*xs, axis):
    return jnp.concatenate(xs, axis=axis)


def _take(x, indices, axis):
    return jnp.take(x, indices, axis=axis)


def _take_grad(g, x, indices, axis):
    index = (slice(None),) * (axis % x.ndim) + (indices,)
    return jnp.zeros(x.shape, g.dtype).at[index].add(g)  # repeated indices add up


def _scan(fn):
    # dtype=x.dtype: JAX, like NumPy, would widen small integers to int64
    def scan(x, axis):
        return fn(x, axis=axis, dtype=x.dtype)

    scan.__name__ = fn.__name__
    return scan


def _identity_print(x, message):
    """``x``, printed on the host when the computation reaches it. The result comes back from
    the callback, so the print happens before anything that uses it."""

    def show(value):
        print_value(message, value)
        return value

    return io_callback(show, jax.ShapeDtypeStruct(x.shape, x.dtype), x, ordered=True)


def _matmul(x, y):
    return jnp.matmul(x, y, precision=HIGHEST)


def _matrix_transpose(x):
    return jnp.swapaxes(x, -1, -2)


def _einsum(x, y, spec):
    return jnp.einsum(spec, x, y, precision=HIGHEST)


# -- convolution and pooling (channels last; padding as static (before, after) pairs) ---------


def _conv(x, kernel, strides, padding, dilation, groups):
    spatial = "DHW"[-len(strides) :]
    return jax.lax.conv_general_dilated(
        x,
        kernel,
        window_strides=strides,
        padding=padding,
        rhs_dilation=dilation,
        dimension_numbers=(f"N{spatial}C", f"{spatial}IO", f"N{spatial}C"),
        feature_group_count=groups,
        precision=HIGHEST,
    )


def _pool(x, window, strides, padding, mode):
    dims, steps, pads = (1, *window, 1), (1, *strides, 1), ((0, 0), *padding, (0, 0))
    if mode == "max":
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, dims, steps, pads)
    total = jax.lax.reduce_window(x, 0.0, jax.lax.add, dims, steps, pads)
    return total / window_counts(x.shape[1:-1], window, strides, padding, x.dtype.name)


def _integer_safe(fn):
    """``fn`` (floor division or modulo) giving 0 for an integer division by zero, as NumPy."""

    def lowered(x, y):
        if not jnp.issubdtype(x.dtype, jnp.integer):
            return fn(x, y)
        zero = y == 0
        return jnp.where(zero, jnp.zeros_like(x), fn(x, jnp.where(zero, jnp.ones_like(y), y)))

    lowered.__name__ = fn.__name__
    return lowered


LOWERINGS = {
    # elementwise
    "negative": jnp.negative,
    "abs": jnp.abs,
    "sign": jnp.sign,
    "exp": jnp.exp,
    "log": jnp.log,
    "log1p": jnp.log1p,
    "sqrt": jnp.sqrt,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "softplus": jax.nn.softplus,
    "sin": jnp.sin,
    "cos": jnp.cos,
    "floor": jnp.floor,
    "ceil": jnp.ceil,
    "round": jnp.round,  # half to even
    "logical_not": jnp.logical_not,
    "add": jnp.add,
    "subtract": jnp.subtract,
    "multiply": jnp.multiply,
    "divide": jnp.divide,
    "power": jnp.power,
    "maximum": jnp.maximum,
    "minimum": jnp.minimum,
    "mod": _integer_safe(jnp.mod),  # floor semantics: the sign of the divisor, as NumPy
    "floor_divide": _integer_safe(jnp.floor_divide),
    "equal": jnp.equal,
    "not_equal": jnp.not_equal,
    "less": jnp.less,
    "less_equal": jnp.less_equal,
    "greater": jnp.greater,
    "greater_equal": jnp.greater_equal,
    "logical_and": jnp.logical_and,
    "logical_or": jnp.logical_or,
    "where": jnp.where,
    "cast": _cast,
    "clip": _clip,
    # reductions
    # dtype kept: JAX, like NumPy, would widen small integers to int64
    "sum": keyword_reduction(jnp.sum, keep_dtype=True),
    "prod": keyword_reduction(jnp.prod, keep_dtype=True),
    "max": keyword_reduction(jnp.max),
    "min": keyword_reduction(jnp.min),
    "any": keyword_reduction(jnp.any),
    "all": keyword_reduction(jnp.all),
    "argmax": arg_reduction(jnp.argmax, jnp.int64),
    "argmin": arg_reduction(jnp.argmin, jnp.int64),
    # scans
    "cumsum": _scan(jnp.cumsum),
    "cumprod": _scan(jnp.cumprod),
    # shape
    "getitem": _getitem,
    "index_grad": _index_grad,
    "reshape": _reshape,
    "transpose": _transpose,
    "expand_dims": _expand_dims,
    "squeeze": _squeeze,
    "broadcast_to": _broadcast_to,
    "one_hot": _one_hot,
    "concatenate": _concatenate,
    "take": _take,
    "take_grad": _take_grad,
    # debugging
    "identity_print": _identity_print,
    # linear algebra
    "matmul": _matmul,
    "matrix_transpose": _matrix_transpose,
    "einsum": _einsum,
    # convolution and pooling
    "conv": _conv,
    "pool": _pool,
}


class JaxEngine(Engine):
    name = "jax"
    lowerings = LOWERINGS

    def compile(self, program: Program) -> Callable[..., list]:
        # The jitted function itself is ``run``: its C++ dispatch moves the NumPy inputs to the
        # device, and it is the cheapest call path measured (an AOT ``.lower().compile()``
        # object calls no faster). XLA compiles on the first call.
        return jax.jit(self.trace_function(program))

    def from_numpy(self, array: np.ndarray, dtype: str) -> jax.Array:
        return jnp.asarray(array, dtype=dtype)

    def to_numpy(self, value: jax.Array) -> np.ndarray:
        # A writable copy, as the NumPy engine gives (a CPU array's own view is read-only).
        return np.array(value)


ENGINE_CLASS = JaxEngine
