"""``minprune bench data``: glyph-digit generation (cold and cached) and IDX loading speed."""
from __future__ import annotations

import os
import tempfile
import time

import numpy as np

from ..data import glyphs, load_glyph_digits, load_idx, write_idx
from ..tables import table
from ..timing import machine_line


def run(threads=1, n=60000, out=print):
    out(machine_line(threads))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MINPRUNE_CACHE"] = tmp
        glyphs.base_glyphs.cache_clear()
        t0 = time.perf_counter()
        glyphs.base_glyphs()
        t_fonts = time.perf_counter() - t0
        t0 = time.perf_counter()
        (X, _), _ = load_glyph_digits(n, 0, rng=0)
        t_cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        load_glyph_digits(n, 0, rng=0)
        t_cached = time.perf_counter() - t0
        rows += [{"what": "render the font glyphs", "seconds": t_fonts, "rate": None},
                 {"what": f"glyph digits, {n:,} generated + cached", "seconds": t_cold,
                  "rate": n / t_cold},
                 {"what": f"glyph digits, {n:,} from cache", "seconds": t_cached,
                  "rate": n / t_cached}]
        images = (X[:, 0] * 255).astype(np.uint8)
        for name in ("images.idx", "images.idx.gz"):
            path = os.path.join(tmp, name)
            write_idx(path, images)
            t0 = time.perf_counter()
            load_idx(path)
            t = time.perf_counter() - t0
            rows.append({"what": f"load_idx {name} ({n:,} images)", "seconds": t,
                         "rate": n / t})
    out(table(rows, [("what", "task", "{}"), ("seconds", "seconds", "{:.3f}"),
                     ("rate", "images/s", "{:,.0f}")]))
    out(f"cached load is {t_cold / t_cached:.0f}x faster than generating")
    return rows
