"""A griffe extension for the API reference: Sphinx roles in docstrings shown as code.

softreg's docstrings name other objects the way Sphinx does
(``:func:`softreg.fitting.trainer.fit```,
``:class:`~softreg.epochs.history.History```), which mkdocstrings would print literally. This turns
each role into inline code: the full path, or its last part where the path starts with ``~``.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:func|class|mod|meth|attr|data|exc|obj):`(~?)([^`]+)`")


def _as_code(match: re.Match[str]) -> str:
    short, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


class SphinxRolesAsCode(griffe.Extension):
    """Rewrite Sphinx cross-reference roles in every docstring as inline code."""

    def on_object(self, *, obj: griffe.Object, **_: Any) -> None:
        """Called by griffe for each loaded object."""
        if obj.docstring is not None:
            obj.docstring.value = _ROLE.sub(_as_code, obj.docstring.value)
