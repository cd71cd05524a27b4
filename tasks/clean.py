"""Frame cleaning for degraded film: deflicker, dust, scratches, grain, stabilise.

The film streams through two small windows, so memory does not grow with its
length:

1. a window of ``2 * temporal_radius + 1`` frames for the steps that need a
   smooth reference over time: *deflicker* (each frame's brightness and
   contrast pulled to their moving average) and *stabilize* (the global
   shift between frames, found by phase correlation, is smoothed over time
   and the difference undone);
2. a window of three frames for the motion-compensated steps. Dense optical
   flow (OpenCV's DIS, ultrafast preset, at half resolution) warps the
   previous and the next frame onto the current one. *Dust* and dirt are
   pixels that differ from both warped neighbours in the same direction while
   the neighbours agree with each other (a spike detector); they are replaced
   from the neighbours. *Grain* is reduced by averaging each pixel with its
   warped neighbours where they agree within the measured noise level, then a
   light edge-preserving spatial pass. *Scratches* (thin vertical lines that
   persist over frames, so temporal repair cannot see them) are found as
   narrow ridges in the column profile and filled from the columns beside
   them.

Everything happens on the luma plane of YUV 4:2:0, which is what film scans
and the lossless output are stored in; chroma is warped and repaired with it.
Every step adapts to the noise level measured on the frame, so undamaged
footage passes nearly untouched.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from foleyflow.video import VideoWriter, frame_index, iter_frames

STEPS: tuple[str, ...] = ("deflicker", "dust", "scratches", "grain", "stabilize")


@dataclass(frozen=True)
class CleanConfig:
    """What to clean and how; defaults suit 8-bit scans of 16/35 mm film."""

    steps: tuple[str, ...] = STEPS
    codec: str = "ffv1"  # "ffv1" (lossless, Matroska) or "h264" (near-lossless)
    crf: int = 10  # H.264 only
    temporal_radius: int = 6  # frames each side for the deflicker / stabilise references
    dust_k: float = 4.0  # a dust pixel differs from both neighbours by k noise sigmas...
    dust_min: float = 14.0  # ...and by at least this many levels
    dust_agree: float = 2.5  # the neighbours must agree within this many sigmas (+dust_min/2)
    grain_strength: float = 1.0  # 0 = off; scales the temporal averaging weight
    grain_tolerance: float = 3.0  # neighbours within this many noise sigmas are averaged in
    grain_recursive: float = 2.0  # extra weight of the (already cleaned) previous frame
    grain_spatial: float = 0.0  # weight of an extra spatial (bilateral) pass, 0..1: +0.2 dB for -25% speed
    scratch_min: float = 6.0  # minimum column-profile ridge height in levels
    scratch_max_width: int = 3  # widest scratch in pixels
    stabilize_max_shift: float = 20.0  # larger global shifts are camera moves, left alone

    def __post_init__(self) -> None:
        unknown = [s for s in self.steps if s not in STEPS]
        if unknown:
            raise ValueError(f"unknown cleaning step(s) {', '.join(unknown)}; valid steps: {', '.join(STEPS)}")
        if self.codec not in ("ffv1", "h264"):
            raise ValueError(f"unknown codec {self.codec!r}; use 'ffv1' or 'h264'")

    def cache_key_part(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


def parse_steps(text: str) -> tuple[str, ...]:
    """``"deflicker,dust"`` -> ``("deflicker", "dust")``; ``""`` or ``"none"`` -> ``()``.

    Raises:
        ValueError: an unknown step, naming it and the valid ones.
    """
    text = (text or "").strip().lower()
    if text in ("", "none"):
        return ()
    steps = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise ValueError(f"unknown cleaning step(s) {', '.join(unknown)}; valid steps: {', '.join(STEPS)} (or 'none')")
    return tuple(s for s in STEPS if s in steps)  # canonical order


@dataclass
class CleanResult:
    output: Path
    frames: int
    fps: float
    width: int
    height: int
    seconds: float
    stats: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        data = asdict(self)
        data["output"] = str(self.output)
        return data


@dataclass
class _Frame:
    number: int
    y: np.ndarray  # float32 HxW
    u: np.ndarray  # float32 H/2 x W/2
    v: np.ndarray
    small: np.ndarray | None = None  # uint8 half-size luma for optical flow


def _split(yuv: np.ndarray, h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = yuv[:h].astype(np.float32)
    chroma = yuv[h:].reshape(2, h // 2, w // 2)  # planar U then V
    return y, chroma[0].astype(np.float32), chroma[1].astype(np.float32)


def _join(f: _Frame) -> np.ndarray:
    h, w = f.y.shape
    out = np.empty((h * 3 // 2, w), np.uint8)
    out[:h] = np.clip(f.y + 0.5, 0, 255)
    out[h:] = np.clip(np.concatenate([f.u.reshape(-1), f.v.reshape(-1)]).reshape(h // 2, w) + 0.5, 0, 255)
    return out


def noise_sigma(y: np.ndarray) -> float:
    """Gaussian noise level of a frame (Immerkaer's fast estimator on a 2x-reduced frame)."""
    small = y[::4, ::4] if min(y.shape) > 128 else y  # plenty of samples for a median
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    response = np.abs(cv2.filter2D(small, cv2.CV_32F, kernel)[1:-1, 1:-1])
    return float(np.median(response) / (0.6745 * 6.0))  # |N| has norm 6; median |x| = 0.6745 sigma


def _temporal_sigma(y: np.ndarray, prev: np.ndarray, nxt: np.ndarray) -> float:
    """Noise level from the residual against the motion-compensated neighbours (robust median)."""
    r = (y[::3, ::3] - 0.5 * (prev[::3, ::3] + nxt[::3, ::3]))
    # var(y - (a + b) / 2) = 1.5 sigma^2 for independent noise of equal level
    return float(np.median(np.abs(r)) / 0.6745 / np.sqrt(1.5))


class _Cleaner:
    def __init__(self, config: CleanConfig, h: int, w: int) -> None:
        self.c = config
        self.h, self.w = h, w
        self.on = set(config.steps)
        self.flow = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._flows: dict[tuple[int, int], np.ndarray] = {}
        gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
        self.grid = (gx, gy)
        cgy, cgx = np.mgrid[0:h // 2, 0:w // 2].astype(np.float32)
        self.cgrid = (cgx, cgy)
        self.stats: dict[str, list[float]] = {"dust_px": [], "scratch_cols": [], "flicker_gain": [], "jitter_px": [],
                                              "noise_sigma": []}

    # -- stage 1: deflicker and stabilise over a window of frames -----------------------------
    def global_stage(self, frames: Iterator[_Frame]) -> Iterator[_Frame]:
        r = self.c.temporal_radius
        buf: deque[_Frame] = deque()
        meta: deque[tuple[float, float, float, float]] = deque()  # (mean, std, cum_dx, cum_dy)
        history: deque[tuple[float, float, float, float]] = deque(maxlen=r)
        prev_small: np.ndarray | None = None
        cum = [0.0, 0.0]
        pending_out = 0

        def emit() -> _Frame:
            f = buf.popleft()
            m = meta.popleft()
            window = list(history) + [m] + list(meta)
            history.append(m)
            return self._apply_global(f, m, window)

        for f in frames:
            small = cv2.resize(f.y, (self.w // 4, self.h // 4), interpolation=cv2.INTER_AREA)
            mean, std = cv2.meanStdDev(small)
            mean, std = float(mean[0, 0]), float(max(std[0, 0], 1.0))
            if "stabilize" in self.on and prev_small is not None:
                (dx, dy), resp = cv2.phaseCorrelate((prev_small - prev_small.mean()) / max(std, 1),
                                                    (small - small.mean()) / max(std, 1), self._window(small.shape))
                if np.isfinite(resp) and resp > 0.05:
                    cum[0] += dx * 4
                    cum[1] += dy * 4
            prev_small = small
            buf.append(f)
            meta.append((mean, std, cum[0], cum[1]))
            pending_out += 1
            if len(buf) > r:
                yield emit()
        while buf:
            yield emit()

    _win_cache: dict = {}

    def _window(self, shape: tuple[int, int]) -> np.ndarray:
        if shape not in self._win_cache:
            self._win_cache[shape] = cv2.createHanningWindow((shape[1], shape[0]), cv2.CV_32F)
        return self._win_cache[shape]

    def _apply_global(self, f: _Frame, m: tuple[float, float, float, float], window: list) -> _Frame:
        mean, std, cx, cy = m
        arr = np.asarray(window)
        if "deflicker" in self.on:
            ref_mean, ref_std = float(np.median(arr[:, 0])), float(np.median(arr[:, 1]))
            gain = ref_std / std
            gain = float(np.clip(gain, 0.5, 2.0))
            if abs(gain - 1) > 0.004 or abs(ref_mean - mean) > 0.4:
                f.y = (f.y - mean) * gain + ref_mean
            self.stats["flicker_gain"].append(abs(gain - 1))
        if "stabilize" in self.on:
            dx, dy = float(np.mean(arr[:, 2]) - cx), float(np.mean(arr[:, 3]) - cy)
            if 0.25 < np.hypot(dx, dy) < self.c.stabilize_max_shift:
                mat = np.float32([[1, 0, dx], [0, 1, dy]])
                f.y = cv2.warpAffine(f.y, mat, (self.w, self.h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                cmat = np.float32([[1, 0, dx / 2], [0, 1, dy / 2]])
                f.u = cv2.warpAffine(f.u, cmat, (self.w // 2, self.h // 2), borderMode=cv2.BORDER_REPLICATE)
                f.v = cv2.warpAffine(f.v, cmat, (self.w // 2, self.h // 2), borderMode=cv2.BORDER_REPLICATE)
            self.stats["jitter_px"].append(float(np.hypot(dx, dy)))
        return f

    # -- stage 2: motion-compensated dust, grain and scratches ----------------------------------
    def local_stage(self, frames: Iterator[_Frame]) -> Iterator[_Frame]:
        need_mc = bool(self.on & {"dust", "grain"})
        window: list[_Frame] = []
        for f in frames:
            window.append(f)
            if len(window) == 2:  # only after the first two frames: the first has no previous one
                yield self._clean_one(window[0], None, window[1], need_mc)
            if len(window) == 3:
                yield self._clean_one(window[1], window[0], window[2], need_mc)
                window.pop(0)
        if len(window) == 1:
            yield self._clean_one(window[0], None, None, need_mc)
        elif len(window) == 2:
            yield self._clean_one(window[1], window[0], None, need_mc)

    def _flow(self, a: _Frame, b: _Frame) -> np.ndarray:
        """Half-resolution flow from frame ``a`` to frame ``b`` (where each pixel of ``a`` is in ``b``).

        Cached: at frame t the flows t->t+1 and t+1->t are computed, and at t+1 they are
        reused as its backward pair, so the forward-backward check costs no extra flow.
        """
        key = (a.number, b.number)
        if key not in self._flows:
            self._flows[key] = self.flow.calc(self._small(a), self._small(b), None)
            for old in [k for k in self._flows if max(k) < a.number - 1]:
                del self._flows[old]
        return self._flows[key]

    def _reliable(self, fab: np.ndarray, fba: np.ndarray) -> np.ndarray:
        """Pixels whose motion is confirmed by the flow back (no occlusion, no flow error), full size."""
        cx, cy = self.cgrid
        back = cv2.remap(fba, cx + fab[..., 0], cy + fab[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        err = np.hypot(fab[..., 0] + back[..., 0], fab[..., 1] + back[..., 1])
        ok = (err < 0.5 + 0.1 * np.hypot(fab[..., 0], fab[..., 1])).astype(np.uint8)
        ok = cv2.erode(ok, np.ones((3, 3), np.uint8))  # motion boundaries are unreliable on both sides
        return cv2.resize(ok, (self.w, self.h), interpolation=cv2.INTER_NEAREST).astype(bool)

    def _warp_to(self, f: _Frame, other: _Frame) -> tuple[np.ndarray, ...]:
        flow = self._flow(f, other)
        reliable = self._reliable(flow, self._flow(other, f))
        cx, cy = self.cgrid
        mx, my = cx + flow[..., 0], cy + flow[..., 1]
        u = cv2.remap(other.u, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        v = cv2.remap(other.v, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        big = cv2.resize(flow, (self.w, self.h), interpolation=cv2.INTER_LINEAR) * 2.0
        gx, gy = self.grid
        y = cv2.remap(other.y, gx + big[..., 0], gy + big[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return y, u, v, reliable

    def _small(self, f: _Frame) -> np.ndarray:
        if f.small is None:
            f.small = cv2.resize(np.clip(f.y, 0, 255).astype(np.uint8), (self.w // 2, self.h // 2),
                                 interpolation=cv2.INTER_AREA)
        return f.small

    def _clean_one(self, f: _Frame, prev: _Frame | None, nxt: _Frame | None, need_mc: bool) -> _Frame:
        sigma = spatial_sigma = max(noise_sigma(f.y), 0.5)
        neighbours = [n for n in (prev, nxt) if n is not None]
        if need_mc and neighbours:
            warped = [self._warp_to(f, n) for n in neighbours]
            if len(warped) == 1:
                warped = warped * 2
            (py, pu, pv, pok), (ny, nu, nv, nok) = warped
            # Texture can pass for noise in a single frame; the motion-compensated residual
            # cannot. Take the lower estimate, so that clean footage is never smoothed.
            sigma = max(min(sigma, _temporal_sigma(f.y, py, ny)), 0.5)
            if "dust" in self.on and len(neighbours) == 2:  # a spike needs a frame on each side
                self._dust(f, sigma, py, ny, pu, nu, pv, nv, pok & nok)
            if "grain" in self.on:
                self._grain(f, sigma, py, ny, pu, nu, pv, nv, pok, nok)
        self.stats["noise_sigma"].append(sigma)
        if "scratches" in self.on:
            # the spatial estimate includes texture: a scratch must stand out from texture too
            self._scratches(f, spatial_sigma)
        f.small = None  # the picture changed; neighbours recompute from the cleaned frame if needed
        return f

    def _dust(self, f, sigma, py, ny, pu, nu, pv, nv, reliable) -> None:
        c = self.c
        d1, d2 = f.y - py, f.y - ny
        thr = max(c.dust_k * sigma, c.dust_min)
        agree = np.abs(py - ny) < (c.dust_agree * sigma + c.dust_min * 0.5)
        spike = (((d1 > thr) & (d2 > thr)) | ((d1 < -thr) & (d2 < -thr))) & agree & reliable
        count = int(spike.sum())
        self.stats["dust_px"].append(count)
        if not count:
            return
        mask = cv2.dilate(spike.astype(np.uint8), np.ones((3, 3), np.uint8))
        # grow into the speck's soft edge only where the pixel still stands out
        soft = (np.minimum(np.abs(d1), np.abs(d2)) > 0.5 * thr) & agree
        mask = (mask.astype(bool) & (soft | spike))
        repair = 0.5 * (py + ny)
        f.y = np.where(mask, repair, f.y)
        cmask = cv2.resize(mask.astype(np.uint8), (self.w // 2, self.h // 2), interpolation=cv2.INTER_NEAREST).astype(bool)
        if cmask.any():
            f.u = np.where(cmask, 0.5 * (pu + nu), f.u)
            f.v = np.where(cmask, 0.5 * (pv + nv), f.v)

    def _grain(self, f, sigma, py, ny, pu, nu, pv, nv, pok, nok) -> None:
        c = self.c
        if c.grain_strength <= 0 or sigma < 1.0:
            return  # clean footage: leave it alone
        s2 = 2.0 * (self.c.grain_tolerance * sigma) ** 2
        # the previous frame is already cleaned (less noisy): it counts more, like a recursive filter
        w1 = c.grain_recursive * c.grain_strength * np.exp(-((f.y - py) ** 2) / s2) * pok
        w2 = c.grain_strength * np.exp(-((f.y - ny) ** 2) / s2) * nok
        total = 1.0 + w1 + w2
        f.y = (f.y + w1 * py + w2 * ny) / total
        cw1 = cv2.resize(w1, (self.w // 2, self.h // 2), interpolation=cv2.INTER_AREA)
        cw2 = cv2.resize(w2, (self.w // 2, self.h // 2), interpolation=cv2.INTER_AREA)
        ct = 1.0 + cw1 + cw2
        f.u = (f.u + cw1 * pu + cw2 * nu) / ct
        f.v = (f.v + cw1 * pv + cw2 * nv) / ct
        if c.grain_spatial > 0 and sigma >= 2.0:
            residual = sigma / np.sqrt(np.mean(total))
            smooth = cv2.bilateralFilter(f.y, 5, float(2.5 * residual), 2.0)
            f.y = f.y + c.grain_spatial * (smooth - f.y)

    def _scratches(self, f: _Frame, sigma: float) -> None:
        """Thin vertical lines: a ridge in the column profile of every horizontal band, persisting in time."""
        c = self.c
        h, w = f.y.shape
        sample = f.y[:: max(1, h // 64)]
        bands = np.array_split(sample, 4, axis=0)
        kernel = (2 * c.scratch_max_width + 5, 1)
        ridges = []
        for band in bands:
            profile = np.median(band, axis=0)
            ridges.append(profile - cv2.blur(profile.reshape(1, -1), kernel).ravel())
        ridges = np.asarray(ridges)
        thr = max(c.scratch_min, 1.5 * sigma)
        up = (ridges > thr).all(axis=0)  # top to bottom of the frame
        down = (ridges < -thr).all(axis=0)
        cols = np.flatnonzero(up | down)
        previous = getattr(self, "_scratch_prev", None)
        self._scratch_prev = cols
        if cols.size == 0:
            self.stats["scratch_cols"].append(0)
            return
        ridge = np.median(ridges, axis=0)
        found = 0
        for group in np.split(cols, np.flatnonzero(np.diff(cols) > 1) + 1):
            a, b = int(group[0]), int(group[-1])
            if b - a + 1 > c.scratch_max_width or a < 2 or b > w - 3:
                continue  # too wide (an edge in the picture) or at the border
            if previous is not None and not np.any(np.abs(previous - (a + b) / 2) <= 3):
                continue  # not there in the previous frame: not a scratch (and dust is handled elsewhere)
            left, right = f.y[:, a - 2:a - 1], f.y[:, b + 2:b + 3]
            t = (np.arange(a, b + 1, dtype=np.float32) - (a - 2)) / float(b + 2 - (a - 2))
            fill = left * (1 - t) + right * t
            sign = np.sign(ridge[a:b + 1].mean())
            dev = (f.y[:, a:b + 1] - fill) * sign
            f.y[:, a:b + 1] = np.where(dev > 0.5 * thr, fill, f.y[:, a:b + 1])
            found += b - a + 1
        self.stats["scratch_cols"].append(found)


_END = object()


def _in_thread(items: Iterator, maxsize: int = 3) -> Iterator:
    """Run a generator in a background thread, so that pipeline stages overlap on two cores.

    OpenCV, NumPy (on whole frames) and PyAV release the GIL while they work, so
    decoding, the global stage, the local stage and encoding run side by side.
    """
    q: queue.Queue = queue.Queue(maxsize=maxsize)
    stop = threading.Event()

    def run() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            q.put(exc)

    thread = threading.Thread(target=run, daemon=True, name="clean-stage")
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def clean_video(src: str | os.PathLike, dst: str | os.PathLike, *, start: int = 0, stop: int | None = None,
                config: CleanConfig = CleanConfig()) -> CleanResult:
    """Clean frames ``[start, stop)`` of ``src`` into ``dst``.

    Arguments:
        src: the film.
        dst: output file (.mkv for FFV1; .mkv or .mp4 for H.264); written atomically.
        start, stop: frame range (the whole film by default).
        config: steps and settings.

    Returns:
        A :class:`CleanResult` with the frame count, rate, time taken and per-step statistics.

    Raises:
        VideoError: the input cannot be read.
        ValueError: bad range or settings.
    """
    t0 = time.perf_counter()
    index = frame_index(src)
    stop = index.frames if stop is None else min(stop, index.frames)
    if not 0 <= start < stop:
        raise ValueError(f"empty or invalid frame range [{start}, {stop}) for a film of {index.frames} frames")
    import av

    with av.open(str(src)) as c:
        cc = c.streams.video[0].codec_context
        w, h = cc.width - cc.width % 2, cc.height - cc.height % 2
        rate = c.streams.video[0].average_rate or c.streams.video[0].guessed_rate
    cleaner = _Cleaner(config, h, w)

    def frames() -> Iterator[_Frame]:
        for number, yuv in iter_frames(src, start, stop, fmt="yuv420p", width=w, height=h):
            y, u, v = _split(yuv, h, w)
            yield _Frame(number, y, u, v)

    # Encoding runs in its own thread (PyAV releases the GIL while encoding), overlapping the cleaning.
    done: queue.Queue = queue.Queue(maxsize=4)
    failure: list[BaseException] = []

    def encode(writer: VideoWriter) -> None:
        try:
            while (item := done.get()) is not None:
                writer.write(item)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            failure.append(exc)
            while done.get() is not None:
                pass

    count = 0
    with VideoWriter(dst, fps=rate, width=w, height=h, codec=config.codec, crf=config.crf,
                     pix_fmt="yuv420p", input_format="yuv420p") as writer:
        encoder = threading.Thread(target=encode, args=(writer,), name="clean-encode", daemon=True)
        encoder.start()
        try:
            for f in cleaner.local_stage(_in_thread(cleaner.global_stage(_in_thread(frames())))):
                if failure:
                    break
                done.put(_join(f))
                count += 1
        finally:
            done.put(None)
            encoder.join()
        if failure:
            raise failure[0]
        if count != stop - start:
            raise ValueError(f"{src}: decoded {count} frames where {stop - start} were expected; "
                             "the file may be damaged")
    stats = {f"mean_{k}": float(np.mean(v)) if v else 0.0 for k, v in cleaner.stats.items()}
    return CleanResult(output=Path(dst), frames=count, fps=float(rate), width=w, height=h,
                       seconds=time.perf_counter() - t0, stats=stats)
