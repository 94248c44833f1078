"""Tests for polyback.datasets: the Otto-format loaders and the preprocessing helpers."""

import sys

import numpy as np
import pandas as pd
import pytest

from polyback.datasets import (
    default_otto_path,
    load_data,
    load_digits_as_otto,
    preprocess_data,
    preprocess_labels,
)
from polyback.datasets import otto as otto_module

N_TRAIN, N_TEST, N_FEATURES, N_CLASSES = 61878, 144368, 93, 9
FEATURES = [f"feat_{i}" for i in range(1, N_FEATURES + 1)]


@pytest.fixture(scope="module")
def otto_train(otto_train_path):
    """The real training data, loaded once with np.random.seed(0)."""
    np.random.seed(0)
    return load_data(otto_train_path)


def synthetic_frame(n_rows: int = 40, with_target: bool = True) -> pd.DataFrame:
    """A small Otto-format frame with random counts and three classes."""
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(rng.integers(0, 5, size=(n_rows, N_FEATURES)), columns=FEATURES)
    frame.insert(0, "id", np.arange(1, n_rows + 1))
    if with_target:
        frame["target"] = [f"Class_{i % 3 + 1}" for i in range(n_rows)]
    return frame


# --- the real Otto data --------------------------------------------------------------------


def test_train_shapes_and_types(otto_train):
    X, labels = otto_train
    assert X.shape == (N_TRAIN, N_FEATURES)
    assert X.dtype == np.float32
    assert labels.shape == (N_TRAIN,)
    assert labels.dtype.kind == "U"
    assert sorted(set(labels)) == [f"Class_{i}" for i in range(1, N_CLASSES + 1)]


def test_one_hot_labels(otto_train):
    _, labels = otto_train
    y, encoder = preprocess_labels(labels)
    assert y.shape == (N_TRAIN, N_CLASSES)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y.sum(axis=1), np.ones(N_TRAIN, dtype=np.float32))
    indices, _ = preprocess_labels(labels, encoder, categorical=False)
    assert indices.dtype == np.int32
    np.testing.assert_array_equal(y.argmax(axis=1), indices)
    np.testing.assert_array_equal(encoder.classes_[indices], labels)


def test_shuffle_matches_classic_row_shuffle(otto_train_path, otto_train):
    X, labels = otto_train
    rows = pd.read_csv(otto_train_path).to_numpy()
    file_labels = rows[:, -1].astype(str)
    assert not np.array_equal(labels, file_labels), "rows were not shuffled"
    np.random.seed(0)
    np.random.shuffle(rows)  # what the classic tutorial did to the whole table
    np.testing.assert_array_equal(X, rows[:, 1:-1].astype(np.float32))
    np.testing.assert_array_equal(labels, rows[:, -1].astype(str))


def test_shuffle_is_reproducible_with_seed(otto_train_path, otto_train):
    X0, labels0 = otto_train
    np.random.seed(0)
    X_again, labels_again = load_data(otto_train_path)
    np.testing.assert_array_equal(X_again, X0)
    np.testing.assert_array_equal(labels_again, labels0)
    np.random.seed(1)
    X1, _ = load_data(otto_train_path)
    assert not np.array_equal(X1, X0)


def test_test_file_gives_ids_in_file_order(otto_test_path):
    X, ids = load_data(otto_test_path, train=False)
    assert X.shape == (N_TEST, N_FEATURES)
    assert X.dtype == np.float32
    assert ids.dtype.kind == "U"
    np.testing.assert_array_equal(ids, np.arange(1, N_TEST + 1).astype(str))


def test_standardisation_matches_numpy(otto_train):
    X, _ = otto_train
    X_scaled, scaler = preprocess_data(X)
    assert X_scaled.dtype == np.float32
    X64 = X.astype(np.float64)
    std = X64.std(axis=0)
    assert np.all(std > 0)
    expected = (X64 - X64.mean(axis=0)) / std
    np.testing.assert_allclose(X_scaled, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(X_scaled.mean(axis=0, dtype=np.float64), 0.0, atol=1e-5)
    np.testing.assert_allclose(X_scaled.std(axis=0, dtype=np.float64), 1.0, atol=1e-5)


def test_scaler_and_encoder_reuse(otto_train, otto_test_path):
    X, labels = otto_train
    _, scaler = preprocess_data(X)
    _, encoder = preprocess_labels(labels)

    X_test, _ = load_data(otto_test_path, train=False)
    X_test_scaled, same_scaler = preprocess_data(X_test, scaler)
    assert same_scaler is scaler
    expected = (X_test.astype(np.float64) - scaler.mean_) / scaler.scale_
    np.testing.assert_allclose(X_test_scaled, expected, rtol=1e-5, atol=1e-5)

    head, same_encoder = preprocess_labels(labels[:5], encoder)
    assert same_encoder is encoder
    assert head.shape == (5, N_CLASSES)  # all 9 classes, though only 5 rows
    with pytest.raises(ValueError, match="Class_42"):
        preprocess_labels(np.array(["Class_1", "Class_42"]), encoder)


def test_default_otto_path_finds_shared_file(otto_train_path, tmp_path, monkeypatch):
    expected = otto_train_path.resolve()
    assert default_otto_path().resolve() == expected
    monkeypatch.chdir(tmp_path)  # still found from the package's own source tree
    assert default_otto_path().resolve() == expected
    assert default_otto_path("test.csv.zip").resolve() == expected.with_name("test.csv.zip")


# --- file formats and errors (synthetic data, no shared files needed) ----------------------


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".csv.zip"])
def test_formats_load(tmp_path, suffix):
    frame = synthetic_frame()
    path = tmp_path / f"train{suffix}"
    frame.to_csv(path, index=False)

    np.random.seed(3)
    X, labels = load_data(path)
    np.random.seed(3)
    order = np.random.permutation(len(frame))
    assert X.dtype == np.float32
    np.testing.assert_array_equal(X, frame[FEATURES].to_numpy(np.float32)[order])
    np.testing.assert_array_equal(labels, frame["target"].to_numpy(str)[order])

    X_test, ids = load_data(path, train=False)
    np.testing.assert_array_equal(X_test, frame[FEATURES].to_numpy(np.float32))
    np.testing.assert_array_equal(ids, frame["id"].astype(str).to_numpy())


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere" / "train.csv.zip"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_data(path)


def test_no_feature_columns(tmp_path):
    path = tmp_path / "bad.csv"
    pd.DataFrame({"id": [1, 2], "target": ["Class_1", "Class_2"]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"bad\.csv.*feat_"):
        load_data(path)


def test_no_target_column_when_training(tmp_path):
    path = tmp_path / "test.csv"
    synthetic_frame(with_target=False).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"test\.csv.*'target'"):
        load_data(path)
    X, ids = load_data(path, train=False)  # fine as test data
    assert X.shape == (40, N_FEATURES) and ids[0] == "1"


def test_no_id_column_for_test_data(tmp_path):
    path = tmp_path / "noid.csv"
    synthetic_frame().drop(columns="id").to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"noid\.csv.*'id'"):
        load_data(path, train=False)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(ValueError, match=r"empty\.csv"):
        load_data(path)


def test_default_otto_path_none_when_absent(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(otto_module, "__file__", str(tmp_path / "a" / "b" / "otto.py"))
    assert default_otto_path() is None


def test_missing_pandas_names_the_extra(tmp_path, monkeypatch):
    path = tmp_path / "train.csv"
    synthetic_frame().to_csv(path, index=False)
    monkeypatch.setitem(sys.modules, "pandas", None)  # makes `import pandas` fail
    with pytest.raises(ImportError, match=r'pip install "polyback\[examples\]"'):
        load_data(path)


def test_missing_sklearn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # makes `import sklearn` fail
    with pytest.raises(ImportError, match=r'pip install "polyback\[examples\]"'):
        preprocess_data(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(ImportError, match=r'pip install "polyback\[examples\]"'):
        load_digits_as_otto()


# --- the embedded fallback data ------------------------------------------------------------


def test_digits_fallback():
    np.random.seed(0)
    X, labels = load_digits_as_otto()
    assert X.shape == (1797, 64)
    assert X.dtype == np.float32
    assert sorted(set(labels)) == [f"digit_{d}" for d in range(10)]
    np.random.seed(0)
    X_again, labels_again = load_digits_as_otto()
    np.testing.assert_array_equal(X_again, X)
    np.testing.assert_array_equal(labels_again, labels)
    y, _ = preprocess_labels(labels)
    assert y.shape == (1797, 10)
