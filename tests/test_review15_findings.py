"""Review 15 (a newcomer's first hour): each test failed before its fix."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

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
