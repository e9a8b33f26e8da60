"""The machine line quoted with every benchmark names the processor and its widest SIMD
extension, read from /proc/cpuinfo's first processor (tab-aligned keys), and gets by without
the file."""
from minprune import timing

INFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC   9R14
flags\t\t: fpu sse4_2 avx avx2 fma

processor\t: 1
model name\t: something else
flags\t\t: avx512f
"""


def test_the_first_processors_name_and_widest_extension(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text(INFO)
    assert timing.cpu(str(info)) == "AMD EPYC 9R14, avx2"
    info.write_text(INFO.replace("avx avx2", "avx avx2 avx512f avx512bw"))
    assert timing.cpu(str(info)).endswith(", avx512f")


def test_without_cpuinfo_the_line_still_names_what_it_can(tmp_path, monkeypatch):
    monkeypatch.setattr(timing.platform, "processor", lambda: "")
    assert timing.cpu(str(tmp_path / "missing")) == "unknown processor"
    line = timing.machine_line(1)
    assert line.startswith("machine: ") and f"({timing.cpu()})" in line


def test_each_block_of_timed_calls_follows_a_call_of_its_own():
    """In every round each function is called once untimed, then its block: the timed calls
    find the caches as the function itself left them, not as the function before did."""
    calls = []
    fns = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    times = timing.interleaved_rounds(fns, rounds=3, block=1e-12, warmup=0)   # (a call each)
    assert set(times) == {"a", "b"} and all(len(t) == 3 for t in times.values())
    runs = []                               # [label, length] of each run of calls in turns
    for label in calls[len(fns):]:          # (after the call each that sizes the blocks)
        if runs and runs[-1][0] == label:
            runs[-1][1] += 1
        else:
            runs.append([label, 1])
    assert runs == [["a", 2], ["b", 2]] * 3
