"""Every primitive on every installed engine: values against the NumPy reference of its test
row, result shape and dtype against inference, and gradients against finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import polyback
from polyback import backend as K
from polyback._src.prims import PRIMITIVES

ENGINES = polyback.available_backends()
ROWS = [
    pytest.param(prim, k, id=f"{name}-{k}")
    for name, prim in sorted(PRIMITIVES.items())
    if not prim.symbolic_only
    for k in range(len(prim.examples))
]


def _placeholders(inputs, dtype=None):
    out = []
    for k, array in enumerate(inputs):
        array = np.asarray(array)
        kind_dtype = dtype if dtype and array.dtype.kind == "f" else array.dtype.name
        out.append(K.placeholder(shape=array.shape, dtype=kind_dtype, name=f"in{k}"))
    return out


def _cast_inputs(inputs, dtype):
    return [np.asarray(a, dtype=dtype) if np.asarray(a).dtype.kind == "f" else a for a in inputs]


def test_every_primitive_has_a_test_row():
    missing = [n for n, p in PRIMITIVES.items() if not p.symbolic_only and not p.examples]
    assert missing == []


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("prim,k", ROWS)
def test_values_match_reference(prim, k, dtype, engine):
    example = prim.examples[k]
    inputs = _cast_inputs(example.inputs, dtype)
    phs = _placeholders(inputs, dtype)
    out = prim(*phs, **example.params)
    f = K.function(phs, [out], backend=engine)
    (got,) = f(inputs)
    expected = np.asarray(example.reference(*inputs, **example.params))
    assert got.shape == out.shape == expected.shape
    assert got.dtype.name == out.dtype
    if expected.dtype.kind == "f":
        tol = 1e-12 if dtype == "float64" else 2e-6
        np.testing.assert_allclose(got, expected, rtol=tol * 10, atol=tol)
    else:
        np.testing.assert_array_equal(got, expected)


def _numeric_grad(fn, inputs, j, weights, h=1e-6):
    """d/d inputs[j] of sum(fn(*inputs) * weights), by central differences."""
    x = np.array(inputs[j], dtype="float64")
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        for sign in (1, -1):
            shifted = x.copy()
            shifted[idx] += sign * h
            args = list(inputs)
            args[j] = shifted
            grad[idx] += sign * np.sum(np.asarray(fn(*args)) * weights)
    return grad / (2 * h)


GRAD_ROWS = [
    row
    for row in ROWS
    if row.values[0].vjp is not None and row.values[0].examples[row.values[1]].grad
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("prim,k", GRAD_ROWS)
def test_gradients_match_finite_differences(prim, k, engine):
    example = prim.examples[k]
    params = example.params
    inputs = _cast_inputs(example.inputs, "float64")
    phs = _placeholders(inputs, "float64")
    out = prim(*phs, **params)
    if not out.dtype.startswith("float"):
        pytest.fail(f"{prim.name} row {k} is marked differentiable but gives {out.dtype}")
    weights = np.random.default_rng(k).uniform(0.5, 1.5, size=out.shape)
    loss = K.sum(out * K.constant(weights, dtype="float64"))
    float_inputs = [j for j, a in enumerate(inputs) if np.asarray(a).dtype.kind == "f"]
    grads = K.gradients(loss, [phs[j] for j in float_inputs])
    connected = [g for g in grads if g is not None]
    values = iter(K.function(phs, connected, backend=engine)(inputs))
    got = [
        next(values) if g is not None else np.zeros(inputs[j].shape)
        for g, j in zip(grads, float_inputs)
    ]

    def reference(*args):
        return np.asarray(example.reference(*args, **params), dtype="float64")

    for g, j in zip(got, float_inputs):
        expected = _numeric_grad(reference, inputs, j, weights)
        np.testing.assert_allclose(g, expected, rtol=1e-5, atol=1e-6, err_msg=f"input {j}")


# Second derivatives: every differentiable primitive on NumPy, a few on every other engine.
SECOND_ROWS = [
    pytest.param(engine, *row.values, id=f"{row.id}-{engine}")
    for row in GRAD_ROWS
    for engine in ENGINES
    if engine == "numpy" or row.values[0].name in {"exp", "multiply", "tanh", "matmul", "sum"}
]


@pytest.mark.parametrize("engine,prim,k", SECOND_ROWS)
def test_second_derivatives_match_finite_differences(prim, k, engine):
    """Gradients are graphs too: differentiate the gradient (its weighted sum) once more."""
    example = prim.examples[k]
    params = example.params
    inputs = _cast_inputs(example.inputs, "float64")
    float_inputs = [j for j, a in enumerate(inputs) if np.asarray(a).dtype.kind == "f"]
    phs = _placeholders(inputs, "float64")
    out = prim(*phs, **params)
    weights = np.random.default_rng(k).uniform(0.5, 1.5, size=out.shape)
    j = float_inputs[0]
    (g,) = K.gradients(K.sum(out * K.constant(weights, dtype="float64")), [phs[j]])
    v = np.random.default_rng(k + 1).uniform(0.5, 1.5, size=g.shape)
    second = K.gradients(K.sum(g * K.constant(v, dtype="float64")), [phs[j]])[0]
    if second is None:  # the gradient does not depend on this input (linear primitive)
        second_value = np.zeros(inputs[j].shape)
    else:
        second_value = K.function(phs, [second], backend=engine)(inputs)[0]
    first = K.function(phs, [g], backend="numpy")

    def grad_fn(*args):
        return first(list(args))[0]

    expected = _numeric_grad(grad_fn, inputs, j, v)
    np.testing.assert_allclose(second_value, expected, rtol=1e-4, atol=1e-5)
