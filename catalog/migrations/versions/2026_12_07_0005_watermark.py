"""watermark: the marks issued for generated tracks (the row id is the payload in the audio)

Revision ID: 0005_watermark
Revises: 0004_review_delivery
Create Date: 2026-12-07

Written to match catalog.models exactly (tests/test_migrations.py checks that
autogenerate finds no difference).
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0005_watermark"
down_revision: Union[str, Sequence[str], None] = "0004_review_delivery"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "watermark",
        sa.Column("film_id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("method", sa.String(length=64), nullable=False),
        sa.Column("key_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("generation_ids", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("marked_sha256", sa.String(length=64), nullable=True),
        sa.Column("snr_db", sa.Float(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["delivery_id"], ["delivery.id"], name=op.f("fk_watermark__delivery_id__delivery"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["film_id"], ["film.id"], name=op.f("fk_watermark__film_id__film"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watermark")),
    )
    for column in ("film_id", "delivery_id"):
        op.create_index(op.f(f"ix_watermark__{column}"), "watermark", [column])


def downgrade() -> None:
    op.drop_table("watermark")
