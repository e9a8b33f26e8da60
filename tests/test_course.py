"""The lessons as notebooks and as a rendered course: every lesson converted with jupytext and
executed with nbclient in quick mode - no error output, an image output in every cell that
draws a figure - and ``minprune lessons --html`` writing a page per lesson and an index."""
import json
import pathlib
import re

import pytest
from helpers import require


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    require("jupytext")
    require("nbclient")
    from minprune.cli import main
    out = tmp_path_factory.mktemp("course")
    assert main(["lessons", "--html", str(out), "--quick", "--force"]) == 0
    return out


def lessons():
    from minprune import course
    return course.lesson_files()


def test_every_lesson_runs_as_a_notebook_with_its_figures_inline(built):
    for path in lessons():
        nb = json.loads((built / "notebooks" / f"{path.stem}.ipynb").read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] != "code":
                continue
            outputs = cell.get("outputs", [])
            assert not [o for o in outputs if o.get("output_type") == "error"], path.stem
            draws = len(re.findall(r"\.png\"", "".join(cell["source"])))
            shown = sum("image/png" in o.get("data", {}) for o in outputs)
            if draws:
                assert shown >= 1, f"{path.stem}: a figure cell shows no image inline"


def test_the_html_course_has_a_page_per_lesson_and_an_index(built):
    index = (built / "index.html").read_text()
    for path in lessons():
        page = built / f"{path.stem}.html"
        text = page.read_text()
        assert f"href='{path.stem}.html'" in index
        assert "<h1>" in text and "class='error'" not in text
        nb = json.loads((built / "notebooks" / f"{path.stem}.ipynb").read_text())
        images = sum("image/png" in o.get("data", {}) for c in nb["cells"]
                     for o in c.get("outputs", []))
        assert text.count("data:image/png;base64,") == images
        assert "http://" not in text and "https://" not in text.replace(
            "https://github.com", "")                # nothing to fetch: works offline
    rows = re.findall(r"<tr><td><a href='(\d\d_[^']+)'>", index)
    assert len(rows) == len(lessons())
    assert all(re.search(r"\d+ s</td>", row) for row in index.split("<tr>")[2:])


def test_lessons_without_the_extra_say_what_to_install(monkeypatch, capsys):
    import builtins

    from minprune.cli import main
    real = builtins.__import__

    def no_jupytext(name, *args, **kwargs):
        if name == "jupytext":
            raise ImportError("No module named 'jupytext'", name="jupytext")
        return real(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_jupytext)
    assert main(["lessons", "--html", str(pathlib.Path("unused-out")), "--force"]) == 2
    assert 'pip install -e ".[lessons]"' in capsys.readouterr().err
