"""Tools the model may call: accepted in every common form, one internal shape.

A tool can be given as

* a pydantic model class (name = class name, description = docstring,
  parameters = its JSON schema),
* OpenAI's form ``{"type": "function", "function": {"name", "description", "parameters"}}``,
* Anthropic's form ``{"name", "description", "input_schema"}``,
* or plain ``{"name", "description", "parameters"}``.

Each provider turns :class:`ToolSpec` into its own request format.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from .errors import InvalidArgumentError

__all__ = ["ToolChoice", "ToolSpec", "to_tool_specs"]

#: ``"auto"``, ``"required"`` (alias ``"any"``), ``"none"``, or a tool's name.
ToolChoice = str


@dataclass(frozen=True)
class ToolSpec:
    """A tool in provider-neutral form; ``parameters`` is a JSON schema object."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


def _from_model(model: type[BaseModel]) -> ToolSpec:
    schema = model.model_json_schema()
    schema.pop("title", None)
    description = schema.pop("description", None) or (model.__doc__ or "").strip()
    return ToolSpec(model.__name__, description, schema)


def _from_dict(tool: dict[str, Any], where: str) -> ToolSpec:
    spec = tool.get("function") if tool.get("type") == "function" else tool
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
    return ToolSpec(spec["name"], description, parameters)


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
