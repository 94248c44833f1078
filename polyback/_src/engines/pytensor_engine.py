"""The theano engine, on PyTensor (the maintained successor of Theano).

Each specialised program is traced once into a PyTensor graph over tensors of its static shapes
and dtypes; ``pytensor.function`` rewrites it (elementwise chains fuse into single loops, matmuls
become BLAS calls) and compiles it. The returned PyTensor function is the engine's ``run``: it
takes NumPy arrays and returns NumPy arrays, and trusts its inputs (``Function`` has already
checked and cast them), so a call costs little beyond the compiled graph.

- Linker: PyTensor's C virtual machine, keeping intermediate buffers between calls. Measured
  against numba (PyTensor 3's default): numba calls tiny programs ~1.5 us faster, the C backend
  runs matmul-heavy programs ~20% faster. Without a C++ compiler the engine uses numba. Without a
  BLAS PyTensor can link, its dot products go through NumPy's.
- Compile cache: compiled C modules are kept in PyTensor's compile directory (by default
  ``~/.pytensor/compiledir_*``; locked, so parallel processes share it). With a cold cache a
  program costs seconds of gcc (the tutorial's: 5-9 s); with a warm one, 0.1-0.3 s.
- Memory: inputs are never modified in place and outputs are not borrowed, so every call returns
  fresh arrays that PyTensor will not overwrite later (update values become Variable state).
- GPU: PyTensor has no maintained GPU backend; the jax and torch engines run on GPUs.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import warnings
from collections.abc import Callable

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.mode import Mode
from pytensor.printing import Print

from polyback._src.engines.base import Engine, arg_reduction, keyword_reduction
from polyback._src.prims.convolution import window_counts
from polyback._src.prims.debug import print_value
from polyback._src.prims.shape import to_index
from polyback._src.specialize import Program

# Rewrites that move a product or quotient inside a switch against zero, turning the NaN that
# 0 * inf or 0 / 0 gives on every other engine into 0.
CHANGES_VALUES = ("local_mul_switch_sink", "local_div_switch_sink")


def _mode() -> Mode:
    """PyTensor's C virtual machine, keeping its buffers between calls ("_nogc"); without a C++
    compiler, numba, and failing that PyTensor's Python implementations. Rewrites that change
    values (``CHANGES_VALUES``) are left out."""
    if pytensor.config.cxx:
        linker = "cvm_nogc"
    elif importlib.util.find_spec("numba") is not None:
        linker = "numba"
    else:
        linker = "vm_nogc"
    return Mode(linker=linker, optimizer="fast_run").excluding(*CHANGES_VALUES)


MODE = _mode()


def _const(value, dtype: str) -> pt.TensorConstant:
    return pt.constant(np.asarray(value, dtype=dtype))


# -- elementwise -------------------------------------------------------------------------------


def _negative(x):
    # Two's complement for unsigned integers: PyTensor rewrites -x into -1 * x, which fails there.
    return pt.invert(x) + _const(1, x.dtype) if x.dtype.startswith("uint") else pt.neg(x)


def _round(x):
    return pt.round(x, mode="half_to_even")


def _integer_by_nonzero(fn, x, y):
    """``fn(x, y)`` for integers, 0 where ``y`` is 0 (NumPy's result; PyTensor raises)."""
    zero = pt.eq(y, 0)
    safe = pt.switch(zero, pt.ones_like(y), y)
    return pt.switch(zero, pt.zeros_like(x), fn(x, safe)).astype(x.dtype)


def _mod(x, y):
    if x.dtype.startswith(("int", "uint")):
        return _integer_by_nonzero(pt.mod, x, y)
    return pt.mod(x, y)


def _floor_divide(x, y):
    """NumPy's floor division. For floats, NumPy's algorithm: ``(x - fmod(x, y)) / y``, less one
    where the remainder and ``y`` differ in sign, rounded to the nearest integer (so that
    ``1 // 0.1 == 9``, where ``floor(1 / 0.1)`` gives 10)."""
    if x.dtype.startswith(("int", "uint")):
        return _integer_by_nonzero(pt.floor_div, x, y)
    remainder = pt.sign(x) * pt.mod(pt.abs(x), pt.abs(y))  # C's fmod: the sign of x
    borrow = pt.and_(pt.neq(remainder, 0), pt.neq(pt.lt(y, 0), pt.lt(remainder, 0)))
    div = (x - remainder) / y - borrow.astype(x.dtype)
    floor = pt.floor(div)
    rounded = floor + pt.gt(div - floor, _const(0.5, x.dtype)).astype(x.dtype)
    return pt.switch(pt.eq(y, 0), x / y, rounded)


def _bound(value: float, dtype: str) -> pt.TensorConstant:
    """A clip bound as a constant of ``dtype``; integer dtypes saturate (an infinite bound of an
    integer tensor clips nothing) and drop the fraction, as NumPy's cast does."""
    if not dtype.startswith("float"):
        info = np.iinfo(dtype)
        value = min(max(value, info.min), info.max)
    return _const(value, dtype)


def _clip(x, low, high):
    return pt.clip(x, _bound(low, x.dtype), _bound(high, x.dtype))


# -- shape -------------------------------------------------------------------------------------


def _getitem(x, index):
    return x[to_index(index)]


def _index_grad(g, x, index):
    """Zeros shaped like ``x`` with ``g`` written at ``index`` (new axes of the index dropped)."""
    zeros = pt.zeros(x.type.shape, dtype=g.dtype)
    target = zeros[tuple(i for i in to_index(index) if i is not None)]
    if g.type.shape != target.type.shape:
        g = g.reshape(target.type.shape)
    return pt.set_subtensor(target, g)


def _reshape(x, shape):
    if -1 in shape:
        known = math.prod(d for d in shape if d != -1)
        shape = tuple(math.prod(x.type.shape) // known if d == -1 else d for d in shape)
    return x.reshape(shape)


def _transpose(x, perm):
    return x.transpose(perm)


def _one_hot(indices, num_classes, dtype):
    classes = pt.arange(num_classes, dtype=indices.dtype)
    return pt.eq(pt.shape_padright(indices), classes).astype(dtype)


def _concatenate(*xs, axis):
    return pt.concatenate(list(xs), axis=axis)


def _take(x, indices, axis):
    return pt.take(x, indices, axis=axis)


def _take_grad(g, x, indices, axis):
    """Zeros shaped like ``x`` with ``g`` added at ``indices`` (repeated indices add up)."""
    zeros = pt.zeros(x.type.shape, dtype=g.dtype)
    return pt.inc_subtensor(zeros[(slice(None),) * (axis % x.ndim) + (indices,)], g)


def _print_op(op, value):
    print_value(op.message, value)


def _identity_print(x, message):
    return Print(message, global_fn=_print_op)(x)


# -- convolution and pooling (channels last; padding as static (before, after) pairs) -----------
# PyTensor 3 has no convolution of its own: the window's taps are strided slices, stacked;
# a convolution is then one matrix product (a batched one per group), a pooling one reduction.


def _padded(x, padding, fill=0.0):
    if not any(lo or hi for lo, hi in padding):
        return x
    b, *sizes, c = x.type.shape
    shape = (b, *(d + lo + hi for d, (lo, hi) in zip(sizes, padding)), c)
    inner = (slice(lo, lo + d) for d, (lo, _) in zip(sizes, padding))
    full = pt.full(shape, _const(fill, x.dtype))
    return pt.set_subtensor(full[(slice(None), *inner, slice(None))], x)


def _taps(x, window, strides, dilation):
    """One strided slice ``(batch, *out, channels)`` of ``x`` per window tap, row-major."""
    sizes = x.type.shape[1:-1]
    outs = [(d - r * (w - 1) - 1) // s + 1 for d, w, s, r in zip(sizes, window, strides, dilation)]
    taps = []
    for tap in itertools.product(*map(range, window)):
        box = (
            slice(t * r, t * r + (o - 1) * s + 1, s)
            for t, o, s, r in zip(tap, outs, strides, dilation)
        )
        taps.append(x[(slice(None), *box, slice(None))])
    return taps


def _patches(x, window, strides, dilation):
    """``(batch, outputs, taps, channels)``, the inputs of every window, and the output sizes.
    As few slices as possible: one per tap, or one per output position where there are fewer
    (the kernel gradient's convolution has a window as large as the output)."""
    b, *sizes, c = x.type.shape
    outs = [(d - r * (w - 1) - 1) // s + 1 for d, w, s, r in zip(sizes, window, strides, dilation)]
    if math.prod(outs) >= math.prod(window):
        taps = pt.stack(_taps(x, window, strides, dilation), axis=-2)
        return taps.reshape((b, math.prod(outs), math.prod(window), c)), outs
    windows = []
    for o in itertools.product(*map(range, outs)):
        box = (
            slice(p * s, p * s + r * (w - 1) + 1, r)
            for p, s, r, w in zip(o, strides, dilation, window)
        )
        windows.append(x[(slice(None), *box, slice(None))].reshape((b, math.prod(window), c)))
    return pt.stack(windows, axis=1), outs


def _conv(x, kernel, strides, padding, dilation, groups):
    n = len(strides)
    window, cin, cout = kernel.type.shape[:n], kernel.type.shape[-2], kernel.type.shape[-1]
    patches, outs = _patches(_padded(x, padding), window, strides, dilation)
    batch = x.type.shape[0]
    rows, taps = batch * math.prod(outs), math.prod(window)
    if groups == 1:
        y = pt.dot(patches.reshape((rows, taps * cin)), kernel.reshape((taps * cin, cout)))
    else:
        per_group = cout // groups
        patches = patches.reshape((rows, taps, groups, cin)).transpose(2, 0, 1, 3)
        kernel = kernel.reshape((taps, cin, groups, per_group)).transpose(2, 0, 1, 3)
        y = pt.matmul(
            patches.reshape((groups, rows, taps * cin)),
            kernel.reshape((groups, taps * cin, per_group)),
        ).transpose(1, 0, 2)
    return y.reshape((batch, *outs, cout))


def _pool(x, window, strides, padding, mode):
    fill = -math.inf if mode == "max" else 0.0
    taps = _taps(_padded(x, padding, fill), window, strides, (1,) * len(window))
    stacked = pt.stack(taps, axis=0)
    if mode == "max":
        return pt.max(stacked, axis=0)
    counts = window_counts(x.type.shape[1:-1], window, strides, padding, x.dtype)
    return pt.sum(stacked, axis=0, dtype=x.dtype) / pt.constant(counts)


LOWERINGS: dict[str, Callable] = {
    # elementwise
    "negative": _negative,
    "abs": pt.abs,
    "sign": pt.sign,
    "exp": pt.exp,
    "log": pt.log,
    "log1p": pt.log1p,
    "sqrt": pt.sqrt,
    "tanh": pt.tanh,
    "sigmoid": pt.sigmoid,
    "softplus": pt.softplus,
    "sin": pt.sin,
    "cos": pt.cos,
    "floor": pt.floor,
    "ceil": pt.ceil,
    "round": _round,
    "logical_not": pt.invert,
    "add": pt.add,
    "subtract": pt.sub,
    "multiply": pt.mul,
    "divide": pt.true_div,
    "power": pt.pow,
    "maximum": pt.maximum,
    "minimum": pt.minimum,
    "mod": _mod,
    "floor_divide": _floor_divide,
    "equal": pt.eq,
    "not_equal": pt.neq,
    "less": pt.lt,
    "less_equal": pt.le,
    "greater": pt.gt,
    "greater_equal": pt.ge,
    "logical_and": pt.and_,
    "logical_or": pt.or_,
    "where": pt.switch,
    "cast": pt.cast,
    "clip": _clip,
    # reductions
    # dtype kept: PyTensor widens small integers by default
    "sum": keyword_reduction(pt.sum, keep_dtype=True),
    "prod": keyword_reduction(pt.prod, keep_dtype=True),
    "max": keyword_reduction(pt.max),
    "min": keyword_reduction(pt.min),
    "any": keyword_reduction(pt.any),
    "all": keyword_reduction(pt.all),
    "argmax": arg_reduction(pt.argmax),
    "argmin": arg_reduction(pt.argmin),
    # scans
    "cumsum": pt.cumsum,
    "cumprod": pt.cumprod,
    # shape
    "getitem": _getitem,
    "index_grad": _index_grad,
    "reshape": _reshape,
    "transpose": _transpose,
    "expand_dims": pt.expand_dims,
    "squeeze": pt.squeeze,
    "broadcast_to": pt.broadcast_to,
    "one_hot": _one_hot,
    "concatenate": _concatenate,
    "take": _take,
    "take_grad": _take_grad,
    # debugging
    "identity_print": _identity_print,
    # linear algebra
    "matmul": pt.matmul,
    "matrix_transpose": lambda x: x.mT,
    "einsum": lambda x, y, spec: pt.einsum(spec, x, y),
    # convolution and pooling
    "conv": _conv,
    "pool": _pool,
}


#: The deepest program handed to PyTensor: its rewriter recurses along chains of operations and
#: fails (slowly, printing every failure) on chains near Python's recursion limit.
MAX_DEPTH = 500


def _depth(program: Program) -> int:
    """The length of the longest chain of operations in ``program``."""
    depth: dict[int, int] = {}
    for node in program.nodes:
        depth[id(node.output)] = 1 + max((depth.get(id(i), 0) for i in node.inputs), default=0)
    return max(depth.values(), default=0)


class PytensorEngine(Engine):
    name = "theano"
    lowerings = LOWERINGS

    def constant(self, value: np.ndarray) -> pt.TensorConstant:
        return pt.constant(value)

    def compile(self, program: Program) -> Callable[..., list]:
        depth = _depth(program)
        if depth > MAX_DEPTH:
            raise RecursionError(
                f"the theano engine (PyTensor) cannot compile a program {depth} operations deep "
                f"(its compiler recurses along the graph; at most {MAX_DEPTH}); the numpy, jax "
                "and torch engines can"
            )
        leaves = (*program.inputs, *program.variables)
        args = [pt.tensor(name=t.label, dtype=t.dtype, shape=t.shape) for t in leaves]
        outputs = self.trace_function(program)(*args)
        with warnings.catch_warnings():
            # Without a linked BLAS, PyTensor's dot products call NumPy's (which has one).
            warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
            fn = pytensor.function(args, outputs, mode=MODE, on_unused_input="ignore")
        fn.trust_input = True

        def run(*args):
            try:
                return fn(*args)
            except NotImplementedError as exc:  # PyTensor ops lack most float16 code
                raise NotImplementedError(
                    f"the theano engine (PyTensor) cannot run an operation of this program "
                    f"for its dtypes ({exc}); use float32 or another engine"
                ) from None

        return run

    def from_numpy(self, array: np.ndarray, dtype: str) -> np.ndarray:
        return np.asarray(array, dtype=dtype)

    def to_numpy(self, value: np.ndarray) -> np.ndarray:
        return value


ENGINE_CLASS = PytensorEngine
