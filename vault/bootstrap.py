"""What `vault init` does besides migrating: private modes on the instance folder and the
database, the shipped roles, purposes and first admin. Each step reports what it changed, so a
second run can say that nothing did."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from vault import defaults
from vault.auth.models import User
from vault.auth.service import create_user, find_user_by_email
from vault.config import Settings
from vault.crypto.keys import FileKeyProvider
from vault.customers.catalogue import seed_catalogue
from vault.db import create_db_engine, sqlite_database_path, utcnow
from vault.governance.retention_rules import seed_rules
from vault.migrate import upgrade
from vault.policies.models import Purpose, Role
from vault.policies.service import seed_policies
from vault.private_files import PRIVATE_FILE, PRIVATE_FOLDER, restrict_mode


def restrict_instance(settings: Settings) -> list[str]:
    """Tighten the instance folder to 0700 and an SQLite database with its ``-wal`` and
    ``-shm`` files to 0600 where they belong to this user and allow more. Raises
    ``OSError`` when a mode cannot be changed."""
    paths = [(settings.instance_path, PRIVATE_FOLDER)]
    database = sqlite_database_path(settings.database_url)
    if database is not None:
        paths += [(Path(f"{database}{suffix}"), PRIVATE_FILE) for suffix in ("", "-wal", "-shm")]
    return [
        f"restricted {path} to mode {mode:04o}" for path, mode in paths if restrict_mode(path, mode)
    ]


def ensure_master_key(settings: Settings) -> list[str]:
    """Create the master key file when the file provider is used and none exists."""
    path = settings.resolved_master_key_file
    if settings.key_provider != "file" or path.exists():
        return []
    FileKeyProvider.create(path)
    return [f"created the master key file {path} (version 1, mode 0600)"]


def seed_defaults(session: Session) -> list[str]:
    """Create the shipped purposes, roles and catalogue fields that do not exist yet. A role's
    default purposes are linked only when the role is created, so an admin's later edits are
    kept."""
    changes: list[str] = []
    purposes = {p.code: p for p in session.scalars(sa.select(Purpose))}
    for code, (basis, description) in defaults.PURPOSES.items():
        if code not in purposes:
            purposes[code] = Purpose(code=code, legal_basis=basis, description=description)
            session.add(purposes[code])
            changes.append(f"created purpose {code} ({basis})")
    existing = set(session.scalars(sa.select(Role.name)))
    for name, description in defaults.ROLES.items():
        if name not in existing:
            session.add(
                Role(
                    name=name,
                    description=description,
                    builtin=True,
                    purposes=[purposes[c] for c in defaults.ROLE_PURPOSES.get(name, ())],
                )
            )
            changes.append(f"created role {name}")
    session.flush()
    changes += seed_catalogue(session)
    changes += seed_policies(session)
    changes += seed_rules(session, utcnow())
    return changes


def prepare_database(url: str) -> None:
    """Migrate the database at ``url`` to the newest revision and load the shipped defaults
    (what `vault init` does to the schema, without keys or users)."""
    engine = create_db_engine(url)
    try:
        upgrade(engine)
        with Session(engine) as session:
            seed_defaults(session)
            session.commit()
    finally:
        engine.dispose()


def admin_exists(session: Session) -> bool:
    return (
        session.scalar(sa.select(User.id).join(User.roles).where(Role.name == "admin").limit(1))
        is not None
    )


def ensure_admin(
    session: Session, email: str, password: str, min_password_length: int
) -> list[str]:
    """Create the first admin unless a user with that email exists (then nothing changes)."""
    if find_user_by_email(session, email) is not None:
        return []
    user = create_user(
        session,
        email=email,
        password=password,
        roles=["admin"],
        min_password_length=min_password_length,
    )
    return [f"created admin user {user.email}"]
