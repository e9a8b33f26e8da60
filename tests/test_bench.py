"""Benchmark plumbing (never timings): rows measured, break-even read right."""
from minprune.bench import surgery
from minprune.bench.sparse import break_even, measure_forward


def test_forward_rows_cover_every_setting():
    rows = measure_forward(1, [(30, 40)], [0.5, 0.9], [1, 8, 20], quick=True)
    assert [(r["batch"], r["sparsity"]) for r in rows] == [
        (b, s) for b in (1, 8, 20) for s in (0.5, 0.9)]
    assert all(r["dense"] > 0 and r["minprune"] > 0 and r["scipy"] > 0 for r in rows)


def test_break_even_is_the_lowest_level_from_which_every_higher_one_wins():
    def rows(wins):
        return [{"shape": "8x8", "batch": 8, "threads": 1, "sparsity": s, "dense": 1.0,
                 "minprune": 0.5 if w else 2.0} for s, w in wins.items()]
    assert break_even(rows({0.5: False, 0.8: True, 0.9: True}), "8x8", 8, 1) == 0.8
    assert break_even(rows({0.5: True, 0.8: False, 0.9: True}), "8x8", 8, 1) == 0.9
    assert break_even(rows({0.5: True, 0.8: True, 0.9: False}), "8x8", 8, 1) is None


def test_surgery_measures_both_variants_of_the_pruned_model():
    row = surgery.sizes("lenet_300_100", "unit", 0.75)
    assert row["params_compact"] < row["params"] and row["flops_ratio"] > 3
    for variant in ("masked", "compact"):
        for task in ("infer", "step"):
            assert surgery.measure("lenet_300_100", "unit", 0.75, variant, task, repeat=2) > 0


def test_latency_rows_cover_every_variant_and_ratio():
    from minprune.bench import latency
    rows = latency.run(repeat=2, quick=True, out=lambda *a: None)
    for model in ("lenet_300_100", "lenet5"):
        for batch in (1, 64):
            mine = {r["variant"]: r for r in rows if r["model"] == model and r["batch"] == batch}
            assert {"dense plan", "CSR 50%", "CSR 70%", "CSR 90%", "CSR 90% per layer",
                    "2:4 50%"} <= set(mine)
            assert mine["dense plan"]["ratio"] == 1.0
            for r in mine.values():
                assert r["us"] > 0
                assert abs(r["ratio"] - mine["dense plan"]["us"] / r["us"]) < 1e-9
    assert any(r["variant"] == "bare NumPy products" for r in rows)
    for batch in (1, 64):               # the structured rows the convolution issue's table names
        for model, variant in (("lenet5", "filters 50% compacted"),
                               ("resnet8", "filters 50% compacted"),
                               ("resnet8", "blocks 50% removed")):
            assert (model, batch, variant) in {(r["model"], r["batch"], r["variant"]) for r in rows}
    lines = latency.targets(rows)
    assert len(lines) == 6 and all(("met" in line) for line in lines[1:])
    conv = latency.conv_targets(rows)        # (quick: no 95% rows; ONNX Runtime if installed)
    sparse_lines = [line for line in conv if "CSR" in line]
    assert len(sparse_lines) == 8 and all(("met" in line) for line in conv[1:])
