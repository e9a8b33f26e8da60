"""``compile(model)``: inference as a plan of plain array operations - no Tensors, no graph.

A trained model (masked, ``to_sparse``, compacted, or dense) is lowered once (``infer.lower``):
masks baked into the weights, BatchNorm folded into the Linear or Conv2d before it, activations
fused into the op before them, Dropout gone (evaluation mode). A plan of fully connected ops
runs one sample in one compiled call (``infer.chain``), built from the same ops the first time
one sample comes. A plain stack - convolutions, each with the max pooling after it, then fully
connected layers, dense or sparse - runs a batch in one compiled call (``infer.batch_chain``)
where its first call of the batch size times that faster than the steps, and one sample's
convolutions in one call before that chain (``infer.sample_stack``), likewise. A resnet's
samples run channels last up to its global pooling, one after another in one compiled call
(``infer.channels_last``, ``infer.sample_call``), where its first call of the batch size times
that faster. Everything else runs feature-major (``infer.fmajor``): arrays stored features
first and batch last, so that each weighted op is one product already in place, and a
convolution runs whichever of its ways is fastest at that batch size (timed on its first call).
With ``threads.set_threads(n)``, a convolutional network's batch of at least 16 samples per
thread is split over n threads, each running its own copy of the steps with BLAS on one thread
(one pool at a time) - a plain stack or a resnet sample by sample instead runs that compiled
call with its batch split over Numba's pool, BLAS on one thread (LeNet-300-100 at batch 64:
1.06x as fast on two threads as on one when they went to BLAS, 1.34x with each layer's rows
split over Numba's pool, 1.74x with the batch split in one call; LeNet-5: 1.5x on copies of the
steps, 1.9x in one call - Numba's OpenMP pool starts in a few microseconds, where a Python
thread pool's round trip took 60-85); any other fully connected one gives the threads to BLAS.
The first call of a batch size on more threads than one times that against one thread and runs
the threads only where they were clearly faster in nearly every round, and times that again
later (``thread_choice``): never slower than one thread. ``plan(x)`` returns what ``model(x)``
returns in evaluation mode (within float rounding). The plan holds copies of the weights taken
when it is compiled: compile again after the model changes. This is what latency measurements
time; training never runs here.
"""
from __future__ import annotations

import math

import numpy as np

from .. import threads
from ..nn.module import Sequential
from ..prune import patterns
from ..sparse import simd
from . import channels_last, shapes
from .chain import Chain
from .batch_chain import BatchChain
from .fm_step import best_times, quickest
from .fmajor import FeatureMajor, every_step
from .sample_stack import SampleStack
from .thread_choice import ThreadChoice
from .lower import Flatten, GlobalPool, Residual, Weighted, lower


class Plan:
    """Call it on an array: ``plan(x)`` -> array. ``ops`` are what it computes (one record
    per lowered layer), ``steps`` how it runs them, in order; ``chain``, when the ops are all
    fully connected with ReLU or no activation, runs one sample in one call."""

    def __init__(self, ops, kernels="auto", winograd=True):
        self.ops, self.kernels, self.winograd = ops, simd.resolve(kernels), winograd
        weighted = [op for op in ops if isinstance(op, Weighted)]
        self.dtype = weighted[0].dtype if weighted else np.dtype(np.float32)
        self.feature_major = FeatureMajor(ops, winograd)
        self.convolutional = any(isinstance(op, Weighted) and op.conv is not None
                                 for op in _flat(ops))
        self.steps = self.feature_major.steps
        self._tail = _tail(ops)
        self._chain_layers = _chain_layers(ops[self._tail:])
        self._chain = None
        self._in_one_call = BatchChain.fits(ops)     # (a plain stack: see ``_one_call``)
        self._one = None          # one sample's channels-last run; False where not used
        self._direct = {}         # batch shape -> the one call it runs on one thread
        self._fits = set()        # sample shapes the ops were found to take (``shapes``)
        self.choice = ThreadChoice()      # one thread or the threads asked, per batch size

    @property
    def chain(self):
        """The ``Chain`` of the fully connected ops the plan ends with - all of them in a
        fully connected plan, those after the last Flatten in a convolutional one (built on
        first use) - or None."""
        if self._chain is None and self._chain_layers is not None:
            self._chain = Chain(self._chain_layers, self.dtype, self.kernels)
        return self._chain

    def __call__(self, x):
        x = np.asarray(x, dtype=self.dtype)
        if x.ndim < 2:
            raise ValueError(f"x must be a batch of samples, (N, ...), got shape {x.shape}")
        if len(x) == 1 and self._chain_layers is not None:
            chain = self.chain
            if self._tail:                        # the layers before it: see ``_head``
                self._fit(x)
                return chain(self._head(x))
            if isinstance(self.ops[0], Flatten) or x.shape == chain.in_shape:
                return chain(np.ascontiguousarray(x))
        self._fit(x)
        if len(x) == 1 and self.convolutional:
            return self._one_sample(x)
        chain = self._direct.get(x.shape)       # a batch one call took on one thread before
        if chain is not None and threads.asked() in (None, 1):
            return chain(x, 1)
        asked = threads.asked() or 1
        if asked == 1:
            return self._threaded(x)
        one = self.choice.one_thread((len(x), asked), lambda one: self._threaded(x, one))
        return self._threaded(x, one)

    def threads_for(self, batch):
        """How many threads a batch of ``batch`` samples runs on now, with the threads asked
        (``threads.set_threads``): 1 where its last timing found them no faster
        (``thread_choice``), else the count asked; None before a batch of that size has run
        on them."""
        return self.choice.threads_for(batch, threads.asked() or 1)

    def _fit(self, x):
        """ValueError naming x where the ops cannot take its samples (``shapes.check``), the
        first time a shape comes."""
        if x.shape[1:] not in self._fits:
            shapes.check(self.ops, x.shape[1:])
            self._fits.add(x.shape[1:])

    def _head(self, x):
        """One sample's layers before the fully connected chain: the feature-major steps or,
        where they are convolutions (and their poolings) that fit ``SampleStack``, those in
        one compiled call, whichever the first calls timed faster (the steps' first call
        chooses their ways, which the call then runs)."""
        stacks = self.__dict__.setdefault("_stacks", {})     # sample shape -> call or False
        stack = stacks.get(x.shape)
        if stack is None:
            steps = self.feature_major.steps[:self._tail]
            head = self.feature_major.run(x, stop=self._tail)     # (the ways chosen)
            if not (SampleStack.fits(steps) and x.ndim == 4):
                stacks[x.shape] = False
                return np.ascontiguousarray(head)
            stack = SampleStack(steps, x.shape[1:], self.dtype)
            stack = stacks[x.shape] = quickest((False, stack), lambda s: self._head_by(s, x))
        return self._head_by(stack, x)

    def _head_by(self, stack, x):
        if stack:
            return stack(x)
        return np.ascontiguousarray(self.feature_major.run(x, stop=self._tail))

    def _one_sample(self, x):
        """One sample's run: feature-major or, where the ops up to the last global pooling
        fit (``channels_last.fits``) and the first call timed it faster, those channels
        last and the rest feature-major."""
        if self._one is None:
            one = self._channels_last()
            self._one = (one and quickest((False, one), lambda way: self._one_by(way, x))
                         or False)
        return self._one_by(self._one, x)

    def _channels_last(self):
        """The ops up to the last global pooling as ``channels_last.OneSample`` where they
        fit (built on first use) - the fully connected ops after it its tail where they fit
        too - else None."""
        if "_samples" not in self.__dict__:
            pools = [i for i, op in enumerate(self.ops) if isinstance(op, GlobalPool)]
            fits = pools and channels_last.fits(self.ops[:pools[-1] + 1])
            tail = self.ops[pools[-1] + 1:] if fits else []
            self._samples = (channels_last.OneSample(
                self.ops[:pools[-1] + 1], self.winograd,
                tail if channels_last.tail_fits(tail) else ()) if fits else None)
        return self._samples

    def _one_by(self, one, x, parts=1):
        """The run of x with the ops up to the global pooling channels last (``one``: a
        ``OneSample``; ``parts`` > 1: its call split over Numba's pool) and the rest
        feature-major, or all feature-major (``one`` False)."""
        if not one:
            return self.feature_major(x)
        y = one.run(x) if parts == 1 else one.call(x)(x, parts)       # (C, N)
        for s in self.feature_major.steps[len(one.steps) + 1 + len(one.tail):]:
            y = s(y)
        return y.T.copy()                            # (a new array, not a buffer)

    def _by_samples(self, x):
        """Whether a batch runs sample by sample channels last in one compiled call
        (``channels_last``, ``sample_call``): where the ops fit and the first call of the
        batch size did not time the feature-major steps at ``SAMPLES_MARGIN`` of its time
        or less, on one thread. The margin: timed in turns with ONNX Runtime's or PyTorch's
        run of the same model, resnet8's batch of 64 sample by sample kept its time (8.3 ms
        alone, 8.5 in turns), the feature-major steps lost a fifth of theirs (8.3 alone, 9.9
        and 10.5 in turns); a CSR resnet's feature-major sparse steps stay faster (6.6-6.8
        against 8.7), so a plan with sparse convolutions takes them where they are faster at
        all (timed at 0.8-0.93 of the samples' time, they had run the batch sample by sample
        in some processes and not in others: 8.6 against 6.5-7.0 ms)."""
        ways = self.__dict__.setdefault("_sample_ways", {})     # batch -> by samples or not
        if len(x) not in ways:
            one = self._channels_last()
            ways[len(x)] = bool(one)
            if one:
                with threads.as_one():
                    best = best_times((False, True), lambda by: self._one_by(
                        by and one, x) if by else self._chunked(x))
                margin = 1.0 if self._sparse_steps() else SAMPLES_MARGIN
                ways[len(x)] = best[False] > margin * best[True]
        return ways[len(x)]

    def _sparse_steps(self):
        """Whether a feature-major step has a sparse weight (a CSR convolution's or layer's;
        not a depthwise convolution's dense one)."""
        return any(getattr(s, "weight", None) is not None and not isinstance(s.weight, np.ndarray)
                   for s in every_step(self.feature_major.steps))

    def _threaded(self, x, one=False):
        """The run on the threads asked (a plain stack's one call, ``_one_call``; else the
        feature-major steps, split by ``_split`` or the threads given to BLAS), or with
        ``one`` as on one thread (``threads.as_one``)."""
        if one:
            with threads.as_one():
                return self._threaded(x)
        asked = threads.asked() or 1
        if self._in_one_call and len(x) > 1:
            return self._one_call(x, asked)
        if self.convolutional and len(x) > 1 and self._by_samples(x):
            if asked == 1:
                return self._one_by(self._samples, x)
            with threads.one_blas_thread():
                return self._one_by(self._samples, x, asked)
        workers = _workers(len(x)) if self.convolutional else 1
        if workers > 1:
            return self._split(x, workers)
        return self._chunked(x)

    def _one_call(self, x, parts):
        """A plain stack's batch (``batch_chain.BatchChain.fits``): the steps or the compiled
        call of every layer (``batch_chain``). On one thread whichever the first call of the
        batch size timed faster; on more, the call with the batch split over Numba's pool,
        BLAS on one thread meanwhile (timed against one thread by ``__call__``, never
        against BLAS's threads: two pools taking turns on the same cores run slower than
        either alone)."""
        chains = self.__dict__.setdefault("_chains", {})     # image shape -> its chain
        image = x.shape[1:] if self.convolutional else (math.prod(x.shape[1:]), 1, 1)
        chain = chains.get(image)
        if chain is None:
            chain = chains[image] = BatchChain(self.ops, image, self.dtype)
        if parts > 1:
            with threads.one_blas_thread():
                return chain(x, parts)
        ways = self.__dict__.setdefault("_one_call_ways", {})   # batch -> the call or not
        if len(x) not in ways:
            ways[len(x)] = quickest((False, True), lambda one: self._one_call_by(one, x, chain))
        if ways[len(x)]:                        # (the next call of this shape goes straight)
            self._direct[x.shape] = chain
        return self._one_call_by(ways[len(x)], x, chain)

    def _one_call_by(self, one, x, chain):
        return chain(x, 1) if one else self._chunked(x)

    def _chunked(self, x):
        """The feature-major run of x (a new array, not one of the steps' buffers) - of a
        convolutional plan's batch, whole or in chunks of ``CHUNKS`` samples one after
        another, whichever its first call timed faster: a chunk's images stay in the
        second-level cache from one step to the next, where a whole batch's stream through
        memory (resnet8 at batch 64: 11.7 ms whole, 10.4 ms in chunks of 32)."""
        n = len(x)
        sizes = [c for c in CHUNKS if 2 * c <= n] if self.convolutional else []
        if not sizes:
            return self.feature_major(x)
        chunks = self.__dict__.setdefault("_chunks", {})  # batch -> chunk size (0: whole)
        if n not in chunks:
            chunks[n] = quickest([0, *sizes], lambda c: self._in_chunks(x, c))
        return self._in_chunks(x, chunks[n])

    def _in_chunks(self, x, size):
        if not size:
            return self.feature_major(x)
        return np.concatenate([self.feature_major(x[i:i + size])
                               for i in range(0, len(x), size)])

    def _split(self, x, workers):
        """The batch in ``workers`` parts, each through its own copy of the steps (buffers
        are per copy) on its own thread, BLAS pinned to one thread meanwhile: one pool at a
        time, the kernels release the GIL. The ways the steps run a part's batch size are
        timed once, on the first copy with no other thread running (timed beside each
        other, the copies chose slower ways: LeNet-5 90% at batch 64 ran slower on two
        threads than on one), and every copy runs them."""
        replicas = self.__dict__.setdefault("_replicas", [self.feature_major])
        while len(replicas) < workers:
            replicas.append(FeatureMajor(self.ops, self.winograd))
            replicas[-1].share_choices(replicas[0])
        pool = self.__dict__.get("_pool")
        if pool is None or pool._max_workers < workers:
            from concurrent.futures import ThreadPoolExecutor  # lazy: only with threads
            pool = self._pool = ThreadPoolExecutor(max_workers=workers)
        parts = np.array_split(x, workers)
        timed = self.__dict__.setdefault("_timed", set())
        with threads.as_one():                  # (each copy's steps run as on one thread)
            for part in parts:
                if len(part) not in timed:                # (alone: see above)
                    replicas[0](part)
                    timed.add(len(part))
            results = list(pool.map(lambda pair: pair[0](pair[1]), zip(replicas, parts)))
        return np.concatenate(results)

    def __repr__(self):
        after = " the fully connected layers after the last Flatten" if self._tail else ""
        chain = ("" if self._chain_layers is None
                 else f"  one sample,{after} in one call: {self.chain!r}\n")
        stacks = [s for s in self.__dict__.get("_stacks", {}).values() if s]
        chain += "".join(f"  one sample, the layers before them in one call: {s!r}\n"
                         for s in stacks[:1])
        return "Plan(\n" + "\n".join(f"  {s!r}" for s in self.steps) + "\n" + chain + ")"


SPLIT_MIN_BATCH = 16       # smaller batches run on one thread: the split costs more than it saves
SAMPLES_MARGIN = 0.8       # feature-major runs a resnet's batch only where timed at most this
# part of the samples' time (``Plan._by_samples``)
CHUNKS = (16, 32)          # samples per chunk a convolutional plan times against the whole batch


def _flat(ops):
    """The ops with residual blocks opened up."""
    for op in ops:
        if isinstance(op, Residual):
            yield from _flat(op.body)
            yield from _flat(op.shortcut or ())
        else:
            yield op


def _workers(batch):
    """Threads for a batch: what ``threads.set_threads`` asked (1 by default), one per at
    least ``SPLIT_MIN_BATCH`` samples."""
    asked = threads.asked() or 1
    return max(1, min(asked, batch // SPLIT_MIN_BATCH))


def _tail(ops):
    """Where the fully connected ops a plan ends with begin: 0 for a fully connected plan,
    the last Flatten's position when only Flatten and such ops come after it."""
    flats = [i for i, op in enumerate(ops) if isinstance(op, Flatten)]
    if flats and _chain_layers(ops[flats[-1]:]) is not None:
        return flats[-1]
    return 0


def _chain_layers(ops):
    """[(weight, bias, relu)] for ``Chain`` when the ops are an optional Flatten, then fully
    connected ops with ReLU or no activation; None otherwise."""
    weighted = ops[1:] if ops and isinstance(ops[0], Flatten) else ops
    if not weighted or any(not isinstance(op, Weighted) or op.conv is not None
                           or op.activation not in (None, "ReLU") for op in weighted):
        return None
    return [(op.weight, op.bias, op.activation == "ReLU") for op in weighted]


def compile(model, pattern=None, kernels="auto", winograd=True):
    """The inference plan of a Sequential ``model`` (see the module docstring).

    ``pattern``: None, or a pattern granularity ("2:4", "block:1x4", ...): every Linear and
    Conv2d whose mask obeys it is stored sparse (``infer.lower``); the others stay dense.
    ``kernels``: the one-sample sparse kernels, "auto" (the fastest that works here), "simd"
    or "numba" (``sparse.simd.resolve``). ``winograd``: whether 3x3 stride-1 convolutions
    may run by Winograd's minimal filtering (``infer.winograd``, ``winograd4``) where timed
    faster - fewer multiplications, and rounding that differs from the direct sums (F(4x4,
    3x3): by some 1e-6 of the sums' scale in float32); False keeps the direct sums. Covers
    every layer of ``minprune.nn`` and ``minprune.sparse``; anything else is refused with a
    TypeError naming it.
    """
    parsed = patterns.parse(pattern) if pattern is not None else None
    if pattern is not None and parsed is None:
        raise ValueError(f"pattern must be None, N:M (e.g. '2:4') or block:RxC (e.g. "
                         f"'block:1x4'), got {pattern!r}")
    if not isinstance(winograd, bool):
        raise TypeError(f"winograd must be True or False, got {winograd!r}")
    if not isinstance(model, Sequential):
        raise TypeError(f"infer.compile takes a Sequential model, got {type(model).__name__}")
    return Plan(lower(model, parsed), kernels, winograd)
