"""IDX round trips and corruption errors, downloads from a loopback server, CSV, splits."""
import hashlib
import http.server
import os
import threading

import numpy as np
import pytest

from minprune.data import (
    download_mnist,
    load_csv,
    load_idx,
    load_mnist,
    synthetic,
    train_test_split,
    write_idx,
)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32,
                                   np.float64])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_idx_round_trip(tmp_path, dtype, name, rng):
    data = (rng.random((5, 3, 4)) * 100).astype(dtype)
    write_idx(tmp_path / name, data)
    back = load_idx(tmp_path / name)
    assert back.dtype == np.dtype(dtype) and np.array_equal(back, data)


@pytest.mark.parametrize("mutate, match", [
    (lambda b: b[:-3], "truncated"),
    (lambda b: b + b"\0", "trailing"),
    (lambda b: b"\x01\x02" + b[2:], "not an IDX file"),
    (lambda b: b[:2] + b"\x07" + b[3:], "type code 0x07"),
    (lambda b: b[:6], "truncated header"),
    (lambda b: b[:2], "too short"),
])
def test_idx_corruption_names_the_file_and_the_fault(tmp_path, mutate, match):
    write_idx(tmp_path / "x.idx", np.zeros((4, 2), np.uint8))
    raw = (tmp_path / "x.idx").read_bytes()
    (tmp_path / "bad.idx").write_bytes(mutate(raw))
    with pytest.raises(ValueError, match=match) as info:
        load_idx(tmp_path / "bad.idx")
    assert "bad.idx" in str(info.value)


def test_truncated_gzip(tmp_path):
    write_idx(tmp_path / "x.idx.gz", np.zeros((40, 20), np.uint8))
    raw = (tmp_path / "x.idx.gz").read_bytes()
    (tmp_path / "bad.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="bad.gz"):
        load_idx(tmp_path / "bad.gz")


def write_fake_mnist(root, n=20, rng=None):
    rng = rng or np.random.default_rng(0)
    for split, n_split in (("train", n), ("t10k", n // 2)):
        write_idx(os.path.join(root, f"{split}-images-idx3-ubyte.gz"),
                  rng.integers(0, 256, (n_split, 28, 28)).astype(np.uint8))
        write_idx(os.path.join(root, f"{split}-labels-idx1-ubyte.gz"),
                  rng.integers(0, 10, n_split).astype(np.uint8))


def test_load_mnist_layout(tmp_path):
    write_fake_mnist(tmp_path)
    X, y = load_mnist(tmp_path, "test")
    assert X.shape == (10, 1, 28, 28) and X.dtype == np.float32 and y.dtype == np.int64
    assert 0 <= X.min() and X.max() <= 1
    with pytest.raises(ValueError, match="split"):
        load_mnist(tmp_path, "valid")
    with pytest.raises(FileNotFoundError):
        load_mnist(tmp_path / "nothing")


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving a folder the test fills."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(folder),
                                                                   **k)
    http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def test_download_verifies_and_writes(server, tmp_path):
    folder, url = server
    write_fake_mnist(folder)
    sums = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    paths = download_mnist(tmp_path / "data", base_url=url, checksums=sums)
    assert sorted(os.path.basename(p) for p in paths) == sorted(sums)
    X, y = load_mnist(tmp_path / "data", "train")
    assert X.shape == (20, 1, 28, 28)


def test_download_with_wrong_checksum_leaves_nothing(server, tmp_path):
    folder, url = server
    write_fake_mnist(folder)
    sums = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    first = sorted(sums)[0]
    sums[first] = "0" * 64
    target = tmp_path / "data"
    with pytest.raises(ValueError, match="SHA-256 mismatch"):
        download_mnist(target, base_url=url, checksums={first: sums[first]})
    assert os.listdir(target) == []


def test_csv_reads_features_and_class_names(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b,label\n1,2.5,cat\n3,4,dog\n5,6e-1,cat\n")
    X, y, names, classes = load_csv(path, target="label")
    assert X.tolist() == [[1, 2.5], [3, 4], [5, 0.6]]
    assert y.tolist() == [0, 1, 0] and names == ["a", "b"] and classes == ["cat", "dog"]
    path.write_text("a,b,c\n1,2,3\n4,5,6\n")
    X, y, names, classes = load_csv(path, target=-1)
    assert classes is None and y.dtype == np.float64 and y.tolist() == [3, 6]


def test_csv_reads_empty_cells_na_and_question_marks_as_missing(tmp_path):
    path = tmp_path / "holes.csv"
    path.write_text("a,b,label\n1,,cat\nNA,2,dog\n?,3,cat\n4, nan ,dog\n")
    X, y, names, classes = load_csv(path, target="label")
    assert np.isnan(X).tolist() == [[False, True], [True, False], [True, False], [False, True]]
    assert X[0, 0] == 1 and X[2, 1] == 3
    from minprune.data import missing_counts
    assert missing_counts(X, names) == {"a": 2, "b": 2}


@pytest.mark.parametrize("body, match", [
    ("a,b,label\n1,2,x\n3,oops,y\n", r"line 3, column 2 \('b'\): 'oops'"),
    ("a,b,label\n1,2,x\n3,4\n", "line 3: 2 values"),
    ("a,b,label\n1,inf,x\n", r"line 2, column 2 \('b'\): 'inf' is not a finite number"),
    ("a,b,label\n1,,x\n2,NA,y\n", r"column 'b' is missing in every row"),
    ("a,b,label\n1,2,x\n3,4,\n", r"line 3: the target 'label' is missing"),
])
def test_csv_errors_name_line_and_column(tmp_path, body, match):
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(ValueError, match=match):
        load_csv(path, target="label")
    with pytest.raises(ValueError, match="no column named 'zzz'"):
        load_csv(path, target="zzz")


def test_stratified_split_keeps_class_shares():
    y = np.repeat([0, 1, 2], [50, 30, 20])
    X = np.arange(100)[:, None]
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=1)
    assert len(Xte) == 20 and np.bincount(yte).tolist() == [10, 6, 4]
    assert sorted(np.concatenate([Xtr, Xte]).ravel().tolist()) == list(range(100))
    again = train_test_split(X, y, test_size=0.2, random_state=1)
    assert np.array_equal(again[1], Xte)


@pytest.mark.parametrize("make", [synthetic.two_moons, synthetic.spirals, synthetic.blobs,
                                  synthetic.checkerboard])
def test_synthetic_sets_are_seeded(make):
    a, b = make(100, rng=5), make(100, rng=5)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert len(a[0]) == 100 and not np.array_equal(a[0], make(100, rng=6)[0])


def test_make_classification_structure():
    X, y = synthetic.make_classification(2000, 10, n_informative=3, n_redundant=2, flip_y=0.0,
                                         random_state=0)
    assert X.shape == (2000, 10) and set(np.unique(y)) == {0, 1}
    redundant = X[:, 3:5]
    coef, *_ = np.linalg.lstsq(X[:, :3], redundant, rcond=None)
    np.testing.assert_allclose(X[:, :3] @ coef, redundant, atol=1e-9)  # linear combinations
    _, y_noisy = synthetic.make_classification(2000, 10, n_informative=3, n_redundant=2,
                                               flip_y=0.5, random_state=0)
    assert 0.15 < np.mean(y != y_noisy) < 0.35     # about half relabelled, half by chance kept


def test_make_regression_is_linear_plus_noise():
    X, y, coef = synthetic.make_regression(300, 6, n_informative=3, noise=0.0, random_state=0)
    np.testing.assert_allclose(X @ coef, y)
    assert np.count_nonzero(coef) == 3
