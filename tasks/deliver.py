"""Delivery: the picture with its generated soundtrack in one file that ordinary players open.

* **Picture.** Copied packet for packet when the container allows it (H.264,
  HEVC, MPEG-4, AV1 into MP4; anything into Matroska). FFV1, the lossless
  codec of the cleaned shots, is not valid in MP4, so for an ``.mp4`` / ``.m4v``
  / ``.mov`` delivery it is re-encoded once to H.264 (x264, CRF 12, yuv420p:
  visually lossless, plays everywhere); deliver to ``.mkv`` to keep FFV1.
* **Generated audio.** AAC-LC (ffmpeg's native encoder, ``aac_bitrate``) at
  48 kHz, padded or trimmed to the picture's duration before encoding. The
  encoder's priming samples (1024) are described by the MP4 edit list that
  the muxer writes, so the decoded audio is exactly as long as the picture
  (within one AAC frame of 1024 samples).
* **Existing audio** of the input (a silent film's later music track, say) is
  kept as a second track, packets copied (``existing_audio="keep"``;
  re-encoded to AAC when its codec is not valid in the container), or left
  out (``"replace"``). The generated track comes first and is the default.
* **Tags.** Container metadata (``title``, ``comment``, ``description`` and any
  custom key) is written with ``movflags=use_metadata_tags``, without which
  the MP4 muxer drops keys it does not know. Written atomically.
"""

from __future__ import annotations

import contextlib
import heapq
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from scipy.signal import resample_poly

from foleyflow.video import VideoError, frame_index

MP4_SUFFIXES = {".mp4", ".m4v", ".mov"}
MP4_VIDEO = {"h264", "hevc", "mpeg4", "av1", "vp9", "mjpeg"}
MP4_AUDIO = {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"}
DELIVERY_SR = 48000
AAC_FRAME = 1024
GENERATED_TITLE = "foleyflow generated soundtrack"


def _load_audio(audio: np.ndarray | str | os.PathLike, sr: int | None) -> tuple[np.ndarray, int]:
    if isinstance(audio, (str, os.PathLike)):
        with av.open(str(audio)) as c:
            if not c.streams.audio:
                raise ValueError(f"{audio}: has no audio stream")
            st = c.streams.audio[0]
            rate = st.codec_context.sample_rate
            chunks = [f.to_ndarray().reshape(-1, f.samples).mean(axis=0) if f.format.is_planar
                      else f.to_ndarray().reshape(f.samples, -1).mean(axis=1) for f in c.decode(st)]
        return (np.concatenate(chunks) if chunks else np.zeros(0)).astype(np.float32) / (
            32768.0 if st.format.name.startswith("s16") else 1.0), rate
    if sr is None:
        raise ValueError("sr is required when audio is an array")
    x = np.asarray(audio, np.float32)
    if x.ndim != 1:
        raise ValueError(f"audio must be mono 1-D, got shape {x.shape}")
    return x, int(sr)


def _fit(audio: np.ndarray, sr: int, seconds: float, out_sr: int = DELIVERY_SR) -> np.ndarray:
    """Resample to ``out_sr`` and pad/trim to exactly ``seconds``."""
    if sr != out_sr:
        g = np.gcd(sr, out_sr)
        audio = resample_poly(audio.astype(np.float64), out_sr // g, sr // g)
    n = int(round(seconds * out_sr))
    out = np.zeros(n, np.float32)
    out[:min(n, audio.size)] = audio[:n]
    return np.clip(out, -1.0, 1.0)


def _packet_time(packet) -> float:
    ts = packet.dts if packet.dts is not None else (packet.pts or 0)
    return float(ts * packet.time_base) if packet.time_base else 0.0


def picture_duration(path: str | os.PathLike) -> float:
    """Seconds from the first frame's start to the last frame's end."""
    index = frame_index(path)
    if index.frames == 0:
        raise VideoError(f"{path}: no video frames; nothing to deliver")
    return index.time_of(index.frames - 1) + 1.0 / (index.avg_fps or 24.0)


def mux(picture_path: str | os.PathLike, audio: np.ndarray | str | os.PathLike, sr: int | None, dst: str | os.PathLike,
        *, existing_audio: str = "keep", aac_bitrate: int = 192000, tags: dict | None = None, crf: int = 12,
        existing_audio_from: str | os.PathLike | None = None) -> Path:
    """Write ``dst``: the picture of ``picture_path`` with ``audio`` as its (first) soundtrack.

    Arguments:
        picture_path: the (cleaned) film.
        audio: the generated soundtrack, a mono float array at ``sr`` or an audio file path.
        sr: sample rate of an array (ignored for a path).
        dst: the delivery file; ``.mp4``/``.m4v``/``.mov`` (MP4 rules, see module doc) or ``.mkv``.
        existing_audio: ``"keep"`` (a second, copied track) or ``"replace"`` (left out).
        aac_bitrate: bits per second of the generated AAC track.
        tags: container metadata, e.g. ``{"comment": ..., "foleyflow_model": ...}``.
        crf: x264 quality when the picture has to be re-encoded.
        existing_audio_from: the file whose audio tracks ``"keep"`` keeps (default ``picture_path``):
            the original film, when the picture is its cleaned version (which has no sound).

    Returns:
        ``dst``.

    Raises:
        ValueError: a bad option or audio; VideoError: an unreadable picture.
    """
    if existing_audio not in ("keep", "replace"):
        raise ValueError(f"existing_audio must be 'keep' or 'replace', not {existing_audio!r}")
    dst = Path(dst)
    mp4 = dst.suffix.lower() in MP4_SUFFIXES
    if not mp4 and dst.suffix.lower() != ".mkv":
        raise ValueError(f"{dst}: deliver to .mp4, .m4v, .mov or .mkv")
    samples, rate = _load_audio(audio, sr)
    duration = picture_duration(picture_path)
    track = _fit(samples, rate, duration)
    dst.parent.mkdir(parents=True, exist_ok=True)
    partial = dst.with_name(f".{dst.stem}.partial{dst.suffix}")
    # bitexact: no creation dates or random ids, so the same inputs give the same bytes (and sha256)
    options = {"movflags": "use_metadata_tags+faststart", "fflags": "+bitexact"} if mp4 else {"fflags": "+bitexact"}
    try:
        with contextlib.ExitStack() as stack:
            src = stack.enter_context(av.open(str(picture_path)))
            asrc = src if existing_audio_from is None else stack.enter_context(av.open(str(existing_audio_from)))
            out = stack.enter_context(av.open(str(partial), "w", options=options))
            for k, v in (tags or {}).items():
                out.metadata[str(k)] = str(v)
            vin = src.streams.video[0]
            copy_video = not mp4 or vin.codec_context.name in MP4_VIDEO
            if copy_video:
                vout = out.add_stream_from_template(vin)
            else:
                vout = out.add_stream("libx264", rate=vin.average_rate or vin.guessed_rate or 24)
                vout.width, vout.height, vout.pix_fmt = vin.codec_context.width, vin.codec_context.height, "yuv420p"
                vout.options = {"crf": str(crf), "preset": "medium"}
            aout = out.add_stream("aac", rate=DELIVERY_SR)
            aout.layout, aout.bit_rate = "mono", int(aac_bitrate)
            aout.metadata["title"] = aout.metadata["handler_name"] = GENERATED_TITLE  # MP4 reads title back as "name"
            keep = [a for a in asrc.streams.audio] if existing_audio == "keep" else []
            copies = {}
            for a in keep:
                if not mp4 or a.codec_context.name in MP4_AUDIO:
                    copies[a.index] = out.add_stream_from_template(a)
                else:
                    raise ValueError(f"{picture_path}: its audio track is {a.codec_context.name}, not valid in "
                                     f"{dst.suffix}; deliver to .mkv or use existing_audio='replace'")
            if asrc is src:
                packets = src.demux([vin, *keep])
            else:  # two files: their packets merged in time order, so the output stays interleaved
                packets = heapq.merge(src.demux(vin), asrc.demux(keep), key=_packet_time) if keep else src.demux(vin)
            audio_at = 0  # next generated sample to encode: the track is interleaved with the picture

            def encode_audio_until(seconds: float) -> None:
                nonlocal audio_at
                stop = track.size if seconds == float("inf") else min(track.size, int(seconds * DELIVERY_SR))
                while audio_at < stop:
                    chunk = track[audio_at:audio_at + AAC_FRAME].reshape(1, -1)
                    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout="mono")
                    frame.sample_rate, frame.pts = DELIVERY_SR, audio_at
                    frame.time_base = Fraction(1, DELIVERY_SR)
                    out.mux(aout.encode(frame))
                    audio_at += chunk.shape[1]

            for packet in packets:
                if packet.dts is None:
                    continue
                if packet.stream.type == "video":
                    if packet.pts is not None:
                        encode_audio_until(float(packet.pts * packet.time_base) + 0.5)
                    if copy_video:
                        packet.stream = vout
                        out.mux(packet)
                    else:
                        for frame in packet.decode():
                            frame.pict_type = av.video.frame.PictureType.NONE
                            out.mux(vout.encode(frame))
                else:
                    packet.stream = copies[packet.stream.index]
                    out.mux(packet)
            if not copy_video:
                out.mux(vout.encode(None))
            encode_audio_until(float("inf"))
            out.mux(aout.encode(None))
        os.replace(partial, dst)
    finally:
        partial.unlink(missing_ok=True)
    return dst
