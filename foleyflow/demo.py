"""The demo "silent film": drawn by foleyflow itself, degraded like an old print.

Six shots with hard cuts, each a small scene with moving objects and contacts
at known frames (a bouncing ball, a blacksmith's hammer, a slammed door, a
steam train, footsteps), preceded by an intertitle. The ground truth (cuts,
events) is written beside the film, so later stages can be checked against
it, together with a collection manifest and per-shot descriptions.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from foleyflow.degrade import PRESETS, Degrader
from foleyflow.video import VideoWriter


@dataclass(frozen=True)
class DemoSpec:
    width: int = 640
    height: int = 480
    fps: int = 24
    seed: int = 7
    degrade: str = "archival"
    seconds_per_shot: float = 5.5  # six shots: 33 s
    shots: tuple[str, ...] = ("title", "ball", "hammer", "door", "train", "walk")

    @property
    def frames_per_shot(self) -> int:
        return int(round(self.seconds_per_shot * self.fps))

    @property
    def duration(self) -> float:
        return len(self.shots) * self.frames_per_shot / self.fps


@dataclass
class DemoFilm:
    path: Path
    clean_path: Path | None
    frames: int
    fps: float
    cuts: list[int]
    events: list[dict] = field(default_factory=list)
    manifest_path: Path = Path()


# --- drawing helpers ------------------------------------------------------------------------
def _texture(rng: np.random.Generator, h: int, w: int, cell: int, lo: int, hi: int) -> np.ndarray:
    small = rng.integers(lo, hi, (h // cell + 2, w // cell + 2)).astype(np.uint8)
    return cv2.resize(small, (w + 2 * cell, h + 2 * cell), interpolation=cv2.INTER_CUBIC)[:h, :w]


def _bricks(h: int, w: int, rng: np.random.Generator, base: int = 120) -> np.ndarray:
    img = _texture(rng, h, w, 6, base - 25, base + 25)
    for row, y in enumerate(range(0, h, 28)):
        cv2.line(img, (0, y), (w, y), base - 60, 2)
        for x in range((row % 2) * 30, w, 60):
            cv2.line(img, (x, y), (x, y + 28), base - 60, 2)
    return img


Scene = Callable[[int, int], tuple[np.ndarray, list[dict]]]


def _scene_title(spec: DemoSpec, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, list[dict]]]:
    h, w = spec.height, spec.width
    card = np.full((h, w), 12, np.uint8)
    cv2.rectangle(card, (30, 30), (w - 30, h - 30), 200, 2)
    for i, text in enumerate(["THE BLACKSMITH'S", "DAY", "a foleyflow picture"]):
        scale = w / 640 * (1.6 if i < 2 else 0.8)
        size = cv2.getTextSize(text, cv2.FONT_HERSHEY_TRIPLEX, scale, 2)[0]
        cv2.putText(card, text, ((w - size[0]) // 2, int(h * (0.38 + 0.16 * i))), cv2.FONT_HERSHEY_TRIPLEX,
                    scale, 235, 2, cv2.LINE_AA)
    for _ in range(spec.frames_per_shot):
        yield card, []


def _scene_ball(spec: DemoSpec, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, list[dict]]]:
    h, w = spec.height, spec.width
    wall = _bricks(h, w, rng, 130)
    floor_y = int(h * 0.8)
    wall[floor_y:] = _texture(rng, h - floor_y, w, 10, 60, 100)
    period = int(spec.fps * 0.9)  # bounce period
    radius = max(4, h // 16)
    for i in range(spec.frames_per_shot):
        img = wall.copy()
        phase = (i % period) / period
        height = 0.6 * h * (1 - (2 * phase - 1) ** 2) * (0.93 ** (i // period))
        cx = int(w * 0.1 + (w * 0.8) * i / spec.frames_per_shot)
        cy = int(floor_y - radius - height)
        cv2.ellipse(img, (cx, floor_y + 2), (radius, max(2, radius // 4)), 0, 0, 360, 40, -1)  # shadow
        cv2.circle(img, (cx, cy), radius, 225, -1)
        cv2.circle(img, (cx - radius // 3, cy - radius // 3), max(1, radius // 4), 250, -1)
        events = [{"kind": "impact", "label": "ball bounces on a wooden floor"}] if i % period == 0 and i else []
        yield img, events


def _scene_hammer(spec: DemoSpec, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, list[dict]]]:
    h, w = spec.height, spec.width
    bg = _bricks(h, w, rng, 90)
    anvil_top = int(h * 0.62)
    cv2.rectangle(bg, (int(w * 0.35), anvil_top), (int(w * 0.7), anvil_top + h // 12), 35, -1)
    cv2.rectangle(bg, (int(w * 0.45), anvil_top + h // 12), (int(w * 0.6), int(h * 0.9)), 30, -1)
    pivot = (int(w * 0.82), int(h * 0.45))
    length = int(w * 0.3)
    period = int(spec.fps * 0.75)
    for i in range(spec.frames_per_shot):
        img = bg.copy()
        phase = (i % period) / period
        # raise slowly, strike fast: the angle drops to the anvil at phase 0
        angle = math.radians(10 + 70 * (phase ** 0.5 if phase < 0.8 else (1 - phase) / 0.2 * 0.894))
        head = (int(pivot[0] - length * math.cos(angle)), int(pivot[1] + length * math.sin(angle) * 0.5 - 40 * math.sin(angle)))
        cv2.line(img, pivot, head, 180, max(3, w // 120))
        cv2.rectangle(img, (head[0] - w // 40, head[1] - h // 30), (head[0] + w // 40, head[1] + h // 30), 220, -1)
        if i % period == 0 and i:
            for k in range(6):  # sparks
                a = rng.uniform(0, math.pi)
                cv2.line(img, head, (int(head[0] + 30 * math.cos(a)), int(head[1] - 30 * math.sin(a))), 255, 1)
        events = [{"kind": "impact", "label": "hammer strikes an anvil"}] if i % period == 0 and i else []
        yield img, events


def _scene_door(spec: DemoSpec, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, list[dict]]]:
    h, w = spec.height, spec.width
    bg = _texture(rng, h, w, 8, 140, 180)
    frame_l, frame_r = int(w * 0.35), int(w * 0.65)
    top, bottom = int(h * 0.15), int(h * 0.9)
    cv2.rectangle(bg, (frame_l - 8, top - 8), (frame_r + 8, bottom), 60, -1)
    cv2.rectangle(bg, (frame_l, top), (frame_r, bottom), 15, -1)  # dark doorway
    n = spec.frames_per_shot
    slam = int(n * 0.55)
    for i in range(n):
        img = bg.copy()
        t = min(1.0, i / slam) if i <= slam else 1.0
        openness = (1 - t ** 2.2)  # accelerating as it swings shut
        bounce = 0.04 * math.exp(-(i - slam) / 3) * abs(math.sin((i - slam) * 1.3)) if i > slam else 0
        width = int((frame_r - frame_l) * max(0.08, 1 - openness * 0.92 + 0) * (1 - bounce))
        x1 = frame_l + width
        pts = np.array([[frame_l, top], [x1, top + int(25 * openness)], [x1, bottom - int(25 * openness)],
                        [frame_l, bottom]], np.int32)
        cv2.fillPoly(img, [pts], 110)
        cv2.polylines(img, [pts], True, 70, 2)
        cv2.circle(img, (x1 - max(6, width // 10), (top + bottom) // 2), 5, 200, -1)
        events = [{"kind": "impact", "label": "a heavy wooden door slams shut"}] if i == slam else []
        yield img, events


def _scene_train(spec: DemoSpec, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, list[dict]]]:
    h, w = spec.height, spec.width
    land = _texture(rng, h, w * 2, 12, 90, 170)
    land[: int(h * 0.45)] = _texture(rng, int(h * 0.45), w * 2, 40, 180, 215)  # sky
    rail_y = int(h * 0.75)
    cv2.line(land, (0, rail_y), (w * 2, rail_y), 40, 3)
    n = spec.frames_per_shot
    puffs: list[tuple[float, float, float]] = []
    for i in range(n):
        pan = int(i * 1.5)  # a slow pan
        img = land[:, pan:pan + w].copy()
        x = int(-w * 0.5 + (w * 1.6) * i / n)
        body = (x, rail_y - h // 5, x + w // 3, rail_y - h // 40)
        cv2.rectangle(img, body[:2], body[2:], 30, -1)
        cv2.rectangle(img, (body[2] - w // 10, body[1] - h // 10), (body[2], body[1]), 25, -1)  # cab
        cv2.rectangle(img, (x + w // 20, body[1] - h // 12), (x + w // 20 + w // 30, body[1]), 20, -1)  # stack
        for k in range(4):
            cx = x + w // 20 + k * w // 12
            cv2.circle(img, (cx, rail_y - h // 60), h // 25, 60, -1)
            a = i * 0.5 + k
            cv2.line(img, (cx, rail_y - h // 60), (int(cx + h // 30 * math.cos(a)), int(rail_y - h // 60 + h // 30 * math.sin(a))), 150, 2)
        events = []
        if i % 8 == 0:
            puffs.append((x + w // 20 + w // 60, body[1] - h // 12, 0.0))
            events = [{"kind": "chuff", "label": "steam locomotive chuffs"}]
        puffs = [(px - 0.5, py - 2.5, age + 1) for px, py, age in puffs if age < 30]
        for px, py, age in puffs:
            cv2.circle(img, (int(px), int(py)), int(8 + age * 1.5), int(230 - age * 2), -1)
        yield img, events


def _scene_walk(spec: DemoSpec, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, list[dict]]]:
    h, w = spec.height, spec.width
    street = _bricks(h, w, rng, 150)
    ground = int(h * 0.85)
    street[ground:] = _texture(rng, h - ground, w, 5, 70, 110)
    stride = int(spec.fps * 0.5)  # one footstep every half second
    leg = h // 6
    for i in range(spec.frames_per_shot):
        img = street.copy()
        hip_x = int(w * 0.15 + (w * 0.7) * i / spec.frames_per_shot)
        phase = (i % stride) / stride
        swing = math.sin(phase * math.pi) * 0.5
        side = 1 if (i // stride) % 2 else -1
        hip = (hip_x, ground - leg - int(4 * abs(math.sin(phase * math.pi))))
        foot_a = (hip_x + int(side * leg * (0.5 - phase) * 0.8), ground)
        foot_b = (hip_x - int(side * leg * (0.5 - phase) * 0.8), ground - int(18 * swing))
        for foot in (foot_a, foot_b):
            cv2.line(img, hip, foot, 25, 5)
            cv2.ellipse(img, foot, (10, 4), 0, 0, 360, 20, -1)
        head = (hip[0], hip[1] - int(leg * 1.6))
        cv2.line(img, hip, (head[0], head[1] + 15), 25, 7)
        cv2.circle(img, head, 14, 30, -1)
        cv2.rectangle(img, (head[0] - 16, head[1] - 26), (head[0] + 16, head[1] - 14), 15, -1)  # hat
        events = [{"kind": "footstep", "label": "footsteps on cobblestones"}] if i % stride == 0 and i else []
        yield img, events


SCENES: dict[str, tuple[Callable, str]] = {
    "title": (_scene_title, "intertitle card, silence or a soft projector hum"),
    "ball": (_scene_ball, "a rubber ball bounces on a wooden floor"),
    "hammer": (_scene_hammer, "a blacksmith's hammer strikes an anvil, metallic clangs"),
    "door": (_scene_door, "a heavy wooden door swings and slams shut"),
    "train": (_scene_train, "a steam locomotive passes, chuffing and rattling on the rails"),
    "walk": (_scene_walk, "footsteps of a man walking on cobblestones"),
}


def build_demo_film(out_dir: str | os.PathLike, spec: DemoSpec = DemoSpec(), *, keep_clean: bool = False) -> DemoFilm:
    """Render, degrade and write the demo film, its ground truth and its collection manifest.

    Returns:
        A :class:`DemoFilm`; ``manifest_path`` is the collection CSV to run.
    """
    unknown = [s for s in spec.shots if s not in SCENES]
    if unknown:
        raise ValueError(f"unknown demo scene(s) {unknown}; choose from {', '.join(SCENES)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    film_path = out / "blacksmiths-day.mp4"
    clean_path = out / "blacksmiths-day.clean.mkv" if keep_clean else None
    truth_path = out / "blacksmiths-day.truth.json"
    manifest = out / "collection.csv"
    spec_json = json.loads(json.dumps(asdict(spec)))
    if film_path.exists() and truth_path.exists() and manifest.exists() and (clean_path is None or clean_path.exists()):
        # Same spec, film already there: reuse it, so a second demo is the same film (same sha256)
        # even where the encoder is not bit-for-bit reproducible.
        old = json.loads(truth_path.read_text())
        if old.get("spec") == spec_json:
            return DemoFilm(path=film_path, clean_path=clean_path, frames=old["frames"], fps=float(old["fps"]),
                            cuts=old["cuts"], events=old["events"], manifest_path=manifest)
    degrader = Degrader(PRESETS[spec.degrade], spec.seed, spec.width, spec.height)
    events: list[dict] = []
    cuts: list[int] = []
    number = 0
    clean_writer = (VideoWriter(clean_path, fps=spec.fps, width=spec.width, height=spec.height)
                    if clean_path else None)
    try:
        with VideoWriter(film_path, fps=spec.fps, width=spec.width, height=spec.height, codec="h264", crf=18) as writer:
            for shot, name in enumerate(spec.shots):
                if shot:
                    cuts.append(number)
                rng = np.random.default_rng([spec.seed, shot])
                for gray, shot_events in SCENES[name][0](spec, rng):
                    rgb = cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)
                    if clean_writer:
                        clean_writer.write(rgb)
                    writer.write(degrader.apply(rgb, number))
                    events += [{"frame": number, "time": round(number / spec.fps, 3), "shot": shot, **e}
                               for e in shot_events]
                    number += 1
    except BaseException:
        if clean_writer:
            clean_writer.abort()
        raise
    if clean_writer:
        clean_writer.close()
    truth = {"spec": spec_json, "film": film_path.name, "fps": spec.fps, "frames": number, "cuts": cuts, "events": events,
             "shots": [{"index": i, "scene": s, "description": SCENES[s][1]} for i, s in enumerate(spec.shots)]}
    _write_text(truth_path, json.dumps(truth, indent=2))
    description = "A blacksmith's day: " + "; ".join(SCENES[s][1] for s in spec.shots if s != "title")
    _write_csv(manifest, ["path", "title", "description", "negative_prompt"],
               [[film_path.name, "The Blacksmith's Day (foleyflow demo)", description, "music, voices, dialogue"]])
    _write_csv(out / "shots.csv", ["film", "shot", "description", "negative_prompt"],
               [[film_path.name, i, SCENES[s][1], "music, voices"] for i, s in enumerate(spec.shots)])
    return DemoFilm(path=film_path, clean_path=clean_path, frames=number, fps=float(spec.fps), cuts=cuts,
                    events=events, manifest_path=manifest)


def _write_text(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    os.replace(partial, path)


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    partial = path.with_name(f".{path.name}.partial")
    with open(partial, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    os.replace(partial, path)
