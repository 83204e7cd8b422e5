"""CI rollups by UTC day and by organization, backfilled from the hourly rollup.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 09:05:36.354789
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


MEASURE_NAMES = (
    "cost_nanos",
    "list_cost_nanos",
    "billable_minutes",
    "jobs",
    "unpriced_jobs",
    "runs",
    "completed_runs",
    "successful_runs",
    "run_seconds",
)
MEASURES = ", ".join(MEASURE_NAMES)
SUMS = ", ".join(f"SUM({name})" for name in MEASURE_NAMES)


def _backfill() -> None:
    day = "(hour AT TIME ZONE 'UTC')::date" if op.get_bind().dialect.name == "postgresql" else "date(hour)"
    op.execute(
        f"INSERT INTO ci_daily (org_id, day, repository_id, workflow_id, {MEASURES}) "
        f"SELECT org_id, {day}, repository_id, workflow_id, {SUMS} FROM ci_hourly "
        f"GROUP BY org_id, {day}, repository_id, workflow_id"
    )
    op.execute(
        f"INSERT INTO ci_org_hourly (org_id, hour, {MEASURES}) "
        f"SELECT org_id, hour, {SUMS} FROM ci_hourly GROUP BY org_id, hour"
    )


def upgrade() -> None:

    op.create_table(
        "ci_org_hourly",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("org_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cost_nanos", sa.BigInteger(), nullable=False),
        sa.Column("list_cost_nanos", sa.BigInteger(), nullable=False),
        sa.Column("billable_minutes", sa.BigInteger(), nullable=False),
        sa.Column("jobs", sa.Integer(), nullable=False),
        sa.Column("unpriced_jobs", sa.Integer(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("completed_runs", sa.Integer(), nullable=False),
        sa.Column("successful_runs", sa.Integer(), nullable=False),
        sa.Column("run_seconds", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_ci_org_hourly_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ci_org_hourly")),
        sa.UniqueConstraint("org_id", "hour", name=op.f("uq_ci_org_hourly_org_id_hour")),
    )
    op.create_table(
        "ci_daily",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("org_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("repository_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("workflow_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("cost_nanos", sa.BigInteger(), nullable=False),
        sa.Column("list_cost_nanos", sa.BigInteger(), nullable=False),
        sa.Column("billable_minutes", sa.BigInteger(), nullable=False),
        sa.Column("jobs", sa.Integer(), nullable=False),
        sa.Column("unpriced_jobs", sa.Integer(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("completed_runs", sa.Integer(), nullable=False),
        sa.Column("successful_runs", sa.Integer(), nullable=False),
        sa.Column("run_seconds", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_ci_daily_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_ci_daily_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_ci_daily_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ci_daily")),
        sa.UniqueConstraint(
            "org_id",
            "day",
            "repository_id",
            "workflow_id",
            name=op.f("uq_ci_daily_org_id_day_repository_id_workflow_id"),
        ),
    )
    _backfill()


def downgrade() -> None:

    op.drop_table("ci_daily")
    op.drop_table("ci_org_hourly")
