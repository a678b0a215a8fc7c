"""Every import points down the house: a module of the vault imports only from its own part or
from a part on a lower floor. The floors are written down here (top first); a new part must be
given a floor, and an import that runs up or sideways fails this test with its file and line."""

from __future__ import annotations

import ast
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent

# Each floor may import the floors below it, never those above or beside it. A part is a
# top-level module or package of vault (its name), or admin_ui.
FLOORS: list[set[str]] = [
    {"__main__"},
    {"cli"},
    {"serving", "demo", "jobs"},
    {"app", "bootstrap"},
    {"admin_ui"},
    {"portal"},
    {"api"},
    {"services"},  # the one place views get services from
    # the request's audit trail: its context, events and refusals; what follows a privacy
    # desk's work after its commit
    {"audit_trail", "after_commit"},
    {"runtime", "migrate"},
    {"models"},  # every model module, for Alembic and the schema check
    {"privacy", "access"},
    {"governance"},
    {"customers", "auth"},
    # the outbox the services below governance write their changes' events to; the answers
    # kept for Idempotency-Key, which an erasure deletes
    {"events", "idempotency"},
    {"audit", "policies", "crypto", "mail"},  # policies: roles, purposes, change stamps
    {"db", "readiness", "outages"},
    {"db_timeouts"},
    {"db_deferred", "db_rows"},
    {"config", "worker"},
    {"errors"},
    {
        "logs",
        "clock",
        "codes",
        "text",
        "spreadsheet",
        "private_files",
        "defaults",
        "extensions",
        "languages",
    },
    {"contexts"},  # the objects behind Flask's context proxies
]


class Arrow(NamedTuple):
    where: str  # file:line
    source: str
    target: str


def part_of(module: str) -> str | None:
    """The part a dotted module name belongs to (None: not the vault's)."""
    head, _, rest = module.partition(".")
    if head == "admin_ui":
        return "admin_ui"
    if head != "vault" or not rest:
        return None
    return rest.split(".")[0]


def arrows(root: Path) -> Iterator[Arrow]:
    """Every import from one part of the vault under ``root`` into another (imports inside
    functions too; the migrations are left out: they are history, not a floor)."""
    for path in sorted([*root.glob("vault/**/*.py"), *root.glob("admin_ui/**/*.py")]):
        relative = path.relative_to(root)
        if relative.parts[:2] == ("vault", "migrations"):
            continue
        module = ".".join(relative.with_suffix("").parts).removesuffix(".__init__")
        source = part_of(module)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                target = part_of(name)
                if target is not None and target != source:
                    yield Arrow(f"{relative}:{node.lineno}", str(source), target)


def misdirected(root: Path) -> list[str]:
    """Every arrow that does not run down, and every part without a floor."""
    floor = {part: level for level, parts in enumerate(FLOORS) for part in parts}
    problems = []
    for arrow in arrows(root):
        for part in (arrow.source, arrow.target):
            if part not in floor:
                problems.append(f"{arrow.where}: {part} has no floor in tests/test_house.py")
        known = arrow.source in floor and arrow.target in floor
        if known and floor[arrow.target] <= floor[arrow.source]:
            way = "beside" if floor[arrow.target] == floor[arrow.source] else "up"
            problems.append(f"{arrow.where}: {arrow.source} imports {arrow.target} ({way})")
    return sorted(set(problems))


def test_every_import_points_down_the_house() -> None:
    assert misdirected(ROOT) == []


def test_an_import_that_runs_up_is_found(tmp_path: Path) -> None:
    for name in ("vault", "admin_ui"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    db = tmp_path / "vault" / "db.py"
    db.write_text(db.read_text(encoding="utf-8") + "\n\ndef _late() -> None:\n"
                  "    from vault.api.errors import problem  # noqa: F401\n",
                  encoding="utf-8")  # fmt: skip
    crypto = tmp_path / "vault" / "crypto" / "envelope.py"
    crypto.write_text("import vault.mail\n" + crypto.read_text(encoding="utf-8"), "utf-8")
    new = tmp_path / "vault" / "newcomer.py"
    new.write_text("from vault import errors\n", encoding="utf-8")
    found = misdirected(tmp_path)
    assert any(p.startswith("vault/db.py:") and p.endswith("db imports api (up)") for p in found)
    assert "vault/crypto/envelope.py:1: crypto imports mail (beside)" in found
    assert "vault/newcomer.py:1: newcomer has no floor in tests/test_house.py" in found
    assert len(found) == 3, found
