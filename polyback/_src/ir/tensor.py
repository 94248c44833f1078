"""Tensor types, symbolic tensors and the nodes that produce them."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from polyback._src.ir.dtypes import normalize_dtype

if TYPE_CHECKING:
    from polyback._src.prims.base import Primitive

_counter = itertools.count(1)


@dataclass(frozen=True)
class TensorType:
    """Shape and dtype of a tensor. ``shape`` is None for unknown rank; a dim is None if unknown."""

    shape: tuple[int | None, ...] | None
    dtype: str

    @property
    def ndim(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    @property
    def is_concrete(self) -> bool:
        return self.shape is not None and all(d is not None for d in self.shape)

    def __str__(self) -> str:
        if self.shape is None:
            return f"{self.dtype}[...]"
        dims = ",".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.dtype}[{dims}]"


class Node:
    """One application of a primitive: ``output = prim(*inputs, **params)``."""

    __slots__ = ("prim", "inputs", "params", "output")

    def __init__(self, prim: Primitive, inputs: tuple[Tensor, ...], params: dict[str, Any]):
        self.prim = prim
        self.inputs = inputs
        self.params = params
        self.output: Tensor | None = None


class Tensor:
    """A symbolic value in the graph. Build them with ``polyback.backend`` functions."""

    __slots__ = ("type", "node", "name", "uid", "__weakref__")
    __array_priority__ = 100  # numpy defers ``array * tensor`` to Tensor.__rmul__

    def __init__(self, type: TensorType, node: Node | None = None, name: str | None = None):
        self.type = type
        self.node = node
        self.uid = next(_counter)
        self.name = name

    # -- introspection --------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int | None, ...] | None:
        return self.type.shape

    @property
    def dtype(self) -> str:
        return self.type.dtype

    @property
    def ndim(self) -> int | None:
        return self.type.ndim

    @property
    def label(self) -> str:
        """How this tensor is named in graphs and messages."""
        return self.name or f"t{self.uid}"

    def __repr__(self) -> str:
        kind = type(self).__name__
        return f"<polyback {kind} '{self.label}' {self.type}>"

    def __bool__(self) -> bool:
        raise TypeError(
            f"the truth value of symbolic tensor '{self.label}' is not known while building a "
            "graph; use K.switch or K.greater and friends instead of Python 'if'/'and'/'or'"
        )

    def __iter__(self):
        raise TypeError(f"symbolic tensor '{self.label}' is not iterable; index it instead")

    def __len__(self) -> int:
        if self.ndim and self.shape[0] is not None:
            return self.shape[0]
        raise TypeError(f"len() of symbolic tensor '{self.label}' with unknown first dimension")

    # -- Python operators (Keras/TensorFlow semantics, see docs/semantics.md) ----------------
    def __add__(self, o):
        return _ops().add(self, o)

    def __radd__(self, o):
        return _ops().add(o, self)

    def __sub__(self, o):
        return _ops().subtract(self, o)

    def __rsub__(self, o):
        return _ops().subtract(o, self)

    def __mul__(self, o):
        return _ops().multiply(self, o)

    def __rmul__(self, o):
        return _ops().multiply(o, self)

    def __truediv__(self, o):
        return _ops().divide(self, o)

    def __rtruediv__(self, o):
        return _ops().divide(o, self)

    def __floordiv__(self, o):
        return _ops().floor_divide(self, o)

    def __rfloordiv__(self, o):
        return _ops().floor_divide(o, self)

    def __mod__(self, o):
        return _ops().mod(self, o)

    def __rmod__(self, o):
        return _ops().mod(o, self)

    def __pow__(self, o):
        return _ops().pow(self, o)

    def __rpow__(self, o):
        return _ops().pow(o, self)

    def __matmul__(self, o):
        return _ops().dot(self, o)

    def __rmatmul__(self, o):
        return _ops().dot(o, self)

    def __neg__(self):
        return _ops().negative(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops().abs(self)

    def __lt__(self, o):
        return _ops().less(self, o)

    def __le__(self, o):
        return _ops().less_equal(self, o)

    def __gt__(self, o):
        return _ops().greater(self, o)

    def __ge__(self, o):
        return _ops().greater_equal(self, o)

    def __and__(self, o):
        return _ops().logical_and(self, o)

    def __rand__(self, o):
        return _ops().logical_and(o, self)

    def __or__(self, o):
        return _ops().logical_or(self, o)

    def __ror__(self, o):
        return _ops().logical_or(o, self)

    def __invert__(self):
        return _ops().logical_not(self)

    def __getitem__(self, index):
        return _ops().getitem(self, index)

    # ``==`` and ``!=`` keep Python identity (as TensorFlow 1 tensors did) so tensors can be
    # dict keys; use K.equal / K.not_equal for elementwise comparison.
    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__


class Placeholder(Tensor):
    """An input of a function, fed with an array on each call."""

    __slots__ = ("sparse",)

    def __init__(self, type: TensorType, name: str, sparse: bool = False):
        super().__init__(type, None, name)
        self.sparse = sparse


class RandomInput(Placeholder):
    """Random numbers drawn afresh on each call, by NumPy, and fed like an input.

    Drawing on the host makes every engine see the same numbers for the same seed.
    """

    __slots__ = ("source",)

    def __init__(self, type: TensorType, source):
        super().__init__(type, f"random_{source.distribution}")
        self.source = source


class Constant(Tensor):
    """A value fixed when the graph is built."""

    __slots__ = ("value",)

    def __init__(self, value: np.ndarray, name: str | None = None):
        value = np.asarray(value)
        super().__init__(TensorType(value.shape, normalize_dtype(value.dtype)), None, name)
        self.value = value


class Variable(Tensor):
    """A tensor with state. Its value lives in the engine that last wrote it.

    ``_values`` maps an engine name to that engine's array; every entry holds the same value.
    Writing through one engine drops the others, which convert again when they next read.
    """

    __slots__ = ("_values", "constraint", "_keras_shape", "_uses_learning_phase")

    def __init__(self, value: np.ndarray, name: str, constraint: Any = None):
        value = np.asarray(value)
        super().__init__(TensorType(value.shape, normalize_dtype(value.dtype)), None, name)
        self._values: dict[str, Any] = {"numpy": value}
        self.constraint = constraint
        self._keras_shape = value.shape
        self._uses_learning_phase = False

    def read(self, engine) -> Any:
        """This variable's value as an array of ``engine``, converting only when needed."""
        values = self._values
        value = values.get(engine.name)
        if value is None:
            value = engine.from_numpy(self.numpy(), self.type.dtype)
            values[engine.name] = value
        return value

    def write(self, engine, value: Any) -> None:
        """Store a new value computed by ``engine`` (already checked for shape and dtype)."""
        self._values = {engine.name: value}

    def numpy(self) -> np.ndarray:
        """The value as a NumPy array (a copy is not guaranteed; do not mutate it)."""
        values = self._values
        value = values.get("numpy")
        if value is None:
            from polyback._src.engines import get_engine

            name, other = next(iter(values.items()))
            value = get_engine(name).to_numpy(other)
            values["numpy"] = value
        return value


def _ops():
    from polyback._src.keras import ops

    return ops
