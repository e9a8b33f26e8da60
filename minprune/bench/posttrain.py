"""``minprune bench posttrain``: SparseGPT on one 784 -> 300 layer with 2,048 calibration
samples (the Hessian accumulated in batches of 256, then the pruning at 50%, blocksize 128),
``prune.posttrain`` (float64) against the authors' algorithm in torch on the CPU (float32, as
they run it), in one process, alternating, one thread."""
from __future__ import annotations

import time

import numpy as np

from ..tables import table
from ..timing import machine_line, one_thread


def authors_update(torch, W, H, sparsity, prunen, prunem, blocksize, percdamp):
    """SparseGPT as the authors' ``fasterprune`` (IST-DASLab/sparsegpt, sparsegpt.py) runs it,
    step for step, in torch: the baseline of this benchmark and an oracle of the tests."""
    W, H = W.clone(), H.clone()
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    damp = percdamp * torch.mean(torch.diag(H))
    diag = torch.arange(W.shape[1])
    H[diag, diag] += damp
    H = torch.linalg.cholesky(H)
    H = torch.cholesky_inverse(H)
    Hinv = torch.linalg.cholesky(H, upper=True)
    for i1 in range(0, W.shape[1], blocksize):
        i2 = min(i1 + blocksize, W.shape[1])
        count = i2 - i1
        W1 = W[:, i1:i2].clone()
        Q1, Err1 = torch.zeros_like(W1), torch.zeros_like(W1)
        Hinv1 = Hinv[i1:i2, i1:i2]
        if prunen == 0:
            tmp = W1 ** 2 / (torch.diag(Hinv1).reshape((1, -1))) ** 2
            thresh = torch.sort(tmp.flatten())[0][int(tmp.numel() * sparsity)]
            mask1 = tmp <= thresh
        else:
            mask1 = torch.zeros_like(W1) == 1
        for i in range(count):
            w, d = W1[:, i], Hinv1[i, i]
            if prunen != 0 and i % prunem == 0:
                tmp = W1[:, i:(i + prunem)] ** 2 / (torch.diag(Hinv1)[i:(i + prunem)].reshape(
                    (1, -1))) ** 2
                mask1.scatter_(1, i + torch.topk(tmp, prunen, dim=1, largest=False)[1], True)
            q = w.clone()
            q[mask1[:, i]] = 0
            Q1[:, i] = q
            err1 = (w - q) / d
            W1[:, i:] -= err1.unsqueeze(1).matmul(Hinv1[i, i:].unsqueeze(0))
            Err1[:, i] = err1
        W[:, i1:i2] = Q1
        W[:, i2:] -= Err1.matmul(Hinv[i1:i2, i2:])
    return W.numpy()


def _torch_hessian(torch, X):
    H = torch.zeros((X.shape[1], X.shape[1]))
    n = 0
    for i in range(0, len(X), 256):
        x = X[i:i + 256]
        H *= n / (n + len(x))
        n += len(x)
        x = (2 / n) ** 0.5 * x
        H += x.t() @ x
    return H


def run(repeat=5):
    import torch  # lazy: an optional baseline ([test] installs it)

    from ..prune import posttrain  # lazy: the benchmark suites load apart
    rng = np.random.default_rng(0)
    W = (rng.standard_normal((300, 784)) * 0.05).astype(np.float32)
    X = np.maximum(rng.standard_normal((2048, 784)), 0).astype(np.float32)

    def ours():
        h = posttrain.Hessian(784)
        for i in range(0, len(X), 256):
            h.add(X[i:i + 256])
        return posttrain.sparsegpt(W, h.value(), 0.5)[0]

    def theirs():
        torch.set_num_threads(1)
        H = _torch_hessian(torch, torch.from_numpy(X))
        return authors_update(torch, torch.from_numpy(W), H, 0.5, 0, 0, 128, 0.01)

    times = {"minprune": [], "torch": []}
    with one_thread():
        for _ in range(repeat):
            for name, fn in (("minprune", ours), ("torch", theirs)):
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    gap = float(np.abs(ours() - theirs()).max())
    rows = [{"what": name, "seconds": float(np.median(t)),
             "ratio": float(np.median(t) / np.median(times["torch"]))}
            for name, t in times.items()]
    print(machine_line(1) + f", torch {torch.__version__}")
    print(f"SparseGPT, 784 -> 300, 2048 samples, 50%, blocksize 128, median of {repeat}; "
          f"largest weight difference {gap:.2e} (minprune computes in float64, the torch code in "
          f"float32)")
    print(table(rows, [("what", "implementation", "{}"), ("seconds", "seconds", "{:.3f}"),
                       ("ratio", "/ torch", "{:.2f}x")]))
    return rows
