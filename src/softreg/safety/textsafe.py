"""Text read from files, made safe to print on a terminal.

A checkpoint's metadata or a sweep's result file is data that anyone can edit. Printed as it
is, a value holding ``ESC [2J`` clears the screen and a ``\\r`` or ``\\n`` forges a line of
output. Everything softreg echoes from a file goes through :func:`printable` first.
"""

from __future__ import annotations

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


def _escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
