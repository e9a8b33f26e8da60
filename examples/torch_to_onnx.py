"""From a model trained in PyTorch to a pruned ONNX file running in ONNX Runtime.

    pip install -e ".[bench]" torch==2.13.0
    python examples/torch_to_onnx.py

Trains LeNet-5 in PyTorch, brings it into minprune (``nn.interop.from_torch``), prunes half of
its filters and fine-tunes it there, writes the compacted network as ONNX (``io.to_onnx``) and
runs it in ONNX Runtime: the test accuracy after each step, and the latency of each runtime at
batch 1 and 64 (one thread, timed in turns in this process).
"""
import os
import sys
import tempfile

import numpy as np
import onnxruntime
import torch

from minprune import data, infer, io, prune
from minprune.nn import evaluate, fit, optim
from minprune.nn.interop import from_torch
from minprune.timing import interleaved_times, machine_line, one_thread

quick = "--quick" in sys.argv
(X, y), (X_test, y_test) = data.load_glyph_digits(4_000 if quick else 20_000, 2_000, rng=0)
torch.manual_seed(0)
torch.set_num_threads(1)
tnn = torch.nn
net = tnn.Sequential(tnn.Conv2d(1, 20, 5), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Conv2d(20, 50, 5),
                     tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(), tnn.Linear(800, 500),
                     tnn.ReLU(), tnn.Linear(500, 10))
opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
for epoch in range(2):                                   # 1. train in PyTorch
    order = np.random.default_rng(epoch).permutation(len(X))
    for i in range(0, len(X), 64):
        idx = order[i:i + 64]
        opt.zero_grad()
        tnn.functional.cross_entropy(net(torch.from_numpy(X[idx])),
                                     torch.from_numpy(y[idx])).backward()
        opt.step()
net.eval()
with torch.no_grad():
    torch_accuracy = float((net(torch.from_numpy(X_test)).argmax(1).numpy() == y_test).mean())

model = from_torch(net)                                  # 2. into minprune
imported = evaluate(model, X_test, y_test)["accuracy"]
dense_plan = infer.compile(model.eval())
prune.prune(model, 0.5, "magnitude", "filter", "local")  # 3. prune half the filters
pruned = evaluate(model, X_test, y_test)["accuracy"]
fit(model, X, y, epochs=1, rng=0, progress=False,        # 4. fine-tune
    optimizer=optim.SGD(model.parameters(), lr=0.01, momentum=0.9))
tuned = evaluate(model, X_test, y_test)["accuracy"]
path = os.path.join(tempfile.mkdtemp(), "lenet5_pruned.onnx")
info = io.to_onnx(model.eval(), path, compact=True)      # 5. out as ONNX, compacted
options = onnxruntime.SessionOptions()
options.intra_op_num_threads = options.inter_op_num_threads = 1
session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
runtime = float((session.run(None, {"x": X_test})[0].argmax(1) == y_test).mean())

print(f"trained in PyTorch:        {torch_accuracy:.4f}")
print(f"imported into minprune:    {imported:.4f}")
print(f"half the filters pruned:   {pruned:.4f}")
print(f"fine-tuned one epoch:      {tuned:.4f}")
print(f"in ONNX Runtime ({info['bytes']:,} bytes, {info['parameters']:,} parameters): "
      f"{runtime:.4f}")
small_plan = infer.compile(prune.compact(model).eval())
dense_file = os.path.join(os.path.dirname(path), "lenet5_dense.onnx")
io.to_onnx(from_torch(net).eval(), dense_file)
dense_session = onnxruntime.InferenceSession(dense_file, options,
                                             providers=["CPUExecutionProvider"])
with one_thread():
    print(machine_line(1))
    for batch in (1, 64):
        x = X_test[:batch]
        with torch.no_grad():
            times = interleaved_times({
                "PyTorch eager, dense": lambda x=x: net(torch.from_numpy(x)),
                "minprune plan, dense": lambda x=x: dense_plan(x),
                "ONNX Runtime, dense": lambda x=x: dense_session.run(None, {"x": x}),
                "minprune plan, pruned": lambda x=x: small_plan(x),
                "ONNX Runtime, pruned": lambda x=x: session.run(None, {"x": x})},
                rounds=10 if quick else 50)
        base = times["PyTorch eager, dense"]
        for name, seconds in times.items():
            print(f"batch {batch:2d}  {name:24s} {1e6 * seconds:9.1f} us  "
                  f"{base / seconds:5.2f}x PyTorch eager")
assert abs(imported - torch_accuracy) < 1e-3 and abs(runtime - tuned) < 1e-3
