"""Ready-made handlers: print the answer to standard output as it streams.

``StreamingStdOutCallbackHandler()`` writes each token as it arrives, as
LangChain's handler of that name does. That is right for one answer at a
time; several at once (``generate()`` with many prompts, concurrent calls,
``n > 1`` choices) interleave word by word. Two more modes keep them apart:

* ``mode="lines"``: each answer's text is written one whole line at a time,
  every line starting with its answer's label (``[1] ``, ``[2] ``...; with
  ``n > 1``, ``[1.0] ``, ``[1.1] ``...). Lines of different answers still
  alternate, but no line mixes two answers. A line is written when its
  ``\\n`` arrives, or at the answer's end.
* ``mode="answers"``: each answer is held and written whole, labelled the
  same way, when it ends (``on_llm_end``): answers never mix.

In both, a failed or abandoned answer (``on_llm_error``) is written as far
as it got, its last line marked ``[interrupted: <error type>]``, and every
answer ends with a newline.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TextIO
from uuid import UUID

from ._base import BaseCallbackHandler

if TYPE_CHECKING:
    from ..messages import BaseMessage
    from ..results import LLMResult

__all__ = ["LabelInfo", "StreamingStdOutCallbackHandler"]

#: How the handler writes: see :mod:`streamkit.callbacks._stdout`.
Mode = Literal["tokens", "lines", "answers"]
_MODES = ("tokens", "lines", "answers")


@dataclass(frozen=True, slots=True)
class LabelInfo:
    """What a label is made of: the fields of a ``label=`` format string, or a label function's argument."""

    #: 1, 2, 3... in the order this handler saw the answers start; back to 1
    #: once none is in progress (so one call after another is always ``1``).
    run: int
    #: The choice (0 to ``n - 1``), for ``n > 1``; 0 otherwise.
    index: int
    #: The number of choices requested (``n``, 1 by default).
    n: int
    #: The prompt (for a chat model, the text of the last message).
    prompt: str
    #: The ``run_id`` handlers get (``stream.run_id``).
    run_id: UUID | None


def _fields(info: LabelInfo) -> dict[str, Any]:
    return {f.name: getattr(info, f.name) for f in dataclasses.fields(info)}


_DEFAULT_LABEL = "[{run}] "
_DEFAULT_CHOICE_LABEL = "[{run}.{index}] "


class _Run:
    """One answer's state in lines/answers mode: its label fields and the text not written yet."""

    __slots__ = ("held", "labels", "n", "number", "prompt", "run_id")

    def __init__(self, number: int, n: int, prompt: str, run_id: UUID | None) -> None:
        self.number = number
        self.n = n
        self.prompt = prompt
        self.run_id = run_id
        #: Per choice: the tokens not written yet (lines: since the last newline; answers: all).
        self.held: dict[int, list[str]] = {}
        self.labels: dict[int, str] = {}


class StreamingStdOutCallbackHandler(BaseCallbackHandler):
    """Print the answer to standard output as it arrives (flushed at once).

    ``stream`` picks another text stream; it is looked up at each write, so
    redirecting ``sys.stdout`` (as pytest's ``capsys`` does) works.

    ``mode``: ``"tokens"`` (default) writes each token as it comes, nothing
    else; ``"lines"`` writes whole lines, each starting with its answer's
    label; ``"answers"`` writes each answer whole, labelled, when it ends
    (see :mod:`streamkit.callbacks._stdout`).

    ``label`` (lines and answers modes): a format string with the fields of
    :class:`LabelInfo` (``"{prompt:.20}| "``: the prompt's first 20
    characters), or a function of a ``LabelInfo`` returning the prefix. The
    default is ``"[{run}] "``, and ``"[{run}.{index}] "`` when ``n > 1``.

    Safe to share between concurrent streams, and to run in a
    ``BackgroundHandler`` (each write is one ``write()`` call, under a lock).

    Raises :class:`~streamkit.errors.InvalidArgumentError` for an unknown
    ``mode``, a ``label`` with ``mode="tokens"``, or a format string with a
    field ``LabelInfo`` does not have.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        mode: Mode = "tokens",
        label: str | Callable[[LabelInfo], str] | None = None,
    ) -> None:
        from ..errors import InvalidArgumentError

        if mode not in _MODES:
            raise InvalidArgumentError(
                f"StreamingStdOutCallbackHandler: mode must be one of {', '.join(map(repr, _MODES))}, "
                f"not {mode!r}"
            )
        if label is not None and mode == "tokens":
            raise InvalidArgumentError(
                "StreamingStdOutCallbackHandler: label= needs mode='lines' or mode='answers' "
                "(mode='tokens' writes the tokens alone)"
            )
        if isinstance(label, str):
            try:
                label.format(**_fields(LabelInfo(1, 0, 1, "", None)))
            except (KeyError, IndexError, ValueError) as exc:
                fields = ", ".join("{" + f.name + "}" for f in dataclasses.fields(LabelInfo))
                raise InvalidArgumentError(
                    f"StreamingStdOutCallbackHandler: label {label!r} is not a format string "
                    f"of the fields {fields} ({type(exc).__name__}: {exc})"
                ) from None
        elif label is not None and not callable(label):
            raise InvalidArgumentError(
                "StreamingStdOutCallbackHandler: label must be a format string or a function "
                f"of a LabelInfo, not {type(label).__name__}"
            )
        self._stream = stream
        self.mode: Mode = mode
        self._label = label
        self._runs: dict[UUID | None, _Run] = {}
        self._count = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"StreamingStdOutCallbackHandler(mode={self.mode!r})"

    # -- hooks -----------------------------------------------------------

    def on_llm_start(self, serialized: dict[str, Any], prompts: list[str], **kwargs: Any) -> None:
        """In ``lines``/``answers`` mode: number the run (its label), reading ``n`` from ``serialized``."""
        if self.mode != "tokens":
            self._begin(serialized, prompts[0] if prompts else "", kwargs.get("run_id"))

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[BaseMessage]], **kwargs: Any
    ) -> None:
        """As :meth:`on_llm_start`; the label's ``prompt`` is the last message's text."""
        if self.mode != "tokens":
            last = messages[0][-1] if messages and messages[0] else None
            self._begin(serialized, last.text if last is not None else "", kwargs.get("run_id"))

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        """Write ``token`` (every choice's text) as the mode says; the stream's errors propagate."""
        if self.mode == "tokens":
            out = self._stream or sys.stdout
            out.write(token)
            out.flush()
            return
        index = kwargs.get("index") or 0
        with self._lock:
            run = self._run(kwargs.get("run_id"))
            held = run.held.get(index)
            if held is None:
                held = run.held[index] = []
            if self.mode == "answers" or "\n" not in token:
                held.append(token)
                return
            head, _, rest = token.rpartition("\n")
            held.append(head)
            text = "".join(held)
            held.clear()
            if rest:
                held.append(rest)
            self._write(self._lines(run, index, text))

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        """In ``lines``/``answers`` mode: write what the run still holds, ending on a new line."""
        if self.mode != "tokens":
            self._finish(kwargs.get("run_id"), None)

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        """In ``lines``/``answers`` mode: write the partial text, marked ``[interrupted: ErrorType]``."""
        if self.mode != "tokens":
            self._finish(kwargs.get("run_id"), error)

    # -- the lines and answers modes ---------------------------------------

    def _begin(self, serialized: dict[str, Any], prompt: str, run_id: UUID | None) -> None:
        params = serialized.get("invocation_params") if isinstance(serialized, dict) else None
        n = params.get("n") if isinstance(params, dict) else None
        with self._lock:
            self._new_run(run_id, n if isinstance(n, int) and n > 0 else 1, prompt)

    def _new_run(self, run_id: UUID | None, n: int, prompt: str) -> _Run:
        if not self._runs:
            self._count = 0  # nothing in progress: number from 1 again
        self._count += 1
        run = self._runs[run_id] = _Run(self._count, n, prompt, run_id)
        return run

    def _run(self, run_id: UUID | None) -> _Run:
        run = self._runs.get(run_id)
        if run is None:  # a token without its start (the handler called directly)
            run = self._new_run(run_id, 1, "")
        return run

    def _finish(self, run_id: UUID | None, error: BaseException | None) -> None:
        with self._lock:
            run = self._runs.pop(run_id, None)
            if run is None:
                return
            mark = f"[interrupted: {type(error).__name__}]" if error is not None else ""
            parts = []
            for index in sorted(run.held):
                text = "".join(run.held[index])
                if self.mode == "answers" and text.endswith("\n"):
                    text = text[:-1]  # the answer's own last newline: no empty line after it
                elif not text and not mark:
                    continue  # lines mode: everything was written already
                if mark:
                    text = f"{text} {mark}" if text else mark
                parts.append(self._lines(run, index, text))
            if mark and not run.held:  # failed before any text
                parts.append(self._lines(run, 0, mark))
            if parts:
                self._write("".join(parts))

    def _lines(self, run: _Run, index: int, text: str) -> str:
        """``text``'s lines, each with the label of ``run``'s choice ``index``, each ending in a newline."""
        prefix = run.labels.get(index)
        if prefix is None:
            prefix = run.labels[index] = self._make_label(run, index)
        bare = prefix.rstrip()
        return "".join(f"{prefix}{line}\n" if line else f"{bare}\n" for line in text.split("\n"))

    def _make_label(self, run: _Run, index: int) -> str:
        info = LabelInfo(run.number, index, run.n, run.prompt, run.run_id)
        label = self._label
        if label is None:
            label = _DEFAULT_CHOICE_LABEL if run.n > 1 or index > 0 else _DEFAULT_LABEL
        if isinstance(label, str):
            return label.format(**_fields(info))
        return str(label(info))

    def _write(self, text: str) -> None:
        out = self._stream or sys.stdout
        out.write(text)
        out.flush()
