"""speech_segment: speaking intervals seen in the picture, placed dialogue lines and heard speech per delivery

Revision ID: 0006_speech_segment
Revises: 0005_watermark
Create Date: 2026-12-08

Written to match catalog.models exactly (tests/test_migrations.py checks that
autogenerate finds no difference).
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0006_speech_segment"
down_revision: Union[str, Sequence[str], None] = "0005_watermark"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "speech_segment",
        sa.Column("film_id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("shot_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("kind IN ('speaking', 'line', 'speech')", name=op.f("ck_speech_segment__kind")),
        sa.CheckConstraint("end_s >= start_s", name=op.f("ck_speech_segment__span")),
        sa.ForeignKeyConstraint(["delivery_id"], ["delivery.id"], name=op.f("fk_speech_segment__delivery_id__delivery"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["film_id"], ["film.id"], name=op.f("fk_speech_segment__film_id__film"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["shot_id"], ["shot.id"], name=op.f("fk_speech_segment__shot_id__shot"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_speech_segment")),
    )
    for column in ("film_id", "delivery_id", "shot_id"):
        op.create_index(op.f(f"ix_speech_segment__{column}"), "speech_segment", [column])


def downgrade() -> None:
    op.drop_table("speech_segment")
