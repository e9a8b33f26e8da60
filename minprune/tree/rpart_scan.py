"""R's rpart split searches, Numba kernels with plain-NumPy twins: the primary split of one
feature (Gini or information for classes, anova for a float target) and the surrogate split that
best agrees with a primary.

The arithmetic follows rpart's C code operation for operation (``gini.c``, ``anova.c``,
``choose_surg.c``), so that equal splits tie as they tie there and the first found wins. A
feature's rows come sorted by its value, missing values left out; ``edge`` is rpart's
``minbucket``. Sides are rpart's: LEFT (-1) and RIGHT (+1), and a split's ``direction`` says
where ``x < split`` goes.
"""
from __future__ import annotations

import math

import numpy as np

from ..jit import njit

LEFT, RIGHT = -1, 1


@njit(cache=True, inline="always")
def _impurity(p, information):
    """rpart's ``gini_impure1`` p(1-p), or ``gini_impure2`` -p log p (natural log)."""
    if information:
        return 0.0 if p == 0.0 else -p * math.log(p)
    return p * (1.0 - p)


@njit(cache=True)
def gini_scan(y, x, w, aprior, n_classes, edge, information):
    """rpart's ``gini`` for one continuous feature: ``y`` class codes 0..K-1 of the rows sorted
    by ``x``; ``aprior``: rpart's altered priors (``class_priors``). Returns (improve, where,
    direction): the split falls between x[where] and x[where + 1]; improve 0: none."""
    n = len(y)
    left = np.zeros(n_classes)
    right = np.zeros(n_classes)
    lwt, rwt, rtot, ltot = 0.0, 0.0, n, 0
    for i in range(n):
        rwt += aprior[y[i]] * w[i]
        right[y[i]] += w[i]
    total_ss = 0.0
    for k in range(n_classes):
        total_ss += rwt * _impurity(aprior[k] * right[k] / rwt, information)
    best, where, direction = total_ss, 0, LEFT
    i = 0
    while rtot > edge:
        j = y[i]
        rwt -= aprior[j] * w[i]
        lwt += aprior[j] * w[i]
        rtot -= 1
        ltot += 1
        right[j] -= w[i]
        left[j] += w[i]
        if ltot >= edge and x[i + 1] != x[i]:
            temp, lmean, rmean = 0.0, 0.0, 0.0
            for k in range(n_classes):
                p = aprior[k] * left[k] / lwt
                temp += lwt * _impurity(p, information)
                lmean += p * k
                p = aprior[k] * right[k] / rwt
                temp += rwt * _impurity(p, information)
                rmean += p * k
            if temp < best:
                best, where = temp, i
                direction = LEFT if lmean < rmean else RIGHT
        i += 1
    return total_ss - best, where, direction


def gini_scan_numpy(y, x, w, aprior, n_classes, edge, information):
    """``gini_scan`` with prefix sums (the same split; its improvement to rounding)."""
    y, x, w = np.asarray(y), np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    onehot = np.zeros((len(y), n_classes))
    onehot[np.arange(len(y)), y] = w
    left = np.cumsum(onehot, axis=0)[:-1]
    right = onehot.sum(axis=0) - left
    lw, rw = left @ aprior, right @ aprior
    imp = (lambda p: np.where(p > 0, -p * np.log(np.where(p > 0, p, 1)), 0.0)) if information \
        else (lambda p: p * (1 - p))
    total = onehot.sum(axis=0) @ aprior
    total_ss = (total * imp(aprior * onehot.sum(axis=0) / total)).sum()
    ltot = np.arange(1, len(y))
    ok = (ltot >= edge) & (len(y) - ltot >= edge) & (x[1:] != x[:-1])
    if not ok.any():
        return 0.0, 0, LEFT
    with np.errstate(divide="ignore", invalid="ignore"):
        pl, pr = aprior * left / lw[:, None], aprior * right / rw[:, None]
        temp = (lw[:, None] * imp(pl) + rw[:, None] * imp(pr)).sum(axis=1)
    temp = np.where(ok, temp, np.inf)
    where = int(np.argmin(temp))
    if not temp[where] < total_ss:
        return 0.0, 0, LEFT
    k = np.arange(n_classes)
    direction = LEFT if (pl[where] * k).sum() < (pr[where] * k).sum() else RIGHT
    return total_ss - temp[where], where, direction


@njit(cache=True)
def anova_scan(y, x, w, edge, my_risk):
    """rpart's ``anova`` for one continuous feature: ``y`` the targets of the rows sorted by
    ``x``, ``my_risk`` the node's sum of squares (over all its rows). Returns (improve, where,
    direction) as ``gini_scan``; improve is the fraction of ``my_risk`` the split removes."""
    n = len(y)
    right_wt, right_sum = 0.0, 0.0
    for i in range(n):
        right_sum += y[i] * w[i]
        right_wt += w[i]
    grandmean = right_sum / right_wt
    left_sum, left_wt, left_n, right_n, right_sum = 0.0, 0.0, 0, n, 0.0
    best, where, direction = 0.0, 0, LEFT
    i = 0
    while right_n > edge:
        left_wt += w[i]
        right_wt -= w[i]
        left_n += 1
        right_n -= 1
        temp = (y[i] - grandmean) * w[i]
        left_sum += temp
        right_sum -= temp
        if x[i + 1] != x[i] and left_n >= edge:
            temp = left_sum * left_sum / left_wt + right_sum * right_sum / right_wt
            if temp > best:
                best, where = temp, i
                direction = LEFT if left_sum < right_sum else RIGHT
        i += 1
    if my_risk == 0.0:              # a pure node: rpart's 0/0 is NaN, which no split passes
        return 0.0, where, direction
    return best / my_risk, where, direction


def anova_scan_numpy(y, x, w, edge, my_risk):
    """``anova_scan`` with prefix sums (the same split; its improvement to rounding)."""
    y, x, w = (np.asarray(a, dtype=np.float64) for a in (y, x, w))
    grand = (y * w).sum() / w.sum()
    s = np.cumsum((y - grand) * w)[:-1]
    lw = np.cumsum(w)[:-1]
    rw = w.sum() - lw
    n_left = np.arange(1, len(y))
    ok = (n_left >= edge) & (len(y) - n_left >= edge) & (x[1:] != x[:-1])
    temp = np.where(ok, s * s / lw + s * s / rw, 0.0)
    where = int(np.argmax(temp))
    if not temp[where] > 0 or my_risk == 0:
        return 0.0, 0, LEFT
    return temp[where] / my_risk, where, LEFT if s[where] < -s[where] else RIGHT


@njit(cache=True)
def surrogate_scan(side, x, w):
    """rpart's ``choose_surg`` for one continuous feature: ``side`` the primary's LEFT/RIGHT (0:
    primary missing) of the node's rows sorted by ``x`` (rows missing ``x`` left out). Returns
    (found, agreement weight, split, direction): at least 2 rows of positive weight each way and
    better than sending all one way, or found 0."""
    n = len(side)
    ll, rl, llwt, rlwt = 0, 0, 0.0, 0.0
    lastx = 0.0
    for i in range(n - 1, -1, -1):                    # start with all sent left
        lastx = x[i]
        if side[i] == LEFT:
            if w[i] > 0:
                ll += 1
            llwt += w[i]
        elif side[i] == RIGHT:
            if w[i] > 0:
                rl += 1
            rlwt += w[i]
    agree = llwt if llwt > rlwt else rlwt
    lr, rr, lrwt, rrwt = 0, 0, 0.0, 0.0
    direction, split, success = LEFT, lastx, 0
    i = 0
    while ll + rl >= 2 and i < n:
        if lr + rr >= 2 and x[i] != lastx:           # a new x: evaluate the cut before it
            if llwt + rrwt > agree:
                success, agree, direction = 1, llwt + rrwt, RIGHT
                split = (x[i] + lastx) / 2
            elif lrwt + rlwt > agree:
                success, agree, direction = 1, lrwt + rlwt, LEFT
                split = (x[i] + lastx) / 2
        if side[i] == LEFT:
            if w[i] > 0:
                ll -= 1
                lr += 1
            llwt -= w[i]
            lrwt += w[i]
        elif side[i] == RIGHT:
            if w[i] > 0:
                rl -= 1
                rr += 1
            rlwt -= w[i]
            rrwt += w[i]
        lastx = x[i]
        i += 1
    return success, agree, split, direction


def surrogate_scan_numpy(side, x, w):
    """``surrogate_scan`` by brute force over the cuts (the same split on unit weights)."""
    side, x, w = np.asarray(side), np.asarray(x, dtype=np.float64), np.asarray(w, dtype=float)
    agree = max(w[side == LEFT].sum(), w[side == RIGHT].sum())
    best = (0, agree, x[0] if len(x) else 0.0, LEFT)
    for i in range(1, len(x)):
        if x[i] == x[i - 1]:
            continue
        below = np.arange(len(x)) < i
        lo = (side != 0) & (w > 0)
        if (below & lo).sum() < 2 or (~below & lo).sum() < 2:
            continue
        right = w[(side == LEFT) & ~below].sum() + w[(side == RIGHT) & below].sum()
        left = w[(side == LEFT) & below].sum() + w[(side == RIGHT) & ~below].sum()
        for value, direction in ((right, RIGHT), (left, LEFT)):
            if value > best[1]:
                best = (1, value, (x[i] + x[i - 1]) / 2, direction)
                break
    return best
