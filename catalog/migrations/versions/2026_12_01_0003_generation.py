"""generation: generated candidates per shot; timing curve, soundtrack and delivery files

Revision ID: 0003_generation
Revises: 0002_corpus
Create Date: 2026-12-01

Written to match catalog.models exactly (tests/test_migrations.py checks that
autogenerate finds no difference).
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003_generation"
down_revision: Union[str, Sequence[str], None] = "0002_corpus"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

FILM_COLUMNS = ("soundtrack", "delivery")


def upgrade() -> None:
    with op.batch_alter_table("shot") as batch:
        batch.add_column(sa.Column("timing_path", sa.String(), nullable=True))
        batch.add_column(sa.Column("timing_sha256", sa.String(length=64), nullable=True))
    with op.batch_alter_table("film") as batch:
        for name in FILM_COLUMNS:
            batch.add_column(sa.Column(f"{name}_path", sa.String(), nullable=True))
            batch.add_column(sa.Column(f"{name}_sha256", sa.String(length=64), nullable=True))
    op.create_table(
        "generation",
        sa.Column("shot_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("candidate", sa.Integer(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("negative_prompt", sa.Text(), server_default="", nullable=False),
        sa.Column("model_id", sa.String(), nullable=False),
        sa.Column("weights_sha256", sa.String(length=64), nullable=False),
        sa.Column("scheduler", sa.String(), nullable=False),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.Column("guidance", sa.Float(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("params_hash", sa.String(length=32), nullable=False),
        sa.Column("audio_path", sa.String(), nullable=False),
        sa.Column("audio_sha256", sa.String(length=64), nullable=False),
        sa.Column("scores", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("selected", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("attributions", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["run.id"], name=op.f("fk_generation__run_id__run"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["shot_id"], ["shot.id"], name=op.f("fk_generation__shot_id__shot"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_generation")),
        sa.UniqueConstraint("shot_id", "attempt", "candidate", name=op.f("uq_generation__shot_id_attempt_candidate")),
    )
    for column in ("shot_id", "run_id", "params_hash"):
        op.create_index(op.f(f"ix_generation__{column}"), "generation", [column])


def downgrade() -> None:
    op.drop_table("generation")
    with op.batch_alter_table("film") as batch:
        for name in reversed(FILM_COLUMNS):
            batch.drop_column(f"{name}_sha256")
            batch.drop_column(f"{name}_path")
    with op.batch_alter_table("shot") as batch:
        batch.drop_column("timing_sha256")
        batch.drop_column("timing_path")
