"""The rendered course in a real browser (headless Chromium, from Debian's package, driven by
Playwright): formulas are drawn as formulas, not shown as LaTeX; code and printed output stay
inside their boxes; the index shows each lesson's goal whole, rendered."""
import os
import pathlib
import shutil

import pytest
from helpers import require

LESSONS = pathlib.Path(__file__).parent.parent / "lessons"


def chromium():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("MINPRUNE_REQUIRE_ORACLES") == "1":
            pytest.fail("chromium is required (MINPRUNE_REQUIRE_ORACLES=1): apt-get install "
                        "chromium")
        pytest.skip("chromium is not installed")
    return path


@pytest.fixture(scope="module")
def browser():
    require("latex2mathml")
    sync_api = require("playwright.sync_api")
    executable = chromium()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser
        browser.close()


def page_of(lesson, tmp_path):
    """The page of a lesson as ``course.render`` writes it (its Markdown cells are what this
    test reads; the code is not run)."""
    import jupytext

    from minprune import course
    notebook = jupytext.read(str(LESSONS / lesson))
    path = tmp_path / f"{lesson}.html"
    path.write_text(course.render(notebook, lesson))
    return path


@pytest.mark.parametrize("lesson", ["06_sensitivity_criteria.py", "13_tree_post_pruning.py",
                                    "15_pruning_without_retraining.py"])
def test_formulas_are_drawn_as_formulas(browser, lesson, tmp_path):
    page = browser.new_page()
    page.goto(page_of(lesson, tmp_path).as_uri())
    text = page.inner_text("body")
    assert "$$" not in text and "\\frac" not in text and "\\tfrac" not in text
    formula = page.locator("math[display='block']").first
    box = formula.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 0
    fraction = page.locator("math[display='block'] mfrac").first
    numerator = fraction.locator(":scope > *").nth(0).bounding_box()
    denominator = fraction.locator(":scope > *").nth(1).bounding_box()
    # drawn as a fraction: the numerator stands above the denominator, not beside it
    assert numerator["y"] + numerator["height"] <= denominator["y"] + 1
    page.screenshot(path=str(tmp_path / "formula.png"))
    page.close()


def test_output_stays_in_its_box_and_prints_are_one_block(browser, tmp_path):
    import nbformat

    from minprune import course
    long = "x" * 400
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "for i in range(3):\n    print(i)", outputs=[
            nbformat.v4.new_output("stream", name="stdout", text=f"{i} {long}\n")
            for i in range(3)])])
    path = tmp_path / "p.html"
    path.write_text(course.render(notebook, "p"))
    page = browser.new_page(viewport={"width": 900, "height": 700})
    page.goto(path.as_uri())
    blocks = page.locator("pre.output")
    assert blocks.count() == 1
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 900                           # wrapped: no page-wide horizontal scroll
    page.close()


def test_the_index_shows_each_goal_whole(tmp_path):
    require("latex2mathml")
    import jupytext

    from minprune import course
    title, goal = course.goal(jupytext.read(str(LESSONS / "06_sensitivity_criteria.py")))
    assert goal.startswith("Every data-driven criterion") and "$$" in goal
    assert goal.rstrip().endswith("The criteria keep different terms:")
    rendered = course.markdown().render(goal)
    assert "<math" in rendered and "`" not in rendered and "**" not in rendered
