"""The ``softreg`` command. Each subcommand lives in its own module of this package.

A subcommand module defines ``register(subparsers)`` (adds its parser, cheap: no framework
imports) and ``run(args) -> int``. A :class:`~softreg.core.errors.SoftregError` becomes one line on
stderr (a dataset not found: its list of the places tried, a line each) and exit code 2; Ctrl-C
exits with 130.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from softreg import __version__
from softreg.core.errors import DataNotFoundError, SoftregError
from softreg.core.optional import own_process
from softreg.safety.stopsignals import Terminated, exit_code, sigterm_as_interrupt
from softreg.safety.textsafe import printable

# Subcommand modules, in the order ``softreg --help`` lists them.
COMMANDS: tuple[str, ...] = (
    "train", "evaluate", "predict", "explain", "export", "data", "numerics", "sweep",
    "study", "lrfind",
)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr and exit code 2.

    argparse prints the whole usage block before the error; a bad value should read like the
    other refusals, with a pointer to ``--help`` instead. Subparsers are created with the
    class of their parent, so every subcommand inherits this.
    """

    def error(self, message: str) -> NoReturn:
        """Print ``<prog>: error: <message> (see <prog> --help)`` and exit with code 2."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="softreg",
        description="Train, evaluate, explain and sweep softmax-regression classifiers "
        "on Fashion-MNIST (PyTorch, TensorFlow, MXNet or NumPy).",
    )
    parser.add_argument("--version", action="version", version=f"softreg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"softreg.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"softreg.cli.{name}":
                continue  # subcommand not part of this build
            raise
        module.register(sub)
    _remember_parsers(parser)
    return parser


def _remember_parsers(parser: argparse.ArgumentParser) -> None:
    """Give each (sub)subcommand's namespace its own parser, to report what it cannot parse."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                child.set_defaults(command_parser=child)
                _remember_parsers(child)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``softreg`` console script; returns the exit code.

    SIGTERM is taken as an interruption from the first line on (the parsers' imports
    included), so that a command stopped early still says so in one line and exits 143. The
    process is the command's (:func:`softreg.core.optional.own_process`): a framework's import is
    frozen for the garbage collector.
    """
    try:
        with sigterm_as_interrupt(), own_process():
            return _main(argv)
    except KeyboardInterrupt as exc:  # before a subcommand was chosen
        how = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        print(f"softreg: {how}", file=sys.stderr)
        return exit_code(exc)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # said by the subcommand, so that its --help is the one pointed to
        getattr(args, "command_parser", parser).error(
            f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    try:
        with sigterm_as_interrupt():
            code: int = args.run(args)
        return code
    except BrokenPipeError:
        # `softreg data | head -1`: the reader left; nothing is wrong with a path. Quiet, and
        # stdout pointed at /dev/null so that Python's own flush at exit does not complain.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 141  # 128 + SIGPIPE, as a shell reports a writer the pipe ended
    except SoftregError as exc:
        # One line, whatever the message quotes from a file: control characters escaped. The
        # one message of several lines is softreg's own list of the places a dataset was
        # looked for: a line each, each escaped.
        lines = str(exc).split("\n") if isinstance(exc, DataNotFoundError) else [str(exc)]
        text = "\n".join(printable(line) for line in lines)
        print(f"softreg {args.command}: error: {text}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"softreg {args.command}: error: {describe_os_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        how = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        print(f"softreg {args.command}: {how}", file=sys.stderr)
        return exit_code(exc)


def describe_os_error(exc: OSError) -> str:
    """One line for a failed file operation: the path(s), the system's reason, what to do."""
    paths = [p for p in (exc.filename, exc.filename2) if p is not None]
    where = " -> ".join(printable(os.fsdecode(p)) for p in paths)
    reason = exc.strerror or printable(exc)
    hint = {errno.ENOSPC: "free some space or write elsewhere (--out)",
            errno.EROFS: "the file system is read-only: write elsewhere (--out)",
            errno.EACCES: "check the permissions, or write elsewhere",
            errno.EPERM: "check the permissions, or write elsewhere",
            errno.ENOTDIR: "a part of the path is a file, not a folder",
            errno.EISDIR: "give a file name, not a folder",
            }.get(exc.errno or 0, "check the path")
    return f"{where}: {reason} ({hint})" if where else f"{reason} ({hint})"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
