"""Shot detection that holds on old film, and one keyframe thumbnail per shot.

Old film flickers: every frame is a little brighter or darker than the last,
which makes histogram and content detectors fire on nothing. Here each frame's
luma is first normalised to a fixed mean and contrast (and blurred, so dust
and grain weigh little), then PySceneDetect's ContentDetector scores it. A cut
must also differ after the camera's global motion is aligned away (phase
correlation), and stand out against its neighbourhood (an adaptive ratio, like
AdaptiveDetector's, but against the median of the neighbouring scores so that
the repeated frames of pulled-down film do not inflate it): fast pans and
camera shake raise every score around them and are not cuts.

Dark frames (fades to and from black) are not scored, because normalising them
only amplifies noise. A fade-out/fade-in through black is one transition: the
cut is placed where the picture starts to come back (the black joins the shot
before it), or, after a hard cut to black, at the first black frame.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import av
import cv2
import numpy as np
from scenedetect.common import FrameTimecode
from scenedetect.detectors import ContentDetector

from foleyflow.video import VideoError, frame_index, iter_frames


@dataclass(frozen=True)
class ShotConfig:
    """Knobs of :func:`detect_shots`; the defaults were tuned on real archival clips."""

    analysis_width: int = 160  # frames are scaled to this width for detection
    threshold: float = 27.0  # ContentDetector threshold on normalised luma (0-255 scale)
    adaptive_ratio: float = 3.0  # a cut's score vs the median score of its neighbourhood
    window: int = 6  # neighbourhood half-width in frames for the adaptive ratio
    min_shot_seconds: float = 0.4  # shorter shots are merged (PySceneDetect's min_scene_len)
    dark_luma: float = 12.0  # mean luma under this is black (fades); as ThresholdDetector
    normalised_contrast: float = 48.0  # target luma standard deviation after normalisation
    min_contrast: float = 16.0  # never amplify contrast of flat frames by more than this allows
    blur: int = 5  # Gaussian kernel against dust and grain
    min_aligned_difference: float = 12.0  # a cut must differ this much after aligning away camera motion

    def cache_key_part(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Shot:
    index: int
    start_frame: int  # inclusive
    end_frame: int  # exclusive
    start: float  # seconds
    end: float  # seconds


@dataclass
class ShotList:
    fps: float
    frames: int
    shots: list[Shot]

    def to_json(self) -> dict:
        return {
            "fps": self.fps,
            "frames": self.frames,
            "shots": [
                {"index": s.index, "start_frame": s.start_frame, "end_frame": s.end_frame,
                 "start": format_timecode(s.start), "end": format_timecode(s.end)}
                for s in self.shots
            ],
        }

    @property
    def cuts(self) -> list[int]:
        """First frame of every shot but the first."""
        return [s.start_frame for s in self.shots[1:]]


def format_timecode(seconds: float) -> str:
    """``HH:MM:SS.mmm`` (milliseconds rounded)."""
    ms = int(round(max(seconds, 0.0) * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def _analysis_size(path: str | os.PathLike, width: int) -> tuple[int, int]:
    try:
        with av.open(str(path)) as c:
            cc = c.streams.video[0].codec_context
            w, h = cc.width, cc.height
    except (av.error.FFmpegError, IndexError) as exc:
        raise VideoError(f"{path}: cannot read the video stream ({exc})") from exc
    width = min(width, w)
    height = max(2, int(round(h * width / w / 2)) * 2)
    return width - width % 2, height


def detect_shots(path: str | os.PathLike, *, config: ShotConfig = ShotConfig()) -> ShotList:
    """Split a film into shots.

    Arguments:
        path: the film file.
        config: detection settings.

    Returns:
        A :class:`ShotList` covering every frame; a film without cuts is one shot.

    Raises:
        VideoError: the file cannot be read.
    """
    index = frame_index(path)
    fps = index.avg_fps or 24.0
    min_len = max(1, int(round(config.min_shot_seconds * fps)))
    width, height = _analysis_size(path, config.analysis_width)
    detector = ContentDetector(threshold=config.threshold, min_scene_len=1, luma_only=True)

    scores: dict[int, float] = {}  # frame -> normalised mean absolute difference to the previous lit frame
    means: list[float] = []
    candidates: list[int] = []
    previous: np.ndarray | None = None
    total = 0
    for number, gray in iter_frames(path, fmt="gray", width=width, height=height):
        total = number + 1
        mean = float(gray.mean())
        means.append(mean)
        if mean < config.dark_luma:
            continue
        std = float(gray.std())
        norm = (gray.astype(np.float32) - mean) * (config.normalised_contrast / max(std, config.min_contrast)) + 128.0
        norm = cv2.GaussianBlur(np.clip(norm, 0, 255).astype(np.uint8), (config.blur, config.blur), 0)
        if previous is not None:
            scores[number] = _aligned_difference(previous, norm, floor=config.min_aligned_difference)
        previous = norm
        cuts = detector.process_frame(FrameTimecode(number, fps), cv2.merge([norm, norm, norm]))
        candidates.extend(int(c.frame_num) for c in cuts)
    if total == 0:
        raise VideoError(f"{path}: no frames could be decoded")

    cuts = [c for c in candidates if c > 0 and _stands_out(c, scores, config)]
    cuts = _place_fade_cuts(cuts, means, config)
    cuts = _enforce_min_length(sorted(set(cuts)), total, min_len)
    bounds = [0, *cuts, total]
    shots = [
        Shot(index=i, start_frame=a, end_frame=b, start=index.time_of(a) if a < index.frames else a / fps,
             end=index.time_of(b) if b < index.frames else b / fps)
        for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]))
    ]
    return ShotList(fps=fps, frames=total, shots=shots)


@lru_cache(maxsize=4)
def _hanning(shape: tuple[int, int]) -> np.ndarray:
    return cv2.createHanningWindow((shape[1], shape[0]), cv2.CV_32F)


def _phase_shift(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Integer (dx, dy) that moves ``a`` onto ``b``: the peak of the phase correlation.

    NumPy's FFT rather than cv2.phaseCorrelate, whose sub-pixel fit was seen to fail
    (negative response, wild shift) on strongly shaken frames.
    """
    window = _hanning(a.shape)
    fa = np.fft.rfft2((a - a.mean()) * window)
    fb = np.fft.rfft2((b - b.mean()) * window)
    cross = fb * np.conj(fa)
    surface = np.fft.irfft2(cross / (np.abs(cross) + 1e-9), s=a.shape)
    dy, dx = np.unravel_index(int(np.argmax(surface)), surface.shape)
    h, w = a.shape
    return float(dx - w if dx > w // 2 else dx), float(dy - h if dy > h // 2 else dy)


def _aligned_difference(previous: np.ndarray, current: np.ndarray, floor: float = 0.0) -> float:
    """Mean absolute difference after undoing the global shift between the frames.

    Camera shake, gate weave and pans move the whole picture; aligned they leave
    little difference, while a cut leaves a lot. The shift is the best of the
    phase-correlation peaks (NumPy's and OpenCV's sub-pixel estimate, each with
    its 3x3 neighbourhood) and no shift at all: a single estimate was seen to be
    off by a pixel or two on shaken frames, enough to look like a cut.
    """
    a, b = previous.astype(np.float32), current.astype(np.float32)
    plain = float(np.mean(np.abs(a[4:-4, 4:-4] - b[4:-4, 4:-4])))
    if plain < floor:
        return plain  # already below any cut threshold: no shift can make it a cut
    candidates = {(0, 0)}
    px, py = _phase_shift(a, b)
    (cx, cy), _ = cv2.phaseCorrelate(a, b)
    for bx, by in ((px, py), (cx, cy)):
        if np.isfinite(bx) and np.isfinite(by) and abs(bx) < a.shape[1] / 3 and abs(by) < a.shape[0] / 3:
            candidates |= {(int(round(bx)) + i, int(round(by)) + j) for i in (-1, 0, 1) for j in (-1, 0, 1)}
    m = 2 + max(max(abs(dx), abs(dy)) for dx, dy in candidates)
    if 2 * m >= min(a.shape) - 8:
        m = 0
    inner = (slice(m, a.shape[0] - m), slice(m, a.shape[1] - m))
    best = float("inf")
    for dx, dy in candidates:
        shifted = cv2.warpAffine(a, np.float32([[1, 0, dx], [0, 1, dy]]), (a.shape[1], a.shape[0]),
                                 borderMode=cv2.BORDER_REFLECT)
        best = min(best, float(np.mean(np.abs(shifted[inner] - b[inner]))))
    return best


def _stands_out(frame: int, scores: dict[int, float], config: ShotConfig) -> bool:
    """The score at ``frame`` is ``adaptive_ratio`` times the typical score around it."""
    own = scores.get(frame)
    if own is None:
        return True  # first lit frame after black: judged by _place_fade_cuts
    if own < config.min_aligned_difference:
        return False  # the picture only moved
    around = [scores[f] for f in range(frame - config.window, frame + config.window + 1)
              if f != frame and f in scores]
    moving = [s for s in around if s > 0.5]  # repeated (pulled-down) frames score ~0
    if not moving:
        return True
    return own >= config.adaptive_ratio * float(np.median(moving))


def _place_fade_cuts(cuts: list[int], means: list[float], config: ShotConfig) -> list[int]:
    """One cut per pass through black, where the picture starts to come back."""
    dark = np.asarray(means) < config.dark_luma
    out = [c for c in cuts if not (c > 0 and dark[c - 1])]  # a detector cut right after black: replaced below
    n = len(means)
    i = 0
    while i < n:
        if not dark[i]:
            i += 1
            continue
        j = i
        while j < n and dark[j]:
            j += 1
        if i > 0 and j < n:  # black between two pictures (not a film's head or tail)
            before = means[i - 1]
            if before >= 2 * config.dark_luma and before - means[i] > 0.5 * before:
                out.append(i)  # a hard cut to black: the black opens the next shot
                i = j
                continue
            base = float(np.median(means[i:j]))
            start = j
            while start - 1 > i and means[start - 1] > base + 1.0 and means[start - 1] < means[start]:
                start -= 1
            out.append(start)
        i = j
    return out


def _enforce_min_length(cuts: list[int], total: int, min_len: int) -> list[int]:
    kept: list[int] = []
    last = 0
    for c in cuts:
        if c - last >= min_len and c < total:
            kept.append(c)
            last = c
    if kept and total - kept[-1] < min_len:
        kept.pop()  # a too-short last shot joins the one before
    return kept


def write_keyframes(path: str | os.PathLike, shots: ShotList, out_dir: str | os.PathLike, *,
                    width: int = 320) -> list[Path]:
    """One JPEG thumbnail per shot (the sharpest frame of the middle third), in one pass.

    Returns:
        Paths ``out_dir/shot-0000.jpg`` ... in shot order.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    src_w, src_h = _analysis_size(path, 100_000)
    height = max(2, int(round(src_h * width / src_w / 2)) * 2)
    windows = []
    for s in shots.shots:
        length = s.end_frame - s.start_frame
        a = s.start_frame + length // 3
        windows.append((a, max(a + 1, s.start_frame + 2 * length // 3)))
    best: dict[int, tuple[float, np.ndarray]] = {}
    k = 0
    for number, rgb in iter_frames(path, fmt="bgr24", width=width, height=height):
        while k < len(windows) and number >= windows[k][1]:
            k += 1
        if k >= len(windows):
            break
        a, _ = windows[k]
        if number < a:
            continue
        sharp = float(cv2.Laplacian(cv2.cvtColor(rgb, cv2.COLOR_BGR2GRAY), cv2.CV_32F).var())
        if k not in best or sharp > best[k][0]:
            best[k] = (sharp, rgb)
    paths = []
    for s in shots.shots:
        target = out / f"shot-{s.index:04d}.jpg"
        if s.index not in best:
            raise VideoError(f"{path}: no frame decoded for shot {s.index}; the file may be damaged")
        partial = target.with_name(f".{target.stem}.partial.jpg")
        if not cv2.imwrite(str(partial), best[s.index][1], [cv2.IMWRITE_JPEG_QUALITY, 90]):
            raise OSError(f"cannot write {target}; check free space and permissions")
        os.replace(partial, target)
        paths.append(target)
    return paths
