"""K.function: feeding, casting, shape errors, update semantics and atomicity."""

from __future__ import annotations

import numpy as np
import pytest

import polyback
from polyback import backend as K


def test_outputs_are_numpy_and_updates_read_pre_call_values():
    x = K.placeholder(shape=(3,), name="x")
    a = K.variable(np.array([1.0, 2.0, 3.0]), name="a")
    b = K.variable(np.array([10.0, 20.0, 30.0]), name="b")
    # swap-and-add: each update must see the values from before the call
    f = K.function([x], [a + x, b], updates=[(a, b), K.update(b, a + x)])
    out = f([np.ones(3)])
    assert all(isinstance(o, np.ndarray) for o in out)
    np.testing.assert_array_equal(out[0], [2.0, 3.0, 4.0])
    np.testing.assert_array_equal(out[1], [10.0, 20.0, 30.0])
    np.testing.assert_array_equal(K.get_value(a), [10.0, 20.0, 30.0])
    np.testing.assert_array_equal(K.get_value(b), [2.0, 3.0, 4.0])


def test_update_add_and_update_sub():
    v = K.variable(np.array([1.0, 1.0]))
    w = K.variable(np.array([5.0, 5.0]))
    f = K.function([], [], updates=[K.update_add(v, 2.0), K.update_sub(w, v)])
    f([])
    np.testing.assert_array_equal(K.get_value(v), [3.0, 3.0])
    np.testing.assert_array_equal(K.get_value(w), [4.0, 4.0])


def test_float64_data_is_cast_to_float32_placeholder():
    x = K.placeholder(shape=(None, 2), dtype="float32", name="x")
    f = K.function([x], [x * 2])
    (out,) = f([np.array([[1.0, 2.0]], dtype="float64")])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[2.0, 4.0]])


def test_python_lists_and_scalars_are_fed():
    x = K.placeholder(ndim=1, name="x")
    s = K.placeholder(shape=(), name="s")
    (out,) = K.function([x, s], [x * s])([[1, 2, 3], 2])
    np.testing.assert_array_equal(out, [2.0, 4.0, 6.0])


def test_float_into_int_placeholder_is_refused():
    i = K.placeholder(shape=(2,), dtype="int32", name="labels")
    f = K.function([i], [i + 1])
    with pytest.raises(TypeError, match="'labels'.*int32.*float64"):
        f([np.array([1.5, 2.0])])
    np.testing.assert_array_equal(f([np.array([1, 2])])[0], [2, 3])


def test_wrong_rank_names_placeholder_and_shapes():
    x = K.placeholder(shape=(None, 93), name="features")
    f = K.function([x], [K.sum(x)])
    with pytest.raises(ValueError, match=r"'features' expects shape \(None, 93\).*\(4,\)"):
        f([np.zeros(4)])
    v = K.placeholder(shape=(2,), name="pair")
    with pytest.raises(ValueError, match=r"'pair' expects shape \(2,\) but was fed .* \(3,\)"):
        K.function([v], [v * 2])([np.zeros(3)])


def test_wrong_fixed_dim_names_placeholder_and_shapes():
    x = K.placeholder(shape=(None, 93), name="features")
    f = K.function([x], [K.sum(x)])
    with pytest.raises(ValueError, match=r"'features' expects shape \(None, 93\).*\(5, 92\)"):
        f([np.zeros((5, 92))])


def test_wrong_number_of_inputs():
    x = K.placeholder(shape=(2,), name="x")
    f = K.function([x], [x])
    with pytest.raises(ValueError, match="takes 1 inputs"):
        f([np.zeros(2), np.zeros(2)])
    with pytest.raises(TypeError, match="list of arrays"):
        f(np.zeros(2))


def test_missing_placeholder_in_inputs_is_named():
    x = K.placeholder(shape=(2,), name="x")
    y = K.placeholder(shape=(2,), name="hidden_input")
    with pytest.raises(ValueError, match="'hidden_input'"):
        K.function([x], [x + y])


def test_failed_call_changes_no_variable():
    x = K.placeholder(shape=(None, 2), name="x")
    v = K.variable(np.array([1.0, 2.0]), name="v")
    w = K.variable(np.array([3.0, 4.0]), name="w")
    f = K.function([x], [K.sum(x)], updates=[(v, v + 1), (w, w + K.sum(x, axis=0))])
    f([np.ones((3, 2))])
    before = K.get_value(v), K.get_value(w)
    with pytest.raises(ValueError):
        f([np.ones((3, 5))])
    np.testing.assert_array_equal(K.get_value(v), before[0])
    np.testing.assert_array_equal(K.get_value(w), before[1])


def test_engine_error_mid_call_changes_no_variable(monkeypatch):
    x = K.placeholder(shape=(2,), name="x")
    v = K.variable(np.array([1.0, 2.0]), name="v")
    f = K.function([x], [x * 2], updates=[(v, v + x)])
    f([np.ones(2)])
    run, copies, program, randoms = f._lookup([np.ones(2, dtype="float32")])

    def broken(*args):
        run(*args)
        raise RuntimeError("engine failure")

    for key in f._programs:
        f._programs[key] = (broken, copies, program, randoms)
    with pytest.raises(RuntimeError):
        f([np.ones(2)])
    np.testing.assert_array_equal(K.get_value(v), [2.0, 3.0])


def test_update_shape_mismatch_is_reported_before_writing():
    x = K.placeholder(shape=(None,), name="x")
    v = K.variable(np.zeros(3), name="weights")
    f = K.function([x], [], updates=[(v, x * 2)])
    f([np.ones(3)])
    with pytest.raises(ValueError, match=r"'weights'.*shape \(4,\).*shape \(3,\)"):
        f([np.ones(4)])
    np.testing.assert_array_equal(K.get_value(v), [2.0, 2.0, 2.0])


def test_shapes_that_do_not_fit_the_graph_name_the_fed_inputs():
    x = K.placeholder(shape=(None,), name="x")
    v = K.variable(np.zeros(3), name="weights")
    f = K.function([x], [v + x])
    expected = r"add\(weights: float32\[3\], x: float32\[4\]\).*x: \(4,\)"
    with pytest.raises(ValueError, match=expected):
        f([np.ones(4)])


def test_unknown_rank_placeholder_specialises_per_shape():
    x = K.placeholder(name="anything")
    f = K.function([x], [K.sum(x * x), K.shape(x)])
    for shape in [(3,), (2, 3), (2, 3, 4), (3,)]:
        data = np.arange(np.prod(shape), dtype="float32").reshape(shape)
        total, shape_out = f([data])
        np.testing.assert_allclose(total, np.sum(data * data), rtol=1e-6)
        np.testing.assert_array_equal(shape_out, shape)
    assert len(f._programs) == 3  # cached per fed shape


def test_mean_over_unknown_dims_uses_fed_shape():
    x = K.placeholder(shape=(None, None), name="x")
    f = K.function([x], [K.mean(x, axis=1)])
    data = np.random.default_rng(0).normal(size=(4, 7)).astype("float32")
    np.testing.assert_allclose(f([data])[0], data.mean(axis=1), rtol=1e-6)


def test_single_output_returns_single_array():
    x = K.placeholder(shape=(2,), name="x")
    out = K.function([x], x + 1)([np.zeros(2)])
    assert isinstance(out, np.ndarray)


def test_returned_variable_value_is_a_copy():
    v = K.variable(np.array([1.0, 2.0]))
    (value,) = K.function([], [v])([])
    value[0] = 100.0
    np.testing.assert_array_equal(K.get_value(v), [1.0, 2.0])


def test_variable_updated_twice_is_refused():
    v = K.variable(0.0, name="step")
    with pytest.raises(ValueError, match="'step' is updated twice"):
        K.function([], [], updates=[(v, v + 1), (v, v + 2)])


def test_bad_update_is_refused():
    x = K.placeholder(shape=(2,))
    with pytest.raises(TypeError, match="only Variables"):
        K.function([x], [], updates=[(x, x + 1)])
    with pytest.raises(TypeError, match="pair"):
        K.function([x], [], updates=[x])


def test_update_dtype_mismatch_is_refused():
    v = K.variable(np.zeros(2), dtype="float32", name="v")
    x = K.placeholder(shape=(2,), dtype="float64", name="x")
    with pytest.raises(TypeError, match="'v'.*float64.*float32"):
        K.function([x], [], updates=[(v, v + x)])


def test_function_prints_its_graph():
    x = K.placeholder(shape=(None, 3), name="x")
    w = K.variable(np.ones((3, 2)), name="w")
    f = K.function([x], [K.dot(x, w)], name="model")
    text = str(f)
    assert "placeholder x: float32[?,3]" in text
    assert "variable w: float32[3,2]" in text
    assert "matmul(x, w)" in text


def test_print_graph(capsys):
    x = K.placeholder(shape=(2,), name="x")
    text = K.print_graph(K.exp(x) + 1)
    assert "exp(x)" in text and "add(" in text
    assert capsys.readouterr().out.strip() == text.strip()


def test_eval_and_value_functions():
    v = K.variable(np.array([[1.0, 2.0]]), name="v")
    np.testing.assert_array_equal(K.eval(v * 2), [[2.0, 4.0]])
    K.set_value(v, np.array([[3.0, 4.0]]))
    np.testing.assert_array_equal(K.get_value(v), [[3.0, 4.0]])
    w = K.variable(0.0)
    K.batch_set_value([(v, [[5.0, 6.0]]), (w, 7.0)])
    assert [x.tolist() for x in K.batch_get_value([v, w])] == [[[5.0, 6.0]], 7.0]
    with pytest.raises(ValueError, match="'v' has shape"):
        K.batch_set_value([(w, 1.0), (v, np.zeros(3))])
    assert K.get_value(w) == 7.0  # nothing written when one value is wrong


def test_eval_of_placeholder_dependent_value_names_it():
    x = K.placeholder(shape=(2,), name="inputs")
    with pytest.raises(ValueError, match="'inputs'"):
        K.eval(x * 2)


def test_get_value_returns_a_copy():
    v = K.variable(np.array([1.0]))
    K.get_value(v)[0] = 5.0
    assert K.get_value(v)[0] == 1.0


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_reused_buffers_never_corrupt_a_view_still_to_be_read(engine):
    if engine not in polyback.available_backends():
        pytest.fail(f"{engine} should be installed for this test")
    x = K.placeholder(shape=(2, 3), dtype="float64", name="x")
    y = K.exp(x)
    w = y + 1.0  # y dies here, but its reshaped view is read below
    out = K.reshape(y, (3, 2)) + K.reshape(w, (3, 2))
    a = np.arange(6.0).reshape(2, 3) / 10
    (got,) = K.function([x], [out], backend=engine)([a])
    np.testing.assert_allclose(got, (2 * np.exp(a) + 1).reshape(3, 2))


def test_logical_reductions_of_numbers():
    x = K.placeholder(shape=(2, 2), name="x")
    d = np.array([[0.0, 2.0], [0.0, 0.0]], dtype="float32")
    f = K.function([x], [K.any(x, axis=1), K.all(x, axis=0)])
    got_any, got_all = f([d])
    np.testing.assert_array_equal(got_any, [True, False])
    np.testing.assert_array_equal(got_all, [False, False])


def test_integers_out_of_the_placeholder_range_are_refused():
    i = K.placeholder(shape=(2,), dtype="int32", name="counts")
    f = K.function([i], [i * 2])
    np.testing.assert_array_equal(f([np.array([1, 2], dtype="int64")])[0], [2, 4])
    with pytest.raises(OverflowError, match="'counts'.*int32.*range"):
        f([np.array([1, 2**40], dtype="int64")])


def test_placeholder_dims_of_minus_one_are_unknown():
    x = K.placeholder(shape=(-1, 2), name="x")
    assert K.int_shape(x) == (None, 2)
    np.testing.assert_array_equal(K.function([x], [x + 1])([np.zeros((3, 2))])[0], np.ones((3, 2)))


def test_bool_placeholder_refuses_floats_clearly():
    b = K.placeholder(shape=(), dtype="bool", name="flag")
    f = K.function([b], [K.cast(b, "float32")])
    with pytest.raises(TypeError, match="'flag'.*float to bool"):
        f([0.5])


def test_non_tensors_are_refused_where_tensors_are_needed():
    v = K.variable(np.ones(3))
    with pytest.raises(TypeError, match="with respect to tensors"):
        K.gradients(K.sum(v), [np.ones(3)])
    with pytest.raises(TypeError, match="only Variables"):
        K.update_add(v * 2, 1.0)


def test_arrays_with_an_equal_but_distinct_dtype_object_are_not_copied():
    import pickle

    x = K.placeholder(shape=(3,), name="x")
    f = K.function([x], [x])
    data = pickle.loads(pickle.dumps(np.arange(3, dtype="float32")))
    assert data.dtype == np.float32
    assert np.shares_memory(f._feeds[0].convert(data), data)
    np.testing.assert_array_equal(f([data])[0], [0.0, 1.0, 2.0])


def test_theano_engine_refuses_programs_too_deep_for_its_compiler():
    if "theano" not in polyback.available_backends():
        pytest.fail("the theano engine should be installed for this test")
    x = K.placeholder(shape=(2,), name="x")
    y = x
    for _ in range(600):
        y = y * 1.0001
    with pytest.raises(RecursionError, match="theano engine.*600 operations deep"):
        K.function([x], [y], backend="theano")([np.ones(2)])


def test_update_of_a_wrong_type_is_refused_when_the_function_is_built():
    w = K.variable(np.zeros(3), name="w")
    count = K.variable(0, dtype="int32", name="count")
    with pytest.raises(ValueError, match=r"'w': the new value has shape \(2,\).*\(3,\)"):
        K.function([], [], updates=[(w, K.constant([1.0, 2.0]))])
    x = K.placeholder(shape=(None,), name="x")
    with pytest.raises(TypeError, match="'count': the new value has dtype float32"):
        K.function([x], [], updates=[(count, K.sum(x))])


def test_update_whose_shape_is_known_only_when_fed_is_checked_on_the_call():
    w = K.variable(np.zeros(3), name="w")
    x = K.placeholder(shape=(None,), name="x")
    f = K.function([x], [], updates=[(w, x * 2)])
    f([np.ones(3)])
    with pytest.raises(ValueError, match=r"'w': the new value has shape \(4,\)"):
        f([np.ones(4)])
    np.testing.assert_array_equal(K.get_value(w), [2.0, 2.0, 2.0])
