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
