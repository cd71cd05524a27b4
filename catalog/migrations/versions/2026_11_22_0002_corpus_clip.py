"""corpus_clip: recorded sounds of the training corpus

Revision ID: 0002_corpus
Revises: 0001
Create Date: 2026-11-22

Written to match catalog.models.CorpusClip exactly (tests/test_migrations.py
checks that autogenerate finds no difference).
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002_corpus"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "corpus_clip",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("clip_id", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("flac_sha256", sa.String(length=64), nullable=False),
        sa.Column("package", sa.String(), nullable=False),
        sa.Column("package_version", sa.String(), nullable=False),
        sa.Column("deb_sha256", sa.String(length=64), nullable=True),
        sa.Column("source_file", sa.String(), nullable=False),
        sa.Column("author", sa.Text(), nullable=False),
        sa.Column("licence", sa.String(), nullable=False),
        sa.Column("caption", sa.String(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category", sa.String(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("sample_rate", sa.Integer(), nullable=False),
        sa.Column("is_ambience", sa.Boolean(), nullable=False),
        sa.Column("fingerprint", sa.String(length=32), nullable=True),
        sa.Column("dup_group", sa.String(length=16), nullable=True),
        sa.Column("split", sa.String(length=8), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("split IN ('train', 'eval')", name=op.f("ck_corpus_clip__split")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_corpus_clip")),
        sa.UniqueConstraint("sha256", name=op.f("uq_corpus_clip__sha256")),
    )
    for column in ("clip_id", "package", "category"):
        op.create_index(op.f(f"ix_corpus_clip__{column}"), "corpus_clip", [column])


def downgrade() -> None:
    op.drop_table("corpus_clip")
