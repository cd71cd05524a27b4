"""SQLAlchemy 2 models of the foleyflow catalog.

The catalog is the source of truth for what has been ingested, how each film
was split into shots, which stage of which shot is done, and what happened to
every object (PREMIS-style events). Films are identified by the sha256 of
their file, never by their path.

Conventions (after Prefect's own server ORM):

- one :class:`Base` with a constraint naming convention, so migrations can
  name, alter and drop every constraint on SQLite (batch mode) and PostgreSQL;
- shared ``id`` / ``created`` / ``updated`` columns, timezone-aware UTC
  timestamps on both backends (:class:`UTCDateTime`);
- ``Mapped[...]`` / ``mapped_column`` everywhere;
- every relationship is ``lazy="raise"``: nothing is loaded behind your back,
  ask for it with ``selectinload(Film.shots)`` or ``set_committed_value``.

Status, outcome and event-type values are ``StrEnum`` constants; the columns
hold their plain string values.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid as uuid_module
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column, relationship, validates


class Status(StrEnum):
    """Processing state of a film, a shot or a run."""

    PENDING = "pending"  # not started, or must run again (boundaries changed)
    RUNNING = "running"  # an attempt is under way (attempts was incremented)
    DONE = "done"  # finished; a re-run skips it
    FAILED = "failed"  # the last attempt failed; ``error`` says why
    REJECTED = "rejected"  # an archivist rejected the result; a re-run redoes it


class Outcome(StrEnum):
    """Outcome of an :class:`Event` (PREMIS eventOutcome)."""

    SUCCESS = "success"
    FAILURE = "failure"
    SKIPPED = "skipped"


class EventType(StrEnum):
    """Vocabulary of :attr:`Event.event_type`.

    The column is a free string; these are the values foleyflow writes. Where a
    term exists in the Library of Congress PREMIS event-type vocabulary
    (id.loc.gov/vocabulary/preservation/eventType) it is used as spelled there.
    """

    # PREMIS terms
    INGESTION = "ingestion"  # a film file entered the catalog
    MESSAGE_DIGEST_CALCULATION = "message digest calculation"  # sha256 computed
    FIXITY_CHECK = "fixity check"  # sha256 recomputed and compared
    METADATA_EXTRACTION = "metadata extraction"  # probe: fps, size, codec, ...
    VALIDATION = "validation"  # file decodes / conforms
    MODIFICATION = "modification"  # any other change of content
    CREATION = "creation"  # a new file was made (e.g. generated audio)
    NORMALIZATION = "normalization"  # loudness normalisation of the stitched track
    DIGITAL_SIGNATURE_GENERATION = "digital signature generation"  # C2PA signing
    DELETION = "deletion"
    EXPORTING = "exporting"  # provenance reports, Parquet/CSV exports
    # foleyflow stages (no PREMIS term fits closely enough)
    SHOT_DETECTION = "shot detection"
    KEYFRAME_EXTRACTION = "keyframe extraction"
    CLEANING = "cleaning"  # deflicker, dust, scratches, grain, jitter
    FEATURE_EXTRACTION = "feature extraction"  # activity curve, shot context
    GENERATION = "generation"  # diffusion foley candidates
    QUALITY_CHECK = "quality check"
    REVIEW = "review"  # an archivist accepted or rejected a result
    STITCHING = "stitching"
    WATERMARKING = "watermarking"
    CORPUS_BUILD = "corpus build"  # a Debian package's sounds turned into training clips


def utcnow() -> dt.datetime:
    """The current time, timezone-aware, in UTC."""
    return dt.datetime.now(dt.UTC)


def new_uuid() -> str:
    """A random UUID as a 36-character string (the PREMIS eventIdentifier)."""
    return str(uuid_module.uuid4())


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend.

    PostgreSQL stores ``timestamptz``; SQLite has no timezone support, so the
    value is stored as naive UTC and marked UTC again when read. Naive values
    are refused: their meaning depends on the machine that wrote them.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(
                f"naive datetime {value!r} given to the catalog; pass a timezone-aware one, "
                "e.g. datetime.now(timezone.utc)"
            )
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


# Names for every index and constraint, so migrations can refer to them (SQLite
# batch mode needs names to drop or alter a constraint).
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s__%(column_0_N_name)s",
    "uq": "uq_%(table_name)s__%(column_0_N_name)s",
    "ck": "ck_%(table_name)s__%(constraint_name)s",
    "fk": "fk_%(table_name)s__%(column_0_N_name)s__%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
_STATUS_VALUES = ", ".join(f"'{s.value}'" for s in Status)
_OUTCOME_VALUES = ", ".join(f"'{o.value}'" for o in Outcome)


class Base(DeclarativeBase):
    """Base of every catalog model: table name from the class name, id, created, updated."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        str: sa.String(),
        dt.datetime: UTCDateTime(),
        dict[str, Any]: sa.JSON(none_as_null=True),
        list[dict[str, Any]]: sa.JSON(none_as_null=True),
        list[int]: sa.JSON(none_as_null=True),
    }

    @declared_attr.directive
    def __tablename__(cls) -> str:  # CollectionFilm -> collection_film
        return _CAMEL.sub("_", cls.__name__).lower()

    id: Mapped[int] = mapped_column(primary_key=True)
    created: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=sa.func.now())
    # Set in Python on every ORM update (so the value is known without a reload).
    updated: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=sa.func.now())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id})"


class _StatusMixin:
    """status / error / attempts of a unit of work (film or shot)."""

    status: Mapped[str] = mapped_column(sa.String(16), default=Status.PENDING.value, server_default=Status.PENDING.value)
    error: Mapped[str | None] = mapped_column(sa.Text)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")

    @validates("status")
    def _check_status(self, _key: str, value: str) -> str:
        return Status(value).value  # ValueError for an unknown status


class Collection(Base):
    """A named group of films, e.g. one archive's folder of scans."""

    name: Mapped[str] = mapped_column(unique=True)
    source_path: Mapped[str | None]

    films: Mapped[list[Film]] = relationship(
        secondary="collection_film", lazy="raise", viewonly=True, order_by="Film.id"
    )


class CollectionFilm(Base):
    """Membership of a film in a collection (a film may be in several)."""

    collection_id: Mapped[int] = mapped_column(sa.ForeignKey("collection.id", ondelete="CASCADE"))
    film_id: Mapped[int] = mapped_column(sa.ForeignKey("film.id", ondelete="CASCADE"), index=True)

    __table_args__ = (sa.UniqueConstraint("collection_id", "film_id"),)


class Film(_StatusMixin, Base):
    """One film file, identified by its sha256; probe fields stay NULL for unreadable files."""

    sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
    path: Mapped[str]
    title: Mapped[str | None]
    description: Mapped[str | None] = mapped_column(sa.Text)  # the archivist's prompt
    negative_prompt: Mapped[str | None] = mapped_column(sa.Text)
    size_bytes: Mapped[int | None] = mapped_column(sa.BigInteger)
    # probe (see PROBE_FIELDS)
    container_format: Mapped[str | None]
    duration_s: Mapped[float | None] = mapped_column(sa.Float)
    fps: Mapped[float | None] = mapped_column(sa.Float)
    fps_num: Mapped[int | None]  # exact frame rate fps_num / fps_den
    fps_den: Mapped[int | None]
    vfr: Mapped[bool | None]  # variable frame rate
    frame_count: Mapped[int | None]
    width: Mapped[int | None]
    height: Mapped[int | None]
    video_codec: Mapped[str | None]
    pix_fmt: Mapped[str | None]
    rotation: Mapped[int | None]  # display rotation in degrees
    audio_tracks: Mapped[list[dict[str, Any]] | None]
    # derived files
    cleaned_path: Mapped[str | None]
    cleaned_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    soundtrack_path: Mapped[str | None]  # the stitched generated track (WAV stem)
    soundtrack_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    delivery_path: Mapped[str | None]  # picture + generated sound (MP4)
    delivery_sha256: Mapped[str | None] = mapped_column(sa.String(64))

    shots: Mapped[list[Shot]] = relationship(
        back_populates="film", lazy="raise", order_by="Shot.index",
        cascade="all, delete-orphan", passive_deletes=True,
    )
    collections: Mapped[list[Collection]] = relationship(
        secondary="collection_film", lazy="raise", viewonly=True, order_by="Collection.id"
    )

    __table_args__ = (sa.CheckConstraint(f"status IN ({_STATUS_VALUES})", name="status"),)


#: Film columns that ``upsert_film(probe=...)`` sets.
PROBE_FIELDS: tuple[str, ...] = (
    "container_format", "duration_s", "fps", "fps_num", "fps_den", "vfr", "frame_count",
    "width", "height", "video_codec", "pix_fmt", "rotation", "audio_tracks",
)


class Shot(_StatusMixin, Base):
    """A shot: the half-open frame range [start_frame, end_frame) of a film."""

    film_id: Mapped[int] = mapped_column(sa.ForeignKey("film.id", ondelete="CASCADE"))
    index: Mapped[int]  # 0-based position in the film
    start_frame: Mapped[int]
    end_frame: Mapped[int]  # exclusive
    start_s: Mapped[float] = mapped_column(sa.Float)
    end_s: Mapped[float] = mapped_column(sa.Float)
    keyframe_path: Mapped[str | None]
    keyframe_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    cleaned_path: Mapped[str | None]
    cleaned_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    prompt: Mapped[str | None] = mapped_column(sa.Text)  # overrides Film.description
    negative_prompt: Mapped[str | None] = mapped_column(sa.Text)  # overrides Film.negative_prompt
    timing_path: Mapped[str | None]  # the timing curve (.npz) from the cleaned frames
    timing_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    reroll: Mapped[int] = mapped_column(default=0, server_default="0")  # rejections asking for new seeds

    film: Mapped[Film] = relationship(back_populates="shots", lazy="raise")
    generations: Mapped[list[Generation]] = relationship(
        back_populates="shot", lazy="raise", order_by="(Generation.attempt, Generation.candidate)",
        cascade="all, delete-orphan", passive_deletes=True,
    )

    __table_args__ = (
        sa.UniqueConstraint("film_id", "index"),
        sa.CheckConstraint(f"status IN ({_STATUS_VALUES})", name="status"),
        sa.CheckConstraint("end_frame > start_frame", name="frame_range"),
    )


class Run(Base):
    """One pipeline run (a Prefect flow run), with what it was asked to do."""

    flow_run_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    flow_name: Mapped[str]
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    code_version: Mapped[str | None]
    started: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished: Mapped[dt.datetime | None]
    status: Mapped[str] = mapped_column(sa.String(16), default=Status.RUNNING.value)

    @validates("status")
    def _check_status(self, _key: str, value: str) -> str:
        return Status(value).value

    __table_args__ = (sa.CheckConstraint(f"status IN ({_STATUS_VALUES})", name="status"),)


class Event(Base):
    """A PREMIS-style event: what happened (event_type), when, by which agent, with what outcome.

    Links to film, shot and run are SET NULL when those rows go away;
    ``object_identifier`` (``sha256:<film sha256>[#shot=<index>]``) keeps the
    event attributable afterwards.
    """

    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True, default=new_uuid)
    event_type: Mapped[str] = mapped_column(index=True)  # see EventType
    datetime: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    agent: Mapped[str]  # software and versions, e.g. "foleyflow 0.1.0 / PySceneDetect 0.7.2"
    outcome: Mapped[str] = mapped_column(sa.String(16))
    detail: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    outcome_detail: Mapped[dict[str, Any] | None]
    object_identifier: Mapped[str | None]
    film_id: Mapped[int | None] = mapped_column(sa.ForeignKey("film.id", ondelete="SET NULL"), index=True)
    shot_id: Mapped[int | None] = mapped_column(sa.ForeignKey("shot.id", ondelete="SET NULL"), index=True)
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("run.id", ondelete="SET NULL"), index=True)

    film: Mapped[Film | None] = relationship(lazy="raise")
    shot: Mapped[Shot | None] = relationship(lazy="raise")
    run: Mapped[Run | None] = relationship(lazy="raise")

    @validates("outcome")
    def _check_outcome(self, _key: str, value: str) -> str:
        return Outcome(value).value

    __table_args__ = (sa.CheckConstraint(f"outcome IN ({_OUTCOME_VALUES})", name="outcome"),)


class OutputFile(Base):
    """A file the pipeline wrote (keyframe, cleaned video, ...), content-addressed by sha256."""

    kind: Mapped[str]  # e.g. "keyframe", "cleaned_video"
    path: Mapped[str]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    film_id: Mapped[int | None] = mapped_column(sa.ForeignKey("film.id", ondelete="CASCADE"), index=True)
    shot_id: Mapped[int | None] = mapped_column(sa.ForeignKey("shot.id", ondelete="SET NULL"), index=True)
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("run.id", ondelete="SET NULL"), index=True)

    film: Mapped[Film | None] = relationship(lazy="raise")
    shot: Mapped[Shot | None] = relationship(lazy="raise")
    run: Mapped[Run | None] = relationship(lazy="raise")

    __table_args__ = (sa.UniqueConstraint("kind", "path", "sha256"),)


class CorpusClip(Base):
    """A recorded sound of the training corpus (models/corpus), identified by its source file's sha256.

    ``path`` is the prepared 16 kHz mono FLAC (``flac_sha256``); ``package`` /
    ``package_version`` / ``source_file`` say where it came from (``archive!member``
    inside archives), ``author`` and ``licence`` what its copyright file says.
    ``dup_group`` joins near-duplicates across packages; they share one ``split``.
    """

    sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
    clip_id: Mapped[str] = mapped_column(sa.String(16), index=True)
    path: Mapped[str]
    flac_sha256: Mapped[str] = mapped_column(sa.String(64))
    package: Mapped[str] = mapped_column(index=True)
    package_version: Mapped[str]
    deb_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    source_file: Mapped[str]
    author: Mapped[str] = mapped_column(sa.Text)
    licence: Mapped[str]
    caption: Mapped[str]
    description: Mapped[str] = mapped_column(sa.Text)
    category: Mapped[str] = mapped_column(index=True)
    duration_s: Mapped[float] = mapped_column(sa.Float)
    sample_rate: Mapped[int]
    is_ambience: Mapped[bool]
    fingerprint: Mapped[str | None] = mapped_column(sa.String(32))
    dup_group: Mapped[str | None] = mapped_column(sa.String(16))
    split: Mapped[str] = mapped_column(sa.String(8))

    __table_args__ = (sa.CheckConstraint("split IN ('train', 'eval')", name="split"),)


class Generation(Base):
    """One generated candidate of a shot's sound, with everything needed to make it again.

    A shot's generation ``attempt`` (1, 2, ... as it is re-run) holds ``candidate``
    0..N-1, one per seed; the one the automatic checks picked is ``selected``.
    ``attributions`` lists the real corpus clips the candidate was conditioned on
    (clip id, package, file, author, licence), empty when none was used.
    """

    shot_id: Mapped[int] = mapped_column(sa.ForeignKey("shot.id", ondelete="CASCADE"), index=True)
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("run.id", ondelete="SET NULL"), index=True)
    attempt: Mapped[int]
    candidate: Mapped[int]
    seed: Mapped[int] = mapped_column(sa.BigInteger)
    prompt: Mapped[str] = mapped_column(sa.Text)
    negative_prompt: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    model_id: Mapped[str]
    weights_sha256: Mapped[str] = mapped_column(sa.String(64))
    scheduler: Mapped[str]
    steps: Mapped[int]
    guidance: Mapped[float] = mapped_column(sa.Float)
    duration_s: Mapped[float] = mapped_column(sa.Float)
    params_hash: Mapped[str] = mapped_column(sa.String(32), index=True)  # what decides the audio
    audio_path: Mapped[str]
    audio_sha256: Mapped[str] = mapped_column(sa.String(64))
    scores: Mapped[dict[str, Any]] = mapped_column(default=dict)
    selected: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    attributions: Mapped[list[dict[str, Any]]] = mapped_column(default=list)

    shot: Mapped[Shot] = relationship(back_populates="generations", lazy="raise")
    run: Mapped[Run | None] = relationship(lazy="raise")

    __table_args__ = (sa.UniqueConstraint("shot_id", "attempt", "candidate"),)


class Review(Base):
    """An archivist's decision on a shot's sound: who, when, why, and what to change.

    ``decision`` is ``accept`` or ``reject``; ``generation_id`` is the candidate
    the decision is about (for an accept, the one that is now selected).
    ``prompt`` / ``negative_prompt`` are the new words for the shot's next
    generation (a reject only; ``None``: unchanged).
    """

    shot_id: Mapped[int] = mapped_column(sa.ForeignKey("shot.id", ondelete="CASCADE"), index=True)
    generation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("generation.id", ondelete="SET NULL"))
    decision: Mapped[str] = mapped_column(sa.String(8))
    reviewer: Mapped[str]
    note: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    prompt: Mapped[str | None] = mapped_column(sa.Text)
    negative_prompt: Mapped[str | None] = mapped_column(sa.Text)

    shot: Mapped[Shot] = relationship(lazy="raise")
    generation: Mapped[Generation | None] = relationship(lazy="raise")

    __table_args__ = (sa.CheckConstraint("decision IN ('accept', 'reject')", name="decision"),)


class Delivery(Base):
    """One delivered version of a film: the MP4, its WAV stem, and the generations it holds.

    A re-delivery (after a re-run) is a new row with ``version`` one more and
    ``predecessor_id`` pointing at the version it replaces; earlier files stay on disk.
    """

    film_id: Mapped[int] = mapped_column(sa.ForeignKey("film.id", ondelete="CASCADE"), index=True)
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("run.id", ondelete="SET NULL"), index=True)
    version: Mapped[int]
    predecessor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("delivery.id", ondelete="SET NULL"))
    path: Mapped[str]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    soundtrack_path: Mapped[str]
    soundtrack_sha256: Mapped[str] = mapped_column(sa.String(64))
    generation_ids: Mapped[list[int]] = mapped_column(default=list)

    film: Mapped[Film] = relationship(lazy="raise")
    predecessor: Mapped[Delivery | None] = relationship(remote_side="Delivery.id", lazy="raise")

    __table_args__ = (sa.UniqueConstraint("film_id", "version"),)


class Watermark(Base):
    """A watermark issued for a film's generated track: its ``id`` is the 32-bit payload in the audio.

    The row is written before the mark is embedded (the payload must exist first) and linked to
    the delivery that carries it once the film is delivered; a row without a delivery is a mark
    that was issued but whose delivery did not finish. ``key_fingerprint`` names the key (never
    the key itself); ``generation_ids`` are the shot generations the marked track holds.
    """

    film_id: Mapped[int] = mapped_column(sa.ForeignKey("film.id", ondelete="CASCADE"), index=True)
    delivery_id: Mapped[int | None] = mapped_column(sa.ForeignKey("delivery.id", ondelete="SET NULL"), index=True)
    method: Mapped[str] = mapped_column(sa.String(64))
    key_fingerprint: Mapped[str] = mapped_column(sa.String(64))
    generation_ids: Mapped[list[int]] = mapped_column(default=list)
    marked_sha256: Mapped[str | None] = mapped_column(sa.String(64))  # the marked WAV stem
    snr_db: Mapped[float | None] = mapped_column(sa.Float)

    film: Mapped[Film] = relationship(lazy="raise")
    delivery: Mapped[Delivery | None] = relationship(lazy="raise")


class SpeechSegment(Base):
    """Where a film's delivered version speaks, or shows someone speaking, in film seconds.

    ``kind`` says which record it is: ``speaking`` is an interval where the picture shows a visibly
    speaking face (tasks.speaking, per shot); ``line`` is where a dialogue line was placed (``label``
    holds ``speaker: text``); ``speech`` is a segment the speech check heard in the finished track
    (pyannote.audio, the same segments as the delivery's RTTM). Rows belong to one delivery: a
    re-delivery records its own.
    """

    film_id: Mapped[int] = mapped_column(sa.ForeignKey("film.id", ondelete="CASCADE"), index=True)
    delivery_id: Mapped[int | None] = mapped_column(sa.ForeignKey("delivery.id", ondelete="CASCADE"), index=True)
    shot_id: Mapped[int | None] = mapped_column(sa.ForeignKey("shot.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    start_s: Mapped[float] = mapped_column(sa.Float)
    end_s: Mapped[float] = mapped_column(sa.Float)
    label: Mapped[str | None] = mapped_column(sa.Text)

    film: Mapped[Film] = relationship(lazy="raise")
    delivery: Mapped[Delivery | None] = relationship(lazy="raise")
    shot: Mapped[Shot | None] = relationship(lazy="raise")

    __table_args__ = (sa.CheckConstraint("kind IN ('speaking', 'line', 'speech')", name="kind"),
                      sa.CheckConstraint("end_s >= start_s", name="span"))
