"""Structured output: ``chat.with_structured_output(Schema)``.

::

    class Movie(BaseModel):
        title: str
        year: int

    movies = chat.with_structured_output(Movie)
    movie = await movies("Name a film from 1999.")        # a validated Movie
    async with movies.stream("Name a film.") as stream:
        async for partial in stream:                     # PartialMovie(...), ..., then Movie(...)
            print(partial)

The schema is a pydantic model class, a ``TypedDict`` class, or a JSON
schema dict (also accepted in a tool's form: ``{"name", "description",
"parameters"}``, OpenAI's ``{"type": "function", "function": {...}}`` or
Anthropic's ``{"name", "description", "input_schema"}``). It must describe
a JSON object. What comes back:

* a pydantic model: an instance, validated by pydantic;
* a ``TypedDict``: a ``dict``, validated by pydantic (``TypeAdapter``);
* a JSON schema dict: the parsed ``dict``. It is *not* validated against
  the schema beyond being a JSON object with the schema's top-level
  ``required`` keys (streamkit has no JSON-schema validator; with OpenAI's
  ``strict`` mode the server enforces the schema). Validate it yourself
  (``jsonschema``) if you need more.

**The provider's native mechanism** (``method``):

* ``"json_schema"`` (the default for OpenAI-format models): OpenAI's
  ``response_format: {"type": "json_schema", "json_schema": {"name",
  "description", "schema", "strict"}}``
  (https://platform.openai.com/docs/guides/structured-outputs); the answer
  text is the JSON. For Anthropic it is the native structured outputs field,
  ``output_config: {"format": {"type": "json_schema", "schema": ...}}``
  (generally available, no beta header:
  https://platform.claude.com/docs/en/build-with-claude/structured-outputs;
  supported by recent models such as Claude Sonnet 4.5, Opus 4.5 and Haiku
  4.5, and the way to combine structured output with extended thinking).
* ``"tool"`` (alias ``"function_calling"``; the default for Anthropic, as
  it works with every Claude model): one tool whose input schema is the
  schema, forced with ``tool_choice``; the tool call's arguments are the
  JSON. Anthropic rejects a forced tool with extended thinking, so
  ``thinking`` with this method is an :class:`InvalidArgumentError` (use
  ``method="json_schema"``).

The structured call offers only its own tool (the tool method) or none
(the json_schema method): tools bound to the chat model are not sent.

**Schemas on the wire** (``strict``): ``None`` (the default) means each
method's safe choice. OpenAI: ``strict: true`` unless ``strict=False``,
and then the schema is made strict as OpenAI requires: every object gets
``additionalProperties: false`` (unless it says otherwise) and lists all of
its properties in ``required`` (a field with a default must then always be
sent: the answer still validates), ``oneOf`` becomes ``anyOf``, a single
``allOf`` is inlined, a ``$ref`` with sibling keys is inlined, and
``default: null`` is dropped. These only narrow what the model may answer,
so every answer still validates against the original schema. Anthropic's
json_schema method always, and its tool method with ``strict=True``
(Anthropic's strict tool use), get the subset Anthropic compiles: objects
get ``additionalProperties: false``, ``const`` becomes a one-value
``enum``, defaults are dropped, and keywords outside the subset
(``maxLength``, ``minimum``, ``pattern``, string formats other than
``date-time``, ``time``, ``date``, ``duration``, ``email``, ``hostname``,
``uri``, ``ipv4``, ``ipv6``, ``uuid``; ``minItems`` above 1, ...) move
into the ``description`` so that the model may still follow them (the
same subset Anthropic's Python SDK targets). streamkit validates the
answer with the original schema either way.

**Streaming partial objects.** ``stream()`` yields the object as it grows,
then the validated final object. After each text (or tool-argument) delta
the JSON received so far is parsed as partial JSON and validated with
pydantic's partial validation (``experimental_allow_partial=
"trailing-strings"``, pydantic >= 2.10), against a *partial* form of the
schema in which every field is optional:

* a pydantic model ``Movie`` gives instances of ``PartialMovie``, a
  subclass built once per model whose fields default to ``None`` until
  they arrive (nested models likewise; a model that refers to itself keeps
  its own class for the inner references); ``isinstance(partial, Movie)``
  holds, and the model's validators and constraints apply to what has
  arrived;
* a ``TypedDict`` gives dicts with the keys that have arrived;
* a JSON schema gives the partial JSON object as parsed.

The last item is always the validated object itself (``type(obj) is
Movie``). A partial is yielded only when it validates and differs from the
last one yielded, so partials only grow: a key, once there, stays; strings
grow (character by character, the last one possibly unfinished), lists
gain items. A number is not yielded until it is complete (``12`` could
still become ``123``), nor ``true``/``false``/``null``. Where a partial
form cannot be built (a discriminated union of models, say), partials are
validated against the schema itself, as instances of the model, and so
appear only once every required field has begun. Each delta re-parses the
JSON so far (pydantic-core, a few microseconds per KiB): fine for answers
of a few KiB.

**Errors.** A final object that does not validate raises
:class:`~streamkit.errors.OutputParserError` carrying ``raw_text`` (the
JSON as received), pydantic's ``errors`` and the whole ``LLMResult`` as
``partial_result``; a refusal (OpenAI's ``refusal``, Anthropic's
``stop_reason: "refusal"``) raises :class:`~streamkit.errors.RefusalError`
(a subclass, with ``refusal``). API errors are raised as from any stream.
With ``include_raw=True``, ``await`` returns ``{"raw": AIMessage,
"parsed": obj or None, "parsing_error": error or None}`` and never raises
an ``OutputParserError`` (as LangChain's ``include_raw`` does); ``stream()``
raises it at the end either way (the raw answer is ``stream.partial_result``).

**Results.** ``generate()`` and ``stream.result`` give the usual
``LLMResult``, with the object in ``generation_info["parsed"]`` and
``message.additional_kwargs["parsed"]`` of each generation (handlers'
``on_llm_end`` sees the result before parsing). The web relay
(:mod:`streamkit.web`) sends each partial as an ``object`` event and the
final object in ``done``'s ``parsed``.
"""

from __future__ import annotations

import copy
import json
import re
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from types import TracebackType, UnionType
from typing import (
    TYPE_CHECKING,
    Annotated,
    Any,
    Generic,
    Literal,
    NotRequired,
    Required,
    TypeVar,
    Union,
    cast,
    get_args,
    get_origin,
)

from pydantic import BaseModel, RootModel, TypeAdapter, ValidationError, create_model
from pydantic_core import from_json, to_jsonable_python
from typing_extensions import ReadOnly, TypedDict, get_type_hints, is_typeddict

from ._adapter import ResponseStream
from .callbacks._base import AnyHandler
from .errors import InvalidArgumentError, OutputParserError, RefusalError, StreamStateError
from .events import Event, TextDelta, ToolCallDelta, ToolCallStart, ends_in_scalar
from .messages import AIMessage
from .results import ChatGeneration, Generation, LLMResult
from .tools import to_tool_specs

if TYPE_CHECKING:
    from .models import ChatModel, MessagesInput

__all__ = ["PartialObject", "RawResult", "StructuredChat", "StructuredStream"]

T = TypeVar("T")
R = TypeVar("R")

#: ``method`` values; ``function_calling`` is LangChain's name for ``tool``.
_METHODS = {"json_schema": "json_schema", "tool": "tool", "function_calling": "tool"}
#: Names OpenAI accepts for a response format or a function.
_BAD_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_-]")
#: The last character of a JSON text that may be an unfinished number (or ``true``...).
_NUMBER_END = frozenset("0123456789.eE+-")
_SKIP: Any = object()


class RawResult(TypedDict, Generic[T]):
    """What ``await structured(...)`` returns with ``include_raw=True`` (a ``dict``, LangChain's shape).

    ``raw``: the model's :class:`~streamkit.messages.AIMessage`;
    ``parsed``: the validated object, or ``None`` if the answer is not
    one; ``parsing_error``: the :class:`~streamkit.errors.OutputParserError`
    (or :class:`~streamkit.errors.RefusalError`) in that case, else
    ``None``. Nothing is raised for a bad answer; API errors still are.
    """

    raw: AIMessage
    parsed: T | None
    parsing_error: OutputParserError | None


@dataclass(slots=True)
class PartialObject:
    """From ``StructuredStream.events()``: the object grew (or, ``final``, is complete and valid).

    ``value`` is the partial object (see the module docstring) or, when
    ``final``, the validated object. Not a member of
    :data:`streamkit.events.Event`: only structured streams yield it.
    """

    value: Any
    final: bool = False
    type: Literal["object"] = "object"

    @property
    def data(self) -> Any:
        """``value`` as JSON-ready data (a partial model: only the fields that arrived)."""
        return jsonable(self.value, partial=not self.final)


def jsonable(value: Any, *, partial: bool = False) -> Any:
    """A structured-output object as JSON-ready data, by alias (what the model wrote).

    ``partial``: partial models (at any depth) keep only the fields that have arrived.
    """
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_unset=partial)
    if partial and isinstance(value, dict):
        return {key: jsonable(item, partial=True) for key, item in value.items()}
    if partial and isinstance(value, list):
        return [jsonable(item, partial=True) for item in value]
    return to_jsonable_python(value, by_alias=True)


# -- the schema ------------------------------------------------------------


def _strip_wrappers(tp: Any) -> Any:
    """``Required[X]``/``NotRequired[X]``/``ReadOnly[X]`` -> ``X`` (TypedDict field markers)."""
    while get_origin(tp) in (Required, NotRequired, ReadOnly):
        tp = get_args(tp)[0]
    return tp


class _PartialBuilder:
    """The partial form of a type: every model/TypedDict field optional, recursively.

    Raises whatever pydantic raises when a partial form cannot be built;
    the caller falls back to the type itself.
    """

    def __init__(self) -> None:
        self._done: dict[Any, Any] = {}
        self._building: set[Any] = set()

    def build(self, tp: Any) -> Any:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return self._model(tp)
        if is_typeddict(tp):
            return self._typeddict(tp)
        origin = get_origin(tp)
        args = get_args(tp)
        if origin is None or not args or origin is Literal:
            return tp
        if origin is Annotated:
            inner = self.build(args[0])
            return tp if inner is args[0] else Annotated[(inner, *tp.__metadata__)]
        new = tuple(a if a is Ellipsis else self.build(a) for a in args)
        if all(n is a for n, a in zip(new, args, strict=True)):
            return tp
        if origin in (Union, UnionType):
            return Union[new]  # noqa: UP007 - built at run time from a tuple
        return origin[new if len(new) > 1 else new[0]]

    def _model(self, model: type[BaseModel]) -> type[BaseModel]:
        if issubclass(model, RootModel) or model in self._building:
            return model  # a root model, or a recursive reference: validated as it is
        if model in self._done:
            return cast(type[BaseModel], self._done[model])
        self._building.add(model)
        try:
            fields: dict[str, Any] = {}
            for name, info in model.model_fields.items():
                partial_info = copy.copy(info)
                partial_info.default = None
                partial_info.default_factory = None
                fields[name] = (self.build(info.annotation) | None, partial_info)
            partial: type[BaseModel] = create_model(
                f"Partial{model.__name__}", __base__=model, __module__=model.__module__, **fields
            )
        finally:
            self._building.discard(model)
        self._done[model] = partial
        return partial

    def _typeddict(self, td: Any) -> Any:
        if td in self._done:
            return self._done[td]
        if td in self._building:
            return td
        self._building.add(td)
        try:
            hints = get_type_hints(td, include_extras=True)
            fields = {name: self.build(_strip_wrappers(hint)) for name, hint in hints.items()}
            make: Any = TypedDict  # the functional form, with a name made at run time
            partial = make(f"Partial{td.__name__}", fields, total=False)
            config = getattr(td, "__pydantic_config__", None)
            if config is not None:
                partial.__pydantic_config__ = config
        finally:
            self._building.discard(td)
        self._done[td] = partial
        return partial


@dataclass(frozen=True, slots=True)
class _Target:
    """What to ask for and how to check it."""

    name: str
    description: str
    schema: dict[str, Any]
    #: Validates the final JSON text; None for a JSON schema dict (parsed only).
    final: TypeAdapter[Any] | None
    #: Validates partial JSON text; None for a JSON schema dict.
    partial: TypeAdapter[Any] | None
    #: A JSON schema dict's top-level ``required`` keys (the minimal check).
    required: tuple[str, ...] = ()

    def validate(self, text: str) -> Any:
        """The final object; raises ``ValidationError`` or ``ValueError``."""
        if self.final is not None:
            return self.final.validate_json(text)
        value = from_json(text)
        if not isinstance(value, dict):
            raise ValueError(f"the answer is a JSON {type(value).__name__}, not an object")
        missing = [key for key in self.required if key not in value]
        if missing:
            raise ValueError(f"the answer lacks the required key(s) {', '.join(map(repr, missing))}")
        return value

    def partial_value(self, text: str) -> Any:
        """The object so far, or ``_SKIP`` when the text so far does not make a valid one."""
        if not text.strip():
            return _SKIP
        if text[-1] in _NUMBER_END and ends_in_scalar(text):
            return _SKIP  # 12 may become 123; tru... is not a value yet
        try:
            if self.partial is not None:
                return self.partial.validate_json(text, experimental_allow_partial="trailing-strings")
            value = from_json(text, allow_partial="trailing-strings")
        except Exception:  # a validator may raise anything on a partial object: not yielded
            return _SKIP
        return value if isinstance(value, dict) else _SKIP  # a JSON schema's object so far


def _target(schema: Any) -> _Target:
    """Read ``schema`` (model/TypedDict class, JSON schema or tool dict); InvalidArgumentError if bad."""
    if isinstance(schema, type) and (issubclass(schema, BaseModel) or is_typeddict(schema)):
        return _class_target(schema)
    if not isinstance(schema, Mapping):
        raise InvalidArgumentError(
            "with_structured_output() takes a pydantic model class, a TypedDict class or a JSON schema "
            f"dict, not {type(schema).__name__}"
        )
    schema = dict(schema)
    if schema.get("type") == "function" or (
        isinstance(schema.get("name"), str) and ("parameters" in schema or "input_schema" in schema)
    ):
        spec = to_tool_specs([schema], "with_structured_output(schema)")[0]
        name, description, json_schema = spec.name, spec.description, copy.deepcopy(spec.parameters)
    else:
        json_schema = copy.deepcopy(schema)
        title = json_schema.pop("title", None)
        name = title if isinstance(title, str) and title else "output"
        description = json_schema.pop("description", None) or ""
    if json_schema.get("type", "object") != "object":
        raise InvalidArgumentError(
            "with_structured_output(): the JSON schema must describe an object "
            f'({{"type": "object", ...}}), not {json_schema.get("type")!r}'
        )
    try:
        json.dumps(json_schema, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"with_structured_output(): the schema is not JSON: {exc}") from None
    if not isinstance(description, str):
        raise InvalidArgumentError("with_structured_output(): the schema's description must be a str")
    keys = json_schema.get("required") or ()
    required = tuple(k for k in keys if isinstance(k, str))
    return _Target(_wire_name(name), description, json_schema, None, None, required)


def _wire_name(name: str) -> str:
    """``name`` as OpenAI accepts it for a response format or a function: ``[a-zA-Z0-9_-]{1,64}``."""
    return _BAD_NAME_CHARS.sub("_", name)[:64] or "output"


@lru_cache(maxsize=256)
def _class_target(schema: type[Any]) -> _Target:
    """A model or TypedDict class's target, built once per class (the partial form is a new class)."""
    try:
        final: TypeAdapter[Any] = TypeAdapter(schema)
        json_schema = final.json_schema()
    except Exception as exc:
        raise InvalidArgumentError(
            f"with_structured_output(): cannot build a schema from {schema.__name__}: {exc}"
        ) from None
    ref = json_schema.get("$ref")
    if isinstance(ref, str):  # a recursive model: the root is a $ref into $defs; inline it
        target = _resolve(json_schema, ref)
        if target is not None:
            json_schema = {**{k: v for k, v in json_schema.items() if k != "$ref"}, **target}
    json_schema.pop("title", None)
    description = json_schema.pop("description", None) or ""
    if json_schema.get("type") != "object":
        raise InvalidArgumentError(
            f"with_structured_output(): {schema.__name__} must describe a JSON object (a model with fields)"
        )
    try:
        partial: TypeAdapter[Any] = TypeAdapter(_PartialBuilder().build(schema))
    except Exception:  # no partial form (a discriminated union...): partials checked as they are
        partial = final
    return _Target(_wire_name(schema.__name__), description, json_schema, final, partial)


def _resolve(root: dict[str, Any], ref: str) -> dict[str, Any] | None:
    """A local ``$ref`` (``#/$defs/X``) in ``root``, or None."""
    if not ref.startswith("#/"):
        return None
    node: Any = root
    for part in ref[2:].split("/"):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node if isinstance(node, dict) else None


def openai_strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` (copied) as OpenAI's strict mode requires; see the module docstring."""
    root = copy.deepcopy(schema)
    return cast(dict[str, Any], _openai_node(root, root))


def _openai_node(node: Any, root: dict[str, Any], depth: int = 0) -> Any:
    if not isinstance(node, dict) or depth > 64:
        return node
    for key in ("$defs", "definitions"):
        defs = node.get(key)
        if isinstance(defs, dict):
            for name, sub in defs.items():
                defs[name] = _openai_node(sub, root, depth + 1)
    ref = node.get("$ref")
    if isinstance(ref, str) and len(node) > 1:
        target = _resolve(root, ref)
        if target is not None:  # OpenAI takes no keys beside a $ref: inline it
            merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
            return _openai_node(merged, root, depth + 1)
    properties = node.get("properties")
    if node.get("type") == "object" or isinstance(properties, dict):
        node.setdefault("additionalProperties", False)
        if isinstance(properties, dict):
            node["required"] = list(properties)
            for key, sub in properties.items():
                properties[key] = _openai_node(sub, root, depth + 1)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            node[key] = _openai_node(node[key], root, depth + 1)
    if "oneOf" in node and "anyOf" not in node:
        node["anyOf"] = node.pop("oneOf")
    for key in ("anyOf", "prefixItems"):
        if isinstance(node.get(key), list):
            node[key] = [_openai_node(sub, root, depth + 1) for sub in node[key]]
    all_of = node.get("allOf")
    if isinstance(all_of, list):
        if len(all_of) == 1 and isinstance(all_of[0], dict):
            del node["allOf"]
            inner = _openai_node(all_of[0], root, depth + 1)
            node = {**inner, **node}
        else:
            node["allOf"] = [_openai_node(sub, root, depth + 1) for sub in all_of]
    if "default" in node and node["default"] is None:
        del node["default"]
    return node


#: Keywords Anthropic's structured outputs compile (see the module docstring).
_ANTHROPIC_KEYS = frozenset(
    {
        "type",
        "enum",
        "anyOf",
        "allOf",
        "$ref",
        "$defs",
        "definitions",
        "description",
        "title",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "format",
        "minItems",
    }
)
_ANTHROPIC_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"}
)


def anthropic_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` (copied) in the subset Anthropic's structured outputs compile; see the module docstring."""
    return cast(dict[str, Any], _anthropic_node(copy.deepcopy(schema)))


def _anthropic_node(node: Any, depth: int = 0) -> Any:
    if not isinstance(node, dict) or depth > 64:
        return node
    out: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    if "const" in node and "enum" not in node:
        node["enum"] = [node.pop("const")]
    if "oneOf" in node and "anyOf" not in node:
        node["anyOf"] = node.pop("oneOf")
    node.pop("default", None)
    for key, value in node.items():
        if key in ("$defs", "definitions", "properties") and isinstance(value, dict):
            out[key] = {name: _anthropic_node(sub, depth + 1) for name, sub in value.items()}
        elif key in ("anyOf", "allOf") and isinstance(value, list):
            out[key] = [_anthropic_node(sub, depth + 1) for sub in value]
        elif key == "items" and isinstance(value, dict):
            out[key] = _anthropic_node(value, depth + 1)
        elif key == "additionalProperties":
            continue  # always false, below
        elif (key == "format" and value not in _ANTHROPIC_FORMATS) or (
            key == "minItems" and value not in (0, 1)
        ):
            extra[key] = value  # outside the subset: said in the description
        elif key in _ANTHROPIC_KEYS:
            out[key] = value
        else:
            extra[key] = value
    if out.get("type") == "object" or "properties" in out:
        out["additionalProperties"] = False
    if extra:
        note = "{" + ", ".join(f"{key}: {json.dumps(value)}" for key, value in extra.items()) + "}"
        description = out.get("description")
        out["description"] = f"{description}\n\n{note}" if isinstance(description, str) else note
    return out


# -- the structured model --------------------------------------------------


class StructuredChat(Generic[T, R]):
    """A chat model that answers with objects: ``chat.with_structured_output(Schema)``.

    ``T`` is the object type (a model instance, or a ``dict``); ``R`` what
    ``await`` returns (``T``, or a :class:`RawResult` with ``include_raw``).
    Holds no connection of its own: the chat model's session is used, so
    close the chat model as usual. See the module docstring for the wire
    forms, partial objects and errors.
    """

    def __init__(
        self,
        chat: ChatModel,
        schema: Any,
        *,
        method: str | None = None,
        strict: bool | None = None,
        include_raw: bool = False,
    ) -> None:
        self.chat = chat
        self.schema = schema
        #: Whether the chat model speaks Anthropic's Messages API (its forced tool excludes thinking).
        self.anthropic = chat._provider.name == "anthropic"
        if method is None:
            method = chat._provider.structured_method
        if method not in _METHODS:
            raise InvalidArgumentError(
                f"with_structured_output(): method must be 'json_schema' or 'tool' "
                f"(alias 'function_calling'), not {method!r}"
            )
        #: ``"json_schema"`` or ``"tool"``.
        self.method: Literal["json_schema", "tool"] = cast(Any, _METHODS[method])
        if strict is not None and not isinstance(strict, bool):
            raise InvalidArgumentError("with_structured_output(): strict must be True, False or None")
        self.strict = strict
        self.include_raw = bool(include_raw)
        self._target = _target(schema)
        self._options, self._output_config = self._wire()
        if self.anthropic and self.method == "tool":
            self._check_thinking(getattr(chat, "thinking", None))

    @property
    def name(self) -> str:
        """The name sent for the schema (the tool's name, for the tool method)."""
        return self._target.name

    @property
    def json_schema(self) -> dict[str, Any]:
        """The JSON schema as generated from ``schema`` (before any provider adjustment)."""
        return copy.deepcopy(self._target.schema)

    def _wire(self) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """(per-call options, body fields of the provider's JSON output mode or None).

        The wire forms are the provider's (``Provider.structured_tool`` and
        ``Provider.output_format``); this only picks the method.
        """
        target = self._target
        provider = self.chat._provider
        schema = copy.deepcopy(target.schema)
        if self.method == "tool":
            tool = provider.structured_tool(target.name, target.description, schema, self.strict)
            return {"tools": [tool], "tool_choice": target.name}, None
        fields = provider.output_format(target.name, target.description, schema, self.strict)
        return {"tools": None, "tool_choice": None}, fields

    def _check_thinking(self, thinking: Any) -> None:
        if isinstance(thinking, Mapping) and thinking.get("type") not in (None, "disabled"):
            raise InvalidArgumentError(
                "with_structured_output(): Anthropic does not allow a forced tool call with extended "
                "thinking; use method='json_schema' (output_config.format) on a model that supports it"
            )

    def _call_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The chat call's keyword arguments: the caller's, plus the structured-output ones."""
        for key in ("tools", "tool_choice", "response_format"):
            if key in kwargs:
                raise InvalidArgumentError(
                    f"{type(self).__name__}: {key} is set by with_structured_output() and cannot be "
                    "given per call"
                )
        if self.anthropic and self.method == "tool":
            self._check_thinking(kwargs.get("thinking"))
        out = {**kwargs, **self._options}
        if self._output_config is not None:
            out["output_format"] = self._output_config
        return out

    # -- calls -----------------------------------------------------------

    async def __call__(
        self, messages: MessagesInput, *, callbacks: Sequence[AnyHandler] | None = None, **kwargs: Any
    ) -> R:
        """Answer one conversation with a validated object (or a :class:`RawResult`).

        Raises :class:`OutputParserError` (:class:`RefusalError`) unless
        ``include_raw``; API errors as any call.
        """
        result = await self.chat.generate([messages], callbacks=callbacks, **self._call_kwargs(dict(kwargs)))
        generation = result.generations[0][0]
        value, error = self._parse(generation, result)
        if self.include_raw:
            parsed = _with_parsed(generation, value, error)
            assert isinstance(parsed, ChatGeneration)
            message = parsed.message
            return cast(R, {"raw": message, "parsed": value, "parsing_error": error})
        if error is not None:
            raise error
        return cast(R, value)

    ainvoke = __call__

    def stream(
        self, messages: MessagesInput, *, callbacks: Sequence[AnyHandler] | None = None, **kwargs: Any
    ) -> StructuredStream[T]:
        """Stream one conversation's answer as growing objects, ending with the validated one.

        Arguments are checked now (InvalidArgumentError); the request is
        sent on the first iteration. See :class:`StructuredStream`.
        """
        stream = self.chat.stream(messages, callbacks=callbacks, **self._call_kwargs(dict(kwargs)))
        return StructuredStream(stream, self)

    astream = stream

    async def generate(
        self,
        messages: Sequence[MessagesInput],
        *,
        callbacks: Sequence[AnyHandler] | None = None,
        max_concurrency: int | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        """Answer every conversation (concurrently, bounded), one object each.

        Returns the ``LLMResult`` with each object in
        ``generation_info["parsed"]`` and ``message.additional_kwargs["parsed"]``.
        The first answer that is not a valid object raises its
        :class:`OutputParserError` (``partial_result``: the whole result);
        with ``include_raw`` nothing is raised and a failed generation has
        ``parsed`` ``None`` and the error in ``generation_info["parsing_error"]``.
        """
        result = await self.chat.generate(
            messages,
            callbacks=callbacks,
            max_concurrency=max_concurrency,
            **self._call_kwargs(dict(kwargs)),
        )
        return self._parsed_result(result, raise_errors=not self.include_raw)

    agenerate = generate

    # -- parsing ---------------------------------------------------------

    def _raw_text(self, generation: Generation) -> str | None:
        """The answer's JSON text, or None when the tool method's call is missing."""
        if self.method == "json_schema":
            return generation.text
        if isinstance(generation, ChatGeneration):
            for call in generation.message.tool_calls:
                if call.name == self._target.name:
                    if call.raw_args is not None:
                        return call.raw_args
                    return json.dumps(call.args, ensure_ascii=False)
        return None

    def _parse(self, generation: Generation, result: LLMResult) -> tuple[Any, OutputParserError | None]:
        """(the validated object or None, the error or None) for one generation."""
        info = generation.generation_info or {}
        finish = info.get("finish_reason")
        normalized = info.get("normalized_finish_reason")
        refusal = info.get("refusal")
        if refusal or normalized == "refusal":
            shown = (refusal or "").strip()
            return None, RefusalError(
                f"the model refused to answer as {self._target.name}" + (f": {shown[:300]}" if shown else ""),
                refusal=refusal or "",
                raw_text=generation.text,
                partial_result=result,
            )
        text = self._raw_text(generation)
        cut = (
            f" (the answer was cut off: finish_reason {finish!r}; raise max_tokens)"
            if normalized == "length"
            else ""
        )
        if text is None:
            return None, OutputParserError(
                f"the model did not call the {self._target.name} tool (finish_reason {finish!r}){cut}",
                raw_text=generation.text,
                partial_result=result,
            )
        try:
            return self._target.validate(text), None
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            problems = "; ".join(
                f"{'.'.join(str(p) for p in item['loc']) or 'answer'}: {item['msg']}" for item in errors[:5]
            )
            more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
            message = f"the answer is not a valid {self._target.name}{cut}: {problems}{more}"
            return None, OutputParserError(message, raw_text=text, errors=list(errors), partial_result=result)
        except ValueError as exc:
            return None, OutputParserError(
                f"the answer is not a valid {self._target.name}{cut}: {exc}",
                raw_text=text,
                partial_result=result,
            )

    def _parsed_result(self, result: LLMResult, *, raise_errors: bool) -> LLMResult:
        """Parse every generation. With ``return_exceptions`` (``result.errors`` set), a
        conversation whose call failed keeps its API error, and one whose answer is
        not a valid object gets its parsing error there instead of raising."""
        errors = list(result.errors) if result.errors is not None else None
        rows: list[list[Generation]] = []
        for index, row in enumerate(result.generations):
            if errors is not None and errors[index] is not None:
                rows.append(row)  # the call failed: its error stands, nothing to parse
                continue
            new_row: list[Generation] = []
            for generation in row:
                value, error = self._parse(generation, result)
                if error is not None and errors is not None:
                    errors[index] = error
                elif error is not None and raise_errors:
                    raise error
                new_row.append(_with_parsed(generation, value, error))
            rows.append(new_row)
        return result.model_copy(update={"generations": rows, "errors": errors})


def _with_parsed(generation: Generation, value: Any, error: OutputParserError | None) -> Generation:
    """A copy of ``generation`` carrying the object (and the error, if any)."""
    info = {**(generation.generation_info or {}), "parsed": value}
    if error is not None:
        info["parsing_error"] = error
    update: dict[str, Any] = {"generation_info": info}
    if isinstance(generation, ChatGeneration):
        message = generation.message
        kwargs = {**message.additional_kwargs, "parsed": value}
        update["message"] = message.model_copy(update={"additional_kwargs": kwargs})
    return generation.model_copy(update=update)


# -- streaming ---------------------------------------------------------------

_OBJECTS, _EVENTS = 1, 2


class StructuredStream(Generic[T]):
    """One structured answer, streamed: ``async for obj in stream`` yields it as it grows.

    The last item is the validated object (``stream.parsed``); an answer
    that does not validate raises :class:`OutputParserError` (a refusal
    :class:`RefusalError`) at the end of iteration. ``events()`` yields the
    stream's typed events instead, each :class:`PartialObject` right after
    the event that grew it (the last one with ``final=True``). An async
    context manager like :class:`~streamkit.ResponseStream`: leaving early
    closes the connection. ``result`` (after the end) is the ``LLMResult``
    with the object in ``generation_info["parsed"]``; ``text`` is the JSON
    received so far.
    """

    def __init__(self, stream: ResponseStream, structured: StructuredChat[T, Any]) -> None:
        self._stream = stream
        self._structured = structured
        self._target = structured._target
        self._tool = structured.method == "tool"
        self._iter: AsyncIterator[Event] | None = None
        self._pending: deque[PartialObject] = deque()
        self._last: Any = _SKIP
        self._call: int | None = None  # the forced tool call's ordinal
        self._parts: list[str] = []
        self._text = ""
        self._result: LLMResult | None = None
        self._parsed: Any = _SKIP
        self._mode = 0
        self._done = False

    # -- public surface --------------------------------------------------

    @property
    def response_stream(self) -> ResponseStream:
        """The underlying stream of the answer."""
        return self._stream

    @property
    def run_id(self) -> Any:
        """The id handlers receive as ``run_id``."""
        return self._stream.run_id

    @property
    def text(self) -> str:
        """The answer's JSON text received so far (the tool call's arguments, for the tool method)."""
        return self._text

    @property
    def finished(self) -> bool:
        """True once the stream ended with a valid object."""
        return self._result is not None

    @property
    def parsed(self) -> T:
        """The validated object; StreamStateError before the stream ended with one."""
        if self._parsed is _SKIP:
            raise StreamStateError("the structured stream has not produced its final object yet")
        return cast(T, self._parsed)

    @property
    def result(self) -> LLMResult:
        """The final ``LLMResult`` with the object; StreamStateError before the end."""
        if self._result is None:
            raise StreamStateError(
                "the stream has not finished: iterate it to the end first; partial_result holds what "
                "has arrived so far"
            )
        return self._result

    @property
    def partial_result(self) -> LLMResult:
        """What has arrived so far, as an ``LLMResult``."""
        return self._result or self._stream.partial_result

    def __aiter__(self) -> StructuredStream[T]:
        self._claim(_OBJECTS)
        return self

    async def __anext__(self) -> T:
        while True:
            item = await self._next()
            if isinstance(item, PartialObject):
                return cast(T, item.value)

    def events(self) -> AsyncIterator[Event | PartialObject]:
        """The typed events of the answer, with a :class:`PartialObject` whenever the object grew."""
        self._claim(_EVENTS)
        return _StructuredEvents(self)

    async def collect(self) -> LLMResult:
        """Read to the end and return ``result`` (raises like iteration)."""
        if self._result is None:
            if not self._mode:
                self._claim(_OBJECTS)
            while True:
                try:
                    await self._next()
                except StopAsyncIteration:
                    break
        return self.result

    async def aclose(self) -> None:
        """Stop: close the HTTP connection now (see ``ResponseStream.aclose``)."""
        self._done = True
        self._pending.clear()
        await self._stream.aclose()

    async def __aenter__(self) -> StructuredStream[T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- the engine ------------------------------------------------------

    def _claim(self, mode: int) -> None:
        if self._mode and self._mode != mode:
            raise StreamStateError(
                "this structured stream is already being read another way (objects or events()); pick one"
            )
        self._mode = mode

    async def _next(self) -> Event | PartialObject:
        if self._pending:
            return self._pending.popleft()
        if self._done:
            raise StopAsyncIteration
        if self._iter is None:
            self._iter = self._stream.events()
        try:
            event = await self._iter.__anext__()
        except StopAsyncIteration:
            self._done = True
            return self._finish()
        partial = self._feed(event)
        if partial is None:
            return event
        if self._mode == _EVENTS:
            self._pending.append(partial)
            return event
        return partial

    def _feed(self, event: Event) -> PartialObject | None:
        """The partial object this event grew, if it did."""
        cls = event.__class__
        if self._tool:
            if cls is ToolCallStart:
                start = cast(ToolCallStart, event)
                if self._call is None and start.index == 0 and start.name == self._target.name:
                    self._call = start.call_index
                return None
            if cls is not ToolCallDelta:
                return None
            delta = cast(ToolCallDelta, event)
            if delta.index != 0 or delta.call_index != self._call:
                return None
            self._text = delta.arguments_so_far
        else:
            if cls is not TextDelta or cast(TextDelta, event).index != 0:
                return None
            self._parts.append(cast(TextDelta, event).text)
            self._text = "".join(self._parts)
        value = self._target.partial_value(self._text)
        if value is _SKIP or value == self._last:
            return None
        self._last = value
        return PartialObject(value)

    def _finish(self) -> PartialObject:
        result = self._stream.result
        generation = result.generations[0][0]
        value, error = self._structured._parse(generation, result)
        if error is not None:
            raise error
        self._parsed = value
        first = [_with_parsed(generation, value, None), *result.generations[0][1:]]
        self._result = result.model_copy(update={"generations": [first, *result.generations[1:]]})
        return PartialObject(value, final=True)


class _StructuredEvents:
    """``StructuredStream.events()``."""

    __slots__ = ("_stream",)

    def __init__(self, stream: StructuredStream[Any]) -> None:
        self._stream = stream

    def __aiter__(self) -> _StructuredEvents:
        return self

    async def __anext__(self) -> Event | PartialObject:
        return await self._stream._next()
