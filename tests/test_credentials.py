"""C2PA content credentials: sign real MP4/WAV files, read them back, tamper with them."""

from __future__ import annotations

import os
import stat
import wave

import av
import numpy as np
import pytest

from tasks import credentials as cred
from tests.media import write_video

GENERATION = {"model": "builtin:foley-mini", "weights_sha256": "ab" * 32, "prompt": "hammer strikes on an anvil",
              "negative_prompt": "music, voices", "seeds": [7, 1234567], "generation_ids": [3, 4],
              "watermark": "0x1234abcd"}


@pytest.fixture(autouse=True)
def _no_configured_cert(monkeypatch, tmp_path):
    for env in (cred.CERT_ENV, cred.KEY_ENV, cred.TRUST_ENV):
        monkeypatch.delenv(env, raising=False)
    monkeypatch.setenv("FOLEYFLOW_HOME", str(tmp_path / "home"))


@pytest.fixture
def creds(tmp_path):
    return cred.signing_credentials(tmp_path / "home")


def _wav(path, seconds=1.0):
    t = np.arange(int(16000 * seconds)) / 16000
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes((3000 * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes())
    return path


def _trusted(creds):
    return [creds.trust_pem.decode()]


def test_signed_mp4_reads_back_valid_trusted_with_its_generation(tmp_path, creds):
    film = write_video(tmp_path / "film.mp4", frames=24)
    out = write_video(tmp_path / "delivery.mp4", frames=24, audio=True)
    assert cred.sign(out, parent=film, generation=GENERATION, credentials=creds) == out
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    with av.open(str(out)) as c:  # still a playable film with picture and sound
        assert {s.type for s in c.streams} == {"video", "audio"}
    got = cred.read(out, trust=_trusted(creds))
    assert got["present"] and got["valid"] and got["trusted"], got
    assert got["validation_state"] == "Trusted" and got["errors"] == []
    assert got["assertions"][cred.GENERATION_LABEL] == GENERATION
    actions = got["assertions"]["c2pa.actions.v2"]["actions"]
    assert [a["action"] for a in actions] == ["c2pa.opened", "c2pa.edited"]
    assert actions[1]["digitalSourceType"] == cred.TRAINED_ALGORITHMIC_MEDIA
    assert got["ingredients"] == [{"title": "film.mp4", "relationship": "parentOf"}]
    assert got["title"] == "delivery.mp4"
    assert got["claim_generator"][0].startswith("foleyflow ")
    assert "TEST" in got["signer"]
    # default trust: the generated test root under FOLEYFLOW_HOME
    assert cred.read(out)["trusted"]
    # with no anchor the signature is still valid, but not trusted
    untrusted = cred.read(out, trust=[])
    assert untrusted["valid"] and not untrusted["trusted"]


def test_signed_wav_without_parent_is_created_by_a_trained_model(tmp_path, creds):
    wav = _wav(tmp_path / "track.wav")
    dst = tmp_path / "signed.wav"
    cred.sign(wav, parent=None, generation=GENERATION, credentials=creds, dst=dst)
    assert cred.read(wav)["present"] is False  # the source is untouched
    got = cred.read(dst, trust=_trusted(creds))
    assert got["present"] and got["valid"] and got["trusted"], got
    (action,) = got["assertions"]["c2pa.actions.v2"]["actions"]
    assert action["action"] == "c2pa.created"
    assert action["digitalSourceType"] == cred.TRAINED_ALGORITHMIC_MEDIA
    assert got["assertions"][cred.GENERATION_LABEL]["seeds"] == [7, 1234567]
    with wave.open(str(dst)) as w:
        assert w.getnframes() == 16000


def test_altered_media_is_not_valid(tmp_path, creds):
    out = write_video(tmp_path / "delivery.mp4", frames=24, audio=True)
    cred.sign(out, parent=None, generation=GENERATION, credentials=creds)
    data = bytearray(out.read_bytes())
    mdat = data.find(b"mdat")
    data[mdat + 200] ^= 0xFF
    out.write_bytes(bytes(data))
    got = cred.read(out, trust=_trusted(creds))
    assert got["present"] and not got["valid"] and not got["trusted"]
    assert got["validation_state"] == "Invalid" and got["errors"]


def test_remux_drops_the_manifest(tmp_path, creds):
    out = write_video(tmp_path / "delivery.mp4", frames=24, audio=True)
    cred.sign(out, parent=None, generation=GENERATION, credentials=creds)
    remux = tmp_path / "remux.mp4"
    with av.open(str(out)) as src, av.open(str(remux), "w") as dst:
        streams = {s.index: dst.add_stream_from_template(s) for s in src.streams}
        for pkt in src.demux():
            if pkt.dts is not None:
                pkt.stream = streams[pkt.stream.index]
                dst.mux(pkt)
    assert cred.read(remux)["present"] is False


def test_file_without_manifest_is_not_present(tmp_path):
    got = cred.read(_wav(tmp_path / "plain.wav"))
    assert got == {**got, "present": False, "valid": False, "trusted": False, "assertions": {}}


def test_test_chain_is_made_once_labelled_and_private(tmp_path, caplog):
    home = tmp_path / "home"
    first = cred.signing_credentials(home)
    assert first.test_chain and "TEST - not for production" in first.subject
    assert first.not_after.year - 2026 >= 29  # offline signing: the certificate must outlive the deliveries
    key = home / "c2pa" / "test-signer.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    mtime = key.stat().st_mtime_ns
    with caplog.at_level("WARNING", logger=cred.__name__):
        again = cred.signing_credentials(home)
    assert again == first and key.stat().st_mtime_ns == mtime
    assert any("TEST" in r.getMessage() for r in caplog.records)


def test_configured_certificate_is_used(tmp_path, monkeypatch, creds):
    folder = tmp_path / "home" / "c2pa"
    monkeypatch.setenv(cred.CERT_ENV, str(folder / "test-chain.pem"))
    monkeypatch.setenv(cred.KEY_ENV, str(folder / "test-signer.key"))
    monkeypatch.setenv(cred.TRUST_ENV, str(folder / "test-root.pem"))
    configured = cred.signing_credentials()
    assert not configured.test_chain and configured.trust_pem == creds.trust_pem
    wav = _wav(tmp_path / "t.wav")
    cred.sign(wav, parent=None, generation={"prompt": "rain"}, credentials=configured)
    assert cred.read(wav)["trusted"]  # FOLEYFLOW_C2PA_TRUST is the default anchor


def test_bad_configuration_says_which_setting(tmp_path, monkeypatch, creds):
    folder = tmp_path / "home" / "c2pa"
    other = tmp_path / "other"
    cred.signing_credentials(other)
    monkeypatch.setenv(cred.CERT_ENV, str(tmp_path / "missing.pem"))
    monkeypatch.setenv(cred.KEY_ENV, str(folder / "test-signer.key"))
    with pytest.raises(cred.CredentialsError, match=f"{cred.CERT_ENV}=.*missing.pem.*cannot read"):
        cred.signing_credentials()
    # a key that is not the certificate's
    other = tmp_path / "other"
    monkeypatch.delenv(cred.CERT_ENV)
    monkeypatch.delenv(cred.KEY_ENV)
    cred.signing_credentials(other)
    monkeypatch.setenv(cred.CERT_ENV, str(folder / "test-chain.pem"))
    monkeypatch.setenv(cred.KEY_ENV, str(other / "c2pa" / "test-signer.key"))
    with pytest.raises(cred.CredentialsError, match="does not match the first certificate"):
        cred.signing_credentials()
    monkeypatch.delenv(cred.KEY_ENV)
    with pytest.raises(cred.CredentialsError, match=f"{cred.KEY_ENV} is not set"):
        cred.signing_credentials()
    monkeypatch.setenv(cred.KEY_ENV, str(folder / "test-chain.pem"))  # a certificate, not a key
    with pytest.raises(cred.CredentialsError, match="not an unencrypted PEM private key"):
        cred.signing_credentials()
    assert os.environ[cred.CERT_ENV]
