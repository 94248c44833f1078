"""K.gradients: graph to graph, None for unconnected, sums of non-scalar losses, nesting."""

from __future__ import annotations

import numpy as np
import pytest

import polyback
from polyback import backend as K


def _value(tensor, feeds=()):
    inputs = [p for p, _ in feeds]
    return K.function(inputs, [tensor])([v for _, v in feeds])[0]


def test_returns_a_list_with_none_for_unconnected_variables():
    a = K.variable(2.0, name="a")
    b = K.variable(3.0, name="b")
    grads = K.gradients(a * a, [a, b])
    assert isinstance(grads, list) and grads[1] is None
    assert _value(grads[0]) == pytest.approx(4.0)
    single = K.gradients(a * a, a)
    assert isinstance(single, list) and len(single) == 1


def test_non_scalar_loss_differentiates_its_sum():
    x = K.placeholder(shape=(3,), name="x")
    w = K.variable(np.array([1.0, 2.0, 3.0]), name="w")
    (g,) = K.gradients(w * x, [w])  # d/dw sum(w * x) = x
    data = np.array([4.0, 5.0, 6.0], dtype="float32")
    np.testing.assert_allclose(_value(g, [(x, data)]), data)


def test_stop_gradient_blocks_the_flow():
    w = K.variable(3.0, name="w")
    loss = w * K.stop_gradient(w)  # d/dw = stop(w) = 3, not 2w = 6
    (g,) = K.gradients(loss, [w])
    assert _value(g) == pytest.approx(3.0)
    assert K.gradients(K.stop_gradient(w * w), [w]) == [None]
    assert len(K.stop_gradient([w, w])) == 2


def test_gradient_of_gradient():
    w = K.variable(0.5, name="w")
    (g,) = K.gradients(K.sum(K.exp(w * w)), [w])  # 2w e^{w^2}
    (h,) = K.gradients(g, [w])  # (2 + 4w^2) e^{w^2}
    assert _value(g) == pytest.approx(2 * 0.5 * np.exp(0.25), rel=1e-6)
    assert _value(h) == pytest.approx((2 + 4 * 0.25) * np.exp(0.25), rel=1e-6)


def test_gradient_with_broadcasting_sums_back_to_the_variable_shape():
    x = K.placeholder(shape=(None, 3), name="x")
    b = K.variable(np.zeros(3), name="b")
    s = K.variable(0.0, name="s")
    (gb, gs) = K.gradients(K.sum((x + b) * s + x * s), [b, s])
    data = np.arange(6, dtype="float32").reshape(2, 3)
    f = K.function([x], [gb, gs])
    got_b, got_s = f([data])
    np.testing.assert_allclose(got_b, [0.0, 0.0, 0.0])  # s = 0
    assert got_s == pytest.approx(2 * data.sum())


def test_shared_subexpressions_accumulate():
    w = K.variable(np.array([1.0, -2.0]), name="w")
    y = w * w
    loss = K.sum(y + y * 3.0)  # 4 w^2 -> 8 w
    (g,) = K.gradients(loss, [w])
    np.testing.assert_allclose(_value(g), [8.0, -16.0])


def test_gradient_with_respect_to_placeholder_and_integer_paths():
    x = K.placeholder(shape=(2,), name="x")
    idx = K.cast(x, "int32")  # no gradient flows through integers
    loss = K.sum(x * x) + K.sum(K.cast(idx, "float32"))
    (g,) = K.gradients(loss, [x])
    np.testing.assert_allclose(_value(g, [(x, np.array([1.5, 2.0]))]), [3.0, 4.0])


def test_integer_loss_is_refused():
    i = K.placeholder(shape=(2,), dtype="int32", name="i")
    with pytest.raises(TypeError, match="int32"):
        K.gradients(K.sum(i), [i])


def test_cast_gradient_returns_the_input_dtype():
    x = K.placeholder(shape=(3,), dtype="float32", name="x")
    (g,) = K.gradients(K.sum(K.cast(x, "float64") ** 2), [x])
    assert g.dtype == "float32"
    out = _value(g, [(x, np.array([1.0, 2.0, 3.0]))])
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [2.0, 4.0, 6.0])


def test_gradient_with_respect_to_computed_tensors():
    # as Grad-CAM (a layer's output) and WGAN-GP (interpolated samples) use it
    a = K.placeholder(shape=(None, 3), name="a")
    b = K.placeholder(shape=(None, 3), name="b")
    W = K.variable(np.array([[1.0, -2.0], [0.5, 3.0], [-1.0, 1.0]]))
    interp = 0.25 * a + 0.75 * b
    h = K.dot(interp, W)
    loss = K.sum(K.square(h))
    g_h, g_interp, g_W, g_loss = K.gradients(loss, [h, interp, W, loss])
    av = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 2.0]])
    bv = np.array([[2.0, 0.0, 1.0], [1.0, 1.0, -1.0]])
    values = K.function([a, b], [g_h, g_interp, g_W, g_loss])([av, bv])
    w = K.get_value(W).astype(np.float64)
    iv = 0.25 * av + 0.75 * bv
    hv = iv @ w
    expected = [2 * hv, 2 * hv @ w.T, iv.T @ (2 * hv), 1.0]
    for got, want in zip(values, expected):
        np.testing.assert_allclose(got, want, rtol=1e-5)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's, for log(0) and 0 / 0
@pytest.mark.parametrize("engine", polyback.available_backends())
def test_masked_log_gradient_keeps_the_nan_of_the_masked_position(engine):
    # d/dp of switch(m, log(p), 0) at p = 0 is 0 * (1 / 0) = nan on every engine, as in NumPy
    p = K.placeholder(shape=(None, 3), name="p")
    m = K.placeholder(shape=(None, 3), name="m")
    (g,) = K.gradients(-K.sum(K.switch(K.greater(m, 0), K.log(p), K.zeros_like(p))), [p])
    got = K.function([p, m], [g], backend=engine)([[[0.5, 0.0, 0.25]], [[1.0, 0.0, 1.0]]])[0]
    np.testing.assert_array_equal(got, [[-2.0, np.nan, -4.0]])
