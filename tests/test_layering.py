"""The packages import each other only downward, in the layers `pyproject.toml` declares
(`[tool.importlinter]`): the kinds of record above the core that receives them, the core above
the database and settings, and `kit`, a leaf of plumbing, below everything. So no package
imports another that imports it back, and a newcomer reads the design from the folder names."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parent.parent


def test_the_packages_import_each_other_only_downward(capsys: pytest.CaptureFixture[str]) -> None:
    verdict = lint_imports(str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    report = capsys.readouterr().out
    assert verdict == 0, report


def test_every_package_has_its_layer() -> None:
    """A package added later must be placed in a layer: the contract is exhaustive."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    [layers] = [c for c in contracts["contracts"] if c["type"] == "layers"]
    assert layers["exhaustive"] is True
    declared = {name.strip() for layer in layers["layers"] for name in layer.split("|")}
    packages = {
        path.stem if path.is_file() else path.name
        for path in (ROOT / "app").iterdir()
        if (path.suffix == ".py" and path.stem != "__init__")
        or (path.is_dir() and (path / "__init__.py").exists())
    }
    assert packages == declared
