"""Collections: folders and manifest CSVs with per-shot overrides."""

from __future__ import annotations

import pytest

from foleyflow.manifest import ManifestError, load_collection


def test_folder_lists_video_files_sorted_and_ignores_others(tmp_path):
    for name in ["b.mp4", "a.MKV", "notes.txt", ".hidden.mp4", "c.mov"]:
        (tmp_path / name).write_bytes(b"x")
    coll = load_collection(tmp_path)
    assert [f.path.name for f in coll.films] == ["a.MKV", "b.mp4", "c.mov"]
    assert coll.name == tmp_path.name


def test_manifest_paths_are_relative_to_the_manifest_and_overrides_attach(tmp_path):
    (tmp_path / "reels").mkdir()
    (tmp_path / "reels" / "one.mp4").write_bytes(b"x")
    manifest = tmp_path / "collection.csv"
    manifest.write_text("path,title,description,negative_prompt\n"
                        "reels/one.mp4,The Smithy,hammer on anvil,music\n"
                        "reels/two.mp4,,waves,\n")
    (tmp_path / "shots.csv").write_text("film,shot,description,negative_prompt\n"
                                        "reels/one.mp4,2,a door slams,voices\n"
                                        "The Smithy,3,,\n")
    coll = load_collection(manifest)
    one, two = coll.films
    assert one.path == (tmp_path / "reels" / "one.mp4").resolve()
    assert (one.title, one.description, one.negative_prompt) == ("The Smithy", "hammer on anvil", "music")
    assert one.shot_overrides[2].description == "a door slams"
    assert one.shot_overrides[2].negative_prompt == "voices"
    assert two.title == "two" and two.shot_overrides == {}


@pytest.mark.parametrize(
    "content, message",
    [
        ("title,description\nx,y\n", "missing column"),
        ("path,title\n,x\n", "empty path"),
        ("path,title\n", "lists no films"),
    ],
)
def test_bad_manifests_say_what_to_fix(tmp_path, content, message):
    manifest = tmp_path / "m.csv"
    manifest.write_text(content)
    with pytest.raises(ManifestError, match=message):
        load_collection(manifest)


def test_bad_shot_index_names_the_line(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("path\nf.mp4\n")
    shots = tmp_path / "o.csv"
    shots.write_text("film,shot\nf.mp4,first\n")
    with pytest.raises(ManifestError, match=r"o.csv:2: shot must be a shot index"):
        load_collection(manifest, shots_csv=shots)


def test_missing_source_and_empty_folder(tmp_path):
    with pytest.raises(ManifestError, match="no such folder"):
        load_collection(tmp_path / "nope")
    with pytest.raises(ManifestError, match="no video files"):
        load_collection(tmp_path)
