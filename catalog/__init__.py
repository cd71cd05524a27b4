"""foleyflow catalog: SQLAlchemy 2 models, sessions, Alembic migrations and the
operations the flows call (catalog.repo)."""
import foleyflow  # noqa: F401  (offline defaults before prefect/hf imports)

from catalog.db import init_catalog, make_engine, session_scope  # noqa: E402
from catalog.models import EventType, Outcome, Status  # noqa: E402

__all__ = ["EventType", "Outcome", "Status", "init_catalog", "make_engine", "session_scope"]
