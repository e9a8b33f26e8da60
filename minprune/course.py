"""The lessons as a course: each lesson script executed as a notebook, rendered to a static
HTML page (prose, code, output, figures embedded), with an index page - readable offline.

The lessons are jupytext percent scripts (``# %%`` cells). ``execute`` converts one with
jupytext and runs it with nbclient in a fresh kernel, in a folder of its own (the PNG files it
writes land there), quick mode or not; ``render`` turns the executed notebook into one HTML
page with no external resource: figures are PNG data in the page, the Markdown is rendered by
markdown-it (jupytext's own parser) with ``$...$`` and ``$$...$$`` formulas turned into MathML
by latex2mathml (which browsers draw natively, offline), the printed lines of a cell are one
output block, and the style sheet is inline. Needs the ``lessons`` extra
(``pip install -e ".[lessons]"``: jupytext, nbclient, ipykernel, latex2mathml).
"""
from __future__ import annotations

import html
import os
import pathlib
import re
import shutil
import tempfile
import time

from .files import atomic_write

ANSI = re.compile(r"\x1b\[[0-9;]*m")                 # colour codes in tracebacks
LESSONS_DIR = pathlib.Path(__file__).resolve().parent.parent / "lessons"
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 54rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.5; color: #222; }
pre { background: #f6f8fa; padding: 0.6rem; overflow-x: auto; font-size: 0.85rem;
      white-space: pre-wrap; overflow-wrap: anywhere; }
math { font-size: 1.15em; }
math[display="block"] { margin: 0.6rem 0; overflow-x: auto; }
pre.output { background: #fff; border-left: 3px solid #ccd; }
pre.error { background: #fff0f0; border-left: 3px solid #c33; }
img { max-width: 100%; display: block; margin: 0.5rem 0; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccd; padding: 0.2rem 0.6rem; }
nav { margin-bottom: 1.5rem; font-size: 0.9rem; }
"""


def lesson_files(folder=None):
    """The lesson scripts, in order (``NN_name.py``)."""
    folder = pathlib.Path(folder or LESSONS_DIR)
    return sorted(folder.glob("[0-9][0-9]_*.py"))


def _require():
    try:
        import jupytext  # noqa: F401
        import latex2mathml  # noqa: F401
        import nbclient  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"running the lessons as notebooks needs the lessons extra: "
                          f'pip install -e ".[lessons]" ({exc.name} is missing)') from None


def execute(path, quick=True, workdir=None, timeout=900):
    """Run lesson ``path`` as a notebook; returns (executed notebook, seconds, workdir).

    The kernel runs in ``workdir`` (a new temporary folder by default) with MINPRUNE_QUICK set
    as asked; an error in a cell raises nbclient's CellExecutionError, naming the cell.
    """
    _require()
    import jupytext
    from jupyter_client import KernelManager
    from nbclient import NotebookClient
    notebook = jupytext.read(str(path))
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    workdir = pathlib.Path(workdir or tempfile.mkdtemp(prefix="minprune-lesson-"))
    workdir.mkdir(parents=True, exist_ok=True)
    # the kernel talks over local sockets (IPC), never a network port
    sockets = tempfile.mkdtemp(prefix="minprune-kernel-")
    manager = KernelManager(kernel_name="python3", transport="ipc",
                            ip=os.path.join(sockets, "kernel"))
    client = NotebookClient(notebook, km=manager, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}})
    start = time.perf_counter()
    previous = {k: os.environ.get(k) for k in ("MINPRUNE_QUICK", "MPLBACKEND")}
    os.environ.update(MINPRUNE_QUICK="1" if quick else "0", MPLBACKEND="Agg")  # the kernel's
    try:
        client.execute()
    finally:
        if manager.has_kernel:                     # a kernel we started is ours to stop
            manager.shutdown_kernel(now=True)
        shutil.rmtree(sockets, ignore_errors=True)
        for k, v in previous.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return notebook, time.perf_counter() - start, workdir


def goal(notebook):
    """The lesson's title and its goal as Markdown: from "**Goal.**" on, every paragraph
    (formulas included) up to the first table, heading or list of the first Markdown cell."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            text = cell.source
            title = re.search(r"^#\s+(.+)$", text, re.M)
            start = text.find("**Goal.**")
            if start < 0:
                return (title.group(1).strip() if title else ""), ""
            kept = []
            for block in re.split(r"\n\s*\n", text[start + len("**Goal.**"):]):
                if re.match(r"\s*(\||#|- |\* |\d+\. )", block):
                    break
                kept.append(block.strip())
            return (title.group(1).strip() if title else ""), "\n\n".join(kept)
    return "", ""


def markdown():
    """markdown-it (CommonMark and tables) with formulas rendered to MathML."""
    from latex2mathml.converter import convert
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin
    def mathml(tokens, i, display):
        # HTML5 needs no namespace on <math>; without it the page names no URL at all
        return convert(tokens[i].content.strip(), display=display).replace(
            ' xmlns="http://www.w3.org/1998/Math/MathML"', "")

    md = MarkdownIt("commonmark").enable("table").use(dollarmath_plugin, double_inline=True)
    md.add_render_rule("math_inline", lambda self, tokens, i, options, env:
                       mathml(tokens, i, "inline"))
    for rule in ("math_block", "math_block_label"):
        md.add_render_rule(rule, lambda self, tokens, i, options, env:
                           mathml(tokens, i, "block"))
    return md


def images(notebook):
    """How many PNG images the notebook's outputs hold."""
    return sum("image/png" in out.get("data", {}) for cell in notebook.cells
               if cell.cell_type == "code" for out in cell.get("outputs", []))


def errors(notebook):
    """The error outputs (an executed lesson should have none)."""
    return [out for cell in notebook.cells if cell.cell_type == "code"
            for out in cell.get("outputs", []) if out.get("output_type") == "error"]


def render(notebook, title, nav=""):
    """One self-contained HTML page of an executed notebook."""
    md = markdown()
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
             f"</title><style>{STYLE}</style></head><body>{nav}"]
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            parts.append(md.render(cell.source))
        elif cell.cell_type == "code":
            parts.append(f"<pre><code>{html.escape(cell.source)}</code></pre>")
            for out in merged(cell.get("outputs", [])):
                parts.append(_output(out))
    parts.append("</body></html>")
    return "\n".join(parts)


def merged(outputs):
    """The outputs with consecutive prints to the same stream joined into one (a loop that
    prints ten lines is one block, not ten)."""
    out = []
    for o in outputs:
        if (out and o.get("output_type") == "stream" == out[-1].get("output_type")
                and o.get("name") == out[-1].get("name")):
            out[-1] = dict(out[-1], text=out[-1].get("text", "") + o.get("text", ""))
        else:
            out.append(o)
    return out


def _output(out):
    kind = out.get("output_type")
    if kind == "stream":
        return f"<pre class='output'>{html.escape(out.get('text', ''))}</pre>"
    if kind == "error":
        trace = ANSI.sub("", "\n".join(out.get("traceback", [])))
        return f"<pre class='error'>{html.escape(trace)}</pre>"
    data = out.get("data", {})
    if "image/png" in data:
        png = data["image/png"].replace("\n", "")
        return f"<img alt='figure' src='data:image/png;base64,{png}'>"
    if "text/plain" in data:
        return f"<pre class='output'>{html.escape(data['text/plain'])}</pre>"
    return ""


def build_html(out_dir, quick=True, lessons=None, progress=True, log=print):
    """Execute every lesson and write ``out_dir/index.html`` and one page per lesson (each
    file written atomically), plus the executed notebooks in ``out_dir/notebooks``. Returns
    the index rows: file, title, goal, seconds, images."""
    import nbformat

    out_dir = pathlib.Path(out_dir)
    paths = list(lessons or lesson_files())
    rows = []
    bar = paths
    if progress:
        from tqdm import tqdm
        bar = tqdm(paths, desc="lessons", unit="lesson")
    for path in bar:
        with tempfile.TemporaryDirectory(prefix="minprune-lesson-") as work:
            notebook, seconds, _ = execute(path, quick=quick, workdir=work)
        title, text = goal(notebook)
        page = f"{path.stem}.html"
        nav = "<nav><a href='index.html'>all lessons</a></nav>"
        page_html = render(notebook, title or path.stem, nav)
        atomic_write(out_dir / page, lambda f, s=page_html: f.write(s.encode()))
        nb_text = nbformat.writes(notebook)
        atomic_write(out_dir / "notebooks" / f"{path.stem}.ipynb",
                     lambda f, s=nb_text: f.write(s.encode()))
        rows.append({"file": page, "title": title or path.stem, "goal": text,
                     "seconds": seconds, "images": images(notebook)})
        if log and not progress:
            log(f"{path.stem}: {seconds:.1f} s")
    mode = "quick mode" if quick else "full mode"
    md = markdown()
    items = "\n".join(f"<tr><td><a href='{r['file']}'>{html.escape(r['title'])}</a></td>"
                      f"<td>{md.render(r['goal'])}</td><td>{r['seconds']:.0f} s</td></tr>"
                      for r in rows)
    index = (f"<!doctype html><html><head><meta charset='utf-8'><title>minprune: the lessons"
             f"</title><style>{STYLE}</style></head><body><h1>minprune: the lessons</h1>"
             f"<p>Executed in {mode}; every page holds its own figures and works offline.</p>"
             f"<table><tr><th>lesson</th><th>goal</th><th>time to run</th></tr>{items}"
             f"</table></body></html>")
    atomic_write(out_dir / "index.html", lambda f: f.write(index.encode()))
    return rows
