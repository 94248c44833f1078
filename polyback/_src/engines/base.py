"""What every engine shares: lowering lookup and the generated Python function it jits.

An engine is a lowering table (primitive name -> function of engine arrays and params), a jit
hook, and array conversion. ``trace_function`` writes the specialised program as straight-line
Python, one call per node; the NumPy engine runs that function as it is, the others hand it to
their compiler (``jax.jit``, ``tf.function``, ``pytensor.function``, ...).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from polyback._src.ir.graph import format_node
from polyback._src.specialize import Program

#: Primitives whose result may share memory with their first input (a view).
VIEW_PRIMS = frozenset(
    {
        "getitem",
        "reshape",
        "transpose",
        "expand_dims",
        "squeeze",
        "broadcast_to",
        "matrix_transpose",
    }
)


def _dying_inputs(program: Program) -> list[list[int]]:
    """For each node, the positions of inputs whose memory is read by no later node.

    Memory is tracked through views: a tensor dies only when it, and every view of the same
    buffer, is used for the last time; program outputs never die. An input is not offered
    either when another input of the same node views the same buffer.
    """
    root: dict[int, int] = {}
    for node in program.nodes:
        if node.prim.name in VIEW_PRIMS:
            source = node.inputs[0]
            root[id(node.output)] = root.get(id(source), id(source))
    last_use: dict[int, int] = {}
    end = len(program.nodes)
    for t in program.outputs:
        last_use[root.get(id(t), id(t))] = end
    for k, node in enumerate(program.nodes):
        for i in node.inputs:
            r = root.get(id(i), id(i))
            last_use[r] = max(last_use.get(r, k), k)
    dying = []
    for k, node in enumerate(program.nodes):
        roots = [root.get(id(i), id(i)) for i in node.inputs]
        dying.append(
            [
                j
                for j, (i, r) in enumerate(zip(node.inputs, roots))
                if r == id(i)  # the buffer's owner, not a view of it
                and last_use[r] == k
                and all(t is i for t, other in zip(node.inputs, roots) if other == r)
            ]
        )
    return dying


def keyword_reduction(fn: Callable, keep_dtype: bool = False) -> Callable:
    """A reduction lowering for a NumPy-like ``fn(x, axis=..., keepdims=...)``.

    ``keep_dtype`` passes ``dtype=x.dtype``, for sums and products that would otherwise widen
    small integer types.
    """

    def reduce(x, axis=None, keepdims=False):
        if keep_dtype:
            return fn(x, axis=axis, keepdims=keepdims, dtype=x.dtype)
        return fn(x, axis=axis, keepdims=keepdims)

    reduce.__name__ = fn.__name__
    return reduce


def arg_reduction(fn: Callable, dtype: Any = None) -> Callable:
    """An argmax/argmin lowering for ``fn(x, axis=...)``, cast to ``dtype`` when given."""

    def reduce(x, axis):
        out = fn(x, axis=axis)
        return out if dtype is None else out.astype(dtype)

    reduce.__name__ = fn.__name__
    return reduce


class MissingLowering(NotImplementedError):
    """An engine has no lowering for a primitive."""


class Engine:
    """Base class of the engines; subclasses set ``name``, ``lowerings`` and the hooks."""

    name: str = ""
    lowerings: dict[str, Callable[..., Any]] = {}

    def lower(self, node) -> Callable[..., Any]:
        """The engine function computing ``node``, its params bound."""
        fn = self.lowerings.get(node.prim.name)
        if fn is None:
            raise MissingLowering(
                f"the {self.name} engine has no lowering for primitive '{node.prim.name}' "
                f"(needed for {format_node(node)})"
            )
        return functools.partial(fn, **node.params) if node.params else fn

    def constant(self, value: np.ndarray) -> Any:
        """A constant of the program as an engine value (default: as an engine array)."""
        return self.from_numpy(value, value.dtype.name)

    def trace_function(self, program: Program) -> Callable[..., list]:
        """Straight-line Python computing the program: ``f(*inputs, *variables) -> outputs``."""
        names: dict[int, str] = {}
        env: dict[str, Any] = {}
        for k, t in enumerate(program.inputs):
            names[id(t)] = f"i{k}"
        for k, t in enumerate(program.variables):
            names[id(t)] = f"v{k}"
        for k, c in enumerate(program.constants):
            names[id(c)] = f"c{k}"
            env[f"c{k}"] = self.constant(c.value)
        dying = _dying_inputs(program)
        lines = []
        for k, node in enumerate(program.nodes):
            env[f"f{k}"] = self.lower(node)
            names[id(node.output)] = f"t{k}"
            args = [names[id(i)] for i in node.inputs]
            call = self.call_expression(k, node, args, dying[k], env)
            lines.append(f"    t{k} = {call}  # {node.prim.name}")
        params = [names[id(t)] for t in (*program.inputs, *program.variables)]
        lines.append(f"    return [{', '.join(names[id(t)] for t in program.outputs)}]")
        source = f"def program({', '.join(params)}):\n" + "\n".join(lines) + "\n"
        exec(compile(source, f"<polyback {self.name} program>", "exec"), env)
        fn = env["program"]
        fn.source = source
        return fn

    def call_expression(self, k: int, node, args: list[str], dying: list[int], env: dict) -> str:
        """The Python expression computing node ``k`` from ``args`` (names of its inputs).

        ``dying`` lists the positions of inputs whose memory nothing reads after this node,
        through no view either; an engine may reuse it (the NumPy engine does).
        """
        return f"f{k}({', '.join(args)})"

    def compile(self, program: Program) -> Callable[..., list]:
        """A callable ``run(*input_arrays, *variable_values) -> outputs``, inputs as NumPy."""
        raise NotImplementedError

    def from_numpy(self, array: np.ndarray, dtype: str) -> Any:
        raise NotImplementedError

    def to_numpy(self, value: Any) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<polyback engine {self.name}>"
