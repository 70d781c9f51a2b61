"""The command reference, generated from softreg's own parsers when the docs are built.

``docs/cli.md`` holds a marker line; this MkDocs hook replaces it with one section per
subcommand (and per nested subcommand), listing every flag with its metavar, default and help.
Because the page is drawn from ``softreg.cli.build_parser()`` at build time, it cannot drift
from the code; ``tests/test_docs.py`` checks that it names every subcommand and flag.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any

MARKER = "<!-- softreg-cli-reference -->"


def _subcommands(
        parser: argparse.ArgumentParser, prefix: str,
) -> Iterator[tuple[str, str, argparse.ArgumentParser]]:
    """(full name, one-line help, parser) for each subcommand below ``parser``, depth first."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
        for name, child in action.choices.items():
            full = f"{prefix} {name}"
            yield full, helps.get(name, ""), child
            yield from _subcommands(child, full)


def _escape(text: str) -> str:
    """Text for a Markdown cell: pipes and brackets escaped, whitespace folded, '%%' as printed.

    Brackets are escaped because help texts write defaults as ``[10]``, which Markdown would
    otherwise read as reference links.
    """
    text = text.replace("%%", "%").replace("|", r"\|").replace("[", r"\[").replace("]", r"\]")
    return " ".join(text.split())


def _flag_row(action: argparse.Action) -> str | None:
    """One table row for a flag or positional argument; None for hidden ones and subparsers."""
    if action.help == argparse.SUPPRESS or isinstance(action, argparse._SubParsersAction):
        return None
    if action.option_strings:
        names = ", ".join(f"`{opt}`" for opt in action.option_strings)
    else:
        names = f"`{action.metavar or action.dest}`"
    takes_value = action.nargs != 0
    metavar = ""
    if takes_value and action.option_strings:
        shown: Any = action.metavar or action.dest.upper()
        metavar = f"`{' '.join(shown) if isinstance(shown, tuple) else shown}`"
    help_text = _escape(action.help or "")
    if "%(default)" in help_text:
        help_text = help_text.replace("%(default)s", str(action.default))
    elif (takes_value and "[" not in help_text
          and action.default not in (None, argparse.SUPPRESS, [], ())):
        help_text += f" (default: `{action.default}`)"
    if action.choices is not None and not isinstance(action.choices, dict):
        help_text += " Choices: " + ", ".join(f"`{c}`" for c in action.choices) + "."
    return f"| {names} | {metavar} | {help_text} |"


def reference_markdown() -> str:
    """The whole command reference as Markdown, from ``softreg.cli.build_parser()``."""
    from softreg.cli import build_parser

    parser = build_parser()
    lines: list[str] = []
    for full, one_line, child in [("softreg", "", parser), *_subcommands(parser, "softreg")]:
        lines += [f"## `{full}`", "", f"*{_escape(one_line)}*" if one_line else "", "",
                  _escape(child.description or ""), "", "```text", child.format_usage().strip(),
                  "```", "", "| flag | value | what it does |", "|---|---|---|"]
        lines += [row for row in map(_flag_row, child._actions) if row is not None]
        lines.append("")
    return "\n".join(lines)


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    """MkDocs hook: put the generated reference where the page has the marker."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, reference_markdown())
