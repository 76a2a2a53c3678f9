"""The API reference builds from the docstrings with no warning, and covers the public surface.

``mkdocs build --strict`` (mkdocs.yml) into a temporary directory: any
warning (a broken link, a cross-reference that does not resolve, a
docstring the parser cannot read, a page missing from the navigation)
fails it. mkdocs and mkdocstrings are in the ``test`` extra: a missing one
fails this test rather than skipping it.
"""

from __future__ import annotations

import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from test_public_surface import PUBLIC

ROOT = Path(__file__).resolve().parent.parent


def inventory(site: Path) -> set[str]:
    """The object names of the built reference (``objects.inv``, Sphinx's inventory format, version 2)."""
    header, _, body = (site / "objects.inv").read_bytes().partition(b"zlib.\n")
    assert header.startswith(b"# Sphinx inventory version 2"), header[:60]
    return {line.split(" ", 1)[0] for line in zlib.decompress(body).decode().splitlines() if line}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_api_reference_builds_strictly_and_covers_every_public_name(tmp_path: Path) -> None:
    site = tmp_path / "site"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            "mkdocs.yml",
            "--site-dir",
            site,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "WARNING" not in output, output[-4000:]
    assert (site / "api" / "streamkit" / "index.html").is_file()

    names = inventory(site)
    missing = sorted(
        f"{module}.{name}"
        for module, exported in PUBLIC.items()
        for name in exported
        if f"{module}.{name}" not in names
    )
    assert missing == [], "public names the API reference does not document"
