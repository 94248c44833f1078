"""The rest of the Keras backend: shapes, padding, randomness, learning phase, utilities."""

from __future__ import annotations

import numpy as np
import pytest

import polyback
from polyback import backend as K

RNG = np.random.default_rng(7)


def run(tensor, feeds=()):
    return K.function([p for p, _ in feeds], [tensor])([v for _, v in feeds])[0]


def test_shape_functions_match_numpy():
    d = RNG.normal(size=(2, 3, 4)).astype("float32")
    x = K.placeholder(shape=(2, 3, 4), name="x")
    cases = [
        (K.reshape(x, (4, -1)), d.reshape(4, -1)),
        (K.transpose(x), d.T),
        (K.permute_dimensions(x, (1, 0, 2)), d.transpose(1, 0, 2)),
        (K.expand_dims(x, 1), d[:, None]),
        (K.squeeze(K.expand_dims(x, 0), 0), d),
        (K.flatten(x), d.ravel()),
        (K.batch_flatten(x), d.reshape(2, -1)),
        (K.repeat_elements(x, 3, axis=1), np.repeat(d, 3, axis=1)),
        (K.tile(x, (2, 1, 3)), np.tile(d, (2, 1, 3))),
        (K.tile(x, 2), np.tile(d, 2)),
        (K.reverse(x, [0, 2]), d[::-1, :, ::-1]),
        (K.slice(x, (0, 1, 1), (-1, 2, 2)), d[:, 1:3, 1:3]),
        (K.temporal_padding(x, (1, 2)), np.pad(d, [(0, 0), (1, 2), (0, 0)])),
        (K.l2_normalize(x, axis=-1), d / np.sqrt((d**2).sum(-1, keepdims=True))),
        (K.bias_add(x, K.constant(np.arange(4.0))), d + np.arange(4.0)),
    ]
    for k, (tensor, expected) in enumerate(cases):
        np.testing.assert_allclose(run(tensor, [(x, d)]), expected, rtol=1e-6, err_msg=f"{k}")
    m = d[:, :2]
    y = K.placeholder(shape=(2, 2, 4), name="m")
    np.testing.assert_array_equal(run(K.repeat(K.constant(m[:, 0]), 3)), np.stack([m[:, 0]] * 3, 1))
    img = RNG.normal(size=(1, 2, 3, 2)).astype("float32")
    expected = np.repeat(np.repeat(img, 2, axis=1), 3, axis=2)
    np.testing.assert_array_equal(
        K.eval(K.resize_images(K.constant(img), 2, 3, "channels_last")), expected
    )
    padded = K.spatial_2d_padding(K.constant(img), ((1, 0), (0, 2)))
    np.testing.assert_array_equal(K.eval(padded), np.pad(img, [(0, 0), (1, 0), (0, 2), (0, 0)]))
    assert y.shape == (2, 2, 4)


def test_padding_gradient_is_the_slice():
    x = K.placeholder(shape=(2, 3), name="x")
    w = K.constant(RNG.normal(size=(4, 6)))
    (g,) = K.gradients(
        K.sum(
            K.spatial_2d_padding(K.reshape(x, (1, 2, 3, 1)), ((1, 1), (2, 1)))
            * K.reshape(w, (1, 4, 6, 1))
        ),
        [x],
    )
    np.testing.assert_allclose(run(g, [(x, np.zeros((2, 3)))]), K.eval(w)[1:3, 2:5], rtol=1e-6)


def test_batch_dot_matches_keras_examples():
    x, y = RNG.normal(size=(32, 20)), RNG.normal(size=(32, 30, 20))
    got = K.eval(K.batch_dot(K.constant(x), K.constant(y), axes=(1, 2)))
    assert got.shape == (32, 30)
    np.testing.assert_allclose(got, np.einsum("bi,bji->bj", x, y), rtol=1e-4, atol=1e-5)
    a, b = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))
    got = K.eval(K.batch_dot(K.constant(a), K.constant(b), axes=1))
    np.testing.assert_allclose(got, (a * b).sum(1, keepdims=True), rtol=1e-5)


def test_arange_one_hot_in_top_k():
    np.testing.assert_array_equal(K.eval(K.arange(2, 8, 2)), [2, 4, 6])
    np.testing.assert_array_equal(
        K.eval(K.one_hot(K.constant([0, 2], "int32"), 3)), np.eye(3)[[0, 2]]
    )
    p = np.array([[0.1, 0.5, 0.4], [0.3, 0.3, 0.4]], dtype="float32")
    got = K.eval(K.in_top_k(K.constant(p), K.constant([2, 0], "int32"), 1))
    np.testing.assert_array_equal(got, [False, False])
    got = K.eval(K.in_top_k(K.constant(p), K.constant([2, 1], "int32"), 2))
    np.testing.assert_array_equal(got, [True, True])  # ties at the boundary count as in


def test_switch_and_learning_phase():
    x = K.placeholder(shape=(2, 3), name="x")
    d = np.arange(6.0, dtype="float32").reshape(2, 3)
    rows = K.switch(K.constant([True, False], "bool"), x, -x)
    np.testing.assert_array_equal(run(rows, [(x, d)]), np.where([[True], [False]], d, -d))
    np.testing.assert_array_equal(
        run(K.switch(K.constant(True, "bool"), lambda: x, lambda: x * 0), [(x, d)]), d
    )
    y = K.in_train_phase(x * 2, x * 3)
    f = K.function([x], [y])
    np.testing.assert_array_equal(f([d])[0], d * 3)  # test phase by default
    explicit = K.function([x, K.learning_phase()], [y])
    np.testing.assert_array_equal(explicit([d, 1])[0], d * 2)
    K.set_learning_phase(1)
    try:
        assert K.learning_phase() == 1
        np.testing.assert_array_equal(f([d])[0], d * 3)  # built before: keeps its phase
        later = K.function([x], [K.in_train_phase(x * 2, x * 3)])
        np.testing.assert_array_equal(later([d])[0], d * 2)
    finally:
        K.clear_session()
    assert K.is_placeholder(K.learning_phase())
    np.testing.assert_array_equal(K.in_test_phase(x, x * 5, training=0) is x, True)
    with pytest.raises(ValueError, match="0 or 1"):
        K.set_learning_phase(2)


def test_random_tensors_are_fresh_each_call_and_reproducible():
    r = K.random_normal((3, 4), mean=1.0, stddev=2.0, seed=11)
    f = K.function([], [r])
    first, second = f([])[0], f([])[0]
    g = np.random.default_rng(11)
    np.testing.assert_allclose(first, g.normal(1.0, 2.0, size=(3, 4)).astype("float32"))
    np.testing.assert_allclose(second, g.normal(1.0, 2.0, size=(3, 4)).astype("float32"))
    u = K.eval(K.random_uniform((1000,), -1, 3, seed=1))
    assert u.dtype == np.float32 and u.min() >= -1 and u.max() < 3
    b = K.eval(K.random_binomial((1000,), p=0.3, seed=2))
    assert set(np.unique(b)) <= {0.0, 1.0}
    t = K.eval(K.truncated_normal((2000,), stddev=0.5, seed=3))
    assert np.abs(t).max() <= 1.0
    v = K.random_normal_variable((2, 2), 0.0, 1.0, seed=5)
    np.testing.assert_allclose(
        K.get_value(v), np.random.default_rng(5).normal(size=(2, 2)).astype("float32")
    )
    w = K.random_uniform_variable((3,), 0, 1, seed=6)
    np.testing.assert_allclose(
        K.get_value(w), np.random.default_rng(6).uniform(size=3).astype("float32")
    )


def test_dropout_keeps_scaled_values():
    x = K.placeholder(shape=(None, 50), name="x")
    f = K.function([x], [K.dropout(x, 0.2, seed=4)])
    (out,) = f([np.ones((40, 50))])
    kept = out != 0
    np.testing.assert_allclose(out[kept], 1 / 0.8)
    expected_mask = np.random.default_rng(4).uniform(size=(40, 50)) < 0.8
    np.testing.assert_array_equal(kept, expected_mask)
    col = K.function([x], [K.dropout(x, 0.5, noise_shape=(1, 50), seed=9)])([np.ones((3, 50))])[0]
    np.testing.assert_array_equal(col[0], col[1])  # one mask shared along the batch axis


@pytest.mark.parametrize("engine", polyback.available_backends())
def test_random_numbers_are_the_same_on_every_engine(engine):
    x = K.placeholder(shape=(None, 8), name="x")
    f = K.function(
        [x], [K.dropout(x, 0.5, seed=21) + K.random_normal((8,), seed=22)], backend=engine
    )
    got = f([np.ones((5, 8))])[0]
    keep = np.random.default_rng(21).uniform(size=(5, 8)) < 0.5
    noise = np.random.default_rng(22).normal(size=8).astype("float32")
    np.testing.assert_allclose(got, keep * 2.0 + noise, rtol=1e-6)


def test_batch_normalization_functions():
    d = RNG.normal(size=(6, 3)).astype("float32")
    x = K.placeholder(shape=(None, 3), name="x")
    gamma, beta = K.constant([1.0, 2.0, 0.5]), K.constant([0.0, 1.0, -1.0])
    normed, mean, var = K.normalize_batch_in_training(x, gamma, beta, [0])
    f = K.function([x], [normed, mean, var])
    got_n, got_m, got_v = f([d])
    np.testing.assert_allclose(got_m, d.mean(0), rtol=1e-5)
    np.testing.assert_allclose(got_v, d.var(0), rtol=1e-5)
    expected = (d - d.mean(0)) / np.sqrt(d.var(0) + 1e-3) * [1.0, 2.0, 0.5] + [0.0, 1.0, -1.0]
    np.testing.assert_allclose(got_n, expected, rtol=1e-5, atol=1e-6)


def test_utilities():
    K.reset_uids()
    assert [K.get_uid("dense"), K.get_uid("dense"), K.get_uid("conv")] == [1, 2, 1]
    K.clear_session()
    assert K.get_uid("dense") == 1
    assert K.cast_to_floatx([1, 2]).dtype == np.float32
    assert K.normalize_data_format(None) == "channels_last"
    with pytest.raises(ValueError, match="data_format"):
        K.normalize_data_format("nhwc")
    sp = K.placeholder(shape=(2, 2), sparse=True)
    assert K.is_sparse(sp) and not K.is_sparse(K.placeholder(shape=(2,)))
    assert K.is_tensor(sp) and not K.is_keras_tensor(sp)  # no layer made it (Keras 2.3)
    assert not K.is_keras_tensor(K.variable(1.0)) and not K.is_keras_tensor(sp + 1)
    with pytest.raises(ValueError, match="expected a polyback tensor"):
        K.is_keras_tensor(np.ones(2))
    v = K.variable(np.array([1.0, 2.0]))
    f = K.function([], [], updates=[K.moving_average_update(v, K.constant([3.0, 4.0]), 0.9)])
    f([])
    np.testing.assert_allclose(K.get_value(v), [1.2, 2.2], rtol=1e-6)
    np.testing.assert_array_equal(K.eval(K.identity(v)), K.get_value(v))
    with K.name_scope("block"):
        pass


def test_sparse_placeholder_is_fed_dense_from_scipy():
    import scipy.sparse as scipy_sparse  # installed with scikit-learn (the examples extra)

    x = K.placeholder(shape=(2, 3), sparse=True, name="s")
    m = scipy_sparse.csr_matrix(np.array([[0, 1, 0], [2, 0, 0]], dtype="float32"))
    np.testing.assert_array_equal(K.function([x], [K.sum(x, axis=0)])([m])[0], [2, 1, 0])


@pytest.mark.parametrize("engine", polyback.available_backends())
def test_integer_division_by_zero_gives_numpy_results(engine):
    a = K.placeholder(shape=(3,), dtype="int32", name="a")
    b = K.placeholder(shape=(3,), dtype="int32", name="b")
    f = K.function([a, b], [a // b, a % b], backend=engine)
    with np.errstate(divide="ignore"):
        quotient, remainder = f([np.array([7, -7, 5]), np.array([2, 2, 0])])
    np.testing.assert_array_equal(quotient, [3, -4, 0])  # NumPy: x // 0 == 0
    np.testing.assert_array_equal(remainder, [1, 1, 0])  # NumPy: x % 0 == 0
