"""Small catalog helpers shared by the flows (the flows record, the tasks only compute)."""

from __future__ import annotations

from catalog import repo
from catalog.models import Run
from tasks.ingest import sha256_file

__all__ = ["sha256_file", "event", "run_row"]


def event(session, event_type, outcome, who: str, detail: str = "", **links) -> None:
    """Add a PREMIS-style event (type, outcome, agent, detail) linked to film / shot / run."""
    repo.add_event(session, event_type=str(event_type), outcome=str(outcome), agent=who, detail=detail, **links)


def run_row(session, run_id: int | None) -> Run | None:
    """The catalog's run row, or None when the flow runs outside a recorded run."""
    return session.get(Run, run_id) if run_id else None
