"""A Griffe extension for the API reference: streamkit's reST-flavoured docstrings, read as Markdown.

The docstrings are written for a reader of the source: ``code`` (which
Markdown also reads as code), cross-references in Sphinx's roles
(``:class:`~streamkit.errors.APIError```) and ``::`` before a literal
block. mkdocstrings renders docstrings as Markdown, where a role would show
as ``:class:`` text. This extension, run on the loaded package before
rendering, rewrites

* each role into a cross-reference to the object's entry in the reference,
  shown as code (``~`` shows the last name only, as in Sphinx), resolving
  a short name in the docstring's own scope; a target the reference does
  not document (another package's, an internal module's) is plain code,
  not a warning;
* a paragraph's closing ``::`` into ``:`` and a line of ``::`` alone into
  nothing (the indented block after it is a code block in Markdown too).

Loaded by mkdocs.yml (``extensions`` of the Python handler); not part of
the package.
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|data|attr|exc|obj|const)?:`(~?)([^`<>]+)`")
_LONE_COLONS = re.compile(r"^[ \t]*::[ \t]*\n", re.M)
_CLOSING_COLONS = re.compile(r"(\S)::[ \t]*$", re.M)


class RstRoles(griffe.Extension):
    """Rewrite every docstring of the package once it is loaded (see the module docstring)."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        seen: set[str] = set()
        stack: list[griffe.Object | griffe.Alias] = [pkg]
        while stack:
            obj = stack.pop()
            if obj.is_alias or obj.path in seen:
                continue
            seen.add(obj.path)
            if obj.docstring is not None:
                obj.docstring.value = _rewrite(obj.docstring.value, obj)
            stack.extend(obj.members.values())


def _rewrite(text: str, scope: griffe.Object) -> str:
    text = _LONE_COLONS.sub("", text)
    text = _CLOSING_COLONS.sub(r"\1:", text)
    return _ROLE.sub(lambda match: _reference(match, scope), text)


def _reference(match: re.Match[str], scope: griffe.Object) -> str:
    tilde, target = match.group(1), match.group(2).strip()
    target = target.lstrip(".")
    shown = target.rsplit(".", 1)[-1] if tilde else target
    if shown.endswith("()"):
        target = target[:-2]
    identifier = _resolve(target, scope)
    return (
        f'<autoref identifier="{html.escape(identifier)}" optional>'
        f"<code>{html.escape(shown)}</code></autoref>"
    )


def _resolve(target: str, scope: griffe.Object) -> str:
    """The full path of ``target`` as the docstring's scope sees it (unchanged if unknown)."""
    head, _, rest = target.partition(".")
    try:
        resolved = scope.resolve(head)
    except (griffe.NameResolutionError, AttributeError, KeyError):
        return target
    return f"{resolved}.{rest}" if rest else resolved
