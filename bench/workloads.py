"""The two benchmark workloads: their data, and their Keras-backend code.

The Keras-backend code is written once against a module ``K`` and runs unchanged on
``polyback.backend`` and on ``tf_keras.backend`` (in graph mode); only ``K.function``'s
``backend=`` argument, which tf_keras lacks, differs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SEED = 1337
OTTO_LR = 0.01
LINREG_LR = 0.1

DESCRIPTIONS = {
    "otto": "Otto step: one full-batch logistic-regression SGD step (lr 0.01) on the Otto data "
    "(61,878 x 93 float32, 9 classes), returning the loss vector",
    "linreg": "Linear-regression call: one SGD step (lr 0.1) of y = w x + b on 1,000 float64 "
    "points (cast to float32), returning the scalar loss",
}


def otto_data(path: str | Path | None = None) -> dict:
    """Feeds ``(X, Y)`` and initial ``W0``, ``b0`` for the Otto step (seeded, as the tutorial)."""
    from polyback.datasets import default_otto_path, load_data, preprocess_data, preprocess_labels

    path = path or default_otto_path()
    if path is None or not Path(path).is_file():
        raise FileNotFoundError(f"Otto training data not found ({path or 'no default path'})")
    np.random.seed(SEED)
    X, labels = load_data(path)
    X, _ = preprocess_data(X)
    Y, _ = preprocess_labels(labels)
    W0 = np.random.rand(X.shape[1], Y.shape[1])
    b0 = np.random.rand(Y.shape[1])
    return {"feeds": (X, Y), "W0": W0, "b0": b0}


def linreg_data() -> dict:
    """Feeds ``(x, target)`` (float64, as the tutorial makes them) and initial ``w0``, ``b0``."""
    rng = np.random.RandomState(SEED)
    w0, b0 = rng.rand(), rng.rand()
    x = rng.rand(1000)
    return {"feeds": (x, 0.96 * x + 0.24), "w0": w0, "b0": b0}


def load(workload: str, otto_path: str | Path | None = None) -> dict:
    """The data of ``workload``."""
    return otto_data(otto_path) if workload == "otto" else linreg_data()


# -- the Keras-backend code ------------------------------------------------------------------


def otto_keras(K, data: dict, **function_kwargs):
    """The tutorial's logistic-regression step; returns ``step(X, Y) -> loss vector``."""
    X, Y = data["feeds"]
    x = K.placeholder(shape=X.shape)
    target = K.placeholder(shape=Y.shape)
    W = K.variable(data["W0"])
    b = K.variable(data["b0"])
    y = K.dot(x, W) + b
    loss = K.categorical_crossentropy(target, y)
    grads = K.gradients(loss, [W, b])
    updates = [(W, W - OTTO_LR * grads[0]), (b, b - OTTO_LR * grads[1])]
    train = K.function([x, target], [loss], updates=updates, **function_kwargs)
    return lambda X, Y: train([X, Y])[0]


def linreg_keras(K, data: dict, **function_kwargs):
    """The tutorial's linear-regression step; returns ``step(x, target) -> scalar loss``."""
    x = K.placeholder()
    target = K.placeholder()
    w = K.variable(data["w0"])
    b = K.variable(data["b0"])
    loss = K.mean(K.square(w * x + b - target))
    grads = K.gradients(loss, [w, b])
    updates = [(w, w - LINREG_LR * grads[0]), (b, b - LINREG_LR * grads[1])]
    train = K.function([x, target], [loss], updates=updates, **function_kwargs)
    return lambda x, t: train([x, t])[0]


KERAS_CODE = {"otto": otto_keras, "linreg": linreg_keras}
