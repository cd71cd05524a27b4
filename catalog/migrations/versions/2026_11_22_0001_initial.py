"""initial catalog: collection, film, shot, run, event, output_file

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Written to match catalog.models exactly (tests/test_migrations.py checks that
autogenerate finds no difference on SQLite and PostgreSQL).
"""
from typing import Any, Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

STATUSES = "status IN ('pending', 'running', 'done', 'failed', 'rejected')"
JSON = sa.JSON(none_as_null=True)


def _common(table: str) -> list[Any]:
    """id / created / updated, as on catalog.models.Base."""
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def _status(table: str) -> list[Any]:
    """status / error / attempts, as on catalog.models._StatusMixin."""
    return [
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint(STATUSES, name=op.f(f"ck_{table}__status")),
    ]


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}__{column}__{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "collection",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("source_path", sa.String(), nullable=True),
        *_common("collection"),
        sa.UniqueConstraint("name", name=op.f("uq_collection__name")),
    )
    op.create_table(
        "film",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("negative_prompt", sa.Text(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("container_format", sa.String(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("fps", sa.Float(), nullable=True),
        sa.Column("fps_num", sa.Integer(), nullable=True),
        sa.Column("fps_den", sa.Integer(), nullable=True),
        sa.Column("vfr", sa.Boolean(), nullable=True),
        sa.Column("frame_count", sa.Integer(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("video_codec", sa.String(), nullable=True),
        sa.Column("pix_fmt", sa.String(), nullable=True),
        sa.Column("rotation", sa.Integer(), nullable=True),
        sa.Column("audio_tracks", JSON, nullable=True),
        sa.Column("cleaned_path", sa.String(), nullable=True),
        sa.Column("cleaned_sha256", sa.String(length=64), nullable=True),
        *_status("film"),
        *_common("film"),
        sa.UniqueConstraint("sha256", name=op.f("uq_film__sha256")),
    )
    op.create_table(
        "run",
        sa.Column("flow_run_id", sa.String(length=64), nullable=True),
        sa.Column("flow_name", sa.String(), nullable=False),
        sa.Column("parameters", JSON, nullable=False),
        sa.Column("code_version", sa.String(), nullable=True),
        sa.Column("started", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.CheckConstraint(STATUSES, name=op.f("ck_run__status")),
        *_common("run"),
    )
    op.create_index(op.f("ix_run__flow_run_id"), "run", ["flow_run_id"])
    op.create_table(
        "collection_film",
        sa.Column("collection_id", sa.Integer(), nullable=False),
        sa.Column("film_id", sa.Integer(), nullable=False),
        *_common("collection_film"),
        _fk("collection_film", "collection_id", "collection", "CASCADE"),
        _fk("collection_film", "film_id", "film", "CASCADE"),
        sa.UniqueConstraint(
            "collection_id", "film_id", name=op.f("uq_collection_film__collection_id_film_id")
        ),
    )
    op.create_index(op.f("ix_collection_film__film_id"), "collection_film", ["film_id"])
    op.create_table(
        "shot",
        sa.Column("film_id", sa.Integer(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("start_frame", sa.Integer(), nullable=False),
        sa.Column("end_frame", sa.Integer(), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
        sa.Column("keyframe_path", sa.String(), nullable=True),
        sa.Column("keyframe_sha256", sa.String(length=64), nullable=True),
        sa.Column("cleaned_path", sa.String(), nullable=True),
        sa.Column("cleaned_sha256", sa.String(length=64), nullable=True),
        sa.Column("prompt", sa.Text(), nullable=True),
        sa.Column("negative_prompt", sa.Text(), nullable=True),
        *_status("shot"),
        *_common("shot"),
        sa.CheckConstraint("end_frame > start_frame", name=op.f("ck_shot__frame_range")),
        _fk("shot", "film_id", "film", "CASCADE"),
        sa.UniqueConstraint("film_id", "index", name=op.f("uq_shot__film_id_index")),
    )
    op.create_table(
        "event",
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(), nullable=False),
        sa.Column("datetime", sa.DateTime(timezone=True), nullable=False),
        sa.Column("agent", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), server_default="", nullable=False),
        sa.Column("outcome_detail", JSON, nullable=True),
        sa.Column("object_identifier", sa.String(), nullable=True),
        sa.Column("film_id", sa.Integer(), nullable=True),
        sa.Column("shot_id", sa.Integer(), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        *_common("event"),
        sa.CheckConstraint("outcome IN ('success', 'failure', 'skipped')", name=op.f("ck_event__outcome")),
        _fk("event", "film_id", "film", "SET NULL"),
        _fk("event", "shot_id", "shot", "SET NULL"),
        _fk("event", "run_id", "run", "SET NULL"),
        sa.UniqueConstraint("uuid", name=op.f("uq_event__uuid")),
    )
    for column in ("datetime", "event_type", "film_id", "shot_id", "run_id"):
        op.create_index(op.f(f"ix_event__{column}"), "event", [column])
    op.create_table(
        "output_file",
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("film_id", sa.Integer(), nullable=True),
        sa.Column("shot_id", sa.Integer(), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        *_common("output_file"),
        _fk("output_file", "film_id", "film", "CASCADE"),
        _fk("output_file", "shot_id", "shot", "SET NULL"),
        _fk("output_file", "run_id", "run", "SET NULL"),
        sa.UniqueConstraint("kind", "path", "sha256", name=op.f("uq_output_file__kind_path_sha256")),
    )
    for column in ("film_id", "shot_id", "run_id"):
        op.create_index(op.f(f"ix_output_file__{column}"), "output_file", [column])


def downgrade() -> None:
    # Children first; dropping a table drops its indexes.
    for table in ("output_file", "event", "shot", "collection_film", "run", "film", "collection"):
        op.drop_table(table)
