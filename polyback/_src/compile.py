"""``Function``: inputs, outputs and updates compiled for one engine.

The only place that writes Variables. A call checks and casts the fed arrays, finds (or builds)
the program specialised for their shapes, runs it, and only when everything succeeded writes
the updates, all computed from the values the Variables had before the call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from polyback import config
from polyback._src.engines import get_engine
from polyback._src.fastcall import make_fast_call
from polyback._src.ir.graph import Graph, format_graph
from polyback._src.ir.tensor import Placeholder, RandomInput, Tensor, Variable
from polyback._src.specialize import Program, specialize

#: Placeholders fed automatically when a function needs them but does not list them
#: (the learning phase): placeholder -> callable giving the value for this call.
DEFAULT_FEEDS: dict[Placeholder, Any] = {}


class Update:
    """A pending assignment ``variable := value``, as returned by ``K.update`` and friends."""

    __slots__ = ("variable", "value")

    def __init__(self, variable: Variable, value: Tensor):
        if not isinstance(variable, Variable):
            raise TypeError(f"only Variables can be updated; got {variable!r}")
        self.variable = variable
        self.value = value

    def __iter__(self):
        return iter((self.variable, self.value))

    def __repr__(self) -> str:
        return f"<polyback update {self.variable.label} := {self.value.label}>"


def _as_updates(updates, as_tensor) -> list[tuple[Variable, Tensor]]:
    pairs = []
    for item in updates or ():
        if isinstance(item, Update):
            var, value = item.variable, item.value
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            var, value = item
        else:
            raise TypeError(
                f"an update must be a (variable, new_value) pair or the result of K.update, "
                f"K.update_add or K.update_sub; got {item!r}"
            )
        if not isinstance(var, Variable):
            raise TypeError(f"only Variables can be updated; got {var!r}")
        pairs.append((var, as_tensor(value, var.dtype)))
    seen = set()
    for var, _ in pairs:
        if id(var) in seen:
            raise ValueError(f"variable '{var.label}' is updated twice in one function")
        seen.add(id(var))
    return pairs


def _check_update(var: Variable, value: Tensor) -> None:
    """Refuse a new value that cannot be ``var``'s, as far as its type is known."""
    shape = value.shape
    if shape is not None and (
        len(shape) != len(var.shape) or any(d not in (None, v) for d, v in zip(shape, var.shape))
    ):
        raise ValueError(
            f"update of variable '{var.label}': the new value has shape {tuple(shape)} but the "
            f"variable has shape {var.shape}"
        )
    if value.dtype != var.dtype:
        raise TypeError(
            f"update of variable '{var.label}': the new value has dtype {value.dtype} "
            f"but the variable has dtype {var.dtype}; cast it with K.cast"
        )


class _Input:
    """Checks and casts what is fed to one placeholder."""

    __slots__ = ("placeholder", "dtype", "shape", "castable")

    def __init__(self, placeholder: Placeholder):
        self.placeholder = placeholder
        self.dtype = np.dtype(placeholder.dtype)
        self.shape = placeholder.shape
        self.castable: set[np.dtype] = set()  # source dtypes already checked for this feed

    def convert(self, value: Any) -> np.ndarray:
        array = value if type(value) is np.ndarray else self._to_array(value)
        if array.dtype != self.dtype:  # equal dtypes can be distinct objects (unpickled)
            if array.dtype not in self.castable:
                self._check_cast(array)
            array = array.astype(self.dtype)
        if array.shape != self.shape and self.shape is not None:
            self._check_shape(array.shape)
        return array

    def _to_array(self, value: Any) -> np.ndarray:
        if hasattr(value, "toarray"):  # scipy.sparse matrices feed as dense
            value = value.toarray()
        try:
            return np.asarray(value)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"placeholder '{self.placeholder.label}' was fed a {type(value).__name__} that "
                f"is not an array: {exc}"
            ) from None

    def _check_cast(self, array: np.ndarray) -> None:
        name, target = self.placeholder.label, self.dtype
        if array.dtype.kind not in "biuf":
            raise TypeError(
                f"placeholder '{name}' was fed an array of dtype {array.dtype}, which is not "
                "numeric"
            )
        if array.dtype.kind == "f" and target.kind != "f":
            hint = "float to bool" if target.kind == "b" else "float to int would truncate"
            raise TypeError(
                f"placeholder '{name}' has dtype {target.name} but was fed {array.dtype.name} "
                f"data; cast it explicitly ({hint})"
            )
        if array.dtype.kind in "iu" and target.kind in "iu" and not np.can_cast(array, target):
            info = np.iinfo(target)
            if array.size and (array.min() < info.min or array.max() > info.max):
                raise OverflowError(
                    f"placeholder '{name}' has dtype {target.name} but was fed "
                    f"{array.dtype.name} values outside its range [{info.min}, {info.max}]"
                )
            return  # values are checked on every call: the dtype is not remembered as safe
        self.castable.add(array.dtype)

    def _check_shape(self, shape: tuple[int, ...]) -> None:
        expected = self.shape
        if expected is None:
            return
        if len(shape) != len(expected) or any(
            e is not None and e != d for e, d in zip(expected, shape)
        ):
            shown = str(tuple(expected))  # (2,) and (None, 3), as Keras writes shapes
            raise ValueError(
                f"placeholder '{self.placeholder.label}' expects shape {shown} but was fed an "
                f"array of shape {shape}"
            )


class Function:
    """A compiled computation: ``f([array, ...]) -> [array, ...]``; see ``K.function``."""

    def __init__(
        self,
        inputs: Sequence[Placeholder],
        outputs: Tensor | Sequence[Tensor],
        updates=None,
        name: str | None = None,
        backend: str | None = None,
    ):
        from polyback._src.keras.ops import as_tensor

        if isinstance(inputs, Tensor) or not isinstance(inputs, (list, tuple)):
            raise TypeError("K.function: `inputs` must be a list of placeholders")
        for t in inputs:
            if not isinstance(t, Placeholder):
                raise TypeError(f"K.function: inputs must be placeholders, got {t!r}")
        self.name = name
        self._single = isinstance(outputs, Tensor)
        self.outputs = [outputs] if self._single else [as_tensor(o) for o in outputs]
        self.updates = _as_updates(updates, as_tensor)
        for var, value in self.updates:  # what the types tell now; the rest on the first call
            _check_update(var, value)
        self.inputs = list(inputs)
        self._placeholders = list(inputs)  # and those fed with a default value
        self.engine = get_engine(backend or config.backend())
        self.graph = Graph([*self.outputs, *(value for _, value in self.updates)])
        fed = {id(p) for p in self.inputs}
        for p in self.graph.placeholders:
            if id(p) in fed:
                continue
            if p not in DEFAULT_FEEDS:
                raise ValueError(
                    f"K.function: the outputs depend on placeholder '{p.label}', which is not "
                    "among the inputs"
                )
            self._placeholders.append(p)
        self._defaults = [DEFAULT_FEEDS[p] for p in self._placeholders[len(inputs) :]]
        self.variables = list(self.graph.variables)
        for var, _ in self.updates:
            if var not in self.variables:
                self.variables.append(var)
        self._feeds = [_Input(p) for p in self._placeholders]
        self._n_outputs = len(self.outputs)
        self._updated = [var for var, _ in self.updates]
        self._dynamic = [k for k, p in enumerate(self._placeholders) if not p.type.is_concrete]
        self._programs: dict[tuple, tuple] = {}
        self._call = make_fast_call(self)

    # -- compilation -------------------------------------------------------------------------
    def _build(self, shapes: list[tuple[int, ...]]) -> tuple:
        tensors = [*self.outputs, *self.update_values]
        stand_ins, outputs = specialize(self._placeholders, shapes, tensors)
        randoms = [p for p in Graph(outputs).placeholders if isinstance(p, RandomInput)]
        n = len(self.outputs)
        for (var, _), value in zip(self.updates, outputs[n:]):
            _check_update(var, value)
        program = Program([*stand_ins, *randoms], self.variables, outputs)
        run = self.engine.compile(program)
        copies = [k for k, t in enumerate(outputs[:n]) if t.node is None]
        return run, copies, program, randoms

    @property
    def update_values(self) -> list[Tensor]:
        return [value for _, value in self.updates]

    def program(self, inputs: Sequence[Any] | None = None) -> Program:
        """The specialised program for ``inputs`` (or for the last shapes called with)."""
        if inputs is not None:
            return self._lookup(self._convert(inputs))[2]
        if not self._programs:
            raise ValueError("this function has not been called yet; pass example inputs")
        return next(reversed(self._programs.values()))[2]

    def _convert(self, inputs: Sequence[Any]) -> list[np.ndarray]:
        if self._defaults:
            inputs = [*inputs, *(default() for default in self._defaults)]
        return [feed.convert(a) for feed, a in zip(self._feeds, inputs)]

    def _lookup(self, arrays: list[np.ndarray]) -> tuple:
        key = tuple([arrays[k].shape for k in self._dynamic]) if self._dynamic else ()
        entry = self._programs.get(key)
        if entry is None:
            entry = self._programs[key] = self._build([a.shape for a in arrays])
        return entry

    # -- calling -----------------------------------------------------------------------------
    def __call__(self, inputs: Sequence[Any]) -> list[np.ndarray] | np.ndarray:
        return self._call(inputs)

    def _call_checked(self, inputs: Sequence[Any]) -> list[np.ndarray] | np.ndarray:
        if not isinstance(inputs, (list, tuple)):
            raise TypeError(
                f"a polyback function takes a list of arrays, one per input; got "
                f"{type(inputs).__name__}"
            )
        if len(inputs) != len(self.inputs):
            names = ", ".join(f"'{p.label}'" for p in self.inputs) or "none"
            raise ValueError(
                f"this function takes {len(self.inputs)} inputs ({names}) but was given "
                f"{len(inputs)}"
            )
        arrays = self._convert(inputs)
        run, copies, _, randoms = self._lookup(arrays)
        engine = self.engine
        if randoms:
            arrays += [r.source.draw(r.shape) for r in randoms]
        results = run(*arrays, *[v.read(engine) for v in self.variables])
        n = self._n_outputs
        to_numpy = engine.to_numpy
        outputs = [to_numpy(r) for r in results[:n]]
        for k in copies:
            outputs[k] = outputs[k].copy()
        for var, value in zip(self._updated, results[n:]):
            var.write(engine, value)
        return outputs[0] if self._single else outputs

    def __str__(self) -> str:
        title = f"polyback function {self.name or ''} on {self.engine.name}".replace("  ", " ")
        return title + "\n" + format_graph(self.graph.outputs)
