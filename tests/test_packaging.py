"""What a release ships: the wheel and sdist that ``python -m build`` makes.

Built without isolation from the test environment (``build`` and
``setuptools>=77`` are in the ``test`` extra), so nothing is downloaded.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import streamkit

# slow: left out of CI's other-Python jobs (building the wheel does not depend on the runtime versions); the main job runs it.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out


def test_the_wheel_ships_the_package_typed_and_no_tests(dist: Path) -> None:
    [wheel] = dist.glob("*.whl")
    assert wheel.name.startswith(f"streamkit_llm-{streamkit.__version__}-")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(metadata_name).decode())
    assert "streamkit/__init__.py" in names
    assert "streamkit/py.typed" in names
    assert "streamkit/providers/_openai.py" in names and "streamkit/testing/_server.py" in names
    assert "streamkit/_cli.py" in names  # the console script's module
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "examples/"))]
    assert metadata["Name"] == "streamkit-llm"
    assert metadata["Version"] == streamkit.__version__  # single-sourced from __version__
    assert metadata["License-Expression"] == "MIT"
    assert "Typing :: Typed" in metadata.get_all("Classifier", [])
    assert any(url.startswith("Changelog") for url in metadata.get_all("Project-URL", []))
    assert any(n.endswith("licenses/LICENSE") for n in names)
    with zipfile.ZipFile(wheel) as archive:
        entry_points = archive.read(metadata_name.replace("METADATA", "entry_points.txt")).decode()
    assert "streamkit = streamkit._cli:main" in entry_points


def test_the_sdist_has_the_license_readme_and_changelog(dist: Path) -> None:
    [sdist] = dist.glob("*.tar.gz")
    assert sdist.name == f"streamkit_llm-{streamkit.__version__}.tar.gz"
    with tarfile.open(sdist) as archive:
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    assert {"LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml", "streamkit/py.typed"} <= names
    # No half test suite (setuptools adds tests/test_*.py without conftest.py or the fixtures).
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/"))]


def test_the_changelog_has_the_current_version() -> None:
    assert f"## [{streamkit.__version__}]" in (ROOT / "CHANGELOG.md").read_text()
