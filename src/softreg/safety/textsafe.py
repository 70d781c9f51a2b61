"""Text read from files, made safe to print on a terminal, or to put in a Markdown table.

A checkpoint's metadata or a sweep's result file is data that anyone can edit. Printed as it
is, a value holding ``ESC [2J`` clears the screen and a ``\\r`` or ``\\n`` forges a line of
output. Everything softreg echoes from a file goes through :func:`printable` first.

Names from the data (classes, features) and settings also fill the tables of report.md and
explain.md, where a ``|`` would split a cell: every such table is written by
:func:`markdown_table`, which escapes each cell (:func:`markdown_cell`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any


def printable(value: Any) -> str:
    """``str(value)`` with every non-printable character written as a Python escape.

    Control characters (``\\x1b``, ``\\r``, ``\\n``, ``\\x9b`` ...), line and paragraph
    separators and other characters that :meth:`str.isprintable` rejects become ``\\xNN``,
    ``\\uNNNN`` or ``\\UNNNNNNNN``; printable text, accents and other scripts included, is
    left as it is.

    Example:
        >>> printable("ok\\x1b[2J")
        'ok\\\\x1b[2J'
    """
    text = str(value)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


def shown(value: Any, limit: int = 60) -> str:
    """``repr(value)`` for an error message: escaped, and cut to ``limit`` characters.

    A file may hold a megabyte where a number belongs; the message shows its start.
    """
    text = printable(repr(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Markup(str):
    """A table cell that softreg writes itself in Markdown (``**macro avg**``): left as it is
    by :func:`markdown_cell`, where a name or a value from the data is escaped."""


def markdown_cell(value: Any) -> str:
    """``value`` as the text of one cell of a Markdown table row, whatever it holds.

    A ``|`` would end the cell (a class named ``x|y`` made three cells of a row of two) and is
    written ``\\|``; a backslash of the value is doubled (``a\\|b`` would otherwise read as
    an escaped backslash and the cell's end, or lose its backslash on the page); a backtick is
    escaped (two would start a code span, where no escape works); non-printable characters (a
    line break would end the row) become escapes as :func:`printable` writes them; ``*``,
    ``[``, ``]``, ``<`` and ``>`` are escaped too (emphasis, a link ``[x](y)``, raw HTML
    would change what the page shows; ``_`` inside a word makes no emphasis and stays, so
    ``ankle_boot`` reads as it is). Anything else is left as it is: ``T-shirt/top`` stays
    ``T-shirt/top``.

    Example:
        >>> markdown_cell("x|y")
        'x\\\\|y'
    """
    if isinstance(value, Markup):
        return str(value)
    text = str(value).replace("\\", "\\\\")
    for mark in "|`*[]<>":
        text = text.replace(mark, "\\" + mark)
    return printable(text)


def markdown_row(cells: Iterable[Any]) -> str:
    """One row of a Markdown table: each cell through :func:`markdown_cell`."""
    return "| " + " | ".join(markdown_cell(c) for c in cells) + " |"


def markdown_table(head: Sequence[Any], rows: Iterable[Iterable[Any]]) -> list[str]:
    """The lines of a Markdown table: the header, its rule, then a line per row, every cell
    escaped (:func:`markdown_cell`); the way every table of report.md and explain.md is
    written."""
    return [markdown_row(head), "|" + "---|" * len(head), *(markdown_row(r) for r in rows)]


def markdown_fence(text: str) -> str:
    """A code fence for ``text``: three backticks, or one more than its longest run of them
    (a class named with three backticks would otherwise close the block early)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
