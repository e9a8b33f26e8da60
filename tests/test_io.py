"""Save/load round trips (bit-exact, masks and buffers included), atomicity, bad files."""
import os
import zipfile

import numpy as np
import pytest

import minprune
from minprune import Tensor, models, nn


def masked_model(build, rng):
    model = build(rng=rng)
    for p in model.parameters():
        p.mask = rng.random(p.shape) > 0.3
        p.data *= p.mask
    model.train()
    model(Tensor(rng.random((4, 1, 28, 28), dtype=np.float32)))   # move BatchNorm statistics
    return model.eval()


@pytest.mark.parametrize("build", [models.lenet_300_100, models.lenet5, models.small_vgg,
                                   lambda rng: models.mlp([784, 32, 10], "tanh", rng=rng)])
def test_round_trip_is_exact(build, tmp_path, rng):
    model = masked_model(build, rng)
    minprune.save(model, tmp_path / "m.npz")
    back = minprune.load(tmp_path / "m.npz").eval()
    x = rng.random((3, 1, 28, 28), dtype=np.float32)
    assert model(x).data.tobytes() == back(x).data.tobytes()
    for (n, p), (_, q) in zip(model.named_parameters(), back.named_parameters()):
        assert np.array_equal(p.mask, q.mask), n
    for (n, a), (_, b) in zip(model.named_buffers(), back.named_buffers()):
        assert np.array_equal(a, b), n
    assert os.listdir(tmp_path) == ["m.npz"]


def test_float64_model_keeps_its_dtype(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2, rng=0, dtype=np.float64))
    minprune.save(model, tmp_path / "m.npz")
    assert minprune.load(tmp_path / "m.npz")[0].weight.dtype == np.float64


def test_interrupted_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    minprune.save(models.mlp([4, 2], rng=0), path)
    before = path.read_bytes()

    def explode(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(np, "savez", explode)
    with pytest.raises(KeyboardInterrupt):
        minprune.save(models.mlp([4, 2], rng=1), path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.npz"]


def test_bad_files_are_named(tmp_path):
    minprune.save(models.mlp([4, 2], rng=0), tmp_path / "m.npz")
    raw = (tmp_path / "m.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="cut.npz"):
        minprune.load(tmp_path / "cut.npz")
    (tmp_path / "junk.npz").write_bytes(b"hello")
    with pytest.raises(ValueError, match="junk.npz"):
        minprune.load(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not one written by minprune"):
        minprune.load(tmp_path / "other.npz")
    with pytest.raises(FileNotFoundError):
        minprune.load(tmp_path / "missing.npz")


def test_loading_never_unpickles(tmp_path):
    np.savez(tmp_path / "evil.npz", __minprune__=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError):
        minprune.load(tmp_path / "evil.npz")


def test_arrays_that_do_not_fit_the_architecture(tmp_path):
    minprune.save(models.mlp([4, 2], rng=0), tmp_path / "m.npz")
    with zipfile.ZipFile(tmp_path / "m.npz") as z:
        members = {n: z.read(n) for n in z.namelist()}
    del members["param/1.bias.npy"]
    with zipfile.ZipFile(tmp_path / "broken.npz", "w") as z:
        for n, data in members.items():
            z.writestr(n, data)
    with pytest.raises(ValueError, match="1.bias"):
        minprune.load(tmp_path / "broken.npz")


def test_gated_model_round_trips(tmp_path, rng):
    from minprune.prune.regularizers import L0Gate
    model = nn.Sequential(nn.Linear(5, 6, rng=0), nn.ReLU(), L0Gate(6, rng=1),
                          nn.Linear(6, 2, rng=0))
    model[2].log_alpha.data[:3] = -8.0
    minprune.save(model, tmp_path / "gated.npz")
    back = minprune.load(tmp_path / "gated.npz")
    model.eval(), back.eval()
    x = Tensor(rng.standard_normal((3, 5)).astype(np.float32))
    np.testing.assert_array_equal(back(x).data, model(x).data)


def test_a_layer_save_cannot_rebuild_is_refused_before_writing(tmp_path):
    class Custom(nn.Module):
        def forward(self, x):
            return x
    with pytest.raises(TypeError, match=r"layer 1 \(Custom\)"):
        minprune.save(nn.Sequential(nn.Linear(2, 2, rng=0), Custom()), tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()
