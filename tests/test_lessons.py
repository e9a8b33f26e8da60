"""Every lesson, and every file of exercise solutions, runs to the end in quick mode, in a
subprocess, in a temporary directory (their asserts are the checks)."""
import os
import pathlib
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).parent.parent / "lessons"
LESSONS = sorted(HERE.glob("[0-9][0-9]_*.py"))
SOLUTIONS = sorted((HERE / "solutions").glob("[0-9][0-9]_*.py"))


def test_lessons_exist():
    assert len(LESSONS) >= 3
    numbers = [int(p.name[:2]) for p in LESSONS]
    assert numbers == list(range(1, len(LESSONS) + 1)), "lessons are numbered 01, 02, ... in turn"
    for lesson in LESSONS:                     # the conventions every lesson follows
        text = lesson.read_text()
        assert text.startswith("# ---\n# jupyter:"), f"{lesson.name}: not a jupytext script"
        assert f"# # Lesson {lesson.name[:2]}:" in text, f"{lesson.name}: no title cell"
        assert "**Goal.**" in text, f"{lesson.name}: no goal"
        for heading in ("Summary", "Exercises"):
            assert f"# ## {heading}" in text or f"# ## {heading.lower()}" in text.lower(), \
                f"{lesson.name}: no {heading} section"
        assert "assert " in text, f"{lesson.name}: checks nothing"


def test_every_solutions_file_belongs_to_a_lesson():
    assert {p.name for p in SOLUTIONS} <= {p.name for p in LESSONS}


@pytest.mark.parametrize("lesson", LESSONS + SOLUTIONS,
                         ids=[p.stem for p in LESSONS] + [f"solutions/{p.stem}" for p in SOLUTIONS])
def test_lesson_runs(lesson, tmp_path):
    env = dict(os.environ, MINPRUNE_QUICK="1", MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, str(lesson)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (f"{lesson.name} failed:\n{done.stdout[-3000:]}\n"
                                  f"{done.stderr[-3000:]}")


PERTURBED = ["06_sensitivity_criteria.py", "08_retraining_schedules.py",
             "14_pruning_at_initialisation.py", "15_pruning_without_retraining.py"]


@pytest.mark.parametrize("lesson", PERTURBED, ids=[p[:2] for p in PERTURBED])
def test_lessons_hold_on_models_of_another_recipe(lesson, tmp_path):
    """The lessons' claims are about any reasonably trained model, not the shelf's own: run
    against models trained with another learning rate, budget and seeds
    (MINPRUNE_ZOO_RECIPE=perturbed), every assert still holds."""
    env = dict(os.environ, MINPRUNE_QUICK="1", MPLBACKEND="Agg",
               MINPRUNE_ZOO_RECIPE="perturbed")
    done = subprocess.run([sys.executable, str(HERE / lesson)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (f"{lesson} failed on perturbed models:\n"
                                  f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
