"""The workloads written by hand, once per engine, as a competent user of that library would.

Shared rules, the same as polyback's ``K.function``: every call is fed the NumPy arrays and
converts them itself (a float64 feed is cast to float32 with NumPy first), the weights stay
inside the library between calls, and the loss comes back as a NumPy array. Gradients come
from each library's own autodiff (NumPy: derived by hand). Each builder takes the workload's
data and returns ``step(*feeds) -> loss``.
"""

from __future__ import annotations

import numpy as np
from workloads import LINREG_LR, OTTO_LR

F32 = np.float32
EPS = F32(1e-7)  # Keras's epsilon


def _f32(a) -> np.ndarray:
    return np.asarray(a, dtype=F32)


# -- NumPy ---------------------------------------------------------------------------------


def numpy_otto(data: dict):
    W, b = _f32(data["W0"]), _f32(data["b0"])
    lr = F32(OTTO_LR)

    def step(X, Y):
        y = X @ W + b
        s = y.sum(axis=1, keepdims=True)
        p = y / s
        q = np.clip(p, EPS, 1 - EPS)
        loss = -(Y * np.log(q)).sum(axis=1)
        # d(sum of loss)/dy through the clip (it passes the gradient inside its bounds) and y / s
        gp = np.where((p >= EPS) & (p <= 1 - EPS), -Y / q, F32(0))
        gy = (gp - (gp * p).sum(axis=1, keepdims=True)) / s
        W[...] -= lr * (X.T @ gy)
        b[...] -= lr * gy.sum(axis=0)
        return loss

    return step


def numpy_linreg(data: dict):
    params = _f32([data["w0"], data["b0"]])
    lr = F32(LINREG_LR)

    def step(x, t):
        x, t = x.astype(F32), t.astype(F32)
        w, b = params
        err = w * x + b - t
        g = err * F32(2 / len(x))
        params[0] -= lr * np.dot(g, x)
        params[1] -= lr * g.sum()
        return np.mean(err * err)

    return step


# -- JAX -----------------------------------------------------------------------------------


def jax_otto(data: dict):
    import jax
    import jax.numpy as jnp

    def losses(params, x, t):
        W, b = params
        y = x @ W + b
        p = jnp.clip(y / y.sum(axis=-1, keepdims=True), EPS, 1 - EPS)
        loss = -(t * jnp.log(p)).sum(axis=-1)
        return loss.sum(), loss

    @jax.jit
    def train(params, x, t):
        (_, loss), grads = jax.value_and_grad(losses, has_aux=True)(params, x, t)
        return loss, [p - OTTO_LR * g for p, g in zip(params, grads)]

    state = [[jnp.asarray(data["W0"], F32), jnp.asarray(data["b0"], F32)]]

    def step(X, Y):
        loss, state[0] = train(state[0], X, Y)
        return np.asarray(loss)

    return step


def jax_linreg(data: dict):
    import jax
    import jax.numpy as jnp

    def mse(params, x, t):
        w, b = params
        return jnp.mean(jnp.square(w * x + b - t))

    @jax.jit
    def train(params, x, t):
        loss, grads = jax.value_and_grad(mse)(params, x, t)
        return loss, [p - LINREG_LR * g for p, g in zip(params, grads)]

    state = [[jnp.asarray(data["w0"], F32), jnp.asarray(data["b0"], F32)]]

    def step(x, t):
        loss, state[0] = train(state[0], x.astype(F32), t.astype(F32))
        return np.asarray(loss)

    return step


# -- PyTorch -------------------------------------------------------------------------------


def torch_otto(data: dict):
    import torch

    W = torch.tensor(_f32(data["W0"]), requires_grad=True)
    b = torch.tensor(_f32(data["b0"]), requires_grad=True)

    def step(X, Y):
        x, t = torch.from_numpy(X), torch.from_numpy(Y)
        y = x @ W + b
        p = (y / y.sum(dim=-1, keepdim=True)).clamp(EPS, 1 - EPS)
        loss = -(t * p.log()).sum(dim=-1)
        loss.sum().backward()
        with torch.no_grad():
            for param in (W, b):
                param -= OTTO_LR * param.grad
                param.grad = None
        return loss.detach().numpy()

    return step


def torch_linreg(data: dict):
    import torch

    w = torch.tensor(F32(data["w0"]), requires_grad=True)
    b = torch.tensor(F32(data["b0"]), requires_grad=True)

    def step(x, t):
        x, t = torch.from_numpy(x.astype(F32)), torch.from_numpy(t.astype(F32))
        loss = torch.mean(torch.square(w * x + b - t))
        loss.backward()
        with torch.no_grad():
            for param in (w, b):
                param -= LINREG_LR * param.grad
                param.grad = None
        return loss.detach().numpy()

    return step


# -- TensorFlow ----------------------------------------------------------------------------


def tensorflow_otto(data: dict):
    import tensorflow as tf

    W = tf.Variable(_f32(data["W0"]))
    b = tf.Variable(_f32(data["b0"]))

    @tf.function
    def train(x, t):
        with tf.GradientTape() as tape:
            y = tf.matmul(x, W) + b
            p = tf.clip_by_value(y / tf.reduce_sum(y, axis=-1, keepdims=True), EPS, 1 - EPS)
            loss = -tf.reduce_sum(t * tf.math.log(p), axis=-1)
        for param, grad in zip((W, b), tape.gradient(loss, [W, b])):
            param.assign_sub(OTTO_LR * grad)
        return loss

    return lambda X, Y: train(X, Y).numpy()


def tensorflow_linreg(data: dict):
    import tensorflow as tf

    w = tf.Variable(F32(data["w0"]))
    b = tf.Variable(F32(data["b0"]))

    @tf.function
    def train(x, t):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(w * x + b - t))
        for param, grad in zip((w, b), tape.gradient(loss, [w, b])):
            param.assign_sub(LINREG_LR * grad)
        return loss

    return lambda x, t: train(x.astype(F32), t.astype(F32)).numpy()


# -- PyTensor ------------------------------------------------------------------------------


def _pytensor_function(inputs, loss, params, lr):
    import pytensor

    grads = pytensor.grad(loss.sum(), params)
    updates = [(p, p - F32(lr) * g) for p, g in zip(params, grads)]
    return pytensor.function(inputs, loss, updates=updates)


def theano_otto(data: dict):
    import pytensor
    import pytensor.tensor as pt

    x, t = pt.matrix("x", dtype="float32"), pt.matrix("t", dtype="float32")
    W = pytensor.shared(_f32(data["W0"]), name="W")
    b = pytensor.shared(_f32(data["b0"]), name="b")
    y = pt.dot(x, W) + b
    p = pt.clip(y / y.sum(axis=-1, keepdims=True), EPS, 1 - EPS)
    loss = -(t * pt.log(p)).sum(axis=-1)
    train = _pytensor_function([x, t], loss, [W, b], OTTO_LR)
    return train


def theano_linreg(data: dict):
    import pytensor
    import pytensor.tensor as pt

    x, t = pt.vector("x", dtype="float32"), pt.vector("t", dtype="float32")
    w = pytensor.shared(F32(data["w0"]), name="w")
    b = pytensor.shared(F32(data["b0"]), name="b")
    loss = pt.mean(pt.square(w * x + b - t))
    train = _pytensor_function([x, t], loss, [w, b], LINREG_LR)
    return lambda x, t: train(x.astype(F32), t.astype(F32))


# -- the table -----------------------------------------------------------------------------

LABELS = {
    "numpy": "NumPy",
    "jax": "jax.jit",
    "torch": "torch eager",
    "tensorflow": "tf.function",
    "theano": "pytensor.function",
}
PACKAGES = {
    "numpy": "numpy",
    "jax": "jax",
    "torch": "torch",
    "tensorflow": "tensorflow",
    "theano": "pytensor",
}


def builder(engine: str, workload: str):
    """The hand-written ``workload`` for ``engine`` (a polyback engine name)."""
    return globals()[f"{engine}_{workload}"]
