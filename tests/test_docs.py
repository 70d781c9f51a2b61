"""The documentation's two generated guarantees: the command reference names every
subcommand and flag the parsers have, and every public name has a docstring for the API
reference. ``make lint`` (part of ``make test``) builds the site with ``mkdocs build --strict``,
which fails on any warning, broken link or missing reference."""

from __future__ import annotations

import argparse
import importlib.util
import re
from pathlib import Path

from tests.conftest import need

ROOT = Path(__file__).resolve().parents[1]
# The modules whose exported names (``__all__``) make up softreg's Python API.
PUBLIC_MODULES = ("softreg", "softreg.data", "softreg.core.config", "softreg.torch",
                  "softreg.tensorflow", "softreg.mxnet", "softreg.estimator")


def _reference_hook():
    spec = importlib.util.spec_from_file_location(
        "cli_reference", ROOT / "docs" / "hooks" / "cli_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sections(markdown: str) -> dict[str, str]:
    """Each ``## `softreg ...` `` heading of the page with the text under it."""
    parts = re.split(r"^## `(softreg[^`]*)`$", markdown, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _parsers(parser: argparse.ArgumentParser, name: str = "softreg"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child_name, child in action.choices.items():
                yield from _parsers(child, f"{name} {child_name}")


def test_cli_reference_names_every_subcommand_and_flag():
    from softreg.cli import build_parser

    sections = _sections(_reference_hook().reference_markdown())
    parsers = dict(_parsers(build_parser()))
    assert set(sections) == set(parsers)
    for name, parser in parsers.items():
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            for flag in action.option_strings:
                assert f"`{flag}`" in sections[name], (name, flag)


def test_cli_reference_shows_help_text_safely():
    markdown = _reference_hook().reference_markdown()
    train = _sections(markdown)["softreg train"]
    row = next(line for line in train.splitlines() if line.startswith("| `--batch-size`"))
    # Defaults in help texts ([256]) must not become Markdown links.
    assert r"\[256\]" in row


def test_the_cli_page_is_generated_not_written():
    page = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert _reference_hook().MARKER in page
    assert "## `softreg train`" not in page


def _public_objects():
    griffe = need("griffe")
    package = griffe.load("softreg", search_paths=[str(ROOT / "src")],
                          resolve_aliases=True, resolve_external=False)
    for module_path in PUBLIC_MODULES:
        module = package if module_path == "softreg" else package[module_path[8:]]
        assert module.exports, f"{module_path} has no __all__ that can be read statically"
        for name in module.exports:
            name = str(name)
            if name.startswith("__"):
                continue
            member = module.members[name]
            if member.is_alias:
                if not member.target_path.startswith("softreg."):
                    continue  # a framework's own function under its d2l name
                member = member.final_target
            yield f"{module_path}.{name}", member


def test_every_public_name_has_a_docstring():
    missing = []
    for path, obj in _public_objects():
        if obj.is_function or obj.is_class:
            if not obj.docstring:
                missing.append(path)
            if obj.is_class:
                missing += [f"{path}.{n}" for n, m in obj.members.items()
                            if m.is_function and not n.startswith("_") and not m.is_alias
                            and not m.docstring]
    assert not missing, f"public names without a docstring: {missing}"


def test_every_public_module_is_in_the_api_reference():
    page = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^::: ([\w.]+)", page, flags=re.M))
    for module in PUBLIC_MODULES:
        assert any(d == module or d.startswith(f"{module}.") for d in documented), module


def test_the_changelog_keeps_a_changelog():
    """Keep a Changelog's shape: versions newest first, dated, with its six kinds of change."""
    from softreg import __version__

    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    versions = re.findall(r"^## (.+)$", text, flags=re.M)
    assert versions[0] == "[Unreleased]"
    released = [re.fullmatch(r"\[(\d+\.\d+\.\d+)\] - (\d{4}-\d\d-\d\d)", v) for v in versions[1:]]
    assert all(released), versions
    numbers = [tuple(map(int, m.group(1).split("."))) for m in released if m]
    assert numbers == sorted(numbers, reverse=True)
    assert __version__ == released[0].group(1)  # type: ignore[union-attr]
    kinds = set(re.findall(r"^### (.+)$", text, flags=re.M))
    assert kinds <= {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}, kinds
