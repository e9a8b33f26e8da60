"""``minprune lessons``: list the lessons, or run them all and render the course as HTML."""
from __future__ import annotations

from .common import UsageError, check_out


def add_arguments(p):
    p.add_argument("--html", metavar="DIR", default=None,
                   help="execute every lesson and write the course as HTML pages to DIR")
    p.add_argument("--quick", action="store_true", help="run the lessons in quick mode")
    p.add_argument("--force", action="store_true", help="overwrite a non-empty DIR")


def run(args, out=print):
    from .. import course  # lazy: at run time, not for --help
    lessons = course.lesson_files()
    if not lessons:
        raise UsageError(f"no lessons found in {course.LESSONS_DIR}")
    if args.html is None:
        for path in lessons:
            out(path.stem)
        out(f"{len(lessons)} lessons; render them with: minprune lessons --html DIR [--quick]")
        return 0
    check_out(args.html, args.force)
    try:
        course._require()
    except ImportError as exc:
        raise UsageError(str(exc)) from None
    rows = course.build_html(args.html, quick=args.quick, lessons=lessons)
    total = sum(r["seconds"] for r in rows)
    out(f"{len(rows)} lessons executed in {total:.0f} s; open {args.html}/index.html")
    return 0
