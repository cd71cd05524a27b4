"""``foleyflow verify``: is this file one of ours, unaltered, and what made it?

For an MP4, M4A or WAV: the watermark (present, payload, score) read from every audio stream
(the generated track is the first; the strongest reading wins), the catalog record the payload
points to when the catalog is reachable, the C2PA manifest and whether its signature validates
against the configured trust anchors, and whether the file's sha256 is one the catalog recorded.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

SUFFIXES = (".mp4", ".m4a", ".wav")


class VerifyError(ValueError):
    """The file cannot be verified; the message says why and what to do."""


def decode_audio_streams(path: Path) -> list[tuple[np.ndarray, int]]:
    """Every audio stream of ``path`` as (float32 mono, sample rate), decoded with PyAV."""
    out = []
    try:
        with av.open(str(path)) as container:
            streams = list(container.streams.audio)
            if not streams:
                raise VerifyError(f"{path}: has no audio stream; verify reads the generated soundtrack")
            for index in range(len(streams)):
                stream = container.streams.audio[index]
                container.seek(0)
                resampler = av.AudioResampler(format="flt", layout="mono", rate=stream.rate or 48000)
                chunks = []
                for frame in container.decode(stream):
                    for f in resampler.resample(frame):
                        chunks.append(f.to_ndarray().reshape(-1))
                for f in resampler.resample(None):
                    chunks.append(f.to_ndarray().reshape(-1))
                out.append((np.concatenate(chunks) if chunks else np.zeros(0, np.float32), stream.rate or 48000))
    except av.error.InvalidDataError as exc:
        raise VerifyError(f"{path}: not a readable MP4/M4A/WAV file ({exc})") from None
    return out


def verify(path: str | Path, *, catalog: bool = True) -> dict:
    """``{"file", "sha256", "watermark": {"present", "payload", "score"}, "c2pa": {"present", "valid", ...},
    "catalog": {"reachable", "generation_id", "generation_ids", "film", "delivery", "sha256_match"}}``."""
    from tasks import credentials, watermark
    from tasks.ingest import sha256_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix.lower() not in SUFFIXES:
        raise VerifyError(f"{path}: verify reads {', '.join(SUFFIXES)} files")
    key = watermark.load_key()
    best = None
    for audio, sr in decode_audio_streams(path):
        if audio.size < sr // 2:
            continue
        d = watermark.detect(audio, sr, key)
        if best is None or (d.present, d.score) > (best.present, best.score):
            best = d
    mark = {"present": bool(best and best.present), "payload": str(best.payload) if best and best.present else None,
            "score": float(best.score) if best else 0.0, "key_fingerprint": key.fingerprint, "demo_key": key.demo}
    c2pa = credentials.read(path)
    digest = sha256_file(path)
    report = {"file": str(path), "sha256": digest, "watermark": mark,
              "c2pa": {k: c2pa.get(k) for k in ("present", "valid", "trusted", "validation_state", "signer",
                                                "claim_generator", "errors")} |
                      {"generation": c2pa.get("assertions", {}).get("org.foleyflow.generation")},
              "catalog": {"reachable": False, "generation_id": None, "generation_ids": [], "film": None,
                          "delivery": None, "sha256_match": False}}
    if catalog:
        report["catalog"] = _catalog_part(digest, int(mark["payload"]) if mark["present"] else None)
    return report


def _catalog_part(digest: str, payload: int | None) -> dict:
    import sqlalchemy as sa

    from catalog import repo
    from catalog.db import init_catalog, session_scope
    from catalog.models import OutputFile

    part = {"reachable": False, "generation_id": None, "generation_ids": [], "film": None, "delivery": None,
            "sha256_match": False}
    try:
        init_catalog()
        with session_scope() as s:
            part["reachable"] = True
            part["sha256_match"] = s.scalars(sa.select(OutputFile.id).where(OutputFile.sha256 == digest)).first() is not None
            record = repo.watermark_record(s, payload) if payload is not None else None
            if record:
                part.update(generation_id=record["watermark_id"], generation_ids=record["generation_ids"],
                            film=record["film"], delivery=record["delivery"], watermark=record)
    except sa.exc.SQLAlchemyError as exc:  # the catalog is elsewhere or down: the file still verifies
        part["error"] = f"catalog not reachable: {type(exc).__name__}"
    return part
