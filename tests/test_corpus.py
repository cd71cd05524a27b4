"""The training corpus builder (models/corpus, flows/corpus.py) on a fake Debian package tree.

The package tree is made here: a DEP-5 copyright file with several Files:
stanzas (one with a non-commercial licence), sounds synthesised with numpy and
written with PyAV as .ogg and .wav, a voice line, a UI click, a too-short
blip, a silent file, and the same recording twice under other encodings.
"""

from __future__ import annotations

import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from models.corpus import captions
from models.corpus.archives import iter_sounds, read_opensfx
from models.corpus.build import CorpusConfig, assign_split, catalog_rows, finalise, process_package
from models.corpus.extract import SAMPLE_RATE, decode
from models.corpus.licences import allowed, dep5_licence, opensfx_licence
from models.corpus.packages import PackageSource, SoundRoot


# --- caption rules on real-looking paths ------------------------------------------------------------

@dataclass(frozen=True)
class CaptionCase:
    path: str
    category: str | None
    caption: str | None = None
    title: str | None = None

    def __str__(self) -> str:
        return self.path.rsplit("/", 1)[-1]


CAPTION_CASES = [
    CaptionCase("sounds/ambient/forest_birds.ogg", "birds", "birds singing"),
    CaptionCase("audio/actor/human/movement/Footsteps/Footstep_Gravel_Walking.ogg", "footsteps", "footsteps on gravel"),
    CaptionCase("audio/actor/human/movement/Footsteps/Foorstep_Sand_Running.ogg", "footsteps", "running footsteps on sand"),
    CaptionCase("audio/actor/singlesteps/fs_snow_3.ogg", "footsteps", "footsteps on snow"),
    CaptionCase("wesnoth/1.16/data/core/sounds/horse-canter.wav", "horse_gallop", "horse gallop"),
    CaptionCase("audio/actor/fauna/animal/horse_idle2.ogg", "horse_neigh", "horse neigh"),
    CaptionCase("widelands/data/sound/farm/ox_01.ogg", "cow", "cow mooing"),
    CaptionCase("audio/ambient/water/river_raging_1.ogg", "river", "fast river rapids"),
    CaptionCase("audio/ambient/water/waterfall_1.ogg", "waterfall", "waterfall"),
    CaptionCase("audio/ambient/weather/windgust_1.ogg", "wind", "wind gusts"),
    CaptionCase("scorched3d/data/wav/misc/gull2.wav", "gulls", "seagulls"),
    CaptionCase("lincity-ng/sounds/Blacksmith1.wav", "anvil", "hammer on anvil"),
    CaptionCase("widelands/data/sound/atlanteans/saw/sawing_02.ogg", "saw", "sawing wood"),
    CaptionCase("minetest/mods/doors/sounds/doors_door_open.ogg", "door", "door opening"),
    CaptionCase("audio/attack/weapon/Musket_1.ogg", "gunshot", "gunshot"),
    CaptionCase("audio/attack/impact/arrow_wood_12.ogg", "bow_arrow", "arrow hitting wood"),
    CaptionCase("x/opensfx.cat!04.wav", "steam_train", "steam train departing station",
                title="Steam train station departure"),
    CaptionCase("x/opensfx.cat!14.wav", "level_crossing", "level crossing bell", title="Level crossing"),
    # dropped
    CaptionCase("voice/taunt1.wav", None),
    CaptionCase("redeclipse/data/sounds/voice/niceshot.ogg", None),
    CaptionCase("audio/interface/ui/chat_alert.ogg", None),
    CaptionCase("wesnoth/1.16/sounds/button.wav", None),
    CaptionCase("audio/music/peaceful/Forest_Theme.ogg", None),
    CaptionCase("scorched3d/data/wav/shoot/laser.wav", None),
    CaptionCase("wesnoth/1.16/data/core/sounds/magic-holy-1.ogg", None),
    CaptionCase("wesnoth/1.16/data/core/sounds/human-hit-2.ogg", None),
    CaptionCase("megaglest/commondata/sounds/archer_select3.wav", None),
]


@pytest.mark.parametrize("case", CAPTION_CASES, ids=str)
def test_caption_rules(case: CaptionCase) -> None:
    labelled = captions.label(case.path, title=case.title)
    assert labelled.category == case.category, labelled
    if case.category is None:
        assert labelled.reason
    else:
        assert labelled.caption == case.caption
        assert labelled.caption in [captions.CATEGORY_BY_SLUG[case.category].caption,
                                    *[c for _, c in captions.CATEGORY_BY_SLUG[case.category].qualifiers]]


def test_similar_sounds_share_words() -> None:
    horse = [captions.label(p).caption for p in ("sounds/horse-canter.wav", "sounds/horse_idle.ogg",
                                                  "movement/hoof_trot.ogg")]
    assert all("horse" in c.split() for c in horse) and len(set(horse)) == 3
    steps = {captions.label(f"steps/footstep_{s}.ogg").caption for s in ("gravel", "wood", "snow")}
    assert len(steps) == 3 and all(c.startswith("footsteps on ") for c in steps)


def test_vocabulary_is_curated() -> None:
    slugs = [c.slug for c in captions.CATEGORIES]
    assert 40 <= len(slugs) <= 100 and len(set(slugs)) == len(slugs)
    assert captions.label("sounds/ambient/rain_1.ogg").is_ambience
    assert not captions.label("sounds/door_close.ogg").is_ambience


# --- licences -----------------------------------------------------------------------------------------

COPYRIGHT = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: fakegame

Files: *
Copyright: 2010 Fake Game Team
License: GPL-2+

Files: data/sounds/ambient/*
Copyright: 2011 Jane Recordist
License: CC-BY-3.0

Files: data/sounds/animals/*
Copyright: 2012 Nonfree Sounds Ltd
License: CC-BY-NC-3.0

Files: data/sounds/fx/*
Copyright: 2013 Old Studio
License: CC0-1.0

License: GPL-2+
 See /usr/share/common-licenses/GPL-2.

License: CC-BY-3.0
 Attribution.

License: CC-BY-NC-3.0
 Non-commercial.

License: CC0-1.0
 Public domain dedication.
"""


def test_licence_policy() -> None:
    assert allowed("CC-BY-SA-3.0+")[0] and allowed("GPL-2+ or CDDL")[0] and allowed("CC0")[0]
    ok, why = allowed("CC-BY-NC-3.0")
    assert not ok and "commercial" in why
    assert not allowed("Red-Eclipse")[0]
    assert allowed("CC-BY-3.0", "permissive")[0] and not allowed("CC-BY-SA-3.0", "permissive")[0]
    assert not allowed("GPL-2+", "permissive")[0]


def test_dep5_last_matching_stanza_wins(tmp_path: Path) -> None:
    path = tmp_path / "copyright"
    path.write_text(COPYRIGHT)
    installed = "usr/share/games/fakegame/data/sounds/{}"
    assert dep5_licence(path, installed.format("ambient/forest_birds.ogg")).licence == "CC-BY-3.0"
    assert dep5_licence(path, installed.format("ambient/forest_birds.ogg")).author == "2011 Jane Recordist"
    assert dep5_licence(path, installed.format("animals/cow.ogg")).licence == "CC-BY-NC-3.0"
    assert dep5_licence(path, installed.format("door_close.wav")).licence == "GPL-2+"


def test_opensfx_catalogue_names() -> None:
    name, lic = opensfx_licence('"Cow". Original "Cow - Moan 2.wav" by "Jarred Gib". Edited by "Wuzzy". '
                                "License: Creative Commons Zero 1.0.")
    assert (name, lic.licence, lic.author) == ("Cow", "CC0-1.0", "Jarred Gib; edited by Wuzzy")
    _, lic = opensfx_licence('"Factory Whistle". By Janis Lukss. License: Creative Commons Attribution 3.0 Unported.')
    assert (lic.licence, lic.author) == ("CC-BY-3.0", "Janis Lukss")


# --- archives -----------------------------------------------------------------------------------------

def _wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    pcm = (samples * 32767).astype("<i2").tobytes()
    return (b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate,
            rate * 2, 2, 16) + b"data" + struct.pack("<I", len(pcm)) + pcm)


def test_opensfx_cat_and_zip(tmp_path: Path) -> None:
    wav = _wav_bytes(np.zeros(800), 8000)
    entries = [b'"Cow". By X. License: Creative Commons Zero 1.0.', b'"Horse". By Y. License: Creative Commons Zero 1.0.']
    table_len = 8 * len(entries)
    blobs, offsets = b"", []
    for name in entries:
        offsets.append(table_len + len(blobs))
        blobs += bytes([len(name) + 1]) + name + b"\0" + wav
    table = b"".join(struct.pack("<II", off | 0x80000000, len(wav)) for off in offsets)
    sounds = read_opensfx(table + blobs)
    assert [s[0].split(".")[0] for s in sounds] == ['"Cow"', '"Horse"'] and sounds[1][1] == wav
    with zipfile.ZipFile(tmp_path / "public.zip", "w") as z:
        z.writestr("audio/ambient/rain_1.wav", wav)
        z.writestr("art/texture.png", b"png")
    found = [(s.relpath, s.read()) for s in iter_sounds(tmp_path, SoundRoot("public.zip", "zip", "audio/"))]
    assert found == [("public.zip!audio/ambient/rain_1.wav", wav)]


# --- the build on a fake package ------------------------------------------------------------------------

def _write(path: Path, samples: np.ndarray, rate: int, codec: str) -> None:
    """Encode mono samples with PyAV (``libopus`` in .ogg needs 48 kHz; ``pcm_s16le`` in .wav)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, layout="mono")
        fmt = stream.format.name
        data = (samples * 32767).astype(np.int16) if fmt.startswith("s16") else samples.astype(np.float32)
        for begin in range(0, len(data), 960):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data[None, begin:begin + 960]),
                                               format=fmt, layout="mono")
            frame.sample_rate = rate
            frame.pts = begin
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def _noise_bursts(seconds: float, rate: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    envelope = np.clip(np.sin(2 * np.pi * (0.7 + seed * 0.37) * t), 0, None) ** 2
    tone = np.sin(2 * np.pi * (300 + 90 * seed) * t)
    return (0.3 * envelope * (0.6 * rng.standard_normal(len(t)) + tone)).astype(np.float32)


@pytest.fixture()
def fake_package(tmp_path: Path) -> tuple[PackageSource, Path]:
    root = tmp_path / "fakegame-data"
    (root / "usr/share/doc/fakegame-data").mkdir(parents=True)
    (root / "usr/share/doc/fakegame-data/copyright").write_text(COPYRIGHT)
    sounds = root / "usr/share/games/fakegame/data/sounds"
    birds = _noise_bursts(3.0, 48000, 1)
    _write(sounds / "ambient/forest_birds.ogg", birds, 48000, "libopus")
    _write(sounds / "fx/forest_birds_copy.wav", birds[::2] * 0.5, 24000, "pcm_s16le")  # same recording, other encoding
    for i in range(4):
        _write(sounds / f"fx/door_close{i}.wav", _noise_bursts(1.5, 22050, 10 + i), 22050, "pcm_s16le")
        _write(sounds / f"footstep_gravel{i}.ogg", _noise_bursts(1.2, 48000, 20 + i), 48000, "libopus")
    _write(sounds / "ambient/rain_1.ogg", _noise_bursts(10.0, 48000, 3), 48000, "libopus")
    _write(sounds / "animals/cow_moo.ogg", _noise_bursts(2.0, 44100, 4), 48000, "libopus")  # NC licence
    _write(sounds / "voice/taunt1.wav", _noise_bursts(1.0, 16000, 5), 16000, "pcm_s16le")
    _write(sounds / "ui/click.wav", _noise_bursts(1.0, 16000, 6), 16000, "pcm_s16le")
    _write(sounds / "fx/door_slam_short.wav", _noise_bursts(0.2, 16000, 7), 16000, "pcm_s16le")
    _write(sounds / "fx/wind_silent.wav", np.zeros(16000, np.float32), 16000, "pcm_s16le")
    source = PackageSource("fakegame-data", roots=(SoundRoot("usr/share/games/fakegame/data/sounds"),))
    return source, root


def test_build_on_fake_package(fake_package, foleyflow_home: Path) -> None:
    source, root = fake_package
    config = CorpusConfig(packages=("fakegame-data",), roots={"fakegame-data": str(root)})
    result = process_package(source, config, foleyflow_home)
    by_file = {Path(c["source_file"]).name: c for c in result.clips}
    reasons = {Path(d["source_file"]).name: d["reason"] for d in result.dropped}

    assert set(by_file) == {"forest_birds.ogg", "forest_birds_copy.wav", "rain_1.ogg",
                            *(f"door_close{i}.wav" for i in range(4)), *(f"footstep_gravel{i}.ogg" for i in range(4))}
    assert "commercial" in reasons["cow_moo.ogg"]
    assert reasons["taunt1.wav"] == "voice or speech" and reasons["click.wav"] == "interface sound"
    assert "too short" in reasons["door_slam_short.wav"] and "silent" in reasons["wind_silent.wav"]

    birds, door = by_file["forest_birds.ogg"], by_file["door_close0.wav"]
    assert (birds["category"], birds["licence"], birds["author"]) == ("birds", "CC-BY-3.0", "2011 Jane Recordist")
    assert (door["caption"], door["licence"]) == ("door closing", "CC0-1.0")
    assert by_file["footstep_gravel0.ogg"]["caption"] == "footsteps on gravel"
    assert by_file["footstep_gravel0.ogg"]["licence"] == "GPL-2+" and by_file["rain_1.ogg"]["is_ambience"]
    for clip in result.clips:
        audio, rate = decode(Path(clip["path"]).read_bytes())
        with av.open(clip["path"]) as container:
            stream = container.streams.audio[0]
            assert (stream.codec_context.name, stream.rate, stream.channels) == ("flac", SAMPLE_RATE, 1)
        assert abs(len(audio) / SAMPLE_RATE - clip["duration_s"]) < 0.01 and 0.05 < np.max(np.abs(audio)) < 0.9

    corpus = finalise([result], config, foleyflow_home)
    clips = pd.read_parquet(corpus.clips_path)
    dup = clips.set_index(clips.source_file.map(lambda p: Path(p).name))
    assert dup.loc["forest_birds.ogg", "dup_group"] == dup.loc["forest_birds_copy.wav", "dup_group"]
    assert dup.loc["forest_birds.ogg", "split"] == dup.loc["forest_birds_copy.wav", "split"]
    assert dup.loc["door_close0.wav", "dup_group"] != dup.loc["door_close1.wav", "dup_group"]
    for category in ("door", "footsteps"):
        assert set(clips.loc[clips.category == category, "split"]) == {"train", "eval"}

    win = pd.read_parquet(corpus.windows_path)
    assert set(win.clip_id) == set(clips.clip_id)
    merged = win.merge(clips[["clip_id", "split", "caption", "n_samples"]], on="clip_id", suffixes=("", "_clip"))
    assert (merged.split == merged.split_clip).all() and (merged.caption == merged.caption_clip).all()
    assert ((merged.end_sample - merged.start_sample) == config.window_samples).all()
    rain = merged[merged.clip_id == dup.loc["rain_1.ogg", "clip_id"]]
    # a ~9 s clip: windows every hop, the last one flush with the end
    assert len(rain) >= 2 and rain.start_sample.iloc[1] == config.hop_samples
    assert rain.end_sample.max() == rain.n_samples.iloc[0] and not rain.padded.any()
    assert corpus.summary_path.read_text().startswith("# foleyflow training corpus")

    from catalog import repo
    from catalog.db import session_scope
    from catalog.models import CorpusClip

    for _ in range(2):  # a second upsert of the same clips adds nothing
        with session_scope() as s:
            repo.upsert_corpus_clips(s, catalog_rows(corpus.clips))
    with session_scope() as s:
        rows = repo.corpus_clips(s)
        assert len(rows) == len(clips) == s.scalar(sa.select(sa.func.count()).select_from(CorpusClip))
        row = next(r for r in rows if r.source_file.endswith("forest_birds.ogg"))
        assert (row.package, row.licence, row.author, row.sha256) == (
            "fakegame-data", "CC-BY-3.0", "2011 Jane Recordist", birds["sha256"])

    again = process_package(source, config, foleyflow_home)  # the manifest is reused
    assert again.cached and [c["sha256"] for c in again.clips] == [c["sha256"] for c in result.clips]


def test_split_is_deterministic_and_keeps_groups() -> None:
    clips = [{"clip_id": f"{i:016x}", "category": "door" if i < 10 else "bell"} for i in range(14)]
    groups = [c["clip_id"] if i % 3 else clips[max(0, i - 1)]["clip_id"] for i, c in enumerate(clips)]
    a = assign_split(clips, groups, seed=1, eval_fraction=0.15)
    assert a == assign_split(clips, groups, seed=1, eval_fraction=0.15)
    for group in set(groups):
        assert len({s for s, g in zip(a, groups) if g == group}) == 1
    for category in ("door", "bell"):
        assert {s for s, c in zip(a, clips) if c["category"] == category} == {"train", "eval"}


def test_flow_and_cli(fake_package, foleyflow_home: Path, prefect_harness) -> None:
    from typer.testing import CliRunner

    from foleyflow.cli import app
    from models.corpus import packages

    source, root = fake_package
    packages.PACKAGES[source.name] = source
    try:
        runner = CliRunner()
        args = ["corpus", "build", "--packages", source.name, "--root", f"{source.name}={root}", "--json"]
        first = runner.invoke(app, args)
        assert first.exit_code == 0, first.output
        second = runner.invoke(app, args)
        assert second.exit_code == 0, second.output
        bad = runner.invoke(app, ["corpus", "build", "--packages", "no-such-package"])
        assert bad.exit_code == 1 and "unknown corpus package" in bad.output
    finally:
        del packages.PACKAGES[source.name]
    from catalog.db import session_scope
    from catalog.models import CorpusClip, Event

    with session_scope() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(CorpusClip)) == 11
        events = list(s.scalars(sa.select(Event).where(Event.event_type == "corpus build")))
        outcomes = [e.outcome for e in events if e.object_identifier.startswith("deb:")]
        assert outcomes == ["success", "skipped"]


def test_openclonk_authors_file() -> None:
    from models.corpus.licences import openclonk_licence

    text = ("If not stated otherwise, the sound effects are licensed under the\nCC Attribution 3.0 license\n\n"
            "ala             - Fire/Spark1&2&3, Structures/DoorOpen*\n"
            "                  Environment/Vine/Grab1&2\n"
            "xerana          - Environment/Lightning/Thunder1 (https://example.org/1)\n"
            "infopablo       - Environment/Lightning/Thunder2 (https://example.org/2)\n"
            "The following sound effects are licensed under the CC 0 license (public domain):\n"
            "mbezzola\t\t- RockHit1-3 (https://example.org/3)\n")
    assert openclonk_licence(text, "Fire/Spark2.wav") == openclonk_licence(text, "Structures/DoorOpen7.wav")
    assert openclonk_licence(text, "Environment/Vine/Grab2.wav").author == "ala"
    assert openclonk_licence(text, "Environment/Lightning/Thunder2.ogg").author == "infopablo"
    rock = openclonk_licence(text, "Hits/Materials/Rock/RockHit3.ogg")
    assert (rock.licence, rock.author) == ("CC0-1.0", "mbezzola")
    assert openclonk_licence(text, "Structures/Unlisted.ogg").licence == "CC-BY-3.0"  # the stated default
