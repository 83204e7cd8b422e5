"""LLM project names unique per organization in the database, not only by a check before writing.

Two projects created or renamed at the same moment could both pass the check; the ledger names a project by
its name, so their costs would merge.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 15:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("llm_projects", schema=None) as batch_op:
        batch_op.create_unique_constraint(op.f("uq_llm_projects_org_id_name"), ["org_id", "name"])


def downgrade() -> None:
    with op.batch_alter_table("llm_projects", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("uq_llm_projects_org_id_name"), type_="unique")
