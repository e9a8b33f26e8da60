"""Every lesson runs to the end in quick mode, in a subprocess, in a temporary directory."""
import os
import pathlib
import subprocess
import sys

import pytest

LESSONS = sorted((pathlib.Path(__file__).parent.parent / "lessons").glob("[0-9][0-9]_*.py"))


def test_lessons_exist():
    assert len(LESSONS) >= 3


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_runs(lesson, tmp_path):
    env = dict(os.environ, MINPRUNE_QUICK="1", MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, str(lesson)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (f"{lesson.name} failed:\n{done.stdout[-3000:]}\n"
                                  f"{done.stderr[-3000:]}")
