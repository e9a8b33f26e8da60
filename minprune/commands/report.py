"""Writing a study: a Markdown report with tables and figures, and results.json with every
number in it. Tables are rendered from the same rows that go into the JSON, so the two agree."""
from __future__ import annotations

import os

from ..files import write_text_atomic
from ..tables import markdown
from .common import write_json


class Report:
    """Collects sections, then writes report.md and results.json (atomically, at the end)."""

    def __init__(self, out_dir, title):
        self.out_dir, self.title = out_dir, title
        self.sections, self.results = [], {}

    def path(self, name):
        return os.path.join(self.out_dir, name)

    def add(self, heading, text="", table=None, figures=(), key=None, data=None):
        parts = [f"## {heading}", ""]
        if text:
            parts += [text, ""]
        if table is not None:
            parts += [markdown(*table), ""]
        for name, caption in figures:
            parts += [f"![{caption}]({name})", ""]
        self.sections.append("\n".join(parts))
        if key is not None:
            self.results[key] = data

    def write(self):
        body = f"# {self.title}\n\n" + "\n".join(self.sections)
        write_json(self.path("results.json"), self.results)
        write_text_atomic(self.path("report.md"), body)
        return self.path("report.md")
