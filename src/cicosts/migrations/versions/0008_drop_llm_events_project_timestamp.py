"""Drop llm_events' (project_id, timestamp) index: every query of calls by time names the organization.

Each index costs every ingested call its upkeep; `ix_llm_events_org_timestamp` serves the queries that read
calls by time (the organization's, or some of its projects'), and the unique (project_id, event_id) index
those that read a project's calls whatever their time.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 14:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("llm_events", schema=None) as batch_op:
        batch_op.drop_index("ix_llm_events_project_timestamp")


def downgrade() -> None:
    with op.batch_alter_table("llm_events", schema=None) as batch_op:
        batch_op.create_index("ix_llm_events_project_timestamp", ["project_id", "timestamp"], unique=False)
