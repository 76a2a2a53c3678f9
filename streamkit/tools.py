"""Tools the model may call: accepted in every common form, one internal shape.

A tool can be given as

* a pydantic model class (name = class name, description = docstring,
  parameters = its JSON schema),
* OpenAI's form ``{"type": "function", "function": {"name", "description", "parameters"}}``,
* Anthropic's form ``{"name", "description", "input_schema"}``,
* or plain ``{"name", "description", "parameters"}``.

Other fields of a tool dict (``strict``, ``cache_control``, ...) are kept in
``ToolSpec.extra`` and sent with the tool. A provider-native tool that is not
a function, such as Anthropic's server tools (``{"type":
"web_search_20250305", "name": "web_search", "max_uses": 3}``, see
https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/web-search-tool),
is kept whole in ``ToolSpec.raw`` and sent exactly as given.

Each provider turns :class:`ToolSpec` into its own request format.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from .errors import InvalidArgumentError

__all__ = ["ToolChoice", "ToolSpec"]

ToolChoice = str
"""``tool_choice=``: ``"auto"``, ``"required"`` (alias ``"any"``), ``"none"``, or a tool's name.

Sent as OpenAI's ``tool_choice`` (``"auto"``, ``"required"``, ``"none"``
or ``{"type": "function", "function": {"name"}}``:
https://platform.openai.com/docs/api-reference/chat/create) and Anthropic's
(``{"type": "auto" | "any" | "none" | "tool", "name"?}``:
https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/implement-tool-use).
A choice that names no given tool, or asks for tools when none are
given, raises :class:`~streamkit.errors.InvalidArgumentError`.
"""


@dataclass(frozen=True)
class ToolSpec:
    """A tool in provider-neutral form; ``parameters`` is a JSON schema object.

    What ``tools=`` entries become (a pydantic model class or a tool dict
    in any of the module docstring's forms; passing a ``ToolSpec`` itself
    works too). ``name`` must be unique among a call's tools;
    ``description`` tells the model when to use it. ``extra``: the tool's
    other fields, sent with it (``strict``, ``cache_control``...). ``raw``:
    a provider-native tool kept whole (a server tool), sent exactly as
    given instead of as a function. Each provider writes it in its own
    form: OpenAI's ``{"type": "function", "function": {"name",
    "description", "parameters"}}``, Anthropic's ``{"name", "description",
    "input_schema"}``. A bad tool raises
    :class:`~streamkit.errors.InvalidArgumentError` naming ``tools[i]``.
    """

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    extra: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] | None = None


#: The fields a function tool's spec is made of; any other is kept in ``extra``.
_SPEC_FIELDS = frozenset({"name", "description", "parameters", "input_schema", "type"})


def _from_model(model: type[BaseModel]) -> ToolSpec:
    schema = model.model_json_schema()
    schema.pop("title", None)
    description = schema.pop("description", None) or (model.__doc__ or "").strip()
    return ToolSpec(model.__name__, description, schema)


def _from_dict(tool: dict[str, Any], where: str) -> ToolSpec:
    kind = tool.get("type")
    if isinstance(kind, str) and kind not in ("function", "custom") and "input_schema" not in tool:
        # A provider-native tool (a server tool): kept whole, named by its name or type.
        name = tool.get("name") if isinstance(tool.get("name"), str) and tool.get("name") else kind
        return ToolSpec(str(name), raw=dict(tool))
    spec = tool.get("function") if kind == "function" else tool
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not spec["name"]:
        raise InvalidArgumentError(f"{where}: a tool dict needs a non-empty 'name'")
    parameters = spec.get("parameters", spec.get("input_schema"))
    if parameters is None:
        parameters = {"type": "object", "properties": {}}
    if not isinstance(parameters, dict):
        raise InvalidArgumentError(f"{where}: the tool's parameters must be a JSON schema object")
    description = spec.get("description") or ""
    if not isinstance(description, str):
        raise InvalidArgumentError(f"{where}: the tool's description must be a str")
    extra = {k: v for k, v in spec.items() if k not in _SPEC_FIELDS}
    if kind == "function":  # OpenAI's form: fields beside "function" too (rare)
        extra.update({k: v for k, v in tool.items() if k not in ("type", "function")})
    return ToolSpec(spec["name"], description, parameters, extra)


def to_tool_specs(tools: Any, where: str = "tools") -> list[ToolSpec]:
    """Normalise a ``tools`` argument, naming the first bad entry."""
    if tools is None:
        return []
    if isinstance(tools, (str, bytes, dict)) or not isinstance(tools, Sequence):
        raise InvalidArgumentError(f"{where} must be a list of tools, not {type(tools).__name__}")
    specs: list[ToolSpec] = []
    for i, tool in enumerate(tools):
        item = f"{where}[{i}]"
        if isinstance(tool, ToolSpec):
            specs.append(tool)
        elif isinstance(tool, type) and issubclass(tool, BaseModel):
            specs.append(_from_model(tool))
        elif isinstance(tool, dict):
            specs.append(_from_dict(tool, item))
        else:
            raise InvalidArgumentError(
                f"{item} must be a pydantic model class or a JSON-schema tool dict, not {type(tool).__name__}"
            )
    names = [s.name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidArgumentError(f"{where}: tool names must be unique; repeated: {', '.join(duplicates)}")
    return specs


def check_tool_choice(choice: object, specs: list[ToolSpec]) -> str | None:
    """Validate ``tool_choice`` against the tools given."""
    if choice is None:
        return None
    if not isinstance(choice, str) or not choice:
        raise InvalidArgumentError("tool_choice must be 'auto', 'required', 'none' or a tool's name")
    if choice == "any":
        choice = "required"
    if choice in ("auto", "required", "none"):
        if choice != "none" and not specs:
            raise InvalidArgumentError(f"tool_choice={choice!r} needs tools")
        return choice
    if choice not in {s.name for s in specs}:
        raise InvalidArgumentError(f"tool_choice names {choice!r}, which is not one of the tools given")
    return choice
