"""The wheel carries what the vault serves besides Python code (the portal's and the admin UI's
templates, their stylesheets, the API docs' script, the migrations), and a vault installed from
it alone, not from the source tree, initialises and serves, in development and in production
mode."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
import urllib.request
import venv
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["vault", "admin_ui", "pyproject.toml", "README.md"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The vault's wheel, built from a copy of the sources (so that the build leaves nothing
    in the checkout)."""
    tmp_path = tmp_path_factory.mktemp("wheel")
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
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
    [built_wheel] = tmp_path.glob("vault-*.whl")
    return built_wheel


@pytest.mark.slow
def test_the_wheel_holds_the_templates_static_files_and_migrations(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "vault/portal/templates/privacy/base.html",
        "vault/portal/templates/privacy/index.html",
        "vault/portal/templates/privacy/request.html",
        "vault/templates/page.html",
        "vault/templates/api/docs.html",
        "vault/static/privacy.css",
        "vault/static/api-docs.js",
        "admin_ui/templates/admin/base.html",
        "admin_ui/static/admin.css",
        "vault/policies/casbin_model.conf",
        "vault/migrations/env.py",
        "vault/migrations/script.py.mako",
        "vault/migrations/versions/0001_foundation.py",
        # the portal's languages: without their catalogues it would speak English only
        *(
            f"vault/translations/{language}/LC_MESSAGES/messages.mo"
            for language in ("tr", "pl", "fa")
        ),
    }
    assert expected <= names, sorted(expected - names)
    versions = sorted(p.name for p in (ROOT / "vault" / "migrations" / "versions").glob("*.py"))
    shipped = sorted(n.rsplit("/", 1)[1] for n in names if n.startswith("vault/migrations/ver"))
    assert shipped == versions


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv holding the wheel alone; its dependencies come from the test's own
    environment as a path (not its .pth files: the editable install of the checkout stays
    out), so that nothing is downloaded."""
    home = tmp_path_factory.mktemp("installed")
    venv.create(home / "venv", with_pip=True)
    python = home / "venv" / "bin" / "python"
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    lent = sysconfig.get_paths()["purelib"]
    (Path(purelib) / "zz-test-dependencies.pth").write_text(lent + "\n", encoding="utf-8")
    return home / "venv" / "bin"


@contextmanager
def serving(bin_dir: Path, env: dict[str, str], cwd: Path) -> Iterator[str]:
    port = free_port()
    log = cwd / "serve.log"
    with log.open("w", encoding="utf-8") as output:
        server = subprocess.Popen(
            [str(bin_dir / "vault"), "serve", "--port", str(port), "--no-jobs"],
            env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(url + "/healthz", timeout=1):  # noqa: S310  (127.0.0.1)
                        break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        output.flush()
                        raise RuntimeError(log.read_text(encoding="utf-8")[-2000:]) from None
                    time.sleep(0.2)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=10)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["development", "production"])
def test_a_vault_installed_from_the_wheel_initialises_and_serves(
    installed: Path, tmp_path: Path, mode: str
) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("VAULT_")}
    env |= {"VAULT_ENV": mode, "VAULT_INSTANCE_PATH": str(tmp_path / "instance"),
            "PYTHONNOUSERSITE": "1", "PYTHONPATH": ""}  # fmt: skip
    if mode == "production":
        env |= {"VAULT_BASE_URL": "https://vault.example.com",
                "VAULT_TRUSTED_HOSTS": "127.0.0.1"}  # fmt: skip
    where = subprocess.run(
        [str(installed / "python"), "-c", "import vault; print(vault.__file__)"],
        env=env, cwd=tmp_path, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert str(ROOT) not in where, where  # the wheel's vault, not the checkout's
    init = subprocess.run(
        [str(installed / "vault"), "init", "--admin-email", "admin@example.com",
         "--admin-password", "a long enough admin password"],
        env=env, cwd=tmp_path, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert init.returncode == 0, init.stdout + init.stderr
    assert "migrated the database from an empty schema" in init.stdout
    with serving(installed, env, tmp_path) as url:
        for page, wanted in (("/privacy/", "<form"), ("/admin/login", 'name="password"')):
            with urllib.request.urlopen(url + page, timeout=5) as answer:  # noqa: S310  (127.0.0.1)
                assert answer.status == 200
                assert wanted in answer.read().decode()
