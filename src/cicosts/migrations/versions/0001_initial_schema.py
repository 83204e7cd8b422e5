"""Initial schema, with GitHub's runner prices before and from 2026-01-01.

Revision ID: 0001
Revises:
Create Date: 2026-11-27 08:00:32.837951
"""

import datetime
from collections.abc import Sequence
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# (sku, standard, USD/min until 2025-12-31, USD/min from 2026-01-01), from GitHub's published rates.
RUNNER_RATES: tuple[tuple[str, bool, str, str], ...] = (
    ("linux_slim", True, "0.002", "0.002"),
    ("linux", True, "0.008", "0.006"),
    ("windows", True, "0.016", "0.010"),
    ("macos", True, "0.080", "0.062"),
    ("linux_2_core_arm", True, "0.005", "0.005"),
    ("windows_2_core_arm", True, "0.010", "0.008"),
    ("linux_2_core_advanced", False, "0.008", "0.006"),
    ("linux_4_core", False, "0.016", "0.012"),
    ("linux_8_core", False, "0.032", "0.022"),
    ("linux_16_core", False, "0.064", "0.042"),
    ("linux_32_core", False, "0.128", "0.082"),
    ("linux_64_core", False, "0.256", "0.162"),
    ("linux_96_core", False, "0.384", "0.252"),
    ("windows_4_core", False, "0.032", "0.022"),
    ("windows_8_core", False, "0.064", "0.042"),
    ("windows_16_core", False, "0.128", "0.082"),
    ("windows_32_core", False, "0.256", "0.162"),
    ("windows_64_core", False, "0.512", "0.322"),
    ("windows_96_core", False, "0.768", "0.552"),
    ("macos_l", False, "0.120", "0.077"),
    ("macos_xl", False, "0.160", "0.102"),
    ("linux_4_core_arm", False, "0.010", "0.008"),
    ("linux_8_core_arm", False, "0.020", "0.014"),
    ("linux_16_core_arm", False, "0.040", "0.026"),
    ("linux_32_core_arm", False, "0.080", "0.050"),
    ("linux_64_core_arm", False, "0.160", "0.098"),
    ("windows_4_core_arm", False, "0.020", "0.014"),
    ("windows_8_core_arm", False, "0.040", "0.026"),
    ("windows_16_core_arm", False, "0.080", "0.050"),
    ("windows_32_core_arm", False, "0.160", "0.098"),
    ("windows_64_core_arm", False, "0.320", "0.194"),
    ("linux_4_core_gpu", False, "0.070", "0.052"),
    ("windows_4_core_gpu", False, "0.140", "0.102"),
)
BEFORE_2026 = datetime.date(2000, 1, 1)
FROM_2026 = datetime.date(2026, 1, 1)


def _nanos(usd: str) -> int:
    return int(Decimal(usd) * 10**9)


def _seed_runner_prices() -> None:
    prices = sa.table(
        "runner_prices",
        sa.column("sku", sa.String),
        sa.column("effective_from", sa.Date),
        sa.column("nanos_per_minute", sa.BigInteger),
        sa.column("standard", sa.Boolean),
    )
    rows = []
    for sku, standard, old, new in RUNNER_RATES:
        rows.append(
            {
                "sku": sku,
                "effective_from": BEFORE_2026,
                "nanos_per_minute": _nanos(old),
                "standard": standard,
            }
        )
        rows.append(
            {
                "sku": sku,
                "effective_from": FROM_2026,
                "nanos_per_minute": _nanos(new),
                "standard": standard,
            }
        )
    op.bulk_insert(prices, rows)


def upgrade() -> None:

    op.create_table(
        "jobs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("queue", sa.String(length=50), nullable=False),
        sa.Column("kind", sa.String(length=100), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("queue", "dedupe_key", name=op.f("uq_jobs_queue_dedupe_key")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_claimable", ["queue", "status", "run_at"], unique=False)

    op.create_table(
        "organizations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("github_account_id", sa.BigInteger(), nullable=True),
        sa.Column("login", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("account_type", sa.String(length=20), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
        sa.UniqueConstraint("github_account_id", name=op.f("uq_organizations_github_account_id")),
        sa.UniqueConstraint("login", name=op.f("uq_organizations_login")),
    )
    op.create_table(
        "runner_prices",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sku", sa.String(length=50), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("nanos_per_minute", sa.BigInteger(), nullable=False),
        sa.Column("standard", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runner_prices")),
        sa.UniqueConstraint("sku", "effective_from", name=op.f("uq_runner_prices_sku_effective_from")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("github_id", sa.BigInteger(), nullable=True),
        sa.Column("github_login", sa.String(length=100), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("avatar_url", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("github_id", name=op.f("uq_users_github_id")),
        sa.UniqueConstraint("github_login", name=op.f("uq_users_github_login")),
    )
    op.create_table(
        "installations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("github_installation_id", sa.BigInteger(), nullable=False),
        sa.Column("org_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("repository_selection", sa.String(length=20), nullable=True),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_installations_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_installations")),
        sa.UniqueConstraint("github_installation_id", name=op.f("uq_installations_github_installation_id")),
    )
    with op.batch_alter_table("installations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_installations_org_id"), ["org_id"], unique=False)

    op.create_table(
        "ledger_hourly",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("org_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("provider", sa.String(length=100), nullable=False),
        sa.Column("service", sa.String(length=200), nullable=False),
        sa.Column("sub_account", sa.String(length=255), nullable=False),
        sa.Column("resource", sa.String(length=255), nullable=False),
        sa.Column("sku", sa.String(length=100), nullable=False),
        sa.Column("unit", sa.String(length=30), nullable=False),
        sa.Column("billed_nanos", sa.BigInteger(), nullable=False),
        sa.Column("list_nanos", sa.BigInteger(), nullable=False),
        sa.Column("quantity_micros", sa.BigInteger(), nullable=False),
        sa.Column("record_count", sa.BigInteger(), nullable=False),
        sa.Column("unpriced_count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_ledger_hourly_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_hourly")),
        sa.UniqueConstraint(
            "org_id",
            "hour",
            "source",
            "provider",
            "service",
            "sub_account",
            "resource",
            "sku",
            name=op.f("uq_ledger_hourly_org_id_hour_source_provider_service_sub_account_resource_sku"),
        ),
    )
    op.create_table(
        "memberships",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("org_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_memberships_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_memberships_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memberships")),
        sa.UniqueConstraint("org_id", "user_id", name=op.f("uq_memberships_org_id_user_id")),
    )
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_memberships_user_id"), ["user_id"], unique=False)

    op.create_table(
        "repositories",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("github_repository_id", sa.BigInteger(), nullable=False),
        sa.Column("org_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("full_name", sa.String(length=255), nullable=False),
        sa.Column("private", sa.Boolean(), nullable=False),
        sa.Column("installed", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_repositories_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repositories")),
        sa.UniqueConstraint("github_repository_id", name=op.f("uq_repositories_github_repository_id")),
    )
    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_repositories_org_id"), ["org_id"], unique=False)

    op.create_table(
        "runner_mappings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("org_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("match_kind", sa.String(length=20), nullable=False),
        sa.Column("match_value", sa.String(length=255), nullable=False),
        sa.Column("sku", sa.String(length=50), nullable=True),
        sa.Column("nanos_per_minute", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_runner_mappings_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runner_mappings")),
        sa.UniqueConstraint(
            "org_id",
            "match_kind",
            "match_value",
            name=op.f("uq_runner_mappings_org_id_match_kind_match_value"),
        ),
    )
    op.create_table(
        "workflows",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("org_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("repository_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=True),
        sa.Column("github_workflow_id", sa.BigInteger(), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_run_status", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_workflows_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_workflows_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflows")),
        sa.UniqueConstraint("repository_id", "name", name=op.f("uq_workflows_repository_id_name")),
    )
    with op.batch_alter_table("workflows", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_workflows_org_id"), ["org_id"], unique=False)

    op.create_table(
        "ci_hourly",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("org_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
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
            name=op.f("fk_ci_hourly_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_ci_hourly_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_ci_hourly_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ci_hourly")),
        sa.UniqueConstraint(
            "org_id",
            "hour",
            "repository_id",
            "workflow_id",
            name=op.f("uq_ci_hourly_org_id_hour_repository_id_workflow_id"),
        ),
    )
    op.create_table(
        "workflow_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("org_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("repository_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("workflow_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("github_run_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=True),
        sa.Column("event", sa.String(length=50), nullable=True),
        sa.Column("head_branch", sa.String(length=255), nullable=True),
        sa.Column("head_sha", sa.String(length=40), nullable=True),
        sa.Column("actor_login", sa.String(length=100), nullable=True),
        sa.Column("run_number", sa.Integer(), nullable=True),
        sa.Column("run_attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("conclusion", sa.String(length=20), nullable=True),
        sa.Column("html_url", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("described", sa.Boolean(), nullable=False),
        sa.Column("billable_minutes", sa.BigInteger(), nullable=False),
        sa.Column("cost_nanos", sa.BigInteger(), nullable=False),
        sa.Column("list_cost_nanos", sa.BigInteger(), nullable=False),
        sa.Column("unpriced_jobs", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_workflow_runs_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_workflow_runs_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_workflow_runs_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_runs")),
        sa.UniqueConstraint("org_id", "github_run_id", name=op.f("uq_workflow_runs_org_id_github_run_id")),
    )
    with op.batch_alter_table("workflow_runs", schema=None) as batch_op:
        batch_op.create_index("ix_workflow_runs_org_created", ["org_id", "created_at"], unique=False)
        batch_op.create_index(
            "ix_workflow_runs_workflow_created", ["workflow_id", "created_at"], unique=False
        )

    op.create_table(
        "workflow_jobs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("org_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("repository_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("workflow_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("github_job_id", sa.BigInteger(), nullable=False),
        sa.Column("github_run_id", sa.BigInteger(), nullable=False),
        sa.Column("run_attempt", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("head_branch", sa.String(length=255), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("runner_name", sa.String(length=255), nullable=True),
        sa.Column("runner_group_name", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("conclusion", sa.String(length=20), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("billable_minutes", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=50), nullable=True),
        sa.Column("unit_price_nanos", sa.BigInteger(), nullable=True),
        sa.Column("cost_nanos", sa.BigInteger(), nullable=False),
        sa.Column("list_cost_nanos", sa.BigInteger(), nullable=False),
        sa.Column("price_source", sa.String(length=30), nullable=True),
        sa.Column("unpriced", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_workflow_jobs_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_workflow_jobs_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["workflow_runs.id"],
            name=op.f("fk_workflow_jobs_run_id_workflow_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_workflow_jobs_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_jobs")),
        sa.UniqueConstraint("org_id", "github_job_id", name=op.f("uq_workflow_jobs_org_id_github_job_id")),
    )
    with op.batch_alter_table("workflow_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_workflow_jobs_run_attempt", ["run_id", "run_attempt"], unique=False)

    _seed_runner_prices()


def downgrade() -> None:

    with op.batch_alter_table("workflow_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_workflow_jobs_run_attempt")

    op.drop_table("workflow_jobs")
    with op.batch_alter_table("workflow_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_workflow_runs_workflow_created")
        batch_op.drop_index("ix_workflow_runs_org_created")

    op.drop_table("workflow_runs")
    op.drop_table("ci_hourly")
    with op.batch_alter_table("workflows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workflows_org_id"))

    op.drop_table("workflows")
    op.drop_table("runner_mappings")
    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_repositories_org_id"))

    op.drop_table("repositories")
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_memberships_user_id"))

    op.drop_table("memberships")
    op.drop_table("ledger_hourly")
    with op.batch_alter_table("installations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_installations_org_id"))

    op.drop_table("installations")
    op.drop_table("users")
    op.drop_table("runner_prices")
    op.drop_table("organizations")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_claimable")

    op.drop_table("jobs")
