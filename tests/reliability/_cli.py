"""Running the command line inside a reliability test, and checking a refusal's shape."""

from __future__ import annotations

from typing import Any

from softreg.cli import main


def run_cli(capsys: Any, *argv: object) -> tuple[int, str, str]:
    """Run ``softreg ARGV`` in this process; return its exit code, stdout and stderr."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def refused(code: int, err: str, text: str) -> None:
    """A refusal: exit code 2 and one line on stderr holding ``text``, no traceback."""
    assert code == 2, err
    assert text in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
