"""The classic Keras-backend tutorial, run on polyback.

Two exercises written with nothing but the backend API (``from polyback import backend as K``):

1. logistic regression on the Otto Group product data, trained by full-batch gradient descent
   with ``K.gradients`` and ``K.function(..., updates=...)``;
2. linear regression by gradient descent on 1,000 generated points.

Both loss histories are saved as PNG plots. Needs the ``examples`` extra. Run::

    python -m polyback.examples.tutorial --help     # or: polyback-tutorial --help
"""

from __future__ import annotations

import argparse
import contextlib
import warnings
from pathlib import Path

import numpy as np

import polyback
from polyback import backend as K
from polyback.datasets import (
    default_otto_path,
    load_data,
    load_digits_as_otto,
    preprocess_data,
    preprocess_labels,
)

_INSTALL_HINT = 'pip install "polyback[examples]"'


# -- exercise 1: logistic regression ----------------------------------------------------------


def logistic_regression(
    X_train: np.ndarray, labels: np.ndarray, steps: int = 25, learning_rate: float = 0.01
) -> tuple[list[float], float]:
    """Train the tutorial's logistic regression; return (mean loss per step, accuracy)."""
    X_train, scaler = preprocess_data(X_train)
    Y_train, encoder = preprocess_labels(labels)
    dims = X_train.shape[1]
    nb_classes = Y_train.shape[1]
    print(f"{len(X_train):,} rows, {dims} features, {nb_classes} classes")

    # Placeholders for the data, fed when the function runs
    x = K.placeholder(dtype="float", shape=X_train.shape)
    target = K.placeholder(dtype="float", shape=Y_train.shape)

    # Model parameters, initialised at random
    W = K.variable(np.random.rand(dims, nb_classes))
    b = K.variable(np.random.rand(nb_classes))

    # The model and its loss. As in the tutorial, the loss is taken of the scores y themselves:
    # categorical_crossentropy rescales y to sum to 1 per row and clips it to
    # [epsilon, 1 - epsilon]; it is not the crossentropy of softmax(y). Rows whose scores sum
    # to nearly 0 make it very sensitive to rounding: after a few steps, engines part ways.
    y = K.dot(x, W) + b
    with _note_old_argument_order():
        loss = K.categorical_crossentropy(y, target)
    activation = K.softmax(y)

    # One step of gradient descent on W and b, made by the function's updates
    lr = K.constant(learning_rate)
    grads = K.gradients(loss, [W, b])
    updates = [(W, W - lr * grads[0]), (b, b - lr * grads[1])]
    train = K.function(inputs=[x, target], outputs=[loss], updates=updates)

    loss_history = []
    every = max(1, steps // 25)
    for step in range(steps):
        current_loss = train([X_train, Y_train])[0]  # one loss per row
        loss_history.append(float(np.mean(current_loss)))
        if step % every == 0 or step == steps - 1:
            print(f"Step {step + 1:>{len(str(steps))}}/{steps}: loss {loss_history[-1]:.4f}")

    # Training accuracy: the most probable class against the true one
    predict = K.function(inputs=[x], outputs=[activation])
    probabilities = predict([X_train])[0]
    classes = encoder.transform(labels)
    accuracy = float(np.mean(np.argmax(probabilities, axis=1) == classes))
    majority = np.bincount(classes).max() / len(classes)
    print(
        f"Training accuracy after {steps} steps: {accuracy:.1%} "
        f"(always predicting the most frequent class: {majority:.1%})"
    )
    return loss_history, accuracy


@contextlib.contextmanager
def _note_old_argument_order():
    """Turn polyback's warning about the (output, target) argument order into one printed line.

    The tutorial calls ``K.categorical_crossentropy(y, target)``, the order of Keras before
    2.0.7. polyback reads it that way and warns (once per process). Other warnings pass on.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        if "(output, target)" in str(w.message):
            print(
                "Note: K.categorical_crossentropy(y, target) is in the pre-Keras-2.0.7 order "
                "(output, target); polyback read it that way."
            )
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


# -- exercise 2: linear regression ------------------------------------------------------------


def linear_regression(epochs: int = 200) -> tuple[list[float], float, float]:
    """Fit y = w x + b to 1,000 points on 0.96 x + 0.24; return (loss per epoch, w, b)."""
    # Placeholders and variables
    x = K.placeholder()
    target = K.placeholder()
    lr = K.variable(0.1)
    w = K.variable(np.random.rand())
    b = K.variable(np.random.rand())

    # Model, loss, gradients and the training function
    y = w * x + b
    loss = K.mean(K.square(y - target))
    grads = K.gradients(loss, [w, b])
    updates = [(w, w - lr * grads[0]), (b, b - lr * grads[1])]
    train = K.function([x, target], [loss], updates=updates)

    # Generate the data: 1,000 points on the line 0.96 x + 0.24
    np_x = np.random.rand(1000)
    np_target = 0.96 * np_x + 0.24

    loss_history = []
    for epoch in range(epochs):
        current_loss = train([np_x, np_target])[0]
        loss_history.append(float(current_loss))
        if epoch % 20 == 0:
            print(f"Loss: {current_loss:.3f}, w, b: [{K.eval(w):.2f}, {K.eval(b):.2f}]")
    w_value, b_value = float(K.eval(w)), float(K.eval(b))
    print(f"After {epochs} epochs: w = {w_value:.3f}, b = {b_value:.3f} (true: 0.96, 0.24)")
    return loss_history, w_value, b_value


# -- plots and the command line ---------------------------------------------------------------


def save_loss_plot(losses: list[float], path: Path, title: str, xlabel: str) -> Path:
    """Plot a loss history into a PNG file with matplotlib's Agg backend (no display needed)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError(f"the tutorial's plots need matplotlib: {_INSTALL_HINT}") from err
    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(np.arange(1, len(losses) + 1), losses, marker="." if len(losses) <= 50 else None)
    ax.set(title=title, xlabel=xlabel, ylabel="loss")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    parser = argparse.ArgumentParser(
        prog="polyback-tutorial",
        description="The classic Keras-backend tutorial on polyback: logistic regression on "
        "the Otto data, then linear regression by gradient descent.",
    )
    data = parser.add_mutually_exclusive_group()
    data.add_argument(
        "--data",
        metavar="PATH",
        help="Otto training file (.csv, .csv.gz or .csv.zip); default: "
        "../shared/data/kaggle_ottogroup/train.csv.zip when present, else the digits data",
    )
    data.add_argument(
        "--digits",
        action="store_true",
        help="use scikit-learn's embedded digits data even when an Otto file is found",
    )
    parser.add_argument(
        "--backend",
        metavar="NAME",
        help="engine: numpy, tensorflow, theano, jax or torch (default: polyback's configuration)",
    )
    parser.add_argument(
        "--steps",
        type=_positive_int,
        default=25,
        help="logistic regression: full-batch steps (default: 25)",
    )
    parser.add_argument(
        "--epochs", type=_positive_int, default=200, help="linear regression: epochs (default: 200)"
    )
    parser.add_argument(
        "--lr", type=float, default=0.01, help="logistic regression: learning rate (default: 0.01)"
    )
    parser.add_argument(
        "--out", metavar="DIR", default="out", help="folder for the plots (default: out)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=1337,
        help="seed of NumPy's global random generator (default: 1337)",
    )
    return parser


def _load_training_data(args, parser) -> tuple[np.ndarray, np.ndarray]:
    """Training features and labels from --data, the shared Otto file, or the digits data."""
    path = None if args.digits else (Path(args.data) if args.data else default_otto_path())
    if path is None:
        why = "--digits" if args.digits else "no Otto file found"
        print(f"Data: scikit-learn's embedded digits data ({why})")
        return load_digits_as_otto()
    print(f"Data: Otto training data, {path}")
    try:
        return load_data(path, train=True)
    except (FileNotFoundError, ValueError) as exc:
        parser.error(str(exc))


def main(argv: list[str] | None = None) -> int:
    """Run both exercises and save their loss plots; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.data is not None and not Path(args.data).is_file():
        parser.error(f"--data: no such file: {args.data}")

    previous_backend = polyback.config.backend()
    if args.backend is not None:
        try:
            polyback.set_backend(args.backend)
        except (ValueError, ImportError) as exc:
            parser.error(f"--backend: {exc}")
    try:
        print(f"polyback {polyback.__version__}, {polyback.config.engine_label()} backend")
        np.random.seed(args.seed)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)

        print("\n== Logistic regression ==")
        X_train, labels = _load_training_data(args, parser)
        losses, _ = logistic_regression(X_train, labels, steps=args.steps, learning_rate=args.lr)
        plot = save_loss_plot(
            losses, out / "logistic_regression_loss.png", "Logistic regression: mean loss", "step"
        )
        print(f"Saved {plot}")

        print("\n== Linear regression ==")
        losses, _, _ = linear_regression(epochs=args.epochs)
        plot = save_loss_plot(
            losses,
            out / "linear_regression_loss.png",
            "Linear regression: mean squared error",
            "epoch",
        )
        print(f"Saved {plot}")
    finally:
        if args.backend is not None:
            polyback.set_backend(previous_backend)  # leave the caller's choice as it was
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
