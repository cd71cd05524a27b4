"""Timing from the picture: when things happen in a shot, on the generator's audio grid.

Most foley events are contacts (a foot lands, a ball bounces, a hammer
strikes): on screen an abrupt deceleration or reversal of motion. Frame
difference energy places them too early (at the start of a movement) and
smears them, so here motion is followed along the moving material:

1. Frames are decoded one at a time at a reduced size (``analysis_width``,
   grayscale), despeckled (median 3x3, against dust), blurred (against grain)
   and normalised to a fixed mean and contrast (against flicker).
2. Dense optical flow (OpenCV DIS) between consecutive frames; the median
   flow vector is the camera (shake, weave, pans) and is subtracted.
3. Local momentum: the residual flow of the moving pixels (faster than the
   noise, and only where the picture has texture: under grain the flow of
   flat areas is random) averaged with a wide Gaussian (``region`` of the
   width), so flow noise cancels and each object is one smooth blob.
4. The change of that momentum field from one interval to the next is the
   contact: its component against the motion (deceleration, reversal)
   counts in proportion to the fraction of the motion it stops
   (``contact_sharpness``: an abrupt stop or a bounce counts fully, a
   gradual slow-down, such as the top of a lift, hardly), the rest
   (something starts moving) with ``start_weight``; the mean over the frame
   is the onset strength. On the synthetic ball and hammer clips of
   tests/motion_clips.py (seeds 10-15, not those the knobs were tuned on)
   this took onset F1 from 0.945 to 0.973, the hammer's from 0.90 to 0.98:
   the slowing lift and the accelerating strike no longer make onsets. Peaks with a minimum gap
   (``min_gap_s``) above an adaptive threshold (a multiple of the local
   median, a floor, and a fraction of the strongest peak within a second)
   are the onsets.
   Frames around a cut (the first/last ``edge_frames`` of the range, and any
   frame the flow cannot explain at all) never make an onset.
5. Onsets become narrow Gaussians on the 62.5 Hz audio grid (channel 0).
   The motion energy, smoothed and normalised, is the *activity* curve. The
   generator's sustain channel (channel 1) is what the picture says about
   loudness in the terms the model was trained on (relative loudness of the
   sound, :mod:`models.foley_mini.timing`): a decay after every onset (a
   contact rings, then fades) over a bed of half the activity (continuous
   motion keeps something sounding). Feeding motion energy itself (high all
   through a moving shot) made the model play one continuous sound and lose
   the contacts: on the bench's synthetic contacts, onset F1 through the whole
   chain was 0.36 with it against 0.90 with this mapping (foley-mini, 16 steps).

Memory is flat: two decoded frames and two flow fields at a time.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np

from foleyflow.video import VideoError, frame_index, iter_frames
from tasks.audio_grid import FRAME_RATE, impulse_curve, num_frames, pick_peaks, resample_to_grid, sound_sustain


@dataclass(frozen=True)
class TimingConfig:
    """Knobs of :func:`timing_curve`; the defaults were tuned on the synthetic clips of the tests."""

    analysis_width: int = 160  # frames are decoded at this width (height keeps the aspect ratio)
    blur_sigma: float = 1.0  # Gaussian blur against grain, in analysis pixels
    contrast: float = 48.0  # target luma standard deviation after normalisation
    min_contrast: float = 12.0  # flat frames are never amplified more than this allows
    motion_floor: float = 0.35  # residual flow (px/frame) below this is noise, not motion
    min_texture: float = 2.5  # mean luma gradient (levels/px, after normalisation) for the flow to be trusted
    noise_factor: float = 4.0  # ...or below this many times the median residual speed of the frame
    region: float = 0.125  # std of the neighbourhood momentum is averaged over, as a fraction of the width
    contact_sharpness: float = 1.0  # deceleration is weighted by (fraction of the motion it stops) ** this
    start_weight: float = 0.2  # weight of acceleration along the motion (starts) vs against it (contacts)
    cut_error: float = 22.0  # mean absolute error (levels) after warping by the flow above which a frame is a cut
    edge_frames: int = 2  # frames at each end of the range that never make an onset
    min_gap_s: float = 0.12  # minimum time between two onsets
    threshold_window_s: float = 0.5  # half-width of the adaptive threshold's median window
    threshold_ratio: float = 2.0  # an onset is this many times the local median strength...
    threshold_floor: float = 8.5  # ...and above this (momentum change, px/frame x moving fraction x100)
    threshold_relative: float = 0.34  # ...and this fraction of the strongest onset within relative_window_s
    relative_window_s: float = 1.0
    sustain_smooth_s: float = 0.15  # Gaussian smoothing of the sustain curve
    sustain_noise: float = 1.5  # motion energy (px/frame x moving fraction x100) that is still noise (dust, grain)
    sustain_reference: float = 24.0  # motion energy above the noise that counts as fully active
    sustain_decay_s: float = 0.2  # sustain after an onset decays with this time constant...
    sustain_bed: float = 0.5  # ...over this fraction of the motion activity


@dataclass
class TimingCurve:
    """The timing of one shot: onset, sustain and activity on the audio grid, and the per-frame measures.

    ``onset``, ``sustain`` and ``activity`` have ``T = num_frames(duration)`` values at
    ``frame_rate`` (62.5) per second; ``motion`` and ``strength`` one value per
    video frame at ``fps``; ``onset_times`` are seconds from the shot's first frame.
    """

    onset: np.ndarray  # float32 (T,) in [0, 1]
    sustain: np.ndarray  # float32 (T,) in [0, 1]: loudness the generator is asked for
    fps: float
    frame_rate: float
    motion: np.ndarray  # float32 (frames,) motion energy per video frame
    strength: np.ndarray  # float32 (frames,) onset strength per video frame
    onset_times: np.ndarray  # float64 (events,) seconds
    duration: float = 0.0  # seconds
    meta: dict = field(default_factory=dict)
    activity: np.ndarray | None = None  # float32 (T,) in [0, 1]: normalised motion energy (None: not recorded)

    def stacked(self) -> np.ndarray:
        """The generator's input: ``float32 (2, T)``, row 0 onset, row 1 sustain."""
        return np.stack([self.onset, self.sustain]).astype(np.float32)

    def to_npz(self, path: str | os.PathLike) -> Path:
        """Write atomically (a hidden partial file, then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        with open(partial, "wb") as fh:
            np.savez(fh, onset=self.onset, sustain=self.sustain, fps=self.fps, frame_rate=self.frame_rate,
                     motion=self.motion, strength=self.strength, onset_times=self.onset_times,
                     duration=self.duration, meta=np.asarray(repr(self.meta)),
                     activity=self.activity if self.activity is not None else np.zeros(0, np.float32))
        os.replace(partial, path)
        return path

    @classmethod
    def from_npz(cls, path: str | os.PathLike) -> "TimingCurve":
        """Read a file written by :meth:`to_npz`.

        Raises:
            ValueError: the file is not a timing curve (missing arrays).
        """
        import ast

        with np.load(path, allow_pickle=False) as z:
            missing = {"onset", "sustain", "fps", "frame_rate", "motion", "strength", "onset_times"} - set(z.files)
            if missing:
                raise ValueError(f"{path}: not a foleyflow timing curve (missing {sorted(missing)}); "
                                 "recompute it with tasks.features.timing_curve")
            return cls(onset=z["onset"], sustain=z["sustain"], fps=float(z["fps"]), frame_rate=float(z["frame_rate"]),
                       motion=z["motion"], strength=z["strength"], onset_times=z["onset_times"],
                       duration=float(z["duration"]), meta=ast.literal_eval(str(z["meta"])),
                       activity=z["activity"] if "activity" in z.files and z["activity"].size else None)


def timing_path(shot_video: str | os.PathLike) -> Path:
    """Where a shot's timing curve is kept: beside the shot file, ``<stem>.timing.npz``."""
    p = Path(shot_video)
    return p.with_name(f"{p.stem}.timing.npz")


def _prepare(gray: np.ndarray, c: TimingConfig) -> np.ndarray:
    img = cv2.medianBlur(gray, 3)
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), c.blur_sigma)
    mean, std = float(img.mean()), float(img.std())
    img = (img - mean) * (c.contrast / max(std, c.min_contrast)) + 128.0
    return np.clip(img, 0, 255).astype(np.uint8)


class _Motion:
    """Flow of consecutive prepared frames, camera motion removed."""

    def __init__(self, shape: tuple[int, int], config: TimingConfig) -> None:
        self.c = config
        self.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        # finer than the preset: small fast objects (a falling ball) move more than their size per frame
        self.dis.setFinestScale(0)
        self.dis.setPatchStride(3)
        self.dis.setGradientDescentIterations(50)
        h, w = shape
        self.grid = np.dstack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)))
        m = max(2, w // 40)
        self.sigma = max(2.0, w * config.region)
        self.inner = (slice(m, h - m), slice(m, w - m))  # borders: flow unreliable under shake

    def flow(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        """(full flow, residual flow, is_cut) of the interval a -> b, on a's pixel grid."""
        f = self.dis.calc(a, b, None)
        camera = np.median(f[self.inner].reshape(-1, 2), axis=0)
        warped = cv2.remap(b, self.grid + f, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        error = float(np.mean(np.abs(warped[self.inner].astype(np.float32) - a[self.inner])))
        return f, f - camera, error > self.c.cut_error

    def acceleration(self, r_prev: np.ndarray, r_next: np.ndarray, texture: np.ndarray) -> tuple[float, float]:
        """(onset strength, motion energy) at the frame between two intervals.

        ``texture`` masks the pixels whose flow can be trusted (flat areas give random flow under grain).
        """
        c = self.c
        r_prev, r_next = r_prev * texture, r_next * texture
        p0, p1 = self.momentum(r_prev), self.momentum(r_next)
        ins = self.inner
        p0, p1 = p0[ins], p1[ins]
        s0 = np.linalg.norm(p0, axis=2)
        acc = p1 - p0
        along = np.sum(acc * p0, axis=2) / np.maximum(s0, 1e-6)  # < 0: deceleration or reversal
        against = np.maximum(-along, 0.0)
        rest = np.linalg.norm(acc, axis=2) - against
        # weighted by how much of the motion the change stops: ~1 for a contact, small for a gradual slow-down
        against = against * np.clip(against / np.maximum(s0, 1e-6), 0, 1) ** c.contact_sharpness
        strength = against + c.start_weight * rest
        energy = np.linalg.norm(r_prev[ins], axis=2)
        return 100.0 * float(strength.mean()), 100.0 * float(np.where(energy > self.floor(energy), energy, 0).mean())

    def floor(self, speed: np.ndarray) -> float:
        """Speeds below this are noise: the configured floor, or a multiple of the typical (static) speed."""
        return max(self.c.motion_floor, self.c.noise_factor * float(np.median(speed)))

    def texture(self, img: np.ndarray) -> np.ndarray:
        """1 where the picture has enough structure for optical flow (edges, texture), else 0."""
        f = img.astype(np.float32)
        gx, gy = cv2.Sobel(f, cv2.CV_32F, 1, 0, ksize=3) / 8, cv2.Sobel(f, cv2.CV_32F, 0, 1, ksize=3) / 8
        edge = cv2.GaussianBlur(np.sqrt(gx * gx + gy * gy), (0, 0), 1.5)
        return (edge > self.c.min_texture).astype(np.float32)[:, :, None]

    def momentum(self, r: np.ndarray) -> np.ndarray:
        """Local momentum density: residual flow of the moving pixels, averaged over a wide neighbourhood."""
        s = np.linalg.norm(r, axis=2)
        moving = (s > self.floor(s)).astype(np.float32)[:, :, None]
        return cv2.GaussianBlur(r * moving, (0, 0), self.sigma)


def _analysis_size(width: int, height: int, target: int) -> tuple[int, int]:
    w = min(target, width)
    w -= w % 2
    h = max(16, int(round(height * w / width / 2)) * 2)
    return w, h


def timing_curve(video_path: str | os.PathLike, start_frame: int = 0, stop_frame: int | None = None, *,
                 fps: float | None = None, config: TimingConfig = TimingConfig()) -> TimingCurve:
    """The timing curve of frames ``[start_frame, stop_frame)`` of a video (one shot).

    Arguments:
        video_path: the (cleaned) film or shot file.
        start_frame, stop_frame: the shot's half-open frame range; ``None`` reads to the end.
        fps: frames per second to time the frames with; default the file's frame timestamps
            (exact for variable frame rate).
        config: detection settings.

    Returns:
        A :class:`TimingCurve`; its ``stacked()`` is the generator's ``(2, T)`` input.

    Raises:
        VideoError: the file cannot be read, or the range holds no frame.
    """
    index = frame_index(video_path)
    stop = index.frames if stop_frame is None else min(stop_frame, index.frames)
    if not 0 <= start_frame < stop:
        raise VideoError(f"{video_path}: frame range [{start_frame}, {stop_frame}) holds no frame "
                         f"(the file has {index.frames}); check the shot list")
    rate = float(fps) if fps else (index.avg_fps or 24.0)
    with av.open(str(video_path)) as container:
        cc = container.streams.video[0].codec_context
        size = _analysis_size(cc.width, cc.height, config.analysis_width)

    times: list[float] = []
    strength: list[float] = []
    motion: list[float] = []
    blocked: set[int] = set()  # frame offsets that never make an onset (cuts)
    prev_img = None
    prev_flow = None  # (full, residual, cut) of the interval ending at the previous frame
    motion_model: _Motion | None = None
    t0 = index.time_of(start_frame)
    for number, gray in iter_frames(video_path, start_frame, stop, fmt="gray", width=size[0], height=size[1]):
        k = number - start_frame
        times.append(k / rate if fps else index.time_of(number) - t0)
        img = _prepare(gray, config)
        strength.append(0.0)
        motion.append(0.0)
        if prev_img is None:
            motion_model = _Motion(img.shape, config)
        else:
            full, resid, cut = motion_model.flow(prev_img, img)
            if cut:
                blocked.update((k - 1, k))
            if prev_flow is not None and not (cut or prev_flow[2]):
                # acceleration at frame k-1, between the intervals (k-2 -> k-1) and (k-1 -> k)
                strength[k - 1], motion[k - 1] = motion_model.acceleration(prev_flow[1], resid, texture)
            prev_flow = (full, resid, cut)
        prev_img = img
        texture = motion_model.texture(img)  # of the frame the next acceleration is measured at
    n = len(times)
    if n == 0:
        raise VideoError(f"{video_path}: no frame could be decoded in [{start_frame}, {stop}); re-export the file")
    duration = (index.time_of(stop) - t0) if not fps else (stop - start_frame) / rate
    return _curves(np.asarray(times), np.asarray(strength, np.float32), np.asarray(motion, np.float32),
                   blocked, rate, duration, config, meta={"video": str(video_path), "start_frame": start_frame,
                                                          "stop_frame": stop, "config": asdict(config)})


def _curves(times: np.ndarray, strength: np.ndarray, motion: np.ndarray, blocked: set[int], fps: float,
            duration: float, c: TimingConfig, meta: dict) -> TimingCurve:
    n = strength.size
    masked = strength.copy()
    edge = min(c.edge_frames, n)
    masked[:edge] = 0.0
    masked[n - edge:] = 0.0
    for k in blocked:
        if 0 <= k < n:
            masked[k] = 0.0
    peaks = pick_peaks(masked, fps, min_gap_s=c.min_gap_s, window_s=c.threshold_window_s,
                       ratio=c.threshold_ratio, floor=c.threshold_floor, relative=c.threshold_relative,
                       relative_window_s=c.relative_window_s)
    onset_times = times[peaks] if peaks.size else np.zeros(0)
    T = num_frames(duration)
    heights = np.clip(0.5 + 0.5 * masked[peaks] / max(float(masked[peaks].max()), 1e-9), 0, 1) if peaks.size else None
    onset = impulse_curve(onset_times, T, heights)
    sigma = max(c.sustain_smooth_s * fps, 0.5)
    smooth = cv2.GaussianBlur(motion.reshape(1, -1).astype(np.float64), (0, 0), sigmaX=sigma, sigmaY=0.01).ravel()
    per_frame = np.clip((smooth - c.sustain_noise) / c.sustain_reference, 0, 1)
    activity = np.clip(resample_to_grid(times, per_frame, T), 0, 1).astype(np.float32)
    sustain = sound_sustain(onset_times, activity, c.sustain_decay_s, c.sustain_bed)
    return TimingCurve(onset=onset, sustain=sustain, fps=fps, frame_rate=FRAME_RATE, motion=motion,
                       strength=strength, onset_times=np.asarray(onset_times, np.float64), duration=duration,
                       meta=meta, activity=activity)

