"""The packages import each other only downward, in the layers `pyproject.toml` declares
(`[tool.importlinter]`): the kinds of record above the core that receives them, the core above
the database and settings, and `kit`, a leaf of plumbing, below everything. So no package
imports another that imports it back, and a newcomer reads the design from the folder names."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_packages_import_each_other_only_downward() -> None:
    # In a process of its own: the linter configures logging, which would silence the app's
    # loggers for the tests after it.
    linter = Path(sys.executable).with_name("lint-imports")
    run = [str(linter), str(ROOT / "pyproject.toml"), "--no-cache"]
    env = os.environ | {"PYTHONPATH": str(ROOT)}  # this checkout's packages, not another's
    checked = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr


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
