"""Tables from rows of dicts, for the terminal and for Markdown reports, in one column
language: ``columns`` are (key, header, format) triples, ``format`` a ``str.format`` spec
such as ``"{:.4f}"``, ``"{:.1%}"`` or ``"{:,}"``; a missing or None value prints as "-"."""


def fmt(value, spec):
    """The one place numbers become text, for tables, reports and the tests."""
    return "-" if value is None else spec.format(value)


def table(rows, columns):
    """A plain-text table for the terminal, right-aligned."""
    cells = [[header for _, header, _ in columns]]
    cells += [[fmt(row.get(key), spec) for key, _, spec in columns] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(rows, columns):
    """A Markdown table; plain ``"{}"`` columns (names) align left, numbers right."""
    lines = ["| " + " | ".join(h for _, h, _ in columns) + " |",
             "|" + "|".join("---" if spec == "{}" else "---:" for _, _, spec in columns) + "|"]
    lines += ["| " + " | ".join(fmt(row.get(key), spec) for key, _, spec in columns) + " |"
              for row in rows]
    return "\n".join(lines)
