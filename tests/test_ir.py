"""The IR: types, inference errors, graph checking and printing, deep graphs."""

from __future__ import annotations

import numpy as np
import pytest

from polyback import backend as K
from polyback._src import prims as P
from polyback._src.ir import Graph, toposort
from polyback._src.prims import InferenceError, describe


def test_inference_errors_name_the_op_and_shapes():
    a = K.placeholder(shape=(None, 3), name="a")
    b = K.placeholder(shape=(4, 5), name="b")
    with pytest.raises(InferenceError, match=r"add\(a: float32\[\?,3\], b: float32\[4,5\]\)"):
        a + b
    with pytest.raises(InferenceError, match=r"matmul.*inner dimensions differ: 3 vs 4"):
        K.dot(a, b)
    with pytest.raises(InferenceError, match="axis 2 is out of range for rank 2"):
        K.sum(a, axis=2)


def test_unknown_dims_and_rank_propagate():
    x = K.placeholder(name="x")
    y = K.placeholder(shape=(None, 1), name="y")
    assert (x + 1).shape is None
    assert (y + K.placeholder(shape=(7,))).shape == (None, 7)
    assert K.sum(y, axis=0).shape == (1,)
    assert K.sum(x).shape == ()


def test_graph_check_and_print():
    x = K.placeholder(shape=(2, 3), name="x")
    w = K.variable(np.ones((3, 4)), name="w")
    out = K.relu(K.dot(x, w))
    graph = Graph([out])
    graph.check()
    assert graph.placeholders == [x] and graph.variables == [w]
    text = str(graph)
    assert text.splitlines()[0] == "placeholder x: float32[2,3]"
    assert "matmul(x, w)" in text and text.splitlines()[-1].startswith("outputs: ")
    out.node.output.type = type(out.type)((9,), "float32")  # corrupt a stored type
    with pytest.raises(AssertionError, match="inference gives"):
        graph.check()


def test_deep_graphs_need_no_recursion():
    x = K.placeholder(shape=(3,), name="x")
    y = x
    for _ in range(2000):  # deeper than Python's recursion limit (1000)
        y = y + 1.0
    assert len(toposort([y])) == 2000
    (g,) = K.gradients(K.sum(y), [x])
    f = K.function([x], [y, g])
    out, grad = f([np.zeros(3)])
    np.testing.assert_allclose(out, [2000.0] * 3)
    np.testing.assert_allclose(grad, [1.0] * 3)


def test_describe_a_primitive():
    text = describe("exp")
    assert "primitive exp" in text and "numpy: lowered" in text
    assert "no engine lowers it" in describe("sum_like")


def test_specialisation_folds_shape_helpers():
    x = K.placeholder(shape=(None, 4), name="x")
    f = K.function([x], [K.mean(x, axis=0)])
    program = f.program([np.zeros((5, 4))])
    names = [node.prim.name for node in program.nodes]
    assert "dim_size" not in names and all(not P.PRIMITIVES[n].symbolic_only for n in names)
    np.testing.assert_allclose(f([np.arange(8.0).reshape(2, 4)])[0], [2.0, 3.0, 4.0, 5.0])
