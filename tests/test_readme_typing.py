"""User code that follows the README type-checks under ``mypy --strict``.

Checked as a user's code is: against this checkout's streamkit, whose own
source is not checked again here (``--follow-imports=silent``; CI's main job
runs mypy strict on it), without the pydantic mypy plugin (what most users
run: pydantic's ``dataclass_transform`` then shapes the constructors, unless
the class declares its own) and with it. Four files, in one mypy run each:

* ``readme.py``: every ```python block of README.md, in order, as the body of
  one ``async def`` (the blocks use top-level ``await`` and share one
  namespace, as in ``python -m asyncio``);
* ``key_types.py``: the documented calls, with ``assert_type`` on what they return;
* ``settings.py``: every model class built from each of its own attributes,
  and from its ``<Class>Settings`` TypedDict (so the typed signature and the
  pydantic fields cannot drift apart);
* ``mistakes.py``: lines that must each be an error (proof that the
  signatures are really checked, not ``**kwargs: Any``).
"""

from __future__ import annotations

import os
import re
import sys
import typing
from pathlib import Path
from typing import TypeAlias

import pytest
from mypy import api

from streamkit.models import ChatModel, PromptModel, StreamingModel

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
#: For each checked file, its errors as ``(line, message)``.
Errors: TypeAlias = dict[str, list[tuple[int, str]]]


def readme_blocks() -> list[tuple[int, str]]:
    """Each ```python block with the README line its code starts on (the same blocks test_readme runs)."""
    text = README.read_text()
    return [
        (text.count("\n", 0, match.start(1)) + 1, match.group(1))
        for match in re.finditer(r"```python\n(.*?)```", text, flags=re.S)
    ]


def readme_sync_blocks() -> list[tuple[int, str]]:
    """Each ```python sync block (plain-script code, blocking calls) with the README line its code starts on."""
    text = README.read_text()
    return [
        (text.count("\n", 0, match.start(1)) + 1, match.group(1))
        for match in re.finditer(r"```python sync\n(.*?)```", text, flags=re.S)
    ]


def readme_module() -> tuple[str, dict[int, str]]:
    """The blocks as one module, and for each of its lines where it came from (``README.md:N (block k)``).

    The async blocks are the body of one ``async def``; each ``python sync``
    block is the body of a plain ``def`` of its own (a script's code).
    """
    lines = ["async def _readme() -> None:"]
    origin: dict[int, str] = {}
    for number, (start, block) in enumerate(readme_blocks(), 1):
        for offset, line in enumerate(block.splitlines()):
            lines.append(f"    {line}" if line.strip() else "")
            origin[len(lines)] = f"README.md:{start + offset} (block {number})"
    for number, (start, block) in enumerate(readme_sync_blocks(), 1):
        lines += ["", "", f"def _readme_sync_{number}() -> None:"]
        for offset, line in enumerate(block.splitlines()):
            lines.append(f"    {line}" if line.strip() else "")
            origin[len(lines)] = f"README.md:{start + offset} (sync block {number})"
    return "\n".join(lines) + "\n", origin


KEY_TYPES = """
from typing import assert_type

from streamkit import (
    AIMessage, Anthropic, ChatAnthropic, ChatOpenAI, HumanMessage, LLMResult, OpenAI, ResponseStream,
)
from streamkit.deadlines import Timeouts


async def documented() -> None:
    chat = ChatOpenAI(model_name="gpt-4o-mini", stop="END", timeout=30, temperature=0)
    again = ChatOpenAI(model="gpt-4o-mini", stop=["END", "STOP"], timeout=Timeouts(idle=60))
    llm = OpenAI(model_name="gpt-3.5-turbo-instruct", timeout=None, default_headers={"X-Team": "docs"})
    claude = ChatAnthropic(model="claude-sonnet-4-5", thinking={"type": "enabled", "budget_tokens": 2048})
    prompt_claude = Anthropic(max_tokens=100, top_k=5)
    assert_type(chat.timeout, Timeouts)
    assert_type(chat.stop, list[str] | None)
    assert_type(chat.model_name, str)
    assert_type(await chat("hi"), AIMessage)
    assert_type(await again([HumanMessage("hi"), "and a bare str is the user too"]), AIMessage)
    assert_type(await claude.ainvoke("hi"), AIMessage)
    assert_type(await llm("hi"), str)
    assert_type(await prompt_claude("hi"), str)
    assert_type(await chat.generate([["hi"], [HumanMessage("hello")]]), LLMResult)
    assert_type(await llm.generate(["a", "b"]), LLMResult)
    assert_type(chat.stream("hi"), ResponseStream)
    async with chat.stream([HumanMessage(content="hi")]) as stream:
        async for token in stream:
            assert_type(token, str)
    assert_type(stream.result, LLMResult)
    async with ChatOpenAI() as scoped:
        assert_type(scoped, ChatOpenAI)


def blocking() -> None:
    with ChatOpenAI() as chat, OpenAI() as llm:
        assert_type(chat.invoke("hi"), AIMessage)
        assert_type(chat.invoke([HumanMessage("hi")]), AIMessage)
        assert_type(chat.batch([["hi"], "hello"]), list[AIMessage])
        assert_type(llm.invoke("hi"), str)
        assert_type(llm.generate_sync(["hi"]), LLMResult)
"""

# Each line from the second on must be an error.
MISTAKES = """from streamkit import ChatAnthropic, ChatOpenAI, OpenAI
ChatOpenAI(temprature=0.2)
ChatOpenAI(stop=7)
ChatOpenAI(timeout="30")
ChatOpenAI(model=None)
ChatAnthropic(n=2)
OpenAI(tools=[])
ChatOpenAI(callbacks=[print])
"""


def model_classes() -> list[type[StreamingModel]]:
    """Every public model class streamkit defines (``import streamkit``'s, every registered provider's
    and FunctionModel)."""
    import streamkit.providers
    import streamkit.providers.function

    for entry in streamkit.providers.entries():
        entry.chat_class()  # every registered provider's module
    found: list[type[StreamingModel]] = []
    pending: list[type[StreamingModel]] = [StreamingModel]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        public = not cls.__name__.startswith("_") and cls.__module__.startswith("streamkit.")
        if public and cls not in (StreamingModel, PromptModel, ChatModel) and cls not in found:
            found.append(cls)
    return sorted(found, key=lambda cls: cls.__name__)


def settings_typeddict(cls: type[StreamingModel]) -> type | None:
    """``<Class>Settings`` in the class's module: the TypedDict its typed ``__init__`` unpacks."""
    typed = getattr(sys.modules[cls.__module__], f"{cls.__name__}Settings", None)
    return typed if typing.is_typeddict(typed) else None


def settings_module() -> str:
    """For each model class: built from its TypedDict, and from each of its attributes."""
    lines = ["from typing import Unpack"]
    for cls in model_classes():
        name, typed = cls.__name__, settings_typeddict(cls)
        if typed is None:  # test_settings_typeddicts_list_exactly_the_fields names it
            continue
        lines += [
            f"from {cls.__module__} import {name}, {typed.__name__}",
            "",
            "",
            f"def build_{name}(built: {name}, **settings: Unpack[{typed.__name__}]) -> None:",
            f"    {name}(**settings)",
            "    # The attributes as they are stored go back into the constructor (model_copy does this).",
        ]
        lines += [f"    {name}({field}=built.{field})" for field in cls.model_fields]
        lines += [f"    {name}(model_name=built.model_name)"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module", params=[False, True], ids=["no-plugin", "pydantic-plugin"])
def mypy_errors(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Errors:
    """``mypy --strict`` on the four files (without, then with the pydantic plugin): each one's errors."""
    work = tmp_path_factory.mktemp("typing")
    sources = {
        "readme.py": readme_module()[0],
        "key_types.py": KEY_TYPES,
        "settings.py": settings_module(),
        "mistakes.py": MISTAKES,
    }
    for name, source in sources.items():
        (work / name).write_text(source)
    config = work / "mypy.ini"
    # This checkout's streamkit, whatever is installed in the environment.
    config.write_text(
        f"[mypy]\nmypy_path = {ROOT}\n" + ("plugins = pydantic.mypy\n" if request.param else "")
    )
    out, err, _ = api.run(
        [
            "--config-file",
            str(config),
            "--strict",
            "--no-error-summary",
            "--cache-dir",
            os.devnull,
            "--python-version",
            "3.11",
            "--follow-imports=silent",
            *(str(work / name) for name in sources),
        ]
    )
    errors: Errors = {name: [] for name in sources}
    for line in (out + err).splitlines():
        found = re.match(r"(?:.*[/\\])?(\w+\.py):(\d+): error: (.*)", line)
        if found and found.group(1) in errors:
            errors[found.group(1)].append((int(found.group(2)), found.group(3)))
        elif ": note:" not in line and line.strip():
            errors.setdefault("(mypy)", []).append((0, line))
    return errors


def test_readme_has_python_blocks() -> None:
    assert len(readme_blocks()) >= 20
    assert readme_sync_blocks(), "the blocking calls' block (```python sync) is type-checked too"


def test_every_readme_block_type_checks_strictly(mypy_errors: Errors) -> None:
    origin = readme_module()[1]
    problems = [
        f"{origin.get(line, f'line {line}')}: {message}" for line, message in mypy_errors["readme.py"]
    ]
    problems += [message for _, message in mypy_errors.get("(mypy)", [])]
    assert not problems, "\n".join(problems)


def test_documented_calls_return_the_documented_types(mypy_errors: Errors) -> None:
    assert mypy_errors["key_types.py"] == []


def test_each_model_class_takes_its_settings_typeddict(mypy_errors: Errors) -> None:
    assert mypy_errors["settings.py"] == []


def test_mistakes_in_settings_are_flagged(mypy_errors: Errors) -> None:
    flagged = sorted({line for line, _ in mypy_errors["mistakes.py"]})
    assert flagged == list(range(2, len(MISTAKES.splitlines()) + 1)), mypy_errors["mistakes.py"]


def test_settings_typeddicts_list_exactly_the_fields() -> None:
    """A field added to a model class (or a new class) without its TypedDict entry fails here, named."""
    classes = model_classes()
    assert {"OpenAI", "ChatOpenAI", "Anthropic", "ChatAnthropic"} <= {cls.__name__ for cls in classes}
    for cls in classes:
        typed = settings_typeddict(cls)
        assert typed is not None, (
            f"{cls.__module__} must define {cls.__name__}Settings, a TypedDict of {cls.__name__}'s "
            "keyword arguments (see 'Typed signatures' in streamkit/models.py)"
        )
        required: frozenset[str] = getattr(typed, "__required_keys__")  # noqa: B009
        optional: frozenset[str] = getattr(typed, "__optional_keys__")  # noqa: B009
        aliases = {field.alias for field in cls.model_fields.values() if field.alias}
        aliases |= getattr(cls, "_init_aliases", frozenset())  # constructor-only names (azure_endpoint)
        assert required | optional == set(cls.model_fields) | aliases, cls.__name__
        assert not required, f"{typed.__name__}: every setting may be left out (total=False)"
