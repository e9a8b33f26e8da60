"""The one report writer: a Markdown report with tables and figures, and (for the studies)
results.json with every number in it. Tables are rendered from the same rows that go into the
JSON, so the two agree."""
from __future__ import annotations

import os

from ..files import write_json_atomic, write_text_atomic
from ..tables import markdown


class Report:
    """Collects sections, then writes report.md and ``results_file`` (results.json; None for
    none) atomically, at the end."""

    def __init__(self, out_dir, title, results_file="results.json"):
        self.out_dir, self.title, self.results_file = out_dir, title, results_file
        self.sections, self.results = [], {}

    def path(self, name):
        return os.path.join(self.out_dir, name)

    def add(self, heading, text="", table=None, figures=(), key=None, data=None):
        """A section: ``heading`` (None: none), a paragraph, a table (rows, columns), figures
        [(file name, caption)]; ``data`` goes into results.json under ``key``."""
        parts = [f"## {heading}", ""] if heading is not None else []
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
        if self.results_file is not None:
            write_json_atomic(self.path(self.results_file), self.results)
        write_text_atomic(self.path("report.md"), body)
        return self.path("report.md")
