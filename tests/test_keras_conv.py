"""Convolutions and pooling of the Keras backend against direct-loop NumPy references written
from the definitions (TensorFlow's 'same' padding, Keras's kernel layouts), and gradients against
finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import polyback
from polyback import backend as K

ENGINES = polyback.available_backends()

# -- references ---------------------------------------------------------------------------------


def tf_same(size, k, s, d=1):
    """TensorFlow's SAME padding of one axis: ceil(size / s) outputs, the odd pad after."""
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def pads_for(padding, sizes, window, strides, dilation):
    if padding == "valid":
        return [(0, 0)] * len(sizes)
    if padding == "causal":
        return [(dilation[0] * (window[0] - 1), 0)]
    return [tf_same(*a) for a in zip(sizes, window, strides, dilation)]


def ref_conv(x, kernel, strides, padding, dilation, groups=1):
    """Channels last; one scalar sum per output element."""
    n = x.ndim - 2
    window = kernel.shape[:n]
    pads = pads_for(padding, x.shape[1:-1], window, strides, dilation)
    xp = np.pad(x, [(0, 0), *pads, (0, 0)])
    outs = [
        (xp.shape[1 + a] - dilation[a] * (window[a] - 1) - 1) // strides[a] + 1 for a in range(n)
    ]
    cin, cout = kernel.shape[-2], kernel.shape[-1]
    y = np.zeros((x.shape[0], *outs, cout))
    for idx in np.ndindex(y.shape):
        b, o, co = idx[0], idx[1:-1], idx[-1]
        group = co // (cout // groups)
        total = 0.0
        for k in np.ndindex(*window):
            pos = tuple(o[a] * strides[a] + k[a] * dilation[a] for a in range(n))
            for ci in range(cin):
                total += xp[(b, *pos, group * cin + ci)] * kernel[(*k, ci, co)]
        y[idx] = total
    return y


def ref_depthwise(x, dk, strides, padding, dilation):
    """Output channel c * multiplier + m is input channel c convolved with dk[..., c, m]."""
    channels, mult = dk.shape[-2:]
    parts = []
    for c in range(channels):
        for m in range(mult):
            single = dk[..., c : c + 1, m : m + 1]
            parts.append(ref_conv(x[..., c : c + 1], single, strides, padding, dilation))
    return np.concatenate(parts, axis=-1)


def ref_conv_transpose(x, kernel, out_sizes, strides, padding, dilation):
    """Scatter: input position i and tap k add ``kernel[k] @ x[i]`` at output i*s + k*d - pad,
    where pad is the padding a convolution of the output would use."""
    n = x.ndim - 2
    window = kernel.shape[:n]
    pads = pads_for(padding, out_sizes, window, strides, dilation)
    y = np.zeros((x.shape[0], *out_sizes, kernel.shape[-2]))
    for b in range(x.shape[0]):
        for i in np.ndindex(*x.shape[1:-1]):
            for k in np.ndindex(*window):
                pos = tuple(i[a] * strides[a] + k[a] * dilation[a] - pads[a][0] for a in range(n))
                if all(0 <= p < d for p, d in zip(pos, out_sizes)):
                    y[(b, *pos)] += kernel[k] @ x[(b, *i)]
    return y


def ref_pool(x, window, strides, padding, mode):
    """Channels last; a window's padding is neither a maximum nor counted by the average."""
    n = x.ndim - 2
    sizes = x.shape[1:-1]
    pads = pads_for(padding, sizes, window, strides, (1,) * n)
    outs = [(d + lo + hi - w) // s + 1 for d, (lo, hi), w, s in zip(sizes, pads, window, strides)]
    y = np.zeros((x.shape[0], *outs, x.shape[-1]))
    for o in np.ndindex(*outs):
        box = []
        for a in range(n):
            start = o[a] * strides[a] - pads[a][0]
            box.append(slice(max(start, 0), min(start + window[a], sizes[a])))
        block = x[(slice(None), *box)].reshape(x.shape[0], -1, x.shape[-1])
        y[(slice(None), *o)] = block.max(1) if mode == "max" else block.mean(1)
    return y


def ref_local(x, kernel, kernel_size, strides, output_shape, data_format):
    """Keras's definition: each window sliced in the input's own layout, flattened row-major,
    times the kernel matrix of its output position."""
    n = len(output_shape)
    filters = kernel.shape[-1]
    y = np.zeros((x.shape[0], *output_shape, filters))
    for j, o in enumerate(np.ndindex(*output_shape)):
        box = [slice(o[a] * strides[a], o[a] * strides[a] + kernel_size[a]) for a in range(n)]
        if data_format == "channels_first":
            window = x[(slice(None), slice(None), *box)]
        else:
            window = x[(slice(None), *box, slice(None))]
        y[(slice(None), *o)] = window.reshape(x.shape[0], -1) @ kernel[j]
    return y if data_format == "channels_last" else np.moveaxis(y, -1, 1)


def first(a):
    """Channels last -> channels first."""
    return np.moveaxis(a, -1, 1)


def last(a):
    return np.moveaxis(a, 1, -1)


def run(outputs, feeds, engine="numpy"):
    phs = [p for p, _ in feeds]
    return K.function(phs, outputs, backend=engine)([v for _, v in feeds])


def placeholder(a, name):
    return K.placeholder(shape=a.shape, dtype=a.dtype.name, name=name)


# -- convolutions -------------------------------------------------------------------------------

CONV_CASES = [
    # (n, input shape (channels last), kernel shape, strides, padding, dilation)
    (1, (2, 7, 3), (3, 3, 2), (1,), "valid", (1,)),
    (1, (2, 8, 2), (3, 2, 3), (2,), "same", (1,)),
    (1, (1, 7, 2), (2, 2, 2), (1,), "causal", (2,)),
    (2, (2, 5, 6, 2), (3, 3, 2, 3), (1, 1), "valid", (1, 1)),
    (2, (1, 7, 6, 2), (3, 2, 2, 2), (2, 3), "same", (1, 1)),
    (2, (1, 7, 7, 1), (2, 3, 1, 2), (1, 1), "same", (2, 2)),
    (2, (1, 6, 5, 2), (2, 2, 2, 2), (2, 2), "valid", (1, 2)),
    (3, (1, 4, 5, 4, 2), (2, 3, 2, 2, 2), (1, 2, 1), "same", (1, 1, 1)),
    (3, (1, 5, 4, 4, 1), (2, 2, 2, 1, 2), (2, 1, 1), "valid", (1, 2, 1)),
]
CONV_FNS = {1: K.conv1d, 2: K.conv2d, 3: K.conv3d}


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"{c[0]}d-{c[4]}-{c[3]}-{c[5]}")
def test_conv_matches_direct_loops(case, data_format):
    rng = np.random.default_rng(1)
    n, xs, ks, strides, padding, dilation = case
    x = rng.normal(size=xs)
    kernel = rng.normal(size=ks)
    expected = ref_conv(x, kernel, strides, padding, dilation)
    fed = x if data_format == "channels_last" else first(x)
    xp = placeholder(fed, "x")
    args = (strides[0], dilation[0]) if n == 1 else (strides, dilation)
    y = CONV_FNS[n](xp, K.constant(kernel, "float64"), args[0], padding, data_format, args[1])
    (got,) = run([y], [(xp, fed)])
    assert got.shape == y.shape
    if data_format == "channels_first":
        got = last(got)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_depthwise_and_separable_conv_match_direct_loops():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 6, 5, 3))
    dk = rng.normal(size=(3, 2, 3, 2))  # multiplier 2: 6 channels
    pk = rng.normal(size=(1, 1, 6, 4))
    for strides, padding, dilation in [((1, 1), "valid", (1, 1)), ((2, 1), "same", (1, 1)),
                                       ((1, 1), "same", (2, 1))]:  # fmt: skip
        depth = ref_depthwise(x, dk, strides, padding, dilation)
        sep = depth @ pk[0, 0]
        for fmt, fed, back in [
            ("channels_last", x, lambda a: a),
            ("channels_first", first(x), last),
        ]:
            xp = placeholder(fed, "x")
            d = K.depthwise_conv2d(xp, K.constant(dk, "float64"), strides, padding, fmt, dilation)
            s = K.separable_conv2d(
                xp, K.constant(dk, "float64"), K.constant(pk, "float64"), strides, padding, fmt,
                dilation,
            )  # fmt: skip
            got_d, got_s = run([d, s], [(xp, fed)])
            np.testing.assert_allclose(back(got_d), depth, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(back(got_s), sep, rtol=1e-12, atol=1e-12)


def test_separable_conv1d_matches_direct_loops():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 9, 2))
    dk = rng.normal(size=(3, 2, 3))
    pk = rng.normal(size=(1, 6, 4))
    for strides, padding, dilation in [(1, "valid", 1), (2, "same", 1), (1, "same", 2)]:
        depth = ref_depthwise(x, dk, (strides,), padding, (dilation,))
        expected = depth @ pk[0]
        for fmt, fed, back in [
            ("channels_last", x, lambda a: a),
            ("channels_first", first(x), last),
        ]:
            xp = placeholder(fed, "x")
            y = K.separable_conv1d(
                xp, K.constant(dk, "float64"), K.constant(pk, "float64"), strides, padding, fmt,
                dilation,
            )  # fmt: skip
            np.testing.assert_allclose(back(run([y], [(xp, fed)])[0]), expected, rtol=1e-12)


TRANSPOSE_CASES = [
    # (input shape, kernel (*window, out, in), output spatial, strides, padding, dilation)
    ((2, 3, 3, 3), (3, 3, 2, 3), (7, 7), (2, 2), "valid", (1, 1)),
    ((1, 3, 4, 2), (3, 2, 3, 2), (5, 8), (2, 2), "same", (1, 1)),
    ((1, 4, 3, 2), (2, 3, 1, 2), (9, 11), (2, 3), "valid", (1, 1)),
    ((1, 5, 5, 2), (3, 3, 2, 2), (5, 5), (1, 1), "same", (2, 2)),
    ((1, 3, 3, 2), (2, 2, 2, 2), (6, 6), (2, 2), "same", (1, 1)),
]


@pytest.mark.parametrize("case", TRANSPOSE_CASES)
def test_conv2d_transpose_matches_the_scatter_definition(case):
    rng = np.random.default_rng(4)
    xs, ks, out, strides, padding, dilation = case
    x = rng.normal(size=xs)
    kernel = rng.normal(size=ks)
    expected = ref_conv_transpose(x, kernel, out, strides, padding, dilation)
    for fmt in ("channels_last", "channels_first"):
        fed = x if fmt == "channels_last" else first(x)
        shape = (None, *out, ks[-2]) if fmt == "channels_last" else (None, ks[-2], *out)
        xp = placeholder(fed, "x")
        y = K.conv2d_transpose(
            xp, K.constant(kernel, "float64"), shape, strides, padding, fmt, dilation
        )
        (got,) = run([y], [(xp, fed)])
        got = got if fmt == "channels_last" else last(got)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    # the transposed convolution is the adjoint of the convolution (NumPy references alone)
    z = rng.normal(size=(xs[0], *out, ks[-2]))
    forward = ref_conv(z, kernel, strides, padding, dilation)
    np.testing.assert_allclose(np.sum(forward * x), np.sum(expected * z), rtol=1e-10)


def test_conv3d_transpose_matches_the_scatter_definition():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(1, 2, 3, 2, 2))
    kernel = rng.normal(size=(2, 3, 2, 3, 2))
    for strides, padding, out in [((2, 1, 2), "valid", (4, 5, 4)), ((2, 2, 1), "same", (4, 6, 2))]:
        expected = ref_conv_transpose(x, kernel, out, strides, padding, (1, 1, 1))
        xp = placeholder(x, "x")
        y = K.conv3d_transpose(
            xp, K.constant(kernel, "float64"), (1, *out, 3), strides, padding, "channels_last"
        )
        np.testing.assert_allclose(run([y], [(xp, x)])[0], expected, rtol=1e-12, atol=1e-12)


# -- pooling ---------------------------------------------------------------------------------------

POOL_CASES = [
    (2, (2, 5, 5, 2), (2, 2), (2, 2), "valid"),
    (2, (1, 5, 6, 3), (3, 3), (2, 2), "same"),
    (2, (2, 4, 5, 1), (2, 3), (1, 1), "same"),
    (2, (1, 7, 4, 2), (3, 2), (3, 1), "valid"),
    (3, (1, 4, 5, 3, 2), (2, 2, 2), (2, 2, 1), "same"),
    (3, (1, 5, 4, 4, 1), (3, 2, 2), (1, 2, 2), "valid"),
]


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: f"{c[0]}d-{c[4]}-{c[2]}-{c[3]}")
def test_pool_matches_direct_loops(case, mode):
    rng = np.random.default_rng(6)
    n, xs, window, strides, padding = case
    x = rng.normal(size=xs)
    expected = ref_pool(x, window, strides, padding, mode)
    fn = K.pool2d if n == 2 else K.pool3d
    for fmt, fed, back in [("channels_last", x, lambda a: a), ("channels_first", first(x), last)]:
        xp = placeholder(fed, "x")
        (got,) = run([fn(xp, window, strides, padding, fmt, mode)], [(xp, fed)])
        np.testing.assert_allclose(back(got), expected, rtol=1e-12, atol=1e-15)


# -- locally connected ---------------------------------------------------------------------------


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_local_conv_matches_the_keras_definition(data_format):
    rng = np.random.default_rng(7)
    x1 = rng.normal(size=(2, 9, 3))
    k1 = rng.normal(size=(4, 3 * 3, 2))  # kernel_size 3, stride 2: 4 outputs
    x2 = rng.normal(size=(2, 5, 6, 2))
    k2 = rng.normal(size=(2 * 2, 2 * 3 * 2, 3))  # kernel (2, 3), strides (2, 2): 2 x 2 outputs
    if data_format == "channels_first":
        x1, x2 = first(x1), first(x2)
    e1 = ref_local(x1, k1, (3,), (2,), (4,), data_format)
    e2 = ref_local(x2, k2, (2, 3), (2, 2), (2, 2), data_format)
    p1, p2 = placeholder(x1, "x1"), placeholder(x2, "x2")
    y1 = K.local_conv1d(p1, K.constant(k1, "float64"), (3,), (2,), data_format)
    y2 = K.local_conv2d(p2, K.constant(k2, "float64"), (2, 3), (2, 2), (2, 2), data_format)
    got1, got2 = run([y1, y2], [(p1, x1), (p2, x2)])
    np.testing.assert_allclose(got1, e1, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got2, e2, rtol=1e-12, atol=1e-12)


# -- every engine ---------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_engines_agree_with_the_references(engine):
    rng = np.random.default_rng(8)
    x = rng.normal(size=(2, 6, 5, 2)).astype("float32")
    kernel = rng.normal(size=(3, 2, 2, 3)).astype("float32")
    dk = rng.normal(size=(2, 2, 2, 2)).astype("float32")
    pk = rng.normal(size=(1, 1, 4, 3)).astype("float32")
    tk = rng.normal(size=(3, 3, 2, 2)).astype("float32")
    kernel_cf = rng.normal(size=(2, 1, 6, 3)).astype("float32")  # x read as 6 channels of 5 x 2
    xp = placeholder(x, "x")
    outputs = [
        K.conv2d(xp, K.constant(kernel), (2, 1), "same", "channels_last", (1, 2)),
        K.conv2d(xp, K.constant(kernel_cf), (1, 1), "valid", "channels_first"),
        K.depthwise_conv2d(xp, K.constant(dk), (2, 2), "same"),
        K.separable_conv2d(xp, K.constant(dk), K.constant(pk), (1, 1), "valid"),
        K.conv2d_transpose(xp, K.constant(tk), (2, 13, 11, 2), (2, 2), "valid"),
        K.pool2d(xp, (3, 3), (2, 2), "same", pool_mode="avg"),
        K.pool2d(xp, (2, 2), (2, 1), "same", pool_mode="max"),
        K.conv1d(K.reshape(xp, (2, 30, 2)), K.constant(kernel[0]), 1, "causal", dilation_rate=2),
    ]
    got = run(outputs, [(xp, x)], engine)
    x64, k64 = x.astype("float64"), kernel.astype("float64")
    expected = [
        ref_conv(x64, k64, (2, 1), "same", (1, 2)),
        first(ref_conv(last(x64), kernel_cf.astype("float64"), (1, 1), "valid", (1, 1))),
        ref_depthwise(x64, dk.astype("float64"), (2, 2), "same", (1, 1)),
        ref_depthwise(x64, dk.astype("float64"), (1, 1), "valid", (1, 1)) @ pk[0, 0],
        ref_conv_transpose(x64, tk.astype("float64"), (13, 11), (2, 2), "valid", (1, 1)),
        ref_pool(x64, (3, 3), (2, 2), "same", "avg"),
        ref_pool(x64, (2, 2), (2, 1), "same", "max"),
        ref_conv(x64.reshape(2, 30, 2), k64[0], (1,), "causal", (2,)),
    ]
    for k, (g, e, t) in enumerate(zip(got, expected, outputs)):
        assert g.dtype == np.float32 and g.shape == t.shape, k
        np.testing.assert_allclose(g, e, rtol=2e-5, atol=2e-5, err_msg=f"output {k}")


def _numeric_grad(f, a, h=1e-6):
    grad = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        up, down = a.copy(), a.copy()
        up[idx] += h
        down[idx] -= h
        grad[idx] = (f(up) - f(down)) / (2 * h)
    return grad


@pytest.mark.parametrize("engine", ENGINES)
def test_gradients_through_conv_and_pool_match_finite_differences(engine):
    rng = np.random.default_rng(9)
    x = rng.normal(size=(1, 6, 5, 2))
    kernel = rng.normal(size=(3, 2, 2, 3))
    w = rng.uniform(0.5, 1.5, size=(1, 2, 3, 3))

    def reference(x, kernel):
        y = ref_conv(x, kernel, (2, 1), "same", (1, 1))  # (1, 3, 5, 3)
        y = ref_pool(np.tanh(y), (2, 2), (2, 2), "same", "max")  # (1, 2, 3, 3)
        return np.sum(y * w)

    xp, kp = placeholder(x, "x"), placeholder(kernel, "kernel")
    y = K.pool2d(K.tanh(K.conv2d(xp, kp, (2, 1), "same")), (2, 2), (2, 2), "same")
    loss = K.sum(y * K.constant(w, "float64"))
    gx, gk = run(K.gradients(loss, [xp, kp]), [(xp, x), (kp, kernel)], engine)
    np.testing.assert_allclose(
        gx, _numeric_grad(lambda a: reference(a, kernel), x), rtol=1e-6, atol=1e-8
    )
    np.testing.assert_allclose(
        gk, _numeric_grad(lambda a: reference(x, a), kernel), rtol=1e-6, atol=1e-8
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_max_pool_gives_a_tied_window_gradient_to_its_first_maximum(engine):
    """TensorFlow's MaxPoolGrad: the first maximum in row-major window order takes it all."""
    x = np.array([[1.0, 2.0, 2.0], [2.0, 0.0, 2.0], [5.0, 5.0, 1.0]]).reshape(1, 3, 3, 1)
    xp = placeholder(x, "x")
    (g,) = run(K.gradients(K.sum(K.pool2d(xp, (2, 2), (1, 1))), [xp]), [(xp, x)], engine)
    # windows: [1 2; 2 0] and [2 2; 0 2] both pick (0, 1); [2 0; 5 5] (2, 0); [0 2; 5 1] (2, 1)
    expected = np.array([[0.0, 2.0, 0.0], [0.0, 0.0, 0.0], [1.0, 1.0, 0.0]]).reshape(x.shape)
    np.testing.assert_array_equal(g, expected)


@pytest.mark.parametrize("engine", ENGINES)
def test_second_order_gradient_through_the_kernel(engine):
    """d/dkernel of |d loss / dx|^2 (a gradient penalty): the input gradient of a strided conv
    is the transposed conv of the weights, whose square sum is differentiated numerically."""
    rng = np.random.default_rng(10)
    x = rng.normal(size=(1, 5, 5, 2))
    kernel = rng.normal(size=(3, 3, 2, 3))
    w = rng.uniform(0.5, 1.5, size=(1, 3, 3, 3))

    def penalty(kernel):
        gx = ref_conv_transpose(w, kernel, (5, 5), (2, 2), "same", (1, 1))
        return np.sum(gx**2)

    xp, kp = placeholder(x, "x"), placeholder(kernel, "kernel")
    loss = K.sum(K.conv2d(xp, kp, (2, 2), "same") * K.constant(w, "float64"))
    (gx,) = K.gradients(loss, [xp])
    (gk,) = K.gradients(K.sum(K.square(gx)), [kp])
    (got,) = run([gk], [(xp, x), (kp, kernel)], engine)
    np.testing.assert_allclose(got, _numeric_grad(penalty, kernel), rtol=1e-6, atol=1e-8)


def test_unknown_spatial_sizes_are_resolved_per_call():
    rng = np.random.default_rng(11)
    xp = K.placeholder(shape=(None, None, None, 2), dtype="float64", name="x")
    kernel = rng.normal(size=(3, 3, 2, 2))
    y = K.pool2d(K.conv2d(xp, K.constant(kernel, "float64"), (2, 2), "same"), (2, 2), (2, 2),
                 "same", pool_mode="avg")  # fmt: skip
    assert y.shape == (None, None, None, 2)
    (gx,) = K.gradients(K.sum(y), [xp])
    f = K.function([xp], [y, gx])
    for shape in [(1, 7, 6, 2), (2, 4, 9, 2)]:
        x = rng.normal(size=shape)
        got, grad = f([x])

        def reference(a):
            return ref_pool(ref_conv(a, kernel, (2, 2), "same", (1, 1)), (2, 2), (2, 2), "same",
                            "avg")  # fmt: skip

        np.testing.assert_allclose(got, reference(x), rtol=1e-12)
        np.testing.assert_allclose(grad, _numeric_grad(lambda a: reference(a).sum(), x), rtol=1e-6)


def test_image_data_format_is_the_default():
    rng = np.random.default_rng(12)
    x = rng.normal(size=(1, 2, 5, 4))  # channels first
    kernel = rng.normal(size=(2, 2, 2, 3))
    old = K.image_data_format()
    K.set_image_data_format("channels_first")
    try:
        xp = placeholder(x, "x")
        conv, pooled = K.conv2d(xp, K.constant(kernel, "float64")), K.pool2d(xp, (2, 2))
    finally:
        K.set_image_data_format(old)
    got_c, got_p = run([conv, pooled], [(xp, x)])
    np.testing.assert_allclose(last(got_c), ref_conv(last(x), kernel, (1, 1), "valid", (1, 1)))
    np.testing.assert_allclose(last(got_p), ref_pool(last(x), (2, 2), (1, 1), "valid", "max"))


def test_float32_stays_float32_and_ints_become_floatx():
    x = K.placeholder(shape=(1, 5, 5, 2), name="x")
    y = K.conv2d(x, K.constant(np.ones((2, 2, 2, 1), "float32")))
    assert y.dtype == "float32" and y.shape == (1, 4, 4, 1)
    ints = K.pool2d(K.constant(np.arange(16, dtype="int32").reshape(1, 4, 4, 1)), (2, 2), (2, 2))
    assert ints.dtype == K.floatx()
    np.testing.assert_array_equal(K.eval(ints).ravel(), [5, 7, 13, 15])


def test_bad_arguments_raise_clear_errors():
    x = K.placeholder(shape=(1, 5, 5, 2), name="x")
    kernel = K.constant(np.ones((3, 3, 2, 4), "float32"))
    with pytest.raises(ValueError, match="invalid padding 'causal'"):
        K.conv2d(x, kernel, padding="causal")
    with pytest.raises(ValueError, match="invalid padding 'full'"):
        K.conv1d(K.placeholder(shape=(1, 5, 2)), K.constant(np.ones((3, 2, 1))), padding="full")
    with pytest.raises(ValueError, match="rank 4"):
        K.conv2d(K.placeholder(shape=(1, 5, 2)), kernel)
    with pytest.raises(ValueError, match="input channels"):
        K.conv2d(K.placeholder(shape=(1, 5, 5, 3)), kernel)
    with pytest.raises(ValueError, match="strides"):
        K.conv2d(x, kernel, strides=(1, 1, 1))
    with pytest.raises(ValueError, match="invalid pooling mode"):
        K.pool2d(x, (2, 2), pool_mode="min")
    with pytest.raises(ValueError, match="data_format"):
        K.pool2d(x, (2, 2), data_format="NHWC")
    with pytest.raises(ValueError, match="gives"):  # a conv of (9, 9) gives (3, 3), not (5, 5)
        K.conv2d_transpose(x, K.constant(np.ones((3, 3, 1, 2), "float32")), (1, 9, 9, 1), (3, 3))
    with pytest.raises(ValueError, match="does not fit"):
        K.conv2d(K.placeholder(shape=(1, 2, 2, 2)), kernel)
    with pytest.raises(ValueError, match="output_shape"):
        K.local_conv2d(x, K.constant(np.ones((16, 18, 1))), (3, 3), (1, 1), (4, 4))


def test_every_keras_function_is_exported_and_documented():
    names = [
        "conv1d", "conv2d", "conv3d", "conv2d_transpose", "conv3d_transpose", "separable_conv1d",
        "separable_conv2d", "depthwise_conv2d", "pool2d", "pool3d", "local_conv1d", "local_conv2d",
    ]  # fmt: skip
    for name in names:
        assert name in K.__all__
        assert getattr(K, name).__doc__


def test_windows_are_taken_in_row_major_order():
    """The tie rule depends on the order: check it on a 3-d window too (all ties)."""
    x = np.zeros((1, 2, 2, 2, 1))
    xp = placeholder(x, "x")
    (g,) = run(K.gradients(K.sum(K.pool3d(xp, (2, 2, 2))), [xp]), [(xp, x)])
    expected = np.zeros(8)
    expected[0] = 1
    np.testing.assert_array_equal(g.ravel(), expected)
