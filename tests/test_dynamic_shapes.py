"""Shapes known only from the fed arrays: K.shape(x)[0] in reshape, zeros, ones and random."""

from __future__ import annotations

import numpy as np
import pytest

import polyback
from polyback import backend as K

ENGINES = polyback.available_backends()


@pytest.mark.parametrize("engine", ENGINES)
def test_shapes_built_from_the_batch_size_follow_each_call(engine):
    x = K.placeholder(shape=(None, 4), name="x")
    batch = K.shape(x)[0]
    outputs = [
        K.reshape(x, (batch, 2, 2)),
        K.reshape(x, K.shape(x)),
        K.zeros((batch, 2)),
        K.ones((batch, 3), dtype="int32"),
        K.random_normal(shape=K.shape(x)),
        K.random_uniform(shape=(batch, 2)),
        K.random_binomial(shape=K.constant([3, 5], dtype="int32"), p=0.5),
    ]
    f = K.function([x], outputs, backend=engine)
    for rows in (3, 5):
        xv = np.arange(rows * 4, dtype="float32").reshape(rows, 4)
        got = f([xv])
        np.testing.assert_array_equal(got[0], xv.reshape(rows, 2, 2))
        np.testing.assert_array_equal(got[1], xv)
        np.testing.assert_array_equal(got[2], np.zeros((rows, 2), "float32"))
        np.testing.assert_array_equal(got[3], np.ones((rows, 3), "int32"))
        assert got[3].dtype == np.int32
        assert [g.shape for g in got[4:]] == [(rows, 4), (rows, 2), (3, 5)]
        assert np.all((got[5] >= 0) & (got[5] < 1)) and set(np.unique(got[6])) <= {0.0, 1.0}


def test_static_dims_are_kept_for_inference():
    x = K.placeholder(shape=(None, 4), name="x")
    assert K.int_shape(K.reshape(x, (K.shape(x)[0], 2, 2))) == (None, 2, 2)
    assert K.int_shape(K.zeros((K.shape(x)[0], 2))) == (None, 2)
    assert K.int_shape(K.random_normal(shape=K.shape(x))) == (None, None)
    assert isinstance(K.zeros((2, 3)), type(K.variable(0.0)))  # known shape: a Variable


def test_reshape_by_a_computed_shape_has_the_gradient_of_a_reshape():
    x = K.placeholder(shape=(None, 4), name="x")
    y = K.reshape(x, (K.shape(x)[0] * 2, 2))
    (g,) = K.gradients(K.sum(K.square(y) * K.constant([1.0, 3.0])), [x])
    xv = np.arange(8, dtype="float32").reshape(2, 4)
    expected = (2 * xv.reshape(4, 2) * [1.0, 3.0]).reshape(2, 4)
    np.testing.assert_allclose(K.function([x], [g])([xv])[0], expected)


def test_a_shape_from_fed_values_is_refused_clearly():
    x = K.placeholder(shape=(None, 4), name="x")
    n = K.placeholder(shape=(2,), dtype="int32", name="n")
    v = K.variable(1.0, name="v")
    f = K.function([x, n], [K.reshape(x, n)], updates=[(v, v + 1)])
    with pytest.raises(ValueError, match="must follow from the shapes.*values of 'n'"):
        f([np.ones((2, 4)), np.array([4, 2], "int32")])
    assert K.get_value(v) == 1.0


@pytest.mark.parametrize("engine", ENGINES)
def test_tile_repeat_and_padding_with_an_unknown_batch(engine):
    x = K.placeholder(shape=(None, 3), name="x")
    images = K.placeholder(shape=(None, 2, 2, 1), name="images")
    seq = K.placeholder(shape=(None, 2, 3), name="seq")
    outputs = [
        K.tile(x, (2, 3)),
        K.repeat(x, 4),
        K.repeat_elements(x, 2, axis=0),
        K.repeat_elements(x, 2, axis=1),
        K.resize_images(images, 2, 3, "channels_last"),
        K.spatial_2d_padding(images, ((1, 0), (2, 1))),
        K.temporal_padding(seq, (1, 2)),
    ]
    grad = K.gradients(K.sum(K.tile(x, (2, 1)) * K.tile(x, (2, 1))), [x])[0]
    f = K.function([x, images, seq], [*outputs, grad], backend=engine)
    for rows in (1, 3):
        xv = np.arange(rows * 3, dtype="float32").reshape(rows, 3)
        iv = np.arange(rows * 4, dtype="float32").reshape(rows, 2, 2, 1)
        sv = np.arange(rows * 6, dtype="float32").reshape(rows, 2, 3)
        expected = [
            np.tile(xv, (2, 3)),
            np.repeat(xv[:, None, :], 4, axis=1),
            np.repeat(xv, 2, axis=0),
            np.repeat(xv, 2, axis=1),
            np.repeat(np.repeat(iv, 2, axis=1), 3, axis=2),
            np.pad(iv, ((0, 0), (1, 0), (2, 1), (0, 0))),
            np.pad(sv, ((0, 0), (1, 2), (0, 0))),
            4 * xv,
        ]
        for got, want in zip(f([xv, iv, sv]), expected):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("engine", ENGINES)
def test_counts_computed_from_shapes(engine):
    x = K.placeholder(shape=(None, 2), name="x")
    rows, cols = K.shape(x)[0], K.shape(x)[1]
    outputs = [K.tile(x, (rows, 1)), K.repeat(x, cols), K.repeat_elements(x, rows, axis=1)]
    f = K.function([x], outputs, backend=engine)
    xv = np.arange(6, dtype="float32").reshape(3, 2)
    expected = [np.tile(xv, (3, 1)), np.repeat(xv[:, None, :], 2, axis=1), np.repeat(xv, 3, axis=1)]
    for got, want in zip(f([xv]), expected):
        np.testing.assert_array_equal(got, want)


def test_a_count_from_fed_values_is_refused_clearly():
    x = K.placeholder(shape=(None, 2), name="x")
    n = K.placeholder(shape=(), dtype="int32", name="n")
    f = K.function([x, n], [K.tile(x, (n, 1))])
    with pytest.raises(ValueError, match="must follow from the shapes.*values of 'n'"):
        f([np.ones((2, 2)), np.array(3, "int32")])
    with pytest.raises(ValueError, match="a count must be an int or a scalar"):
        K.tile(x, (K.shape(x), 1))
