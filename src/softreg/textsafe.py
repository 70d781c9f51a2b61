"""Text from files, made safe to print: control characters shown as escapes."""

from __future__ import annotations

import re
from typing import Any

# C0 and C1 control characters (ESC, CR, BEL...) and DEL; tab and newline too, so that a
# value printed on one line stays on one line.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(value: Any) -> str:
    """``str(value)`` with every control character written as ``\\xNN``.

    Use it for anything read from a file before it reaches the terminal: a crafted
    checkpoint cannot clear the screen or print fake lines.
    """
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))
