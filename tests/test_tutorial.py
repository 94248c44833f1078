"""Tests for the tutorial: polyback.examples.tutorial and examples/tutorial.ipynb.

The tutorial's K-code runs here as written in the tutorial; its results are checked against
NumPy computations written out in this file (Keras 2.3's formulas), never against polyback.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import polyback
from polyback import backend as K
from polyback._src.keras import nn as keras_nn
from polyback.datasets import load_data, load_digits_as_otto, preprocess_data, preprocess_labels
from polyback.examples import tutorial

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO_ROOT / "examples" / "tutorial.ipynb"
ENGINES = ["numpy", "tensorflow", "theano", "jax", "torch"]
EPS = np.float32(1e-7)  # Keras 2.3's default epsilon
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(params=ENGINES)
def engine(request):
    """Each installed engine in turn, as the current backend; the previous one is restored."""
    name = request.param
    if name not in polyback.available_backends():
        if os.environ.get("CI") == "true":
            pytest.fail(f"the {name} engine must be installed under CI")
        pytest.skip(f"the {name} engine is not installed")
    previous = polyback.config.backend()
    polyback.set_backend(name)
    yield name
    polyback.set_backend(previous)


@pytest.fixture
def fresh_warnings(monkeypatch):
    """Forget which warnings polyback has given, so its warn-once warnings fire again."""
    monkeypatch.setattr(keras_nn, "_warned", set())


@pytest.fixture(scope="module")
def otto(otto_train_path):
    """The Otto training data as the tutorial prepares it: (X_train, Y_train), float32."""
    np.random.seed(1337)
    X_train, labels = load_data(otto_train_path, train=True)
    X_train, scaler = preprocess_data(X_train)
    Y_train, encoder = preprocess_labels(labels)
    return X_train, Y_train


# --- NumPy references --------------------------------------------------------------------------


def crossentropy_reference(X, T, W, b):
    """Keras 2.3's categorical_crossentropy(T, y), from_logits=False, of y = X W + b (float32)."""
    y = X @ W + b
    out = y / y.sum(-1, keepdims=True)
    out = np.clip(out, EPS, 1 - EPS)
    return -np.sum(T * np.log(out), -1)


def sgd_step_reference(X, T, W, b, lr):
    """One gradient-descent step on the sum of crossentropy_reference's losses.

    Returns (W', b', scale_W, scale_b): scale_* is lr times the sum of the absolute terms
    that make up each gradient entry, the size float32 rounding errors are relative to.
    """
    y = X @ W + b  # the forward pass in float32, as the engine computes it
    s = y.sum(-1, keepdims=True)
    out = y / s
    inside = (out >= EPS) & (out <= 1 - EPS)  # clip passes the gradient only inside its range
    c = np.clip(out, EPS, 1 - EPS).astype(np.float64)
    y, s, X = y.astype(np.float64), s.astype(np.float64), X.astype(np.float64)
    g_out = np.where(inside, -T / c, 0.0)  # d loss / d out
    # out_i = y_i / s with s = sum_k y_k: d loss / d y_k = g_k / s - sum_i g_i y_i / s**2
    g_y = g_out / s - (g_out * y).sum(-1, keepdims=True) / s**2
    W_next = W - lr * (X.T @ g_y)
    b_next = b - lr * g_y.sum(0)
    return W_next, b_next, lr * (np.abs(X).T @ np.abs(g_y)), lr * np.abs(g_y).sum(0)


def score_rounding(X, T, W, b, typical=False):
    """Each row's target score y_t and score sum s (float64), and how much one float32
    computation may round them, relative to their size: (y_t, s, r_t, r_s). T is one-hot.

    A score is a dot product of n features plus a bias. In any summation order float32 rounds
    it by at most (n + 1) u A, with A = |X| |W| + |b| and u the unit roundoff; ``typical`` uses
    sqrt(n + 1) u A instead, the usual estimate when the rounding errors do not all line up.
    Summing the scores adds up to (number of classes) u sum(|y|).
    """
    X64, W64, b64 = X.astype(np.float64), W.astype(np.float64), b.astype(np.float64)
    y = X64 @ W64 + b64
    terms = X.shape[1] + 1
    u = np.finfo(np.float32).eps / 2
    dy = (np.sqrt(terms) if typical else terms) * u * (np.abs(X64) @ np.abs(W64) + np.abs(b64))
    ds = dy.sum(-1) + y.shape[1] * u * np.abs(y).sum(-1)
    y_t, s = np.sum(T * y, -1), y.sum(-1)
    with np.errstate(divide="ignore"):
        return y_t, s, np.sum(T * dy, -1) / np.abs(y_t), ds / np.abs(s)


def loss_rounding_bound(X, T, W, b):
    """Per row, how far two float32 computations of crossentropy_reference may lie apart.

    The loss is -log(clip(y_t / s)) and clipping is monotone, so each computation is off by at
    most -log(1 - r_t) - log(1 - r_s) (worst case of score_rounding): large for rows whose
    scores sum to nearly 0, unbounded where a sign may flip. Plus 1e-5 relative for the rest.
    """
    _, _, r_t, r_s = score_rounding(X, T, W, b)
    with np.errstate(divide="ignore"):
        bound = -2 * (np.log1p(-np.minimum(r_t, 1)) + np.log1p(-np.minimum(r_s, 1)))
    return bound + 1e-5 * np.abs(crossentropy_reference(X, T, W, b))


def step_rounding_bound(X, T, W, b, lr):
    """How far two float32 computations of sgd_step_reference's W' and b' may lie apart:
    (bound_W, bound_b).

    Inside the clip range a row's gradient with respect to its scores is 1 / s - T / y_t, so
    rounding the scores moves it by up to q_s / |s| + T q_t / |y_t| per computation, with
    q = r / (1 - r) (typical estimate of score_rounding: the worst case is unbounded here, as a
    row's score sum may change sign); a row whose y_t / s may cross a clip bound may gain or
    lose its whole gradient. Summing over the rows adds 1e-5 of the sum of the absolute terms.
    """
    y_t, s, r_t, r_s = score_rounding(X, T, W, b, typical=True)
    one_hot = T > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        q_t = np.where(r_t < 1, r_t / (1 - r_t), np.inf)
        q_s = np.where(r_s < 1, r_s / (1 - r_s), np.inf)
        d_g = 2 * (q_s / np.abs(s))[:, None] + np.where(
            one_hot, 2 * (q_t / np.abs(y_t))[:, None], 0
        )
        # y_t / s may be multiplied or divided by `spread`: may it cross EPS or 1 - EPS?
        out_t, spread = y_t / s, (1 + q_t) * (1 + q_s)
        crossing = ~np.isfinite(spread)
        for edge in (EPS, 1 - EPS):
            crossing |= (out_t * spread >= edge) & (out_t / spread <= edge)
        whole = np.abs(1 / s[:, None] - np.where(one_hot, 1 / y_t[:, None], 0))
    d_g = np.where(crossing[:, None], d_g + whole, d_g)
    *_, scale_W, scale_b = sgd_step_reference(X, T, W, b, lr)
    return lr * (np.abs(X).T @ d_g) + 1e-5 * scale_W, lr * d_g.sum(0) + 1e-5 * scale_b


def linear_regression_reference(w, b, x, t, lr, epochs):
    """The tutorial's gradient descent on mean((w x + b - t)**2), in float32."""
    w, b, lr = np.float32(w), np.float32(b), np.float32(lr)
    x, t = x.astype(np.float32), t.astype(np.float32)
    losses = []
    for _ in range(epochs):
        d = w * x + b - t
        losses.append(np.mean(d * d))
        w, b = w - lr * np.mean(2 * d * x), b - lr * np.mean(2 * d)
    return w, b, np.array(losses)


# --- the tutorial's K-code, run as written -------------------------------------------------------


def test_logistic_regression_verbatim(engine, otto, fresh_warnings):
    X_train, Y_train = otto
    dims = X_train.shape[1]
    nb_classes = Y_train.shape[1]
    state = np.random.get_state()

    # ---- the tutorial ----
    x = K.placeholder(dtype="float", shape=X_train.shape)
    target = K.placeholder(dtype="float", shape=Y_train.shape)
    W = K.variable(np.random.rand(dims, nb_classes))
    b = K.variable(np.random.rand(nb_classes))
    y = K.dot(x, W) + b
    with pytest.warns(UserWarning, match=r"order \(output, target\)"):
        loss = K.categorical_crossentropy(y, target)
    activation = K.softmax(y)  # noqa: F841 - part of the tutorial
    lr = K.constant(0.01)
    grads = K.gradients(loss, [W, b])
    updates = [(W, W - lr * grads[0]), (b, b - lr * grads[1])]
    train = K.function(inputs=[x, target], outputs=[loss], updates=updates)
    # ----------------------

    np.random.set_state(state)
    W0 = np.random.rand(dims, nb_classes).astype(np.float32)
    b0 = np.random.rand(nb_classes).astype(np.float32)
    expected = crossentropy_reference(X_train, Y_train, W0, b0)

    first = train([X_train, Y_train])[0]
    assert first.shape == (len(X_train),)
    # Rows whose scores sum to nearly 0 amplify rounding: compare within each row's bound.
    bound = loss_rounding_bound(X_train, Y_train, W0, b0)
    assert np.all(np.abs(first - expected) <= bound)
    # Where even the typical rounding estimate is small, the usual relative tolerance holds.
    _, _, r_t, r_s = score_rounding(X_train, Y_train, W0, b0, typical=True)
    well_conditioned = 2 * (r_t + r_s) <= 1e-5 * np.abs(expected)
    assert well_conditioned.mean() > 0.8
    np.testing.assert_allclose(first[well_conditioned], expected[well_conditioned], rtol=1e-5)

    W1, b1 = K.get_value(W), K.get_value(b)
    W_expected, b_expected, scale_W, scale_b = sgd_step_reference(X_train, Y_train, W0, b0, lr=0.01)
    if engine == "numpy":
        # The same float32 scores as X @ W + b here: only summing the rows rounds differently.
        tol_W, tol_b = 1e-5 * scale_W, 1e-5 * scale_b
    else:
        tol_W, tol_b = step_rounding_bound(X_train, Y_train, W0, b0, lr=0.01)
    assert np.all(np.abs(W1 - W_expected) <= tol_W)
    assert np.all(np.abs(b1 - b_expected) <= tol_b)
    assert not np.allclose(W1, W0) and not np.allclose(b1, b0)

    history = [np.mean(first)]
    second = train([X_train, Y_train])[0]  # the loss at the updated parameters
    bound = loss_rounding_bound(X_train, Y_train, W1, b1)
    expected = crossentropy_reference(X_train, Y_train, W1, b1)
    assert np.all(np.abs(second - expected) <= bound)
    history.append(np.mean(second))
    for _ in range(23):
        history.append(np.mean(train([X_train, Y_train])[0]))

    assert len(history) == 25 and np.all(np.isfinite(history))
    assert np.ptp(history) > 0.1  # the loss changed
    assert not np.allclose(K.get_value(W), W1)


def test_linear_regression_verbatim(engine):
    np.random.seed(1337)
    state = np.random.get_state()

    # ---- the tutorial ----
    x = K.placeholder()
    target = K.placeholder()
    lr = K.variable(0.1)
    w = K.variable(np.random.rand())
    b = K.variable(np.random.rand())
    y = w * x + b
    loss = K.mean(K.square(y - target))
    grads = K.gradients(loss, [w, b])
    updates = [(w, w - lr * grads[0]), (b, b - lr * grads[1])]
    train = K.function([x, target], [loss], updates=updates)
    np_x = np.random.rand(1000)
    np_target = 0.96 * np_x + 0.24
    losses = [train([np_x, np_target])[0] for _ in range(200)]
    # ----------------------

    np.random.set_state(state)
    w0, b0 = np.random.rand(), np.random.rand()
    x_ref = np.random.rand(1000)
    w_ref, b_ref, losses_ref = linear_regression_reference(
        w0, b0, x_ref, 0.96 * x_ref + 0.24, lr=0.1, epochs=200
    )
    np.testing.assert_allclose(K.eval(w), w_ref, rtol=1e-5)
    np.testing.assert_allclose(K.eval(b), b_ref, rtol=1e-5)
    np.testing.assert_allclose(losses, losses_ref, rtol=1e-4, atol=1e-7)
    assert losses[-1] < losses[0] / 100
    assert np.all(np.diff(losses[:20]) < 0)


# --- the command line ------------------------------------------------------------------------


def assert_png(path: Path) -> None:
    from PIL import Image

    assert path.is_file(), f"missing plot {path}"
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as image:
        image.verify()
        assert image.format == "PNG" and image.size[0] > 100 and image.size[1] > 100


def assert_plots(folder: Path) -> None:
    assert_png(folder / "logistic_regression_loss.png")
    assert_png(folder / "linear_regression_loss.png")


def printed_step_losses(text: str) -> list[float]:
    return [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("Step")]


def test_main_on_the_default_otto_file(otto_train_path, tmp_path, capsys, fresh_warnings):
    assert tutorial.main(["--steps", "3", "--epochs", "5", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    data_line = next(line for line in printed.splitlines() if line.startswith("Data:"))
    assert Path(data_line.split(", ", 1)[1]).resolve() == otto_train_path.resolve()
    assert "61,878 rows, 93 features, 9 classes" in printed
    assert "Note: K.categorical_crossentropy(y, target) is in the pre-Keras-2.0.7 order" in printed
    assert len(printed_step_losses(printed)) == 3
    assert printed.count("Loss: ") == 1  # epochs 0, 20, ... of 5
    assert "Training accuracy after 3 steps" in printed
    assert_plots(tmp_path)


def test_main_with_data_option(tmp_path, capsys):
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.integers(0, 6, (60, 93)), columns=[f"feat_{i}" for i in range(1, 94)])
    frame.insert(0, "id", np.arange(1, 61))
    frame["target"] = [f"Class_{i % 3 + 1}" for i in range(60)]
    path = tmp_path / "small.csv.gz"
    frame.to_csv(path, index=False)

    argv = ["--data", str(path), "--steps", "3", "--epochs", "5", "--out", str(tmp_path / "o")]
    assert tutorial.main(argv) == 0
    printed = capsys.readouterr().out
    assert f"Data: Otto training data, {path}" in printed
    assert "60 rows, 93 features, 3 classes" in printed
    assert_plots(tmp_path / "o")


@pytest.mark.parametrize("how", ["no Otto file", "--digits"])
def test_main_digits_fallback(how, monkeypatch, tmp_path, capsys):
    argv = ["--steps", "3", "--epochs", "5", "--out", str(tmp_path), "--seed", "7"]
    if how == "--digits":
        argv.append("--digits")
    else:
        monkeypatch.setattr(tutorial, "default_otto_path", lambda: None)
    assert tutorial.main(argv) == 0
    printed = capsys.readouterr().out
    assert f"Data: scikit-learn's embedded digits data ({how}" in printed
    assert "1,797 rows, 64 features, 10 classes" in printed
    assert_plots(tmp_path)

    # The first printed loss is NumPy's, for the data and parameters drawn from seed 7.
    np.random.seed(7)
    X, labels = load_digits_as_otto()
    X, _ = preprocess_data(X)
    T, _ = preprocess_labels(labels)
    W0 = np.random.rand(64, 10).astype(np.float32)
    b0 = np.random.rand(10).astype(np.float32)
    expected = np.mean(crossentropy_reference(X, T, W0, b0))
    assert abs(printed_step_losses(printed)[0] - expected) <= 1e-4 * max(1.0, abs(expected))


def test_main_rejects_a_missing_data_file(tmp_path, capsys):
    missing = tmp_path / "nowhere" / "train.csv.zip"
    with pytest.raises(SystemExit) as exit_info:
        tutorial.main(["--data", str(missing), "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert f"--data: no such file: {missing}" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.png"))


@pytest.mark.parametrize("argv", [["--backend", "nope"], ["--steps", "0"], ["--epochs", "x"]])
def test_main_rejects_bad_options(argv, tmp_path, capsys):
    before = polyback.config.backend()
    with pytest.raises(SystemExit) as exit_info:
        tutorial.main([*argv, "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert argv[0] in capsys.readouterr().err
    assert polyback.config.backend() == before


def test_main_with_backend_option(tmp_path, capsys):
    # With another engine current (when one is installed), main switches to NumPy and back.
    before = polyback.config.backend()
    others = [name for name in polyback.available_backends() if name != "numpy"]
    current = others[0] if others else before
    polyback.set_backend(current)
    argv = ["--backend", "numpy", "--digits", "--steps", "2", "--epochs", "3"]
    try:
        assert tutorial.main([*argv, "--out", str(tmp_path)]) == 0
        assert polyback.config.backend() == current
    finally:
        polyback.set_backend(before)
    printed = capsys.readouterr().out
    assert f"polyback {polyback.__version__}, NumPy backend" in printed
    assert np.all(np.isfinite(printed_step_losses(printed)))
    assert_plots(tmp_path)


def pythonpath_with_this_checkout() -> str:
    paths = [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]
    return os.pathsep.join(path for path in paths if path)


def test_module_entry_point():
    env = {**os.environ, "PYTHONPATH": pythonpath_with_this_checkout()}
    result = subprocess.run(
        [sys.executable, "-m", "polyback.examples.tutorial", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "--backend NAME" in result.stdout and "--digits" in result.stdout


# --- the notebook ----------------------------------------------------------------------------


def _import_or_skip(name: str):
    if os.environ.get("CI") == "true":
        return __import__(name)  # the test extra installs it: missing is a failure
    return pytest.importorskip(name)


def test_notebook_is_valid_and_stores_no_outputs():
    nbformat = _import_or_skip("nbformat")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)
    source = "\n".join(cell.source for cell in code)
    assert "K.categorical_crossentropy(y, target)" in source and "default_otto_path()" in source


def test_notebook_runs(tmp_path, monkeypatch):
    nbformat = _import_or_skip("nbformat")
    nbclient = _import_or_skip("nbclient")
    _import_or_skip("ipykernel")
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    # A kernel on this interpreter, importing polyback from this checkout.
    spec = tmp_path / "kernels" / "polyback-tests"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "polyback tests", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel))
    monkeypatch.setenv("PYTHONPATH", pythonpath_with_this_checkout())
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    specs = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")], ensure_native_kernel=False)
    manager = KernelManager(kernel_name="polyback-tests", kernel_spec_manager=specs)

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook, km=manager, timeout=300, resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute()  # raises CellExecutionError if a cell fails

    outputs = [out for cell in notebook.cells for out in cell.get("outputs", [])]
    assert not [out for out in outputs if out.output_type == "error"]
    text = "".join(out.get("text", "") for out in outputs if out.output_type == "stream")
    assert "Data: " in text and "Step 25: loss" in text and "Training accuracy" in text
    assert "After 200 epochs" in text
    assert sum("image/png" in out.get("data", {}) for out in outputs) == 2
