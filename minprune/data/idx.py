"""MNIST-format IDX files: read (raw or gzip), write, and the standard MNIST file layout."""
from __future__ import annotations

import gzip
import hashlib
import os
import urllib.request

import numpy as np

from ..files import atomic_write

# IDX type codes (the third byte of the magic number) -> big-endian dtype.
DTYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
          0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
CODES = {dt.newbyteorder(">"): code for code, dt in DTYPES.items()}

FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
# SHA-256 of the gzipped files as published (MNIST and Fashion-MNIST).
SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte.gz":
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz":
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz":
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz":
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    "fashion": {
        "train-images-idx3-ubyte.gz":
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz":
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz":
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz":
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
}
BASE_URLS = {"mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
             "fashion": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"}


def _open(path):
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def load_idx(path):
    """Read an IDX file (raw or gzip) into an ndarray of its declared dtype and shape.

    Validates the magic number, the type code, the dimensions and the length; a truncated or
    foreign file raises ValueError naming the file and what is wrong.
    """
    path = os.fspath(path)
    try:
        with _open(path) as f:
            raw = f.read()
    except (OSError, EOFError) as exc:                      # bad gzip stream, truncated gzip
        raise ValueError(f"{path}: cannot read as IDX: {exc}") from None
    if len(raw) < 4:
        raise ValueError(f"{path}: too short for an IDX header ({len(raw)} bytes)")
    zero, code, ndim = int.from_bytes(raw[:2], "big"), raw[2], raw[3]
    if zero != 0:
        raise ValueError(f"{path}: not an IDX file (magic number starts with "
                         f"{raw[:2].hex()}, expected 0000)")
    if code not in DTYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02x} (allowed: "
                         f"{', '.join(f'0x{c:02x}' for c in DTYPES)})")
    if ndim == 0:
        raise ValueError(f"{path}: IDX file declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated header ({len(raw)} bytes, need {header})")
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    dtype = DTYPES[code]
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "has trailing bytes"
        raise ValueError(f"{path}: {what}: {len(raw)} bytes, but shape {shape} of {dtype} "
                         f"needs {expected}")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def write_idx(path, array, *, compress=None):
    """Write ``array`` as an IDX file (gzip if ``compress`` or the name ends in .gz)."""
    array = np.asarray(array)
    dtype = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    if dtype not in CODES:
        raise ValueError(f"write_idx: dtype {array.dtype} has no IDX code (allowed: uint8, "
                         f"int8, int16, int32, float32, float64)")
    header = bytes([0, 0, CODES[dtype], array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape)
    payload = header + array.astype(dtype).tobytes()
    if compress or (compress is None and os.fspath(path).endswith(".gz")):
        payload = gzip.compress(payload, mtime=0)
    atomic_write(path, lambda f: f.write(payload))


def _find(root, name):
    for candidate in (name, name + ".gz", name.replace("-idx", ".idx")):
        path = os.path.join(root, candidate)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"{name}[.gz] not found in {root}")


def load_mnist(root, split="train", kind="mnist"):
    """Images and labels of MNIST or Fashion-MNIST from the four standard IDX files in ``root``.

    Returns X float32 of shape (n, 1, 28, 28) in [0, 1] and y int64 of shape (n,).
    """
    if split not in FILES:
        raise ValueError(f"split must be one of {sorted(FILES)}, got {split!r}")
    if kind not in SHA256:
        raise ValueError(f"kind must be one of {sorted(SHA256)}, got {kind!r}")
    images = load_idx(_find(root, FILES[split][0]))
    labels = load_idx(_find(root, FILES[split][1]))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{root}: images {images.shape} and labels {labels.shape} do not "
                         f"form a dataset")
    X = (images.astype(np.float32) / 255.0)[:, None]
    return X, labels.astype(np.int64)


def download_mnist(root, kind="mnist", base_url=None, *, checksums=None, timeout=60):
    """Fetch the four gzipped files of ``kind`` into ``root``, verifying each SHA-256.

    A file whose checksum does not match is not written (downloads go to memory, then an atomic
    write), and ValueError names it. Files already present with the right checksum are kept.
    Returns the list of paths.
    """
    if kind not in SHA256:
        raise ValueError(f"kind must be one of {sorted(SHA256)}, got {kind!r}")
    base_url = base_url or BASE_URLS[kind]
    checksums = checksums or SHA256[kind]
    os.makedirs(root, exist_ok=True)
    paths = []
    for name, digest in checksums.items():
        path = os.path.join(root, name)
        if os.path.exists(path):
            with open(path, "rb") as f:
                if hashlib.sha256(f.read()).hexdigest() == digest:
                    paths.append(path)
                    continue
        with urllib.request.urlopen(base_url.rstrip("/") + "/" + name, timeout=timeout) as r:
            payload = r.read()
        got = hashlib.sha256(payload).hexdigest()
        if got != digest:
            raise ValueError(f"{name}: SHA-256 mismatch (got {got}, expected {digest}); "
                             f"nothing written")
        atomic_write(path, lambda f, p=payload: f.write(p))
        paths.append(path)
    return paths
