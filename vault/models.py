"""Imports every model module so that ``Base.metadata`` knows every table (Alembic, tests)."""

from vault.audit import models as audit_models
from vault.auth import models as auth_models
from vault.customers import models as customer_models
from vault.db import Base
from vault.events import models as event_models
from vault.governance import models as governance_models
from vault.idempotency import models as idempotency_models
from vault.policies import models as policy_models

__all__ = [
    "Base",
    "audit_models",
    "auth_models",
    "customer_models",
    "event_models",
    "governance_models",
    "idempotency_models",
    "policy_models",
]
