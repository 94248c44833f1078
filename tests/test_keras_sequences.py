"""Joining, gathering, scans, unrolled loops (map_fn, foldl, foldr, rnn), print_tensor and
get_session, against NumPy computations and finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import polyback
from polyback import backend as K

ENGINES = polyback.available_backends()
RNG = np.random.default_rng(11)


def run(outputs, feeds=(), engine=None):
    f = K.function([p for p, _ in feeds], outputs, backend=engine)
    return f([v for _, v in feeds])


def numeric_grad(fn, x, h=1e-6):
    """d fn(x) / dx by central differences (fn returns a scalar)."""
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[idx] += h
        down[idx] -= h
        grad[idx] = (fn(up) - fn(down)) / (2 * h)
    return grad


# -- concatenate, stack, gather, cumsum, cumprod -----------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_joining_gathering_and_scans_match_numpy(engine):
    a, b = RNG.normal(size=(2, 3)), RNG.normal(size=(2, 4))
    x = K.placeholder(shape=(2, 3), dtype="float64", name="a")
    y = K.placeholder(shape=(None, 4), dtype="float64", name="b")
    table = RNG.normal(size=(5, 3))
    ids = np.array([[4, 0], [2, 2]], dtype="int32")
    i = K.placeholder(shape=(2, 2), dtype="int32", name="ids")
    outputs = [
        K.concatenate([x, y]),
        K.concatenate([x, x, x], axis=0),
        K.stack([x, x * 2]),
        K.stack([x, x * 2], axis=-1),
        K.gather(K.constant(table, dtype="float64"), i),
        K.cumsum(x, axis=1),
        K.cumprod(y),
    ]
    expected = [
        np.concatenate([a, b], axis=-1),
        np.concatenate([a, a, a], axis=0),
        np.stack([a, a * 2]),
        np.stack([a, a * 2], axis=-1),
        table[ids],
        np.cumsum(a, axis=1),
        np.cumprod(b, axis=0),
    ]
    got = run(outputs, [(x, a), (y, b), (i, ids)], engine)
    for k, (g, e) in enumerate(zip(got, expected)):
        assert g.shape == e.shape, k
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12, err_msg=f"output {k}")


def test_concatenate_follows_keras_axis_and_promotes():
    x = K.placeholder(shape=(2, 3), name="x")  # float32
    n = K.constant(np.ones((2, 1)), dtype="int32")
    out = K.concatenate([x, n])
    assert out.shape == (2, 4) and out.dtype == "float32"  # an int meeting a float takes its dtype
    assert K.concatenate([x, x], axis=-2).shape == (4, 3)
    assert K.concatenate([x]) is x
    unknown = K.placeholder(ndim=None, name="u")
    assert K.concatenate([unknown, unknown]).shape is None  # axis -1 becomes 0, as Keras
    d = RNG.normal(size=(2, 3)).astype("float32")
    got = run([K.concatenate([unknown, unknown])], [(unknown, d)])[0]
    np.testing.assert_array_equal(got, np.concatenate([d, d], axis=0))
    with pytest.raises(ValueError, match="dimension 0 differs"):
        K.concatenate([x, K.placeholder(shape=(3, 3))])
    with pytest.raises(TypeError, match="list of tensors"):
        K.concatenate(x)


def test_gather_takes_rows_of_an_unknown_batch_and_sums_repeated_gradients():
    ref = K.placeholder(shape=(None, 3), dtype="float64", name="ref")
    table = RNG.normal(size=(4, 3))
    idx = np.array([1, 3, 1, 1])
    out = K.gather(ref, K.constant(idx, dtype="int64"))
    assert out.shape == (4, 3)
    weights = RNG.normal(size=(4, 3))
    loss = K.sum(out * K.constant(weights, dtype="float64"))
    value, grad = run([out, K.gradients(loss, [ref])[0]], [(ref, table)])
    np.testing.assert_array_equal(value, table[idx])
    expected = numeric_grad(lambda t: np.sum(t[idx] * weights), table)
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-8)
    assert K.eval(K.gather(K.constant(table), 2)).shape == (3,)
    with pytest.raises(TypeError, match="integer indices"):
        K.gather(ref, K.constant([0.0, 1.0]))


def test_gradients_of_concatenate_and_scans_match_finite_differences():
    a0 = RNG.uniform(0.5, 1.5, size=(3, 4)) * np.where(RNG.normal(size=(3, 4)) > 0, 1, -1)
    w = RNG.normal(size=(3, 9))
    a = K.placeholder(shape=(None, 4), dtype="float64", name="a")
    joined = K.concatenate([K.cumprod(a, axis=1), a, K.cumsum(a, axis=0)[:, :1]])
    loss = K.sum(joined * K.constant(w, dtype="float64"))
    (grad,) = run([K.gradients(loss, [a])[0]], [(a, a0)])

    def reference(v):
        parts = [np.cumprod(v, axis=1), v, np.cumsum(v, axis=0)[:, :1]]
        return np.sum(np.concatenate(parts, axis=1) * w)

    np.testing.assert_allclose(grad, numeric_grad(reference, a0), rtol=1e-6, atol=1e-8)


# -- map_fn, foldl, foldr ----------------------------------------------------------------------


def test_map_fn_applies_the_function_to_each_row():
    d = RNG.normal(size=(4, 3))
    x = K.placeholder(shape=(4, 3), dtype="float64", name="x")
    squares = K.map_fn(lambda row: K.sum(row * row), x)
    pairs = K.map_fn(lambda pair: (pair[0] * pair[1], pair[0] + 1.0), (x, x * 2.0))
    as_int = K.map_fn(lambda row: row * 10.0, x, dtype="int32")
    got = run([squares, *pairs, as_int], [(x, d)])
    np.testing.assert_allclose(got[0], (d * d).sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(got[1], d * d * 2, rtol=1e-12)
    np.testing.assert_allclose(got[2], d + 1, rtol=1e-12)
    assert isinstance(pairs, tuple)
    assert got[3].dtype == np.int32
    np.testing.assert_array_equal(got[3], (d * 10).astype("int32"))


def test_loops_refuse_an_unknown_axis_with_a_clear_error():
    x = K.placeholder(shape=(None, 3), name="batch")
    with pytest.raises(ValueError, match="unrolls over the first axis of 'batch'"):
        K.map_fn(lambda row: row, x)
    with pytest.raises(ValueError, match="first axis of 'batch'"):
        K.foldl(lambda acc, row: acc + row, x)
    seq = K.placeholder(shape=(2, None, 3), name="seq")
    with pytest.raises(ValueError, match=r"time axis \(axis 1\) of 'seq'"):
        K.rnn(lambda x, s: (x, s), seq, [K.zeros((2, 3))])
    with pytest.raises(ValueError, match="at least 3D"):
        K.rnn(lambda x, s: (x, s), x, [K.zeros((2, 3))])


def test_foldl_and_foldr_combine_in_order():
    d = RNG.normal(size=(4, 2))
    x = K.placeholder(shape=(4, 2), dtype="float64", name="x")

    def step(acc, row):  # not commutative: the order shows
        return acc * 2.0 + row

    outputs = [
        K.foldl(step, x),
        K.foldr(step, x),
        K.foldl(step, x, initializer=K.constant(np.ones(2), dtype="float64")),
        K.foldr(lambda acc, row: acc - K.sum(row), x, initializer=K.constant(0.0, "float64")),
    ]
    got = run(outputs, [(x, d)])

    def fold(rows, acc):
        for row in rows:
            acc = acc * 2 + row
        return acc

    np.testing.assert_allclose(got[0], fold(d[1:], d[0]), rtol=1e-12)
    np.testing.assert_allclose(got[1], fold(d[::-1][1:], d[-1]), rtol=1e-12)
    np.testing.assert_allclose(got[2], fold(d, np.ones(2)), rtol=1e-12)
    np.testing.assert_allclose(got[3], -d.sum(), rtol=1e-12)


# -- rnn -----------------------------------------------------------------------------------------


def _numpy_rnn(inputs, h0, w, u, mask=None, go_backwards=False, bias=0.0):
    """A simple RNN with Keras 2.3's mask rule, in NumPy: (last_output, outputs, state)."""
    steps = range(inputs.shape[1])
    h, outputs = h0, []
    for t in reversed(steps) if go_backwards else steps:
        out = np.tanh(inputs[:, t] @ w + h @ u + bias)
        if mask is not None:
            keep = mask[:, t].reshape(-1, 1).astype(bool)
            out = np.where(keep, out, outputs[-1] if outputs else np.zeros_like(out))
            new_h = np.where(keep, out, h)
        else:
            new_h = out
        outputs.append(out)
        h = new_h
    return outputs[-1], np.stack(outputs, axis=1), h


def _rnn_case(go_backwards, masked, engine=None):
    batch, steps, features, units = 3, 4, 2, 5
    data = RNG.normal(size=(batch, steps, features))
    w0, u0 = RNG.normal(size=(features, units)), RNG.normal(size=(units, units)) * 0.5
    h0 = RNG.normal(size=(batch, units))
    mask0 = np.array([[1, 1, 0, 1], [0, 1, 1, 1], [1, 0, 0, 0]], dtype="float64")
    x = K.placeholder(shape=(batch, steps, features), dtype="float64", name="x")
    w = K.placeholder(shape=(features, units), dtype="float64", name="w")
    u = K.placeholder(shape=(units, units), dtype="float64", name="u")
    m = K.placeholder(shape=(batch, steps), dtype="float64", name="m")
    bias = K.constant(0.1, dtype="float64")

    def step(x_t, states):
        h, b = states
        out = K.tanh(K.dot(x_t, w) + K.dot(h, u) + b)
        return out, [out]

    last, outputs, states = K.rnn(
        step,
        x,
        [K.constant(h0, dtype="float64")],
        go_backwards=go_backwards,
        mask=m if masked else None,
        constants=[bias],
    )
    feeds = [(x, data), (w, w0), (u, u0), (m, mask0)]
    got = run([last, outputs, states[0]], feeds, engine)
    expected = _numpy_rnn(data, h0, w0, u0, mask0 if masked else None, go_backwards, 0.1)
    return got, expected, (outputs, w, feeds, data, h0, w0, u0, mask0)


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_rnn_matches_a_numpy_loop(go_backwards, masked):
    got, expected, _ = _rnn_case(go_backwards, masked)
    for name, g, e in zip(["last_output", "outputs", "state"], got, expected):
        assert g.shape == e.shape, name
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("engine", [e for e in ENGINES if e != "numpy"])
def test_masked_rnn_agrees_on_every_engine(engine):
    got, expected, _ = _rnn_case(go_backwards=True, masked=True, engine=engine)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12)


def test_rnn_gradient_matches_finite_differences():
    _, _, (outputs, w, feeds, data, h0, w0, u0, mask0) = _rnn_case(go_backwards=False, masked=True)
    weights = RNG.normal(size=outputs.shape)
    loss = K.sum(outputs * K.constant(weights, dtype="float64"))
    (grad,) = run([K.gradients(loss, [w])[0]], feeds)

    def reference(w_value):
        return np.sum(_numpy_rnn(data, h0, w_value, u0, mask0, False, 0.1)[1] * weights)

    np.testing.assert_allclose(grad, numeric_grad(reference, w0), rtol=1e-6, atol=1e-8)


# -- print_tensor, get_session -------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_print_tensor_prints_each_time_the_function_runs(engine, capsys):
    x = K.placeholder(shape=(2, 2), dtype="float64", name="x")
    shown = K.print_tensor(x, message="x is: ")
    f = K.function([x], [shown * 2], backend=engine)
    assert capsys.readouterr().out == ""  # nothing printed while building
    d = np.array([[1.5, 2.0], [3.0, -4.0]])
    np.testing.assert_array_equal(f([d])[0], d * 2)
    np.testing.assert_array_equal(f([d + 1])[0], (d + 1) * 2)
    out = capsys.readouterr().out
    assert out == f"x is: {d}\nx is: {d + 1}\n"


def test_print_tensor_passes_the_gradient_through(capsys):
    x = K.placeholder(shape=(3,), dtype="float64", name="x")
    (g,) = K.gradients(K.sum(K.print_tensor(x) ** 2), [x])
    d = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(run([g], [(x, d)])[0], 2 * d)
    assert capsys.readouterr().out.count("\n") == 1  # printed once, by the forward value


def test_get_session_runs_polyback_tensors_and_updates():
    sess = K.get_session()
    assert sess is K.get_session()
    v = K.variable(np.array([1.0, 2.0]), name="v")
    x = K.placeholder(shape=(2,), name="x")
    np.testing.assert_allclose(sess.run(v * 2), [2.0, 4.0])
    value, nothing = sess.run((v + x, K.update_add(v, [1.0, 1.0])), feed_dict={x: [10.0, 20.0]})
    np.testing.assert_allclose(value, [11.0, 22.0])
    assert nothing is None
    np.testing.assert_allclose(K.get_value(v), [2.0, 3.0])
    assert isinstance(sess.run([v]), list)
    with pytest.raises(TypeError, match="K.function"):
        sess.run("init_op")
    with sess as same:
        assert same is sess


# -- CTC -------------------------------------------------------------------------------------------


def _collapse(path, blank):
    """The labelling a CTC path stands for: repeats merged, then blanks dropped."""
    out, previous = [], None
    for c in path:
        if c != previous and c != blank:
            out.append(c)
        previous = c
    return out


def _brute_force_ctc(probs, label, steps):
    """-log of the total probability of the paths over the first ``steps`` steps that collapse
    to ``label``, every path enumerated (tiny sizes only)."""
    import itertools

    blank = probs.shape[1] - 1
    total = 0.0
    for path in itertools.product(range(probs.shape[1]), repeat=steps):
        if _collapse(path, blank) == list(label):
            total += np.prod([probs[t, c] for t, c in enumerate(path)])
    return -np.log(total)


def _ctc_case():
    samples, steps, classes = 4, 5, 4  # blank = 3
    logits = RNG.normal(size=(samples, steps, classes))
    y_pred = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    labels = np.array([[0, 1, 1], [2, 0, -1], [1, 1, 2], [0, -1, -1]])  # -1: past the length
    label_length = np.array([[3], [2], [3], [0]])
    input_length = np.array([[5], [4], [5], [3]])
    return y_pred, labels, label_length, input_length


def _ctc_reference(y_pred, labels, label_length, input_length):
    # As TensorFlow: log(y_pred + epsilon) are the logits, softmaxed again.
    p = (y_pred + K.epsilon()) / (y_pred + K.epsilon()).sum(-1, keepdims=True)
    losses = [
        _brute_force_ctc(p[b], labels[b, : label_length[b, 0]], input_length[b, 0])
        for b in range(len(y_pred))
    ]
    return np.array(losses).reshape(-1, 1)


@pytest.mark.parametrize("engine", ENGINES)
def test_ctc_batch_cost_matches_enumerating_every_path(engine):
    y_pred, labels, label_length, input_length = _ctc_case()
    pred = K.placeholder(shape=(None, 5, 4), dtype="float64", name="y_pred")
    lab = K.placeholder(shape=(None, 3), dtype="int32", name="labels")
    lens = [K.placeholder(shape=(None, 1), dtype="int32", name=n) for n in ("il", "ll")]
    loss = K.ctc_batch_cost(lab, pred, lens[0], lens[1])
    assert loss.shape == (None, 1)
    feeds = [(pred, y_pred), (lab, labels), (lens[0], input_length), (lens[1], label_length)]
    (got,) = run([loss], feeds, engine)
    expected = _ctc_reference(y_pred, labels, label_length, input_length)
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_ctc_batch_cost_gradient_matches_finite_differences():
    y_pred, labels, label_length, input_length = _ctc_case()
    pred = K.placeholder(shape=y_pred.shape, dtype="float64", name="y_pred")
    loss = K.ctc_batch_cost(
        K.constant(labels, "int32"), pred, K.constant(input_length), K.constant(label_length)
    )
    (grad,) = run([K.gradients(K.sum(loss), [pred])[0]], [(pred, y_pred)])

    def reference(v):
        return _ctc_reference(v, labels, label_length, input_length).sum()

    np.testing.assert_allclose(grad, numeric_grad(reference, y_pred), rtol=1e-5, atol=1e-7)


def test_ctc_decode_is_greedy_best_path():
    y_pred = np.full((3, 6, 4), 0.1)
    best = np.array([[0, 0, 3, 0, 1, 1], [3, 2, 3, 3, 2, 1], [1, 2, 2, 1, 0, 0]])  # 3: blank
    for b, row in enumerate(best):
        y_pred[b, np.arange(6), row] = 0.7
    input_length = np.array([6, 6, 3])
    x = K.placeholder(shape=(None, 6, 4), dtype="float64", name="y_pred")
    n = K.placeholder(shape=(None,), dtype="int32", name="n")
    (decoded,), log_prob = K.ctc_decode(x, n)
    got_decoded, got_log_prob = run([decoded, log_prob], [(x, y_pred), (n, input_length)])
    assert got_decoded.dtype == np.int64
    expected = np.full((3, 6), -1)
    for b, labelling in enumerate([[0, 0, 1], [2, 2, 1], [1, 2]]):
        expected[b, : len(labelling)] = labelling
    np.testing.assert_array_equal(got_decoded, expected)
    steps = np.arange(6) < input_length[:, None]
    expected_log_prob = -(np.log(0.7 + K.epsilon()) * steps).sum(1, keepdims=True)
    np.testing.assert_allclose(got_log_prob, expected_log_prob, rtol=1e-12)
    with pytest.raises(NotImplementedError, match="greedy"):
        K.ctc_decode(x, n, greedy=False)


def test_ctc_label_dense_to_sparse_returns_the_dense_pair():
    labels, lengths = K.ctc_label_dense_to_sparse(np.array([[1, 2], [3, 0]]), np.array([2, 1]))
    np.testing.assert_array_equal(K.eval(labels), [[1, 2], [3, 0]])
    np.testing.assert_array_equal(K.eval(lengths), [2, 1])
