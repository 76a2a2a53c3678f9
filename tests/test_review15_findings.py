"""Review 15 (a newcomer's first hour): each test failed before its fix."""

from __future__ import annotations

import asyncio
import importlib
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from streamkit import _cli, providers
from streamkit.models import StreamingModel
from streamkit.testing import MockServer

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_an_editable_install_is_a_path_mypy_can_follow(tmp_path: Path) -> None:
    """``pip install -e .`` (the README's set-up) must leave a plain path in a .pth file.

    setuptools' default for a flat layout is an import-hook finder
    (``__editable___*_finder.py``), which mypy does not run: ``mypy --strict``
    on a user's script then says streamkit is missing and types it all as Any.
    """
    code = "import sys; from setuptools import build_meta; print(build_meta.build_editable(sys.argv[1]))"
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    wheel = tmp_path / done.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        pth = [archive.read(n).decode() for n in names if n.endswith(".pth")]
    assert not [n for n in names if n.endswith("_finder.py")], names
    assert [line.strip() for text in pth for line in text.splitlines() if line.strip()] == [str(ROOT)]


# -- the CLI with every registered provider -------------------------------------------


def cli_env() -> dict[str, str]:
    """The environment without any provider's key or URL variable."""
    prefixes = ("OPENAI_", "ANTHROPIC_", "OLLAMA_", "AZURE_", "GEMINI_", "GOOGLE_", "GROQ_", "VLLM_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


async def run_cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streamkit._cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=cli_env(),
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def test_a_presets_provider_facts_are_its_own() -> None:
    """``ProviderEntry.provider()`` for a preset gave plain OpenAI's (OPENAI_API_KEY, api.openai.com)."""
    groq = providers.get("groq").provider()
    assert groq.api_key_env == "GROQ_API_KEY" and "groq.com" in groq.default_base_url
    assert providers.get("vllm").provider().api_key_env == "VLLM_API_KEY"


def test_chat_with_a_preset_names_its_key_and_goes_where_the_model_goes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``--provider groq`` without a key said to set OPENAI_API_KEY; ``--provider vllm`` (a local
    server, no key) was refused for want of OPENAI_API_KEY, and with OPENAI_BASE_URL set, errors and
    the summary named that URL while the request went to vLLM's."""
    for name in cli_env().keys() ^ os.environ.keys():
        monkeypatch.delenv(name)
    with pytest.raises(_cli._NoKey, match="set the GROQ_API_KEY environment variable"):
        _cli._chat_target(_cli._parser().parse_args(["chat", "hi", "--provider", "groq"]))
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    target = _cli._chat_target(_cli._parser().parse_args(["chat", "hi", "--provider", "vllm"]))
    model = target.provider.entry.chat_model(model=target.model)
    assert target.base_url == model.base_url == "http://localhost:8000/v1"


async def test_a_404_hint_fits_the_provider() -> None:
    """Every provider but OpenAI got Anthropic's hint ("for --provider anthropic the base URL has no /v1")."""
    async with MockServer() as server:
        code, _, err = await run_cli("chat", "hi", "--provider", "ollama", "--base-url", f"{server.url}/v1")
        assert code == 1 and f"{server.url}/v1/api/chat" in err
        assert "for --provider ollama the base URL has no /v1" in err
        assert f"try --base-url {server.url}\n" in err and "anthropic" not in err
        code, _, err = await run_cli(
            "chat", "hi", "--provider", "vllm", "--model", "m", "--base-url", server.url
        )
        assert code == 1 and f"try --base-url {server.url}/v1\n" in err
        code, _, err = await run_cli(
            "chat", "hi", "--provider", "openai-responses", "--base-url", f"{server.url}/v1/v1"
        )
        assert code == 1 and "/v1 twice" in err and f"try --base-url {server.url}/v1\n" in err
        code, _, err = await run_cli("chat", "hi", "--provider", "gemini", "--base-url", f"{server.url}/v1")
        assert code == 1 and "for --provider gemini the base URL has no /v1" in err
    assert "Traceback" not in err


async def test_a_malformed_base_url_is_an_error_not_a_traceback() -> None:
    code, out, err = await run_cli("chat", "hi", "--base-url", "http://[::1")
    assert code == 1 and "InvalidArgumentError" in err and "base_url" in err
    assert "Traceback" not in err and out == ""


def test_every_model_classs_settings_typeddict_is_public_where_the_class_is() -> None:
    """``ChatOpenAISettings`` (``**settings: Unpack[...]`` in user code) was reachable only from the
    private ``streamkit._openai``; each provider module exports its own beside its class."""
    import streamkit.providers.function

    public = ["streamkit", *(f"streamkit.providers.{m}" for m in ("ollama", "azure", "gemini"))]
    public += ["streamkit.providers.openai_responses", "streamkit.providers.function"]
    for module_name in public:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            cls = getattr(module, name)
            if isinstance(cls, type) and issubclass(cls, StreamingModel) and not name.startswith("_"):
                assert f"{name}Settings" in module.__all__, (
                    f"{module_name} exports {name} but not its Settings"
                )
    assert streamkit.providers.function.FunctionModel  # imported: its module is among the public ones


def test_every_source_path_the_docs_name_exists() -> None:
    """The rename to private modules left README's Layout, providers/README.md and two docstrings
    naming streamkit/transport.py, adapter.py, cli.py... which no longer exist."""
    package = ROOT / "streamkit"
    docs = [ROOT / "README.md", package / "providers" / "README.md", *package.rglob("*.py")]
    missing = []
    for doc in docs:
        text = doc.read_text()
        for path in re.findall(r"streamkit/([\w/]+\.py)", text):
            if not (package / path).exists() and path != "providers/acme.py":  # the walk-through's example
                missing.append(f"{doc.relative_to(ROOT)}: streamkit/{path}")
        if doc.name == "README.md" and doc.parent == ROOT:  # the Layout section's bare names
            layout = text[text.index("## Layout") :]
            for name in re.findall(r"`([\w/]+\.py)`", layout):
                if not list(package.rglob(Path(name).name)):
                    missing.append(f"README.md Layout: {name}")
    assert not missing, missing
