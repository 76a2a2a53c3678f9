"""Content parts in: the shapes users write, checked, and each provider's wire form.

A ``HumanMessage``/``SystemMessage``/``ToolMessage`` may carry a list of
parts instead of a string. Accepted shapes (a bare ``str`` in the list is
a text part):

* text: ``{"type": "text", "text": "..."}``;
* OpenAI's image part: ``{"type": "image_url", "image_url": {"url": URL,
  "detail"?: "auto"|"low"|"high"}}`` where ``URL`` is ``http(s)://...`` or a
  ``data:image/png;base64,...`` URL (``"image_url": "..."`` as a bare
  string is accepted too, as LangChain does);
* OpenAI's file part: ``{"type": "file", "file": {"file_data":
  "data:application/pdf;base64,...", "filename"?}}`` or ``{"file": {"file_id": ...}}``;
* OpenAI's ``{"type": "input_audio", ...}`` (OpenAI only, passed through);
* LangChain's standard blocks, v0: ``{"type": "image"|"file", "source_type":
  "url"|"base64"|"id", "url"?, "data"?, "mime_type"?, "id"?}`` (a file's
  name in ``"filename"`` or ``"metadata": {"filename"}``), and v1:
  ``{"type": "image"|"file", "url"|"base64"|"file_id": ..., "mime_type"?,
  "filename"?, "extras"?}``;
* Anthropic's own blocks: ``{"type": "image", "source": {...}}``,
  ``{"type": "document", "source": {...}, "title"?, "context"?,
  "citations"?}``, ``{"type": "search_result", ...}``: sent to Anthropic
  exactly as written.

A ``file`` part is a document (a PDF, or plain text for Anthropic).

``cache_control`` (on the part, or in a v1 block's ``extras``) is kept for
Anthropic, and **dropped for OpenAI**, which caches prompt prefixes by
itself and rejects unknown keys on parts for some models
(``Unknown parameter: 'messages[0].content[0].cache_control'``): the same
message list can be sent to either provider.

What each provider receives:

==================  ==========================================  =========================================
part                OpenAI Chat Completions                     Anthropic Messages
==================  ==========================================  =========================================
text                ``{"type": "text", "text"}``                ``{"type": "text", "text", cache_control?}``
image, URL          ``image_url`` ``{"url", "detail"?}``        ``image`` ``source: {"type": "url", "url"}``
image, base64       ``image_url`` with a ``data:`` URL          ``image`` ``source: {"type": "base64",
                                                                "media_type", "data"}``
image, file id      rejected (chat takes no image file ids)     ``image`` ``source: {"type": "file",
                                                                "file_id"}`` (Files API beta header)
document, base64    ``file`` ``{"file_data": data URL,          ``document`` ``source: base64`` (PDF) or
                    "filename"}``                               ``text`` (``text/plain``)
document, URL       rejected (chat takes no file URLs)          ``document`` ``source: {"type": "url"}``
document, file id   ``file`` ``{"file_id"}``                    ``document`` ``source: {"type": "file"}``
==================  ==========================================  =========================================

Sources: OpenAI's request schema for chat messages (system, developer and
tool messages take text parts only; user messages take text, image_url,
input_audio and file parts: https://platform.openai.com/docs/api-reference/chat/create,
and PDF inputs as ``file_data`` data URLs with a ``filename``:
https://platform.openai.com/docs/guides/pdf-files?api-mode=chat); Anthropic's
(image sources ``base64`` with ``media_type`` image/jpeg, image/png,
image/gif or image/webp, or ``url``; document sources ``base64``
(application/pdf), ``text`` (text/plain), ``content`` or ``url``;
``system`` a string or a list of text blocks; ``tool_result`` content text,
image, document or search_result blocks:
https://docs.anthropic.com/en/api/messages, https://docs.anthropic.com/en/docs/build-with-claude/vision,
https://docs.anthropic.com/en/docs/build-with-claude/pdf-support).

A part a provider cannot take raises :class:`~streamkit.errors.InvalidArgumentError`
naming the message and part (``messages[1].content[2]``) and what is wrong,
when the request is built, so before anything is sent.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import re
from dataclasses import dataclass
from typing import Any, Literal

from .errors import InvalidArgumentError

__all__ = [
    "ANTHROPIC_IMAGE_TYPES",
    "Part",
    "anthropic_blocks",
    "openai_parts",
    "parse_content",
    "parse_data_url",
    "parse_part",
    "where_type",
]

#: The image media types Anthropic accepts (its ``Base64ImageSource.media_type``).
ANTHROPIC_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
#: OpenAI's image ``detail`` values.
_DETAILS = ("auto", "low", "high")
#: The part types this module understands, for error messages.
_KNOWN = ("text", "image_url", "image", "file", "document", "input_audio", "search_result")

_DATA_URL = re.compile(
    r"data:([a-zA-Z0-9.+-]+/[a-zA-Z0-9.+-]+)((?:;[a-zA-Z0-9.+_-]+=[^;,]*)*);base64,(.*)", re.S
)
#: The standard base64 alphabet, for ``bytes.translate(None, ...)``: 4x faster than a regex on megabytes.
_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

Kind = Literal["text", "image", "document", "audio", "native"]


@dataclass(slots=True)
class Part:
    """One content part, whatever shape it was written in.

    ``kind`` is ``text``, ``image``, ``document``, ``audio`` (OpenAI's
    ``input_audio``, passed through) or ``native`` (an Anthropic-only block
    such as ``search_result``). An image or document has exactly one of
    ``url`` (http(s)), ``data`` (base64, with ``mime_type``) or
    ``file_id``. ``raw`` is the part as written when it already is one
    provider's wire form (``origin``), so that provider gets it unchanged.
    """

    kind: Kind
    where: str
    type: str
    text: str = ""
    url: str | None = None
    data: str | None = None
    mime_type: str | None = None
    file_id: str | None = None
    filename: str | None = None
    detail: str | None = None
    cache_control: dict[str, Any] | None = None
    anthropic_extra: dict[str, Any] | None = None
    origin: Literal["openai", "anthropic"] | None = None
    raw: dict[str, Any] | None = None
    #: An Anthropic document source this module does not convert (``text``, ``content``).
    source_type: str | None = None


def _bad(where: str, problem: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"invalid argument: {where}: {problem}")


def where_type(kind: Any) -> str:
    """``(a 'file' part)`` for error messages."""
    if not isinstance(kind, str):
        return "a part"
    return f"{'an' if kind[:1] in 'aeiou' else 'a'} {kind!r} part"


def _string(value: Any, where: str, name: str, *, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        got = "missing" if value is None else f"{type(value).__name__} {str(value)[:40]!r}"
        raise _bad(where, f"{name} must be a non-empty string, got {got}")
    return value


def _check_base64(data: str, where: str, name: str) -> None:
    if not data:
        raise _bad(where, f"{name} is empty")
    body = data.rstrip("=")
    padding = len(data) - len(body)
    if padding > 2 or not body.isascii() or body.encode("ascii").translate(None, _BASE64_ALPHABET):
        bad = next((c for c in body if not (c.isascii() and (c.isalnum() or c in "+/"))), "=")
        raise _bad(
            where,
            f"{name} is not base64 (standard alphabet A-Z a-z 0-9 + /, '=' padding only at the end; "
            f"found {bad!r})",
        )


def parse_data_url(url: str, where: str, name: str) -> tuple[str, str]:
    """(mime type, base64 data) of ``data:<type>/<subtype>[;param=v];base64,<data>``.

    Raises :class:`InvalidArgumentError` for anything else (no ``;base64``
    marker, no media type, data outside the base64 alphabet).
    """
    match = _DATA_URL.fullmatch(url)
    if match is None:
        raise _bad(
            where,
            f"{name} is a malformed data URL ({url[:40]!r}...): expected "
            "'data:<type>/<subtype>;base64,<data>', e.g. 'data:image/png;base64,iVBORw0...'",
        )
    mime, _params, data = match.groups()
    _check_base64(data, where, f"{name}'s data")
    return mime.lower(), data


def _http_url(url: str, where: str, name: str) -> str:
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme not in ("http", "https") or not url.split(":", 1)[1].startswith("//"):
        raise _bad(where, f"{name} must be an http(s) URL or a data: URL, got {url[:60]!r}")
    return url


def _cache_control(part: dict[str, Any], extras: dict[str, Any], where: str) -> dict[str, Any] | None:
    value = part.get("cache_control", extras.get("cache_control"))
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad(where, f"cache_control must be an object such as {{'type': 'ephemeral'}}, got {value!r}")
    return value


def _extras(part: dict[str, Any], where: str) -> dict[str, Any]:
    extras: dict[str, Any] = {}
    for key in ("metadata", "extras"):
        value = part.get(key)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise _bad(where, f"{key} must be an object, got {type(value).__name__}")
        extras.update(value)
    return extras


def _document_extra(part: dict[str, Any], extras: dict[str, Any]) -> dict[str, Any] | None:
    """Anthropic document fields (``title``, ``context``, ``citations``) given on a part."""
    extra = {k: part.get(k, extras.get(k)) for k in ("title", "context", "citations")}
    extra = {k: v for k, v in extra.items() if v is not None}
    return extra or None


def parse_part(part: Any, where: str) -> Part:
    """One content part, checked, in a provider-neutral form.

    ``where`` names it in errors (``messages[1].content[2]``). Raises
    :class:`InvalidArgumentError` for a part of unknown type or with a
    missing/malformed field.
    """
    if isinstance(part, str):
        return Part("text", where, "text", text=part)
    if not isinstance(part, dict):
        raise _bad(where, f"a content part must be a dict or a str, not {type(part).__name__}")
    kind = part.get("type")
    where_kind = f"{where} ({where_type(kind)})"
    extras = _extras(part, where_kind)
    cache = _cache_control(part, extras, where_kind)
    if kind == "text":
        text = part.get("text")
        if not isinstance(text, str):
            raise _bad(where_kind, f"text must be a string, got {type(text).__name__}")
        anthropic_extra = {"citations": part["citations"]} if part.get("citations") is not None else None
        return Part("text", where, kind, text=text, cache_control=cache, anthropic_extra=anthropic_extra)
    if kind == "image_url":
        return _openai_image(part, where_kind, cache)
    if kind == "file" and "file" in part:
        return _openai_file(part, where_kind, cache)
    if kind in ("image", "document") and "source" in part:
        return _anthropic_native(part, kind, where_kind, cache)
    if kind in ("image", "file"):
        return _standard(part, kind, where_kind, extras, cache)
    if kind == "input_audio":
        if not isinstance(part.get("input_audio"), dict):
            raise _bad(where_kind, "input_audio must be an object {'data': base64, 'format': 'wav'|'mp3'}")
        return Part("audio", where, kind, origin="openai", raw=part, cache_control=cache)
    if kind == "search_result":
        return Part("native", where, kind, origin="anthropic", raw=part, cache_control=cache)
    if kind == "document":
        raise _bad(where_kind, "a document part needs a 'source' (Anthropic's form) or use a 'file' part")
    if not isinstance(kind, str):
        raise _bad(
            where, f"a content part needs a string 'type' (one of {', '.join(_KNOWN)}); got {part!r:.80}"
        )
    raise _bad(where_kind, f"unknown part type {kind!r}; accepted: {', '.join(_KNOWN)}")


def _openai_image(part: dict[str, Any], where: str, cache: dict[str, Any] | None) -> Part:
    value = part.get("image_url")
    detail = None
    # Written in OpenAI's own form: OpenAI gets it unchanged (a bare-string
    # image_url, as LangChain accepts, is rebuilt into the object form).
    raw = part if isinstance(value, dict) else None
    origin: Literal["openai"] | None = "openai" if raw is not None else None
    if isinstance(value, dict):
        url = value.get("url")
        detail = value.get("detail")
        if detail is not None and detail not in _DETAILS:
            raise _bad(where, f"image_url.detail must be one of {', '.join(_DETAILS)}, got {detail!r}")
    else:
        url = value
    url = _string(url, where, "image_url.url")
    assert url is not None
    if url.startswith("data:"):
        mime, data = parse_data_url(url, where, "image_url.url")
        if not mime.startswith("image/"):
            raise _bad(where, f"image_url.url is a {mime!r} data URL: use a 'file' part for documents")
        return Part(
            "image", where, "image_url", data=data, mime_type=mime, detail=detail, cache_control=cache,
            origin=origin, raw=raw,
        )  # fmt: skip
    return Part(
        "image", where, "image_url", url=_http_url(url, where, "image_url.url"), detail=detail,
        cache_control=cache, origin=origin, raw=raw,
    )  # fmt: skip


def _openai_file(part: dict[str, Any], where: str, cache: dict[str, Any] | None) -> Part:
    file = part.get("file")
    if not isinstance(file, dict):
        raise _bad(where, f"file must be an object {{'file_data': data URL, 'filename'}}, got {file!r:.60}")
    filename = _string(file.get("filename"), where, "file.filename", required=False)
    file_id = file.get("file_id")
    file_data = file.get("file_data")
    if (file_id is None) == (file_data is None):
        raise _bad(where, "file needs exactly one of file_data (a data: URL) or file_id")
    if file_id is not None:
        return Part(
            "document", where, "file", file_id=_string(file_id, where, "file.file_id"), filename=filename,
            cache_control=cache, origin="openai", raw=part,
        )  # fmt: skip
    data_url = _string(file_data, where, "file.file_data")
    assert data_url is not None
    if not data_url.startswith("data:"):
        raise _bad(where, "file.file_data must be a data URL: 'data:application/pdf;base64,<data>'")
    mime, data = parse_data_url(data_url, where, "file.file_data")
    return Part(
        "document", where, "file", data=data, mime_type=mime, filename=filename, cache_control=cache,
        origin="openai", raw=part,
    )  # fmt: skip


def _anthropic_native(part: dict[str, Any], kind: str, where: str, cache: dict[str, Any] | None) -> Part:
    source = part.get("source")
    if not isinstance(source, dict):
        raise _bad(where, f"source must be an object, got {type(source).__name__}")
    source_type = source.get("type")
    result = Part(
        "image" if kind == "image" else "document",
        where,
        kind,
        origin="anthropic",
        raw=part,
        cache_control=cache,
    )
    if source_type == "base64":
        result.mime_type = _string(source.get("media_type"), where, "source.media_type")
        result.data = _string(source.get("data"), where, "source.data")
    elif source_type == "url":
        result.url = _http_url(_string(source.get("url"), where, "source.url") or "", where, "source.url")
    elif source_type == "file":
        result.file_id = _string(source.get("file_id"), where, "source.file_id")
    elif kind == "document" and source_type in ("text", "content"):
        result.source_type = source_type
    else:
        allowed = "base64, url, file" + (", text, content" if kind == "document" else "")
        raise _bad(where, f"source.type must be one of {allowed}; got {source_type!r}")
    return result


def _standard(
    part: dict[str, Any], kind: str, where: str, extras: dict[str, Any], cache: dict[str, Any] | None
) -> Part:
    """LangChain's standard blocks, v0 (``source_type``) and v1 (``url``/``base64``/``file_id``)."""
    mime = _string(part.get("mime_type"), where, "mime_type", required=False)
    result = Part(
        "image" if kind == "image" else "document", where, kind, mime_type=mime.lower() if mime else None,
        filename=_string(part.get("filename", extras.get("filename")), where, "filename", required=False),
        detail=part.get("detail", extras.get("detail")), cache_control=cache,
        anthropic_extra=_document_extra(part, extras) if kind == "file" else None,
    )  # fmt: skip
    if result.detail is not None and result.detail not in _DETAILS:
        raise _bad(where, f"detail must be one of {', '.join(_DETAILS)}, got {result.detail!r}")
    source_type = part.get("source_type")
    if source_type is not None:
        if source_type == "url":
            url = _string(part.get("url"), where, "url")
        elif source_type == "base64":
            url = None
            result.data = _string(part.get("data"), where, "data")
        elif source_type == "id":
            url = None
            result.file_id = _string(part.get("id"), where, "id")
        else:
            raise _bad(where, f"source_type must be 'url', 'base64' or 'id', got {source_type!r}")
    else:
        given = [k for k in ("url", "base64", "file_id") if part.get(k) is not None]
        if len(given) != 1:
            raise _bad(
                where,
                f"a standard {kind!r} block needs exactly one of 'url', 'base64' or 'file_id' "
                f"(or LangChain v0's 'source_type'); got {', '.join(given) or 'none'}",
            )
        url = _string(part.get("url"), where, "url", required=False)
        result.data = _string(part.get("base64"), where, "base64", required=False)
        result.file_id = _string(part.get("file_id"), where, "file_id", required=False)
    if url is not None:
        if url.startswith("data:"):
            result.mime_type, result.data = parse_data_url(url, where, "url")
        else:
            result.url = _http_url(url, where, "url")
    elif result.data is not None:
        if result.data.startswith("data:"):
            data_mime, result.data = parse_data_url(result.data, where, "data")
            result.mime_type = result.mime_type or data_mime
        else:
            _check_base64(result.data, where, "the base64 data")
        if result.mime_type is None:
            raise _bad(where, "base64 data needs a mime_type (e.g. 'image/png', 'application/pdf')")
    if kind == "image" and result.mime_type is not None and not result.mime_type.startswith("image/"):
        raise _bad(
            where, f"an image part with mime_type {result.mime_type!r}: use a 'file' part for documents"
        )
    return result


def parse_content(content: str | list[Any], where: str) -> str | list[Part]:
    """A message's content: the ``str`` unchanged, or each part parsed (``where[j]``).

    An empty list is an :class:`InvalidArgumentError` (neither provider
    takes a message without content).
    """
    if isinstance(content, str):
        return content
    if not content:
        raise _bad(where, "content is an empty list; give at least one part (or a string)")
    return [parse_part(part, f"{where}[{j}]") for j, part in enumerate(content)]


# -- OpenAI ----------------------------------------------------------------


def openai_parts(parts: list[Part], role: str) -> list[dict[str, Any]]:
    """Chat Completions content parts for a ``role`` message.

    ``system``/``tool`` messages take text parts only, ``user`` messages
    text, image, document and audio parts (OpenAI's chat request schema,
    https://platform.openai.com/docs/api-reference/chat/create).
    ``cache_control`` is dropped. Returns the ``content`` list as sent; a
    part OpenAI cannot take there (an image file id, a document URL, a
    native Anthropic block, any non-text part in a system or tool message)
    raises :class:`InvalidArgumentError` naming it.
    """
    out: list[dict[str, Any]] = []
    for part in parts:
        if part.kind != "text" and role != "user":
            raise _bad(
                part.where,
                f"OpenAI takes only text parts in a {role} message; got {where_type(part.type)}",
            )
        out.append(_openai_part(part))
    return out


def _openai_part(part: Part) -> dict[str, Any]:
    if part.kind == "text":
        return {"type": "text", "text": part.text}
    if part.origin == "openai" and part.raw is not None:
        return {k: v for k, v in part.raw.items() if k != "cache_control"}
    if part.kind == "image":
        if part.file_id is not None:
            raise _bad(
                part.where, "OpenAI Chat Completions takes no image file ids; send the URL or base64 data"
            )
        if part.url is not None:
            image: dict[str, Any] = {"url": part.url}
        else:
            assert part.data is not None and part.mime_type is not None
            if not part.mime_type.startswith("image/"):
                raise _bad(part.where, f"an image must have an image/* media type, got {part.mime_type!r}")
            image = {"url": f"data:{part.mime_type};base64,{part.data}"}
        if part.detail is not None:
            image["detail"] = part.detail
        return {"type": "image_url", "image_url": image}
    if part.kind == "document":
        if part.file_id is not None:
            file: dict[str, Any] = {"file_id": part.file_id}
        elif part.url is not None:
            raise _bad(
                part.where,
                "OpenAI Chat Completions takes a document as base64 data or an uploaded file id, not a URL "
                f"({part.url[:60]!r}); download it and send base64 data",
            )
        elif part.data is not None:
            assert part.mime_type is not None
            file = {
                "filename": part.filename or _default_filename(part.mime_type),
                "file_data": f"data:{part.mime_type};base64,{part.data}",
            }
        else:
            raise _bad(part.where, f"a document with a {part.source_type!r} source has no OpenAI form")
        return {"type": "file", "file": file}
    raise _bad(part.where, f"{where_type(part.type)} is Anthropic-only: OpenAI has no such part")


def _default_filename(mime: str) -> str:
    """OpenAI wants a ``filename`` beside ``file_data``; ``document.pdf`` and the like when none is given."""
    return "document" + (mimetypes.guess_extension(mime) or "")


# -- Anthropic -------------------------------------------------------------

#: Block kinds Anthropic takes inside a ``tool_result``.
_TOOL_RESULT_KINDS = ("text", "image", "document", "native")


def anthropic_blocks(parts: list[Part], role: str) -> list[dict[str, Any]]:
    """Messages API content blocks for a ``role`` (``user``, ``system``, ``tool``) message.

    ``system`` takes text blocks only; a ``tool`` result text, image,
    document and search_result blocks (https://docs.anthropic.com/en/api/messages).
    ``cache_control`` is kept. Returns the blocks as sent; a part
    Anthropic cannot take there (audio, an image type other than JPEG,
    PNG, GIF or WebP, an empty text block, a non-text part in
    ``system``) raises
    :class:`InvalidArgumentError` naming it.
    """
    out: list[dict[str, Any]] = []
    for part in parts:
        if role == "system" and part.kind != "text":
            raise _bad(
                part.where, f"Anthropic's system prompt takes only text blocks; got {where_type(part.type)}"
            )
        if role == "tool" and part.kind not in _TOOL_RESULT_KINDS:
            raise _bad(part.where, f"an Anthropic tool result cannot hold {where_type(part.type)}")
        block = _anthropic_block(part)
        if part.cache_control is not None:
            block["cache_control"] = part.cache_control
        out.append(block)
    return out


def _anthropic_image_type(mime: str, where: str) -> None:
    if mime not in ANTHROPIC_IMAGE_TYPES:
        hint = " (did you mean 'image/jpeg'?)" if mime == "image/jpg" else ""
        raise _bad(
            where,
            f"Anthropic does not accept {mime!r} images{hint}; it takes {', '.join(ANTHROPIC_IMAGE_TYPES)}",
        )


def _anthropic_block(part: Part) -> dict[str, Any]:
    if part.kind == "text":
        if not part.text:
            raise _bad(
                part.where, "Anthropic rejects empty text blocks ('text content blocks must be non-empty')"
            )
        block: dict[str, Any] = {"type": "text", "text": part.text}
        if part.anthropic_extra:
            block.update(part.anthropic_extra)
        return block
    if part.origin == "anthropic" and part.raw is not None:
        if part.kind == "image" and part.mime_type is not None:
            _anthropic_image_type(part.mime_type, part.where)
        return dict(part.raw)
    if part.kind == "image":
        if part.url is not None:
            source: dict[str, Any] = {"type": "url", "url": part.url}
        elif part.file_id is not None:
            source = {"type": "file", "file_id": part.file_id}
        else:
            assert part.data is not None and part.mime_type is not None
            _anthropic_image_type(part.mime_type, part.where)
            source = {"type": "base64", "media_type": part.mime_type, "data": part.data}
        return {"type": "image", "source": source}
    if part.kind == "document":
        if part.url is not None:
            if part.mime_type not in (None, "application/pdf"):
                raise _bad(
                    part.where, f"Anthropic takes documents by URL as PDFs only, got {part.mime_type!r}"
                )
            source = {"type": "url", "url": part.url}
        elif part.file_id is not None:
            source = {"type": "file", "file_id": part.file_id}
        else:
            assert part.data is not None and part.mime_type is not None
            source = _anthropic_document_source(part, part.data, part.mime_type)
        block = {"type": "document", "source": source}
        if part.anthropic_extra:
            block.update(part.anthropic_extra)
        return block
    raise _bad(part.where, f"{where_type(part.type)} is OpenAI-only: Anthropic has no such block")


def _anthropic_document_source(part: Part, data: str, mime: str) -> dict[str, Any]:
    if mime == "application/pdf":
        return {"type": "base64", "media_type": mime, "data": data}
    if mime == "text/plain":
        try:
            text = base64.b64decode(data, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise _bad(part.where, f"text/plain data is not base64 of UTF-8 text ({exc})") from None
        return {"type": "text", "media_type": "text/plain", "data": text}
    raise _bad(part.where, f"Anthropic takes documents as application/pdf or text/plain, not {mime!r}")
