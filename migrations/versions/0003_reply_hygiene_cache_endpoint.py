"""reply hygiene and a trustworthy cache: llm_calls.finish_reason, llm_cache.endpoint/finish_reason

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 16:40:00

The cache key now includes the endpoint's base URL (rader_queue.llm.cache), so entries written
before this revision are never hit again; they keep endpoint NULL and can be removed with
``rader-queue llm cache clear``.
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('llm_calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('finish_reason', sa.String(length=64), nullable=True))
    with op.batch_alter_table('llm_cache', schema=None) as batch_op:
        batch_op.add_column(sa.Column('endpoint', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('finish_reason', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_llm_cache_endpoint'), ['endpoint'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('llm_cache', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_llm_cache_endpoint'))
        batch_op.drop_column('finish_reason')
        batch_op.drop_column('endpoint')
    with op.batch_alter_table('llm_calls', schema=None) as batch_op:
        batch_op.drop_column('finish_reason')
