"""Speaking intervals from the picture: faces, and when their mouths move.

The generator places speech (and breaths, murmurs) where someone on screen is
visibly talking. Per shot:

1. Frames are decoded one at a time (grayscale, ``analysis_width``),
   despeckled (median 3x3, against dust) and blurred (against grain).
2. Faces: OpenCV's frontal-face Haar cascade (``haarcascade_frontalface_default.xml``)
   every ``detect_every`` frames, on the frame equalised to a fixed mean and
   contrast (against flicker). OpenCV 5's main wheel no longer ships the cascade
   files nor ``cv2.CascadeClassifier`` (it moved to contrib), so the cascade file is
   taken from where OpenCV packages put it (see :func:`find_cascade`) and evaluated
   with ``cv2.CascadeClassifier`` when the installed OpenCV has it, otherwise by the
   small NumPy evaluator of the same model here (:class:`HaarCascade`, integral images,
   the same stage/stump arithmetic and variance normalisation as OpenCV's HaarEvaluator).
3. Tracks: detections are associated to tracks by IoU; a track holds through
   ``max_missed`` missed detections; its box is smoothed (exponential) so the
   analysis window does not jump with the detector's jitter.
4. Mouth activity: the face box of this frame is registered to the previous
   frame's by phase correlation of its upper two thirds (eyes, brows, nose:
   rigid), which cancels camera jitter and head motion; both crops are
   normalised to zero mean and unit contrast (cancels flicker). The activity is
   the mean absolute change of the mouth region (lower third, central half)
   minus that of the upper face (what grain, flicker residue and registration
   error leave everywhere), smoothed over ``smooth_s``.
5. Speaking: activity above an adaptive threshold (the larger of a floor and a
   multiple of the track's robust noise level) with hysteresis; runs shorter
   than ``min_speech_s`` are dropped, gaps shorter than ``bridge_gap_s`` bridged,
   intervals clipped to the shot. A shot without faces has no intervals.

Memory is flat: two decoded frames and the per-frame numbers.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import av
import cv2
import numpy as np

from foleyflow.video import VideoError, frame_index, iter_frames

CASCADE_NAME = "haarcascade_frontalface_default.xml"
# where OpenCV's cascade files are installed: opencv-python 4.x wheels (cv2.data), Debian/Ubuntu's
# opencv-data package, a source install of OpenCV
_CASCADE_DIRS = ("/usr/share/opencv4/haarcascades", "/usr/share/opencv/haarcascades",
                 "/usr/local/share/opencv4/haarcascades")


@dataclass(frozen=True)
class SpeakingConfig:
    """Knobs of :func:`speaking_intervals`; the defaults were tuned on tests/face_clips.py seeds 0-3 and 10-11."""

    analysis_width: int = 320  # frames are analysed at this width (height keeps the aspect ratio)
    detect_width: int = 192  # ...and searched for faces at this width (the detector's cost grows with it)
    cascade: str | None = None  # path of the Haar cascade file; None: find_cascade()
    detect_every: int = 3  # run the face detector on every n-th frame (tracks hold in between)
    min_face: float = 0.12  # smallest face side, as a fraction of the frame height
    scale_factor: float = 1.1  # pyramid step of the detector
    min_neighbors: int = 4  # detections a face needs (OpenCV's minNeighbors)
    iou_match: float = 0.3  # a detection continues a track when IoU is at least this
    max_missed: int = 4  # detector runs a track survives without a detection
    min_track_s: float = 1.0  # shorter tracks are detector noise, not faces
    box_smooth: float = 0.3  # weight of a new detection in the smoothed box
    blur_sigma: float = 1.0  # Gaussian blur against grain, in analysis pixels
    max_shift: float = 0.15  # registration shifts beyond this fraction of the face are rejected
    smooth_s: float = 0.15  # width of the smoothing of the activity curve
    register: bool = True  # align each face box to the previous frame's (off: the ablation baseline)
    mouth_relative: bool = True  # mouth change minus upper-face change (off: change of the whole box)
    threshold_floor: float = 0.05  # rise of the activity (mouth change minus face change, in face-contrast
    noise_ratio: float = 3.0  # units) above the closed-mouth level that is speech, or this many times its spread
    hysteresis: float = 0.75  # a run ends when the activity falls below this fraction of the threshold
    min_speech_s: float = 0.3  # shorter runs are not speech
    bridge_gap_s: float = 0.25  # shorter pauses inside speech are bridged


PRESETS: dict[str, SpeakingConfig] = {
    # tuned on the synthetic faces: no speech found on silent faces, faces >= 1/8 of the frame height
    "default": SpeakingConfig(),
    # real archival faces (grain, low contrast, small in the frame) give the cascade fewer neighbouring
    # hits: a finer search that accepts them, at ~1.8x the detector's cost and more spurious tracks
    # (0.6 s of speech on 6 silent synthetic faces, bench_speaking); it finds the soldier of the
    # first shot of the shared a-bomb clip, which "default" misses
    "sensitive": SpeakingConfig(detect_width=256, min_neighbors=2),
}


@dataclass
class SpeakingResult:
    """Where someone is visibly speaking in one shot.

    ``intervals`` are ``(start, end)`` seconds from the shot's first frame; ``faces``
    (tracked faces) and ``mouth_activity`` (the strongest face's activity, 0 without a
    face) have one value per frame at ``fps``.
    """

    intervals: list[tuple[float, float]]
    faces: np.ndarray  # int16 (frames,)
    mouth_activity: np.ndarray  # float32 (frames,)
    fps: float
    duration: float
    meta: dict = field(default_factory=dict)

    @property
    def speaking_time(self) -> float:
        return float(sum(b - a for a, b in self.intervals))

    def to_npz(self, path: str | os.PathLike) -> Path:
        """Write atomically (a hidden partial file, then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        with open(partial, "wb") as fh:
            np.savez(fh, intervals=np.asarray(self.intervals, np.float64).reshape(-1, 2), faces=self.faces,
                     mouth_activity=self.mouth_activity, fps=self.fps, duration=self.duration,
                     meta=np.asarray(repr(self.meta)))
        os.replace(partial, path)
        return path

    @classmethod
    def from_npz(cls, path: str | os.PathLike) -> "SpeakingResult":
        import ast

        with np.load(path, allow_pickle=False) as z:
            missing = {"intervals", "faces", "mouth_activity", "fps", "duration"} - set(z.files)
            if missing:
                raise ValueError(f"{path}: not a foleyflow speaking result (missing {sorted(missing)}); "
                                 "recompute it with tasks.speaking.speaking_intervals")
            return cls(intervals=[(float(a), float(b)) for a, b in z["intervals"]], faces=z["faces"],
                       mouth_activity=z["mouth_activity"], fps=float(z["fps"]), duration=float(z["duration"]),
                       meta=ast.literal_eval(str(z["meta"])))


def speaking_path(shot_video: str | os.PathLike) -> Path:
    """Where a shot's speaking intervals are kept: beside the shot file, ``<stem>.speaking.npz``."""
    p = Path(shot_video)
    return p.with_name(f"{p.stem}.speaking.npz")


# --- the face detector ----------------------------------------------------------------------------

def find_cascade(explicit: str | os.PathLike | None = None) -> Path:
    """The frontal-face Haar cascade file: ``explicit``, ``$FOLEYFLOW_FACE_CASCADE``, or OpenCV's install.

    Raises:
        FileNotFoundError: no cascade file; the message says how to install one.
    """
    candidates = [explicit, os.environ.get("FOLEYFLOW_FACE_CASCADE")]
    data = getattr(getattr(cv2, "data", None), "haarcascades", None)
    candidates += [Path(d) / CASCADE_NAME for d in ((data,) if data else ()) + _CASCADE_DIRS]
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    raise FileNotFoundError(
        f"no {CASCADE_NAME}: OpenCV 5's wheel does not ship it; install Debian's opencv-data "
        "(apt-get install opencv-data) or point FOLEYFLOW_FACE_CASCADE at the file")


class HaarCascade:
    """OpenCV's boosted Haar cascade (stump stages), evaluated with NumPy on integral images.

    Same arithmetic as OpenCV's HaarEvaluator: a window's features are compared with
    ``threshold * norm``, ``norm = sqrt(area * sum(x^2) - sum(x)^2)`` over the window less
    a 1-pixel border; a window passes a stage when its stump sum reaches the stage threshold.
    The image, not the features, is scaled (a pyramid), as OpenCV does.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        root = ET.parse(str(path)).getroot()
        c = root.find("cascade") if root.find("cascade") is not None else root[0]
        if (c.findtext("featureType") or "").strip().upper() != "HAAR":
            raise ValueError(f"{path}: not a Haar cascade; use {CASCADE_NAME}")
        self.w, self.h = int(c.findtext("width")), int(c.findtext("height"))
        feats = []
        for f in c.find("features"):
            if (f.findtext("tilted") or "0").strip() not in ("0", ""):
                raise ValueError(f"{path}: tilted Haar features are not supported; use {CASCADE_NAME}")
            rects = [[float(v) for v in r.text.split()] for r in f.find("rects")]
            rects += [[0, 0, 0, 0, 0.0]] * (3 - len(rects))
            feats.append(rects)
        feats = np.asarray(feats, np.float64)  # (F, 3, 5): x y w h weight
        self.stages = []
        for s in c.find("stages"):
            nodes, leaves = [], []
            for wc in s.find("weakClassifiers"):
                n = wc.findtext("internalNodes").split()
                if n[0] != "0" or n[1] != "-1":
                    raise ValueError(f"{path}: only stump cascades are supported; use {CASCADE_NAME}")
                nodes.append((int(n[2]), float(n[3])))
                leaves.append([float(v) for v in wc.findtext("leafValues").split()])
            idx = np.array([i for i, _ in nodes])
            self.stages.append((feats[idx], np.array([t for _, t in nodes]), np.asarray(leaves),
                                float(s.findtext("stageThreshold"))))

    def _scan(self, img: np.ndarray, step: int) -> np.ndarray:
        """Top-left corners (y, x) of the windows of ``img`` that pass every stage."""
        h, w = img.shape
        if h < self.h or w < self.w:
            return np.zeros((0, 2), int)
        f = img.astype(np.float64)
        ii = cv2.integral(f, sdepth=cv2.CV_64F)
        sq = cv2.integral(f * f, sdepth=cv2.CV_64F)
        stride = w + 1
        ys, xs = np.mgrid[0:h - self.h + 1:step, 0:w - self.w + 1:step]
        base = (ys * stride + xs).ravel()
        iif, sqf = ii.ravel(), sq.ravel()

        def box(table, x, y, bw, bh, b):
            o = y * stride + x
            return (table[b + o + bh * stride + bw] - table[b + o + bw] - table[b + o + bh * stride] + table[b + o])

        area = (self.w - 2) * (self.h - 2)
        s1 = box(iif, 1, 1, self.w - 2, self.h - 2, base)
        s2 = box(sqf, 1, 1, self.w - 2, self.h - 2, base)
        nf = area * s2 - s1 * s1
        norm = np.where(nf > 0, np.sqrt(np.maximum(nf, 0)), 1.0)
        for rects, thr, leaves, stage_thr in self.stages:
            if base.size == 0:
                break
            x, y, bw, bh, wt = (rects[:, :, k].astype(np.int64) if k < 4 else rects[:, :, k] for k in range(5))
            val = np.zeros((rects.shape[0], base.size))
            for r in range(3):
                o = (y[:, r] * stride + x[:, r])[:, None] + base[None, :]
                dx, dy = bw[:, r][:, None], (bh[:, r] * stride)[:, None]
                s = iif[o + dy + dx] - iif[o + dx] - iif[o + dy] + iif[o]
                val += wt[:, r][:, None] * s
            votes = np.where(val < thr[:, None] * norm[None, :], leaves[:, 0:1], leaves[:, 1:2]).sum(axis=0)
            keep = votes >= stage_thr
            base, norm = base[keep], norm[keep]
        return np.stack([base // stride, base % stride], axis=1)

    def detect(self, gray: np.ndarray, scale_factor: float = 1.1, min_size: int = 24,
               min_neighbors: int = 3) -> list[tuple[int, int, int, int]]:
        """Faces ``(x, y, w, h)`` in a grayscale uint8 image, grouped like OpenCV's ``groupRectangles``."""
        raw = []
        scale = max(1.0, min_size / self.w)
        H, W = gray.shape
        while W / scale >= self.w and H / scale >= self.h:
            size = (int(round(W / scale)), int(round(H / scale)))
            img = cv2.resize(gray, size, interpolation=cv2.INTER_LINEAR) if scale > 1.0 else gray
            step = 1 if scale > 2.0 else 2
            for y, x in self._scan(img, step):
                raw.append((int(round(x * scale)), int(round(y * scale)),
                            int(round(self.w * scale)), int(round(self.h * scale))))
            scale *= scale_factor
        return group_rectangles(raw, min_neighbors)


def group_rectangles(rects: list[tuple[int, int, int, int]], min_neighbors: int,
                     eps: float = 0.2) -> list[tuple[int, int, int, int]]:
    """OpenCV's ``groupRectangles``: cluster similar boxes, keep clusters of more than ``min_neighbors``."""
    n = len(rects)
    if n == 0:
        return []
    parent = list(range(n))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    r = np.asarray(rects, np.float64)
    for i in range(n):
        for j in range(i + 1, n):
            d = eps * (min(r[i, 2], r[j, 2]) + min(r[i, 3], r[j, 3])) * 0.5
            if (abs(r[i, 0] - r[j, 0]) <= d and abs(r[i, 1] - r[j, 1]) <= d and
                    abs(r[i, 0] + r[i, 2] - r[j, 0] - r[j, 2]) <= d and abs(r[i, 1] + r[i, 3] - r[j, 1] - r[j, 3]) <= d):
                parent[find(i)] = find(j)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    out = [tuple(int(round(v)) for v in r[m].mean(axis=0)) for m in groups.values() if len(m) > min_neighbors]
    # drop boxes inside a bigger one (OpenCV does the same after grouping)
    keep = []
    for a in out:
        inside = any(b is not a and b[2] > a[2] and a[0] >= b[0] - 0.2 * b[2] and a[1] >= b[1] - 0.2 * b[3] and
                     a[0] + a[2] <= b[0] + 1.2 * b[2] and a[1] + a[3] <= b[1] + 1.2 * b[3] for b in out)
        if not inside:
            keep.append(a)
    return keep


class FaceDetector:
    """Frontal faces: ``cv2.CascadeClassifier`` where the installed OpenCV has it, else :class:`HaarCascade`."""

    def __init__(self, cascade: str | os.PathLike | None = None) -> None:
        self.path = find_cascade(cascade)
        if hasattr(cv2, "CascadeClassifier"):
            self._cv = cv2.CascadeClassifier(str(self.path))
            self.backend = "opencv"
        else:
            self._cv = None
            self._np = _load_cascade(str(self.path))
            self.backend = "numpy"

    def detect(self, gray: np.ndarray, *, scale_factor: float, min_size: int,
               min_neighbors: int) -> list[tuple[int, int, int, int]]:
        if self._cv is not None:
            found = self._cv.detectMultiScale(gray, scaleFactor=scale_factor, minNeighbors=min_neighbors,
                                              minSize=(min_size, min_size))
            return [tuple(int(v) for v in b) for b in found]
        return self._np.detect(gray, scale_factor, min_size, min_neighbors)


@lru_cache(maxsize=4)
def _load_cascade(path: str) -> HaarCascade:
    return HaarCascade(path)


# --- tracking and mouth activity ------------------------------------------------------------------

def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    return inter / max(a[2] * a[3] + b[2] * b[3] - inter, 1e-9)


def _inside(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether the centre of box ``a`` lies inside box ``b``."""
    cx, cy = a[0] + a[2] / 2, a[1] + a[3] / 2
    return bool(b[0] <= cx <= b[0] + b[2] and b[1] <= cy <= b[1] + b[3])


@dataclass
class _Track:
    box: np.ndarray  # float (x, y, w, h), smoothed, analysis pixels
    first: int  # frame offset of the first detection
    hits: int = 1
    missed: int = 0
    last: int = 0  # last frame offset the track covered
    activity: dict = field(default_factory=dict)  # frame offset -> raw activity


def _crop(img: np.ndarray, box: np.ndarray, shift=(0.0, 0.0)) -> np.ndarray:
    """The face box of ``img`` (sub-pixel, moved by ``shift``), extended below the chin, normalised."""
    x, y, w, h = box
    size = (max(8, int(round(w))), max(8, int(round(h * 1.1))))
    centre = (float(x + w / 2 + shift[0]), float(y + h * 0.55 + shift[1]))
    c = cv2.getRectSubPix(img, size, centre)
    return (c - c.mean()) / max(float(c.std()), 1.0)


def _activity(prev: np.ndarray, cur: np.ndarray, box: np.ndarray, c: SpeakingConfig) -> float:
    """Change of the mouth between two prepared frames at ``box``: NaN when the registration fails."""
    shift = (0.0, 0.0)
    a = _crop(prev, box)
    h, w = a.shape
    upper = slice(0, int(h * 0.55))
    if c.register:
        b0 = _crop(cur, box)
        win = cv2.createHanningWindow((w, upper.stop), cv2.CV_32F)
        shift, _ = cv2.phaseCorrelate(a[upper].astype(np.float32), b0[upper].astype(np.float32), win)
        if abs(shift[0]) > c.max_shift * w or abs(shift[1]) > c.max_shift * h:
            return float("nan")
    b = _crop(cur, box, shift)
    diff = np.abs(b - a)
    if not c.mouth_relative:
        return float(diff.mean())
    mouth = diff[int(h * 0.62):, int(w * 0.25):int(w * 0.75)]
    rest = diff[int(h * 0.08):upper.stop, int(w * 0.15):int(w * 0.85)]
    return float(mouth.mean() - rest.mean())


def _prepare(gray: np.ndarray, c: SpeakingConfig) -> np.ndarray:
    img = cv2.medianBlur(gray, 3)
    return cv2.GaussianBlur(img.astype(np.float32), (0, 0), c.blur_sigma)


def _for_detector(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Fixed mean and contrast (flicker), the detector's size."""
    small = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    small = (small - small.mean()) * (48.0 / max(float(small.std()), 12.0)) + 128.0
    return np.clip(small, 0, 255).astype(np.uint8)


def _size(width: int, height: int, target: int) -> tuple[int, int]:
    w = min(target, width)
    w -= w % 2
    return w, max(16, int(round(height * w / width / 2)) * 2)


def _smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    if x.size == 0 or sigma < 0.3:
        return x
    return cv2.GaussianBlur(x.reshape(1, -1).astype(np.float64), (0, 0), sigmaX=sigma, sigmaY=0.01).ravel()


def _hysteresis(x: np.ndarray, high: float, low: float) -> np.ndarray:
    on = np.zeros(x.size, bool)
    state = False
    for i, v in enumerate(x):
        state = v >= high or (state and v >= low)
        on[i] = state
    # a run reaching the high threshold extends backwards while above the low one
    for i in range(x.size - 2, -1, -1):
        if on[i + 1] and not on[i] and x[i] >= low:
            on[i] = True
    return on


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open index runs where ``mask`` is true."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def _track_speaking(act: np.ndarray, c: SpeakingConfig, fps: float) -> tuple[np.ndarray, np.ndarray, float]:
    """(smoothed activity, speaking mask, threshold) of one track's raw activity (NaN: not measured)."""
    raw = np.where(np.isfinite(act), act, 0.0)
    smooth = _smooth(raw, c.smooth_s * fps / 2)
    measured = smooth[np.isfinite(act)]
    if measured.size < 3:
        return smooth, np.zeros(act.size, bool), float("inf")
    # the level of a closed mouth: the mouth region changes less than the eyes and edges of the upper
    # face, so it sits below 0 by an amount that depends on the face; speech is a rise above it
    base, mid = np.percentile(measured, [10, 30])
    rise = max(c.threshold_floor, c.noise_ratio * max(mid - base, 0.0))
    return smooth, _hysteresis(smooth, base + rise, base + c.hysteresis * rise), float(base + rise)


def _intervals(mask: np.ndarray, times: np.ndarray, duration: float, c: SpeakingConfig) -> list[tuple[float, float]]:
    ends = np.append(times[1:], duration)
    out: list[list[float]] = []
    for a, b in _runs(mask):
        s, e = float(times[a]), float(ends[b - 1])
        if out and s - out[-1][1] < c.bridge_gap_s:
            out[-1][1] = e
        else:
            out.append([s, e])
    return [(max(0.0, s), min(duration, e)) for s, e in out if e - s >= c.min_speech_s]


def speaking_intervals(video_path: str | os.PathLike, start_frame: int = 0, stop_frame: int | None = None, *,
                       config: SpeakingConfig = SpeakingConfig()) -> SpeakingResult:
    """Where someone is visibly speaking in frames ``[start_frame, stop_frame)`` of a (cleaned) video.

    Arguments:
        video_path: the cleaned film or shot file.
        start_frame, stop_frame: the shot's half-open frame range; ``None`` reads to the end.
        config: detection settings.

    Returns:
        A :class:`SpeakingResult`: intervals in seconds from the shot's first frame, per-frame
        face counts and mouth activity.

    Raises:
        VideoError: the file cannot be read, or the range holds no frame.
        FileNotFoundError: no face cascade is installed (the message says what to install).
    """
    c = config
    if start_frame < 0 or (stop_frame is not None and stop_frame <= start_frame):
        raise VideoError(f"{video_path}: frame range [{start_frame}, {stop_frame}) holds no frame; "
                         "check the shot list")
    index = frame_index(video_path)
    stop = index.frames if stop_frame is None else min(stop_frame, index.frames)
    if not 0 <= start_frame < stop:
        raise VideoError(f"{video_path}: frame range [{start_frame}, {stop_frame}) holds no frame "
                         f"(the file has {index.frames}); check the shot list")
    detector = FaceDetector(c.cascade)
    rate = index.avg_fps or 24.0
    with av.open(str(video_path)) as container:
        cc = container.streams.video[0].codec_context
        size = _size(cc.width, cc.height, c.analysis_width)
    dsize = _size(size[0], size[1], c.detect_width)
    to_analysis = size[0] / dsize[0]
    min_size = max(24, int(round(c.min_face * dsize[1])))

    tracks: list[_Track] = []
    done: list[_Track] = []
    times: list[float] = []
    prev = None
    t0 = index.time_of(start_frame)
    for number, gray in iter_frames(video_path, start_frame, stop, fmt="gray", width=size[0], height=size[1]):
        k = number - start_frame
        times.append(index.time_of(number) - t0)
        img = _prepare(gray, c)
        if k % c.detect_every == 0:
            found = [np.asarray(b, np.float64) * to_analysis for b in
                     detector.detect(_for_detector(img, dsize), scale_factor=c.scale_factor, min_size=min_size,
                                     min_neighbors=c.min_neighbors)]
            pairs = sorted(((_iou(t.box, f), i, j) for i, t in enumerate(tracks) for j, f in enumerate(found)),
                           reverse=True)
            used_t, used_f = set(), set()
            for iou, i, j in pairs:
                if iou < c.iou_match or i in used_t or j in used_f:
                    continue
                used_t.add(i), used_f.add(j)
                t = tracks[i]
                t.box = (1 - c.box_smooth) * t.box + c.box_smooth * found[j]
                t.hits += 1
                t.missed = 0
            for i, t in enumerate(tracks):
                if i not in used_t:
                    t.missed += 1
            done += [t for t in tracks if t.missed > c.max_missed]
            tracks = [t for t in tracks if t.missed <= c.max_missed]
            # a new track, unless the detection is the same face at another scale (centre inside a track's box)
            tracks += [_Track(box=f, first=k, last=k) for j, f in enumerate(found)
                       if j not in used_f and not any(_inside(f, t.box) for t in tracks)]
        for t in tracks:
            if prev is not None and t.first < k:
                t.activity[k] = _activity(prev, img, t.box, c)
            t.last = k
        prev = img
    n = len(times)
    if n == 0:
        raise VideoError(f"{video_path}: no frame could be decoded in [{start_frame}, {stop}); re-export the file")
    duration = index.time_of(stop) - t0
    times_a = np.asarray(times)

    faces = np.zeros(n, np.int16)
    activity = np.zeros(n, np.float32)
    speaking = np.zeros(n, bool)
    kept = []
    for t in done + tracks:
        # a track that ended by missing detections did not last through its final misses
        end = t.last + 1 - (t.missed * c.detect_every if t.missed > c.max_missed else 0)
        if t.hits < 2 or (end - t.first) / rate < c.min_track_s:
            continue
        act = np.full(end - t.first, np.nan)
        for f, v in t.activity.items():
            if f < end:
                act[f - t.first] = v
        smooth, on, thr = _track_speaking(act, c, rate)
        span = slice(t.first, end)
        faces[span] += 1
        activity[span] = np.maximum(activity[span], smooth.astype(np.float32))
        speaking[span] |= on
        kept.append({"first": t.first, "frames": end - t.first, "hits": t.hits, "threshold": round(thr, 4),
                     "box": [round(float(v), 1) for v in t.box]})
    intervals = _intervals(speaking, times_a, duration, c)
    meta = {"video": str(video_path), "start_frame": start_frame, "stop_frame": stop, "detector": detector.backend,
            "cascade": detector.path.name, "tracks": kept, "config": asdict(c)}
    return SpeakingResult(intervals=intervals, faces=faces, mouth_activity=activity, fps=rate, duration=duration,
                          meta=meta)
