"""review and delivery: archivists' decisions per shot, delivered versions of a film

Revision ID: 0004_review_delivery
Revises: 0003_generation
Create Date: 2026-12-06

Written to match catalog.models exactly (tests/test_migrations.py checks that
autogenerate finds no difference).
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004_review_delivery"
down_revision: Union[str, Sequence[str], None] = "0003_generation"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _base_columns() -> list[sa.Column]:
    return [sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("created", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
            sa.Column("updated", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)]


def upgrade() -> None:
    with op.batch_alter_table("shot") as batch:
        batch.add_column(sa.Column("reroll", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "review",
        sa.Column("shot_id", sa.Integer(), nullable=False),
        sa.Column("generation_id", sa.Integer(), nullable=True),
        sa.Column("decision", sa.String(length=8), nullable=False),
        sa.Column("reviewer", sa.String(), nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("prompt", sa.Text(), nullable=True),
        sa.Column("negative_prompt", sa.Text(), nullable=True),
        *_base_columns(),
        sa.CheckConstraint("decision IN ('accept', 'reject')", name=op.f("ck_review__decision")),
        sa.ForeignKeyConstraint(["generation_id"], ["generation.id"], name=op.f("fk_review__generation_id__generation"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["shot_id"], ["shot.id"], name=op.f("fk_review__shot_id__shot"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review")),
    )
    op.create_index(op.f("ix_review__shot_id"), "review", ["shot_id"])
    op.create_table(
        "delivery",
        sa.Column("film_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("predecessor_id", sa.Integer(), nullable=True),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("soundtrack_path", sa.String(), nullable=False),
        sa.Column("soundtrack_sha256", sa.String(length=64), nullable=False),
        sa.Column("generation_ids", sa.JSON(none_as_null=True), nullable=False),
        *_base_columns(),
        sa.ForeignKeyConstraint(["film_id"], ["film.id"], name=op.f("fk_delivery__film_id__film"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["predecessor_id"], ["delivery.id"], name=op.f("fk_delivery__predecessor_id__delivery"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["run_id"], ["run.id"], name=op.f("fk_delivery__run_id__run"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery")),
        sa.UniqueConstraint("film_id", "version", name=op.f("uq_delivery__film_id_version")),
    )
    for column in ("film_id", "run_id"):
        op.create_index(op.f(f"ix_delivery__{column}"), "delivery", [column])


def downgrade() -> None:
    op.drop_table("delivery")
    op.drop_table("review")
    with op.batch_alter_table("shot") as batch:
        batch.drop_column("reroll")
