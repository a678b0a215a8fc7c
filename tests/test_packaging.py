"""The wheel carries what the vault serves besides Python code: the portal's and the admin UI's
templates, their stylesheets and the API docs' script."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["vault", "admin_ui", "pyproject.toml", "README.md"]


@pytest.mark.slow
def test_the_wheel_holds_the_templates_and_static_files(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:  # a copy, so that the build leaves nothing in the checkout
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, source / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path),
         str(source)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    [wheel] = tmp_path.glob("vault-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "vault/api/templates/privacy/base.html",
        "vault/api/templates/privacy/index.html",
        "vault/api/templates/privacy/request.html",
        "vault/templates/api/docs.html",
        "vault/static/privacy.css",
        "vault/static/api-docs.js",
        "admin_ui/templates/admin/base.html",
        "admin_ui/static/admin.css",
        "vault/policies/casbin_model.conf",
    }
    assert expected <= names, sorted(expected - names)
