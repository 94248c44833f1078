"""No difference between engines: the tutorial, state handling, switching and comparing."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import polyback
from polyback import backend as K
from polyback._src import engines as engine_registry

ENGINES = polyback.available_backends()
OTHERS = [e for e in ENGINES if e != "numpy"]


def _linear_regression(backend):
    np.random.seed(0)
    x = K.placeholder()
    target = K.placeholder()
    lr = K.variable(0.1)
    w = K.variable(np.random.rand())
    b = K.variable(np.random.rand())
    y = w * x + b
    loss = K.mean(K.square(y - target))
    grads = K.gradients(loss, [w, b])
    updates = [(w, w - lr * grads[0]), (b, b - lr * grads[1])]
    train = K.function(inputs=[x, target], outputs=[loss], updates=updates, backend=backend)
    np_x = np.random.rand(1000)
    np_target = 0.96 * np_x + 0.24
    losses = [float(train([np_x, np_target])[0]) for _ in range(200)]
    return losses, float(K.eval(w)), float(K.eval(b))


@pytest.mark.parametrize("engine", OTHERS)
def test_linear_regression_agrees_with_numpy(engine):
    ref_losses, ref_w, ref_b = _linear_regression("numpy")
    losses, w, b = _linear_regression(engine)
    assert w == pytest.approx(ref_w, rel=1e-5) and b == pytest.approx(ref_b, rel=1e-5)
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-4, atol=1e-9)


def _otto_first_steps(backend, X, Y, softmax_output=False):
    np.random.seed(1)
    x = K.placeholder(dtype="float", shape=X.shape)
    target = K.placeholder(dtype="float", shape=Y.shape)
    W = K.variable(np.random.rand(X.shape[1], Y.shape[1]))
    b = K.variable(np.random.rand(Y.shape[1]))
    y = K.dot(x, W) + b
    loss = K.categorical_crossentropy(target, K.softmax(y) if softmax_output else y)
    lr = K.constant(0.01)
    grads = K.gradients(loss, [W, b])
    updates = [(W, W - lr * grads[0]), (b, b - lr * grads[1])]
    train = K.function(inputs=[x, target], outputs=[loss], updates=updates, backend=backend)
    first = train([X, Y])[0]
    second = train([X, Y])[0]
    return first, second, K.get_value(W), K.get_value(b)


@pytest.fixture(scope="module")
def otto_arrays(otto_train_path):
    from polyback.datasets import load_data, preprocess_data, preprocess_labels

    np.random.seed(1337)
    X, labels = load_data(otto_train_path)
    X, _ = preprocess_data(X)
    Y, _ = preprocess_labels(labels)
    return X, Y


def _relative_error(got, expected):
    """Norm-wise relative error. The tutorial's loss divides logits by their row sum, which
    is near zero for a few rows: there float32 rounding differences between BLAS libraries
    are amplified, so an elementwise relative bound would measure conditioning, not engines."""
    return float(np.linalg.norm(got - expected) / np.linalg.norm(expected))


@pytest.mark.parametrize("engine", OTHERS)
def test_otto_tutorial_step_agrees_with_numpy(engine, otto_arrays):
    """The tutorial as written: logits treated as probabilities. Its gradient divides by the
    squared row sums, so after one step the weights carry that ill-conditioning; only the
    first-step loss is a like-for-like comparison of engines."""
    X, Y = otto_arrays
    ref = _otto_first_steps("numpy", X, Y)
    got = _otto_first_steps(engine, X, Y)
    assert _relative_error(got[0], ref[0]) < 1e-5


@pytest.mark.parametrize("engine", OTHERS)
def test_otto_softmax_training_agrees_with_numpy(engine, otto_arrays):
    """A well-conditioned variant (softmax output): losses and weights after two steps."""
    X, Y = otto_arrays
    ref = _otto_first_steps("numpy", X, Y, softmax_output=True)
    got = _otto_first_steps(engine, X, Y, softmax_output=True)
    errors = [_relative_error(g, r) for g, r in zip(got, ref)]
    assert max(errors) < 1e-5, errors


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int32", "bool"])
def test_large_select_against_zero_matches_numpy_bit_for_bit(engine, dtype):
    # Large selections between an array and a zero (gradient masks) take a branch-free path in
    # some engines; what the mask drops (NaN, infinities, -0.0) must not leak through.
    rng = np.random.default_rng(0)
    cond = rng.random((300, 50)) > 0.5
    x = (rng.standard_normal((300, 50)) * 5).astype(dtype)
    if x.dtype.kind == "f":
        x[:2, :3] = [[np.nan, -0.0, np.inf], [-np.inf, 0.0, -1.5]]
    c = K.placeholder(shape=cond.shape, dtype="bool", name="cond")
    v = K.placeholder(shape=x.shape, dtype=dtype, name="v")
    zero = K.zeros_like(v)
    f = K.function([c, v], [K.switch(c, v, zero), K.switch(c, zero, v)], backend=engine)
    for got, expected in zip(f([cond, x]), [np.where(cond, x, 0), np.where(cond, 0, x)]):
        expected = expected.astype(dtype)
        assert got.dtype == expected.dtype and got.shape == expected.shape
        np.testing.assert_array_equal(got.view(np.uint8), expected.view(np.uint8))


@pytest.mark.parametrize("engine", ENGINES)
def test_large_select_of_a_computed_array_matches_numpy(engine):
    # the selected array dies with the select, so an engine may write the result into it
    x = np.random.default_rng(2).standard_normal((200, 100)).astype("float32")
    v = K.placeholder(shape=x.shape, name="v")
    kept = K.function([v], [K.switch(v * 2 > 0, v * 3, K.zeros_like(v))], backend=engine)([x])
    np.testing.assert_array_equal(kept[0], np.where(x > 0, x * np.float32(3), np.float32(0)))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("shape_a, shape_b", [((5000, 20), (5000, 3)), ((5000, 3), (5000, 20))])
def test_product_with_a_transposed_tall_matrix_matches_numpy(engine, shape_a, shape_b):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
    pa = K.placeholder(shape=shape_a, dtype="float64", name="a")
    pb = K.placeholder(shape=shape_b, dtype="float64", name="b")
    product = K.function([pa, pb], [K.dot(K.transpose(pa), pb)], backend=engine)([a, b])[0]
    expected = np.einsum("ki,kj->ij", a, b)
    np.testing.assert_allclose(product, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("engine", OTHERS)
def test_state_lives_in_the_engine_that_uses_it(engine):
    v = K.variable(np.arange(3.0), name="v")
    step = K.function([], [], updates=[(v, v + 1)], backend=engine)
    for _ in range(3):
        step([])
    assert set(v._values) == {engine}  # no NumPy copy made during the loop
    np.testing.assert_array_equal(K.get_value(v), [3.0, 4.0, 5.0])


@pytest.mark.parametrize("engine", OTHERS)
def test_variable_shared_by_two_engines_stays_correct(engine):
    v = K.variable(np.array([1.0, 2.0]), name="shared")
    on_numpy = K.function([], [v * 1], updates=[(v, v * 2)], backend="numpy")
    on_other = K.function([], [v * 1], updates=[(v, v + 1)], backend=engine)
    np.testing.assert_array_equal(on_numpy([])[0], [1.0, 2.0])  # v -> [2, 4]
    np.testing.assert_array_equal(on_other([])[0], [2.0, 4.0])  # v -> [3, 5]
    np.testing.assert_array_equal(on_numpy([])[0], [3.0, 5.0])  # v -> [6, 10]
    K.set_value(v, [0.5, 0.5])
    np.testing.assert_array_equal(on_other([])[0], [0.5, 0.5])
    np.testing.assert_array_equal(K.get_value(v), [1.5, 1.5])


@pytest.mark.parametrize("engine", OTHERS)
def test_set_backend_applies_to_functions_built_afterwards(engine):
    x = K.placeholder(shape=(2,), name="x")
    before = K.function([x], [x * 2])
    polyback.set_backend(engine)
    try:
        after = K.function([x], [x * 2])
        assert K.backend() == engine
    finally:
        polyback.set_backend("numpy")
    assert before.engine.name == "numpy" and after.engine.name == engine
    np.testing.assert_array_equal(after([np.array([1.0, 2.0])])[0], [2.0, 4.0])


def test_available_backends_lists_numpy_first():
    assert ENGINES[0] == "numpy"
    assert set(ENGINES) <= {"numpy", "tensorflow", "theano", "jax", "torch"}


def test_missing_engine_package_names_the_extra(monkeypatch):
    fake = dataclasses.replace(engine_registry.ENGINES["jax"], package="no_such_package_xyz")
    monkeypatch.setitem(engine_registry.ENGINES, "jax", fake)
    monkeypatch.delitem(engine_registry._loaded, "jax", raising=False)
    with pytest.raises(ImportError, match=r'pip install "polyback\[jax\]"'):
        polyback.set_backend("jax")
    x = K.placeholder(shape=(1,))
    with pytest.raises(ImportError, match="no_such_package_xyz"):
        K.function([x], [x], backend="jax")
    assert "jax" not in polyback.available_backends()


def test_compare_backends_reports_each_engine():
    x = K.placeholder(shape=(None, 3), name="x")
    w = K.variable(np.full((3, 2), 0.5), name="w")
    y = K.softmax(K.dot(x, w))
    f = K.function([x], [y], updates=[(w, w * 2)])
    data = np.random.default_rng(0).normal(size=(4, 3))
    report = polyback.compare_backends(f, [data])
    assert list(report.results) == ENGINES
    for engine in ENGINES:
        assert report.max_rel_diff(engine) < 1e-5
        assert engine in str(report)
    np.testing.assert_array_equal(K.get_value(w), np.full((3, 2), 0.5))  # nothing applied
    by_tensor = polyback.compare_backends(y, {x: data}, backends=["numpy"])
    expected = np.exp(data @ np.full((3, 2), 0.5))
    np.testing.assert_allclose(
        by_tensor.results["numpy"][0], expected / expected.sum(1, keepdims=True), rtol=1e-6
    )
    with pytest.raises(ValueError, match="'x'"):
        polyback.compare_backends(y, {})


def test_compare_backends_gives_every_engine_the_same_random_numbers():
    x = K.placeholder(shape=(None, 8), name="x")
    w = K.variable(np.ones((8, 1)))
    f = K.function([x], [K.dot(K.dropout(x, 0.5, seed=7), w)])
    report = polyback.compare_backends(f, [np.ones((4, 8))])
    for engine in ENGINES:
        assert report.max_abs_diff(engine) == 0.0
    keep = np.random.default_rng(7).uniform(size=(4, 8)) < 0.5
    np.testing.assert_allclose(f([np.ones((4, 8))])[0], (keep * 2.0).sum(1, keepdims=True))


def test_compare_backends_reports_an_engine_that_fails(monkeypatch):
    x = K.placeholder(shape=(2,), name="x")
    engine = polyback._src.engines.get_engine("numpy")
    broken = "jax" if "jax" in ENGINES else None
    if broken is None:
        pytest.fail("this test needs a second engine installed")

    def fail(program):
        raise RuntimeError("engine down")

    monkeypatch.setattr(polyback._src.engines.get_engine(broken), "compile", fail)
    report = polyback.compare_backends(x * 2, {x: np.ones(2)}, backends=["numpy", broken])
    assert "engine down" in report.errors[broken] and broken in str(report)
    assert report.max_abs_diff(broken) == float("inf")
    assert engine.name == "numpy" and report.max_abs_diff("numpy") == 0.0


@pytest.mark.filterwarnings("ignore:.*encountered in log:RuntimeWarning")
def test_compare_backends_compares_nan_and_inf_as_values(monkeypatch):
    x = K.placeholder(shape=(4,), name="x")
    data = np.array([0.0, 1.0, -1.0, np.e])  # log: -inf, 0, nan, 1
    report = polyback.compare_backends(K.log(x), {x: data})
    assert np.isnan(report.results["numpy"][0][2]) and np.isneginf(report.results["numpy"][0][0])
    for engine in ENGINES:  # the same NaN and -inf everywhere: no difference, not nan
        assert report.max_rel_diff(engine) < 1e-6 and report.nonfinite_mismatches(engine) == 0
    if not OTHERS:
        pytest.fail("this test needs a second engine installed")
    other = polyback._src.engines.get_engine(OTHERS[0])
    to_numpy = other.to_numpy

    def nan_to_zero_and_flip_inf(value):  # as an engine whose gradient mask hides a NaN
        result = np.array(to_numpy(value))
        result[np.isnan(result)] = 0.0
        result[np.isinf(result)] *= -1
        return result

    monkeypatch.setattr(other, "to_numpy", nan_to_zero_and_flip_inf)
    report = polyback.compare_backends(K.log(x), {x: data}, backends=["numpy", OTHERS[0]])
    assert report.nonfinite_mismatches(OTHERS[0]) == 2  # the NaN and the -inf
    assert report.max_abs_diff(OTHERS[0]) == report.max_rel_diff(OTHERS[0]) == float("inf")
    assert "NaN/inf mismatches" in str(report) and "nan" not in str(report)


def test_compare_backends_relative_difference_is_scaled_by_the_result():
    from polyback.compare import Comparison

    def rel(result, reference):
        results = {"numpy": [np.array(reference)], "other": [np.array(result)]}
        return Comparison("numpy", ["output 0"], results).max_rel_diff("other")

    assert rel([2.0, 2e-7], [2.0, 0.0]) == pytest.approx(1e-7)  # not 2e-7 / 0
    assert rel([-4.0, 1.0], [-3.0, 1.0]) == pytest.approx(1 / 3)
    assert rel([0.0, 0.0], [0.0, 0.0]) == 0.0
    assert rel([0.0, 1e-7], [0.0, 0.0]) == float("inf")


def test_compare_backends_raises_when_the_reference_fails():
    x = K.placeholder(shape=(None, 3), name="x")
    y = K.dot(x, K.variable(np.ones((3, 2))))
    with pytest.raises(ValueError, match=r"reference \(numpy\) run failed.*expects shape"):
        polyback.compare_backends(y, {x: np.ones((2, 4))})
    with pytest.raises(ValueError, match=r"reference \(numpy\) run failed.*takes 1 inputs"):
        polyback.compare_backends(K.function([x], [y]), [np.ones((2, 3)), 1])


@pytest.mark.skipif("theano" not in ENGINES, reason="PyTensor is not installed")
@pytest.mark.filterwarnings("ignore:Disabling C code")  # PyTensor's, for float16
def test_theano_engine_names_itself_when_pytensor_lacks_an_operation():
    x = K.placeholder(shape=(2, 3), dtype="float16", name="x")
    f = K.function([x], [K.softmax(x)], backend="theano")
    with pytest.raises(NotImplementedError, match="theano engine"):
        f([np.ones((2, 3), "float16")])
