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


def test_latency_rows_cover_every_variant_and_ratio(tmp_path):
    from minprune.bench import latency
    printed = []
    rows = latency.run(repeat=2, quick=True, figure=tmp_path / "latency.png", out=printed.append)
    assert (tmp_path / "latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any(str(line).startswith("figure: ") for line in printed)
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
    timed = {(r["model"], r["batch"], r["variant"]) for r in rows}
    for batch in (1, 64):               # the structured rows the convolution issue's table names
        for model, variant in (("lenet5", "filters 50% compacted"),
                               ("resnet8", "filters 50% compacted"),
                               ("resnet8", "blocks 50% removed")):
            assert (model, batch, variant) in timed
    lines = latency.targets(rows)
    assert len(lines) == 6 and all(("met" in line) for line in lines[1:])
    conv = latency.conv_targets(rows)        # (quick: no 95% rows; ONNX Runtime if installed)
    sparse_lines = [line for line in conv if "CSR" in line]
    assert len(sparse_lines) == 8 and all(("met" in line) for line in conv[1:])


def test_latency_summary_reads_each_variant_into_its_column():
    from minprune.bench import latency_report as R
    rows = [{"model": "lenet5", "batch": 64, "variant": v, "us": us, "ratio": 3000.0 / us}
            for v, us in (("dense plan", 3000.0), ("CSR 90%", 1250.0), ("CSR 95%", 1000.0),
                          ("filters 50% compacted", 1500.0), ("ONNX Runtime", 6000.0),
                          ("PyTorch eager", 12000.0), ("CSR 90%, plain Numba", 1300.0))]
    (row,) = R.summary_rows(rows)
    assert row["dense"] == 3000.0 and row["csr90"] == 2.4 and row["csr95"] == 3.0
    assert row["filters50"] == 2.0 and "csr70" not in row
    assert row["ort"] == 6000.0 and row["ort_ratio"] == 2.0 and row["torch_ratio"] == 4.0
    text = R.summary(rows)
    assert text.splitlines()[2].split() == [      # CSR 70% and per layer not timed: "-"
        "lenet5", "64", "3000.0", "-", "2.40x", "3.00x", "-", "2.00x", "6000.0", "2.00x",
        "12000.0", "4.00x"]
    assert R.summary(rows, as_markdown=True).startswith("| model | batch |")
    assert R._sparsity("CSR 90% per layer") == (0.9, "per layer")
    for other in ("CSR 90%, plain Numba", "2:4 50%", "CSR", "dense plan"):
        assert R._sparsity(other) is None


def test_bench_refuses_a_figure_it_cannot_draw_before_timing_anything(tmp_path, capsys):
    from minprune.cli import main
    assert main(["bench", "train", "--figure", str(tmp_path / "f.png")]) == 2
    assert "--figure draws the latency benchmark's figure only, got it with 'train'" \
        in capsys.readouterr().err
    missing = tmp_path / "no such folder" / "f.png"
    assert main(["bench", "latency", "--figure", str(missing)]) == 2
    assert "its folder" in capsys.readouterr().err and not missing.parent.exists()


def test_bench_refuses_counts_below_one_before_timing_anything(capsys):
    """``--repeat 0`` timed nothing and printed NaN speed-ups."""
    from minprune.cli import main
    for argv, said in ((["latency", "--repeat", "0"], "--repeat must be at least 1, got 0"),
                       (["train", "--rounds", "-1"], "--rounds must be at least 1, got -1"),
                       (["surgery", "--threads", "0"], "--threads must be at least 1, got 0")):
        assert main(["bench", *argv]) == 2
        assert said in capsys.readouterr().err


def test_two_threads_say_where_the_plan_ran_one_and_time_it_again(monkeypatch):
    """A plan whose first call on two threads ran one (``Plan.threads_for``) is timed again
    after its choice is due again, and the line says so; one that ran two is not."""
    from minprune import infer, models
    from minprune.bench import latency
    small = {"dense plan": models.lenet_300_100(rng=0).eval()}
    small["CSR 90%"] = small["dense plan"]
    monkeypatch.setattr(latency, "_variants", lambda name, quick: small)
    monkeypatch.setattr(latency, "RETIME", (0.0, 60.0))
    ran = {"one": False}
    monkeypatch.setattr(infer.Plan, "threads_for",
                        lambda self, batch: 1 if ran["one"] else 2)
    lines = latency.two_threads(repeat=6)
    assert len(lines) == 7 and not any("timed again" in line for line in lines)
    ran["one"] = True
    lines = latency.two_threads(repeat=6)
    assert len(lines) == 7 and all("timed again 0 s later: " in line for line in lines[1:])
