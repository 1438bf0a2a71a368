"""reconciliation: when each job's message was last published (database clock), and a log of
reconciler passes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 16:30:00

``jobs.published_at`` lets the reconciler leave alone a job whose message was published moments
ago; ``reconcile_runs`` records what each pass did (``rader-queue status`` shows the last ones).
A job may now also be ``cancelled`` (a string state: no schema change).
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_jobs_state_lease", "jobs", ["state", "lease_until"])
    op.create_table(
        "reconcile_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("worker", sa.String(200), nullable=True),
        sa.Column("queued_checked", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("republished", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("released", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_reconcile_runs"),
    )


def downgrade() -> None:
    op.drop_table("reconcile_runs")
    op.drop_index("ix_jobs_state_lease", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("published_at")
