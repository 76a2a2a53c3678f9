"""Request validation for the mock server: reject what the real APIs reject.

:func:`check_openai_chat` and :func:`check_anthropic` look at a request
body's messages and content blocks the way each provider's API does, and
return the error body the provider answers with (HTTP 400), or ``None``:

* OpenAI Chat Completions: ``{"error": {"message", "type":
  "invalid_request_error", "param", "code"}}``, with OpenAI's wording
  (``Invalid value: 'image'. Supported values are: ...``, ``Missing required
  parameter: 'messages[0].content[1].image_url'.``) and its bracketed
  ``param`` paths;
* Anthropic Messages: ``{"type": "error", "error": {"type":
  "invalid_request_error", "message"}}``, with Anthropic's dotted paths and
  wording (``messages.0.content.1: Input tag 'image_url' found using 'type'
  does not match any of the expected tags: ...``,
  ``messages.0.content.0.image.source.base64.media_type: Input should be
  'image/jpeg', 'image/png', 'image/gif' or 'image/webp'``).

What is checked, from each provider's request schema
(https://platform.openai.com/docs/api-reference/chat/create,
https://docs.anthropic.com/en/api/messages, and the official SDKs' request
types generated from those schemas): roles; the part/block types each role
may carry; the required fields of each type; image and document source
types and media types; ``cache_control`` (``ephemeral``, ttl ``5m``/``1h``,
at most 4 breakpoints); Anthropic's non-empty content and text rules and
that ``tool_result`` sits in user turns, ``tool_use`` in assistant turns.

Lenient where the APIs are: OpenAI ignores unknown keys on most objects (it
rejects some only for some models), so unknown keys pass there; Anthropic
rejects unknown keys (``Extra inputs are not permitted``) and this does too
on the blocks it models in full (text, image, document, tool_use,
tool_result, thinking, search_result and the sources); consecutive
same-role turns pass (Anthropic merges them). With an ``anthropic-beta``
header, block types and sources this module does not know (beta features,
Files API ``file`` sources) pass. Whether tool calls and results pair up is
not checked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["check_anthropic", "check_openai_chat"]

# -- OpenAI ----------------------------------------------------------------

_OPENAI_ROLES = ("system", "assistant", "user", "function", "tool", "developer")
#: The part types OpenAI lists when a type is unknown.
_OPENAI_ALL_PARTS = ("text", "image_url", "input_audio", "refusal", "audio", "file")
_OPENAI_PARTS = {
    "system": ("text",),
    "developer": ("text",),
    "tool": ("text",),
    "user": ("text", "image_url", "input_audio", "file"),
    "assistant": ("text", "refusal"),
}
_IMAGE_DATA_URL = re.compile(r"data:image/[a-zA-Z0-9.+-]+(;[^,]*)?;base64,", re.I)


def _values(values: tuple[str, ...]) -> str:
    """OpenAI's list: 'a', 'b', and 'c'."""
    quoted = [f"'{v}'" for v in values]
    if len(quoted) == 1:
        return quoted[0]
    return ", ".join(quoted[:-1]) + (", and " if len(quoted) > 2 else " and ") + quoted[-1]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {
        str: "a string",
        int: "an integer",
        float: "a number",
        list: "an array",
        dict: "an object",
    }.get(type(value), "a value")


class _OpenAIError(Exception):
    def __init__(self, message: str, param: str | None, code: str | None) -> None:
        super().__init__(message)
        self.body = {
            "error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}
        }


def _missing(param: str) -> _OpenAIError:
    return _OpenAIError(f"Missing required parameter: '{param}'.", param, "missing_required_parameter")


def _invalid_value(param: str, value: Any, allowed: tuple[str, ...]) -> _OpenAIError:
    return _OpenAIError(
        f"Invalid value: '{value}'. Supported values are: {_values(allowed)}.", param, "invalid_value"
    )


def _invalid_type(param: str, expected: str, value: Any) -> _OpenAIError:
    return _OpenAIError(
        f"Invalid type for '{param}': expected {expected}, but got {_json_type(value)} instead.",
        param,
        "invalid_type",
    )


def _need_string(obj: Mapping[str, Any], key: str, param: str) -> str:
    if key not in obj or obj[key] is None:
        raise _missing(f"{param}.{key}")
    value = obj[key]
    if not isinstance(value, str):
        raise _invalid_type(f"{param}.{key}", "a string", value)
    return value


def _need_object(obj: Mapping[str, Any], key: str, param: str) -> dict[str, Any]:
    if key not in obj or obj[key] is None:
        raise _missing(f"{param}.{key}")
    value = obj[key]
    if not isinstance(value, dict):
        raise _invalid_type(f"{param}.{key}", "an object", value)
    return value


def check_openai_chat(body: Any) -> dict[str, Any] | None:
    """The 400 error body OpenAI answers this Chat Completions request with, or ``None``."""
    try:
        _openai_body(body)
    except _OpenAIError as exc:
        return exc.body
    return None


def _openai_body(body: Any) -> None:
    if not isinstance(body, dict):
        raise _OpenAIError(
            "We could not parse the JSON body of your request. The OpenAI API expects a JSON payload.",
            None,
            None,
        )
    if not body.get("model"):
        raise _OpenAIError("you must provide a model parameter", None, None)
    if "messages" not in body:
        raise _missing("messages")
    messages = body["messages"]
    if not isinstance(messages, list):
        raise _invalid_type("messages", "an array of objects", messages)
    if not messages:
        raise _OpenAIError(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            "messages",
            "empty_array",
        )
    for i, message in enumerate(messages):
        _openai_message(message, f"messages[{i}]")


def _openai_message(message: Any, param: str) -> None:
    if not isinstance(message, dict):
        raise _invalid_type(param, "an object", message)
    if "role" not in message:
        raise _missing(f"{param}.role")
    role = message["role"]
    if role not in _OPENAI_ROLES:
        raise _invalid_value(f"{param}.role", role, _OPENAI_ROLES)
    content = message.get("content")
    if role == "assistant":
        calls = message.get("tool_calls")
        if calls is not None:
            _openai_tool_calls(calls, f"{param}.tool_calls")
        if content is None and not calls and message.get("function_call") is None:
            raise _missing(f"{param}.content")
    elif role == "function":
        _need_string(message, "name", param)
        return
    elif "content" not in message:
        raise _missing(f"{param}.content")
    if role == "tool":
        _need_string(message, "tool_call_id", param)
    if content is None and role == "assistant":
        return
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise _invalid_type(f"{param}.content", "one of a string or array of objects", content)
    if not content:
        raise _OpenAIError(
            f"Invalid '{param}.content': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            f"{param}.content",
            "empty_array",
        )
    for j, part in enumerate(content):
        _openai_part(part, f"{param}.content[{j}]", role)


def _openai_tool_calls(calls: Any, param: str) -> None:
    if not isinstance(calls, list):
        raise _invalid_type(param, "an array of objects", calls)
    for k, call in enumerate(calls):
        where = f"{param}[{k}]"
        if not isinstance(call, dict):
            raise _invalid_type(where, "an object", call)
        _need_string(call, "id", where)
        kind = _need_string(call, "type", where)
        if kind not in ("function", "custom"):
            raise _invalid_value(f"{where}.type", kind, ("function", "custom"))
        function = _need_object(call, kind, where)
        _need_string(function, "name", f"{where}.{kind}")
        if kind == "function":
            _need_string(function, "arguments", f"{where}.function")


def _openai_part(part: Any, param: str, role: str) -> None:
    if not isinstance(part, dict):
        raise _invalid_type(param, "an object", part)
    kind = _need_string(part, "type", param)
    allowed = _OPENAI_PARTS[role]
    if kind not in allowed:
        # For a user message OpenAI lists every part type it knows; otherwise the role's own.
        raise _invalid_value(f"{param}.type", kind, _OPENAI_ALL_PARTS if role == "user" else allowed)
    if kind == "text":
        _need_string(part, "text", param)
    elif kind == "refusal":
        _need_string(part, "refusal", param)
    elif kind == "image_url":
        image = _need_object(part, "image_url", param)
        url = _need_string(image, "url", f"{param}.image_url")
        detail = image.get("detail")
        if detail is not None and detail not in ("auto", "low", "high"):
            raise _invalid_value(f"{param}.image_url.detail", detail, ("auto", "low", "high"))
        if url.startswith("data:"):
            if not _IMAGE_DATA_URL.match(url):
                raise _OpenAIError(
                    f"Invalid '{param}.image_url.url'. Expected a base64-encoded data URL with an image MIME "
                    "type (e.g. 'data:image/png;base64,aW1nIGJ5dGVzIGhlcmU='), but got an unsupported value.",
                    f"{param}.image_url.url",
                    "invalid_value",
                )
        elif not url.lower().startswith(("http://", "https://")):
            raise _OpenAIError(
                f"Invalid '{param}.image_url.url'. Expected a valid URL, "
                "but got a value with an invalid format.",
                f"{param}.image_url.url",
                "invalid_value",
            )
    elif kind == "input_audio":
        audio = _need_object(part, "input_audio", param)
        _need_string(audio, "data", f"{param}.input_audio")
        fmt = _need_string(audio, "format", f"{param}.input_audio")
        if fmt not in ("wav", "mp3"):
            raise _invalid_value(f"{param}.input_audio.format", fmt, ("wav", "mp3"))
    elif kind == "file":
        file = _need_object(part, "file", param)
        if file.get("file_data") is None and file.get("file_id") is None:
            raise _missing(f"{param}.file.file_id")
        for key in ("file_data", "file_id", "filename"):
            if file.get(key) is not None and not isinstance(file[key], str):
                raise _invalid_type(f"{param}.file.{key}", "a string", file[key])


# -- Anthropic -------------------------------------------------------------

#: Every block type the Messages API takes in a message (its
#: ``ContentBlockParam`` union and the response blocks it accepts back).
_ANTHROPIC_BLOCKS = (
    "bash_code_execution_tool_result",
    "code_execution_tool_result",
    "container_upload",
    "document",
    "image",
    "mid_conv_system",
    "redacted_thinking",
    "search_result",
    "server_tool_use",
    "text",
    "text_editor_code_execution_tool_result",
    "thinking",
    "tool_result",
    "tool_search_tool_result",
    "tool_use",
    "web_fetch_tool_result",
    "web_search_tool_result",
)
_TOOL_RESULT_BLOCKS = ("document", "image", "search_result", "text")
_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
#: Blocks modelled in full: their allowed keys (anything else is an extra input).
_BLOCK_KEYS: dict[str, tuple[str, ...]] = {
    "text": ("type", "text", "cache_control", "citations"),
    "image": ("type", "source", "cache_control"),
    "document": ("type", "source", "cache_control", "citations", "context", "title"),
    "tool_result": ("type", "tool_use_id", "content", "is_error", "cache_control"),
    "tool_use": ("type", "id", "name", "input", "cache_control", "caller"),
    "thinking": ("type", "thinking", "signature"),
    "redacted_thinking": ("type", "data"),
    "search_result": ("type", "content", "source", "title", "cache_control", "citations"),
}
#: Required fields (beyond ``type``) of the blocks modelled by presence only.
_REQUIRED: dict[str, tuple[str, ...]] = {
    "server_tool_use": ("id", "name", "input"),
    "web_search_tool_result": ("tool_use_id", "content"),
    "web_fetch_tool_result": ("tool_use_id", "content"),
    "code_execution_tool_result": ("tool_use_id", "content"),
    "bash_code_execution_tool_result": ("tool_use_id", "content"),
    "text_editor_code_execution_tool_result": ("tool_use_id", "content"),
    "tool_search_tool_result": ("tool_use_id", "content"),
    "container_upload": ("file_id",),
    "mid_conv_system": ("content",),
}
_SOURCES = {
    "image": ("base64", "url"),
    "document": ("base64", "content", "text", "url"),
}
_SOURCE_KEYS = {
    "base64": ("type", "media_type", "data"),
    "url": ("type", "url"),
    "text": ("type", "media_type", "data"),
    "content": ("type", "content"),
    "file": ("type", "file_id"),
}
_MAX_CACHE_BREAKPOINTS = 4


class _AnthropicError(Exception):
    @property
    def body(self) -> dict[str, Any]:
        return {"type": "error", "error": {"type": "invalid_request_error", "message": str(self)}}


def _should(values: tuple[str, ...]) -> str:
    """Anthropic's (pydantic's) list: 'a', 'b' or 'c'."""
    quoted = [f"'{v}'" for v in values]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _tags(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in sorted(values))


class _Anthropic:
    def __init__(self, beta: bool) -> None:
        self.beta = beta
        self.breakpoints = 0

    def body(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise _AnthropicError("Input should be a valid dictionary")
        for key in ("model", "max_tokens", "messages"):
            if key not in body:
                raise _AnthropicError(f"{key}: Field required")
        system = body.get("system")
        if system is not None:
            self.system(system)
        messages = body["messages"]
        if not isinstance(messages, list):
            raise _AnthropicError("messages: Input should be a valid list")
        if not messages:
            raise _AnthropicError("messages: at least one message is required")
        for i, message in enumerate(messages):
            self.message(message, i, last=i == len(messages) - 1)
        for k, tool in enumerate(body.get("tools") or []):
            if isinstance(tool, dict) and tool.get("cache_control") is not None:
                self.cache_control(tool["cache_control"], f"tools.{k}.cache_control")
        if self.breakpoints > _MAX_CACHE_BREAKPOINTS:
            raise _AnthropicError(
                f"A maximum of {_MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. "
                f"Found {self.breakpoints}."
            )

    def system(self, system: Any) -> None:
        if isinstance(system, str):
            return
        if not isinstance(system, list):
            raise _AnthropicError("system: Input should be a valid string or a valid list")
        for k, block in enumerate(system):
            path = f"system.{k}"
            kind = self.tag(block, path, ("text",))
            self.block(block, kind, path, "system")

    def message(self, message: Any, i: int, *, last: bool) -> None:
        path = f"messages.{i}"
        if not isinstance(message, dict):
            raise _AnthropicError(
                f"{path}: Input should be a valid dictionary or object to extract fields from"
            )
        for key in ("role", "content"):
            if key not in message:
                raise _AnthropicError(f"{path}.{key}: Field required")
        for key in message:
            if key not in ("role", "content"):
                raise _AnthropicError(f"{path}.{key}: Extra inputs are not permitted")
        role = message["role"]
        if role == "system":
            raise _AnthropicError(
                'messages: Unexpected role "system". The Messages API accepts a top-level `system` '
                'parameter, not "system" as an input message role.'
            )
        if role not in ("user", "assistant"):
            raise _AnthropicError(f"{path}.role: Input should be 'user' or 'assistant'")
        content = message["content"]
        if isinstance(content, str):
            blocks: list[Any] = []
        elif isinstance(content, list):
            blocks = content
        else:
            raise _AnthropicError(f"{path}.content: Input should be a valid string or a valid list")
        if not content and not (last and role == "assistant"):
            raise _AnthropicError(
                f"{path}: all messages must have non-empty content "
                "except for the optional final assistant message"
            )
        for j, block in enumerate(blocks):
            where = f"{path}.content.{j}"
            kind = self.tag(block, where, _ANTHROPIC_BLOCKS)
            if kind == "tool_result" and role != "user":
                raise _AnthropicError(f"{path}: `tool_result` blocks can only be in `user` messages")
            if kind == "tool_use" and role != "assistant":
                raise _AnthropicError(f"{path}: `tool_use` blocks can only be in `assistant` messages")
            self.block(block, kind, where, "messages")

    def tag(self, block: Any, path: str, allowed: tuple[str, ...]) -> str | None:
        """The block's ``type`` if one of ``allowed``; ``None`` for an unknown type let through (beta)."""
        if not isinstance(block, dict):
            raise _AnthropicError(
                f"{path}: Input should be a valid dictionary or object to extract fields from"
            )
        kind = block.get("type")
        if not isinstance(kind, str):
            raise _AnthropicError(f"{path}: Unable to extract tag using discriminator 'type'")
        if kind in allowed:
            return kind
        if self.beta and allowed is _ANTHROPIC_BLOCKS:
            return None
        raise _AnthropicError(
            f"{path}: Input tag '{kind}' found using 'type' does not match any of the expected tags: "
            f"{_tags(allowed)}"
        )

    def block(self, block: dict[str, Any], kind: str | None, path: str, area: str) -> None:
        if kind is None:
            return
        where = f"{path}.{kind}"
        keys = _BLOCK_KEYS.get(kind)
        if keys is not None:
            for key in block:
                if key not in keys:
                    raise _AnthropicError(f"{where}.{key}: Extra inputs are not permitted")
        if block.get("cache_control") is not None:
            self.cache_control(block["cache_control"], f"{where}.cache_control")
        if kind == "text":
            text = self.string(block, "text", where)
            if not text:
                raise _AnthropicError(f"{area}: text content blocks must be non-empty")
        elif kind in ("image", "document"):
            self.source(block, kind, where)
        elif kind == "tool_result":
            self.string(block, "tool_use_id", where)
            content = block.get("content")
            if content is not None and not isinstance(content, str):
                if not isinstance(content, list):
                    raise _AnthropicError(f"{where}.content: Input should be a valid string or a valid list")
                for k, inner in enumerate(content):
                    inner_path = f"{where}.content.{k}"
                    self.block(inner, self.tag(inner, inner_path, _TOOL_RESULT_BLOCKS), inner_path, area)
            if "is_error" in block and not isinstance(block["is_error"], bool):
                raise _AnthropicError(f"{where}.is_error: Input should be a valid boolean")
        elif kind == "tool_use":
            self.string(block, "id", where)
            self.string(block, "name", where)
            if not isinstance(block.get("input"), dict):
                raise _AnthropicError(
                    f"{where}.input: "
                    + ("Field required" if "input" not in block else "Input should be a valid dictionary")
                )
        elif kind == "thinking":
            self.string(block, "thinking", where)
            self.string(block, "signature", where)
        elif kind == "redacted_thinking":
            self.string(block, "data", where)
        elif kind == "search_result":
            self.string(block, "source", where)
            self.string(block, "title", where)
            content = block.get("content")
            if not isinstance(content, list):
                raise _AnthropicError(
                    f"{where}.content: "
                    + ("Field required" if content is None else "Input should be a valid list")
                )
            for k, inner in enumerate(content):
                inner_path = f"{where}.content.{k}"
                self.block(inner, self.tag(inner, inner_path, ("text",)), inner_path, area)
        else:
            for key in _REQUIRED.get(kind, ()):
                if key not in block:
                    raise _AnthropicError(f"{where}.{key}: Field required")

    def source(self, block: dict[str, Any], kind: str, where: str) -> None:
        if "source" not in block:
            raise _AnthropicError(f"{where}.source: Field required")
        source = block["source"]
        path = f"{where}.source"
        if not isinstance(source, dict):
            raise _AnthropicError(
                f"{path}: Input should be a valid dictionary or object to extract fields from"
            )
        source_type = source.get("type")
        if not isinstance(source_type, str):
            raise _AnthropicError(f"{path}: Unable to extract tag using discriminator 'type'")
        allowed = _SOURCES[kind]
        if source_type not in allowed and not (self.beta and source_type == "file"):
            raise _AnthropicError(
                f"{path}: Input tag '{source_type}' found using 'type' does not match any of the "
                f"expected tags: {_tags(allowed)}"
            )
        at = f"{path}.{source_type}"
        for key in source:
            if key not in _SOURCE_KEYS[source_type]:
                raise _AnthropicError(f"{at}.{key}: Extra inputs are not permitted")
        if source_type == "base64":
            media = self.string(source, "media_type", at)
            self.string(source, "data", at)
            accepted = _IMAGE_TYPES if kind == "image" else ("application/pdf",)
            if media not in accepted:
                raise _AnthropicError(f"{at}.media_type: Input should be {_should(accepted)}")
        elif source_type == "url":
            self.string(source, "url", at)
        elif source_type == "text":
            if self.string(source, "media_type", at) != "text/plain":
                raise _AnthropicError(f"{at}.media_type: Input should be 'text/plain'")
            self.string(source, "data", at)
        elif source_type == "content":
            content = source.get("content")
            if isinstance(content, list):
                for k, inner in enumerate(content):
                    inner_path = f"{at}.content.{k}"
                    self.block(inner, self.tag(inner, inner_path, ("image", "text")), inner_path, "messages")
            elif not isinstance(content, str):
                raise _AnthropicError(
                    f"{at}.content: "
                    + ("Field required" if content is None else "Input should be a valid list")
                )
        elif source_type == "file":
            self.string(source, "file_id", at)

    def cache_control(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise _AnthropicError(
                f"{path}: Input should be a valid dictionary or object to extract fields from"
            )
        if value.get("type") != "ephemeral":
            raise _AnthropicError(f"{path}.type: Input should be 'ephemeral'")
        ttl = value.get("ttl")
        if ttl is not None and ttl not in ("5m", "1h"):
            raise _AnthropicError(f"{path}.ttl: Input should be '5m' or '1h'")
        for key in value:
            if key not in ("type", "ttl"):
                raise _AnthropicError(f"{path}.{key}: Extra inputs are not permitted")
        self.breakpoints += 1

    @staticmethod
    def string(obj: dict[str, Any], key: str, path: str) -> str:
        if key not in obj:
            raise _AnthropicError(f"{path}.{key}: Field required")
        value = obj[key]
        if not isinstance(value, str):
            raise _AnthropicError(f"{path}.{key}: Input should be a valid string")
        return value


def check_anthropic(body: Any, headers: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """The 400 error body Anthropic answers this Messages request with, or ``None``.

    ``headers``: the request's; an ``anthropic-beta`` header lets unknown
    block types and Files API sources through.
    """
    beta = any(k.lower() == "anthropic-beta" for k in (headers or {}))
    try:
        _Anthropic(beta).body(body)
    except _AnthropicError as exc:
        return exc.body
    return None
