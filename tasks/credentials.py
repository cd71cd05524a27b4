"""C2PA content credentials for deliveries: sign an MP4 or WAV, read and validate it back.

Built on c2pa-python (the Content Authenticity Initiative's bindings to c2pa-rs). What was checked on this
machine (see ../shared NOTES.md, "C2PA"):

- signing is offline (no timestamp authority), so a manifest's validity is judged against the signing
  certificate's lifetime *at read time*: the test chain is issued for 30 years;
- the end-entity certificate needs CA:FALSE, critical KeyUsage digitalSignature, AKI/SKI and ExtendedKeyUsage
  emailProtection (+ the C2PA signing EKU); signing with a root's own key is refused;
- trust anchors are given through a ``c2pa.Context`` (``trust.user_anchors``), not the deprecated
  ``load_settings``;
- a parent ingredient cannot go with the "create" intent, so the actions are explicit: ``c2pa.opened`` on the
  film (the parent) and ``c2pa.edited`` with digitalSourceType trainedAlgorithmicMedia for the generated track
  (``c2pa.placed`` would need the track as a separate ingredient, which c2pa-rs checks); without a parent:
  ``c2pa.created`` with that source type;
- remuxing drops the manifest and changing a media byte invalidates it: sign last, after watermark and mux.

Signing credentials come from ``FOLEYFLOW_C2PA_CERT`` (PEM chain, end-entity first) and ``FOLEYFLOW_C2PA_KEY``
(PEM private key), with ``FOLEYFLOW_C2PA_TRUST`` (PEM root(s)) for validation; without them a self-signed TEST
chain is generated once under ``<FOLEYFLOW_HOME>/c2pa/`` and every use of it logs a warning.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger(__name__)

CERT_ENV = "FOLEYFLOW_C2PA_CERT"
KEY_ENV = "FOLEYFLOW_C2PA_KEY"
TRUST_ENV = "FOLEYFLOW_C2PA_TRUST"

GENERATION_LABEL = "org.foleyflow.generation"
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
TEST_LABEL = "foleyflow TEST - not for production"
TEST_YEARS = 30
_EXACT = "json"  # key of the exact JSON text of the generation record inside its assertion
C2PA_SIGNING_EKU = x509.ObjectIdentifier("1.3.6.1.4.1.62558.2.1")

_MIME = {".mp4": "video/mp4", ".m4a": "audio/mp4", ".mov": "video/quicktime", ".wav": "audio/wav",
         ".mkv": "video/x-matroska"}
_SIGNABLE = (".mp4", ".m4a", ".mov", ".wav")


class CredentialsError(ValueError):
    """Signing credentials are missing or unusable; the message says which setting and what to do."""


@dataclass(frozen=True)
class Credentials:
    """A certificate chain (PEM, end-entity first), its private key (PEM) and the roots to trust when reading."""

    cert_chain_pem: bytes
    key_pem: bytes
    alg: str  # es256 | es384 | es512 | ps256 | ed25519
    trust_pem: bytes | None
    test_chain: bool
    source: str  # where they came from (a folder or the env variables), for messages

    @property
    def subject(self) -> str:
        return x509.load_pem_x509_certificates(self.cert_chain_pem)[0].subject.rfc4514_string()

    @property
    def not_after(self) -> dt.datetime:
        return x509.load_pem_x509_certificates(self.cert_chain_pem)[0].not_valid_after_utc


# --- credentials --------------------------------------------------------------------------------
def signing_credentials(home: Path | None = None) -> Credentials:
    """Credentials from ``FOLEYFLOW_C2PA_CERT``/``_KEY`` (+ ``_TRUST``), else the TEST chain under ``home/c2pa``.

    ``home`` defaults to the settings' home (``FOLEYFLOW_HOME``). Raises :class:`CredentialsError` for a missing
    file, a key that does not match the certificate, or an unsupported key type.
    """
    cert_env, key_env = os.environ.get(CERT_ENV), os.environ.get(KEY_ENV)
    if cert_env or key_env:
        if not (cert_env and key_env):
            missing = KEY_ENV if cert_env else CERT_ENV
            raise CredentialsError(f"{missing} is not set: set both {CERT_ENV} (PEM certificate chain) and "
                                   f"{KEY_ENV} (PEM private key), or neither to use the generated test chain")
        chain = _read_file(cert_env, CERT_ENV, "the PEM certificate chain (end-entity certificate first)")
        key = _read_file(key_env, KEY_ENV, "the PEM private key of the signing certificate")
        trust_env = os.environ.get(TRUST_ENV)
        trust = _read_file(trust_env, TRUST_ENV, "the PEM root certificate(s) to trust") if trust_env else None
        if trust is not None:
            _load_certs(trust, TRUST_ENV)
        alg = _check_pair(chain, key)
        return Credentials(chain, key, alg, trust, test_chain=False, source=f"{CERT_ENV}/{KEY_ENV}")
    if home is None:
        from foleyflow.settings import get_settings
        home = get_settings(fresh=True).resolved_home
    creds = _test_chain(Path(home) / "c2pa")
    log.warning("C2PA: signing with the generated TEST chain in %s (%s); set %s and %s for production",
                creds.source, TEST_LABEL, CERT_ENV, KEY_ENV)
    return creds


def _read_file(value: str, env: str, what: str) -> bytes:
    path = Path(value).expanduser()
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CredentialsError(f"{env}={value}: cannot read it ({exc.strerror or exc}); point {env} at "
                               f"{what}") from None


def _load_certs(pem: bytes, env: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError:
        certs = []
    if not certs:
        raise CredentialsError(f"{env}: no PEM certificate found in the file; it must hold "
                               "'-----BEGIN CERTIFICATE-----' blocks")
    return certs


def _check_pair(chain: bytes, key_pem: bytes) -> str:
    """The signing algorithm for this key, after checking it matches the chain's first certificate."""
    certs = _load_certs(chain, CERT_ENV)
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise CredentialsError(f"{KEY_ENV}: not an unencrypted PEM private key ({exc}); export the key "
                               "unencrypted in PEM (PKCS#8) form") from None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        alg = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}.get(key.curve.name)
        if alg is None:
            raise CredentialsError(f"{KEY_ENV}: EC curve {key.curve.name} is not usable for C2PA; use "
                                   "P-256, P-384 or P-521")
    elif isinstance(key, rsa.RSAPrivateKey):
        alg = "ps256"
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        alg = "ed25519"
    else:
        raise CredentialsError(f"{KEY_ENV}: {type(key).__name__} keys are not usable for C2PA; use an EC "
                               "(P-256/P-384/P-521), RSA or Ed25519 key")
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    if (key.public_key().public_bytes(serialization.Encoding.DER, pub)
            != certs[0].public_key().public_bytes(serialization.Encoding.DER, pub)):
        raise CredentialsError(f"{KEY_ENV} does not match the first certificate in {CERT_ENV} "
                               f"({certs[0].subject.rfc4514_string()}); the chain must start with the "
                               "certificate of this key")
    return alg


def _test_chain(folder: Path) -> Credentials:
    chain_p, key_p, root_p = folder / "test-chain.pem", folder / "test-signer.key", folder / "test-root.pem"
    if not (chain_p.exists() and key_p.exists() and root_p.exists()):
        folder.mkdir(parents=True, exist_ok=True)
        chain, key, root = _make_test_chain()
        # key first (0600 from creation), then the certificates; each written atomically
        _atomic_write(key_p, key, mode=0o600)
        _atomic_write(root_p, root)
        _atomic_write(chain_p, chain)
        log.warning("C2PA: generated a self-signed TEST chain in %s (%s)", folder, TEST_LABEL)
    chain, key, root = chain_p.read_bytes(), key_p.read_bytes(), root_p.read_bytes()
    return Credentials(chain, key, "es256", root, test_chain=True, source=str(folder))


def _make_test_chain() -> tuple[bytes, bytes, bytes]:
    """(end-entity chain PEM, end-entity key PEM, root PEM): the certificate profile c2pa-rs accepts."""
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    until = now + dt.timedelta(days=365 * TEST_YEARS + 7)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, TEST_LABEL)])

    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = name(f"{TEST_LABEL} root CA")
    root_ski = x509.SubjectKeyIdentifier.from_public_key(root_key.public_key())
    root = (x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
            .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(until)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                                         key_cert_sign=True, crl_sign=True, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(root_ski, critical=False)
            .sign(root_key, hashes.SHA256()))

    ee_key = ec.generate_private_key(ec.SECP256R1())
    ee = (x509.CertificateBuilder().subject_name(name(f"{TEST_LABEL} signer")).issuer_name(root_name)
          .public_key(ee_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now).not_valid_after(until)
          .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                       crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION, C2PA_SIGNING_EKU]),
                         critical=False)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ee_key.public_key()), critical=False)
          .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski), critical=False)
          .sign(root_key, hashes.SHA256()))

    pem = serialization.Encoding.PEM
    key = ee_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return ee.public_bytes(pem), key, root.public_bytes(pem)


def _atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- signing ------------------------------------------------------------------------------------
def sign(path: Path, *, parent: Path | None, generation: dict, credentials: Credentials,
         dst: Path | None = None) -> Path:
    """Embed a signed C2PA manifest in ``path`` (MP4 or WAV); returns the signed file.

    Written to a temporary file beside the destination and renamed, so the destination is either the old file
    or the complete signed one. ``dst`` (default: ``path`` itself) names another output. ``parent`` is the
    original film (the parent ingredient); ``generation`` (JSON-serialisable: model, weights_sha256, prompt,
    negative_prompt, seeds, generation_ids, watermark, ...) becomes the ``org.foleyflow.generation`` assertion.
    """
    from foleyflow import __version__
    from foleyflow.provenance import code_version

    path = Path(path)
    dst = Path(dst) if dst is not None else path
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file to sign")
    if path.suffix.lower() not in _SIGNABLE or dst.suffix.lower() != path.suffix.lower():
        raise ValueError(f"{path} -> {dst}: can sign {', '.join(_SIGNABLE)} files (same extension in and out)")
    if parent is not None and not Path(parent).is_file():
        raise FileNotFoundError(f"{parent}: the parent film does not exist; pass parent=None when there is none")
    try:
        json.dumps(generation)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"generation must be JSON-serialisable: {exc}") from None
    mime = _MIME[path.suffix.lower()]

    if parent is not None:
        actions = [{"action": "c2pa.opened", "parameters": {"ingredientIds": ["parent"]},
                    "description": "the original film"},
                   {"action": "c2pa.edited", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                    "softwareAgent": {"name": "foleyflow", "version": __version__},
                    "description": "a soundtrack generated by a trained model added to the film"}]
    else:
        actions = [{"action": "c2pa.created", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                    "softwareAgent": {"name": "foleyflow", "version": __version__},
                    "description": "generated sound"}]
    manifest = {
        "claim_generator_info": [{"name": "foleyflow", "version": code_version().removeprefix("foleyflow ")}],
        "title": dst.name,
        "format": mime,
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": actions}},
            # c2pa-rs turns a list of small integers (seeds, ids) into a CBOR byte string (read back as
            # base64), so the exact record also goes in as JSON text, which read() returns
            {"label": GENERATION_LABEL, "data": {**generation, _EXACT: json.dumps(generation, sort_keys=True)}},
        ],
    }
    info = c2pa.C2paSignerInfo(credentials.alg.encode(), credentials.cert_chain_pem, credentials.key_pem, None)
    tmp = None
    try:
        with c2pa.Builder(manifest, context=_context(credentials.trust_pem)) as builder:
            if parent is not None:
                parent = Path(parent)
                with open(parent, "rb") as f:
                    builder.add_ingredient({"title": parent.name, "relationship": "parentOf", "label": "parent"},
                                           _MIME.get(parent.suffix.lower(), "video/mp4"), f)
            fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.stem}.", suffix=f"{dst.suffix}.tmp")
            with c2pa.Signer.from_info(info) as signer, open(path, "rb") as src, os.fdopen(fd, "w+b") as out:
                builder.sign(signer, mime, src, out)
                out.flush()
                os.fsync(out.fileno())
        os.replace(tmp, dst)
        tmp = None
    except c2pa.C2paError as exc:
        raise RuntimeError(f"C2PA signing of {path} failed: {exc}") from exc
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    if credentials.test_chain:
        log.warning("C2PA: %s signed with the TEST chain (%s)", dst, TEST_LABEL)
    return dst


def _context(trust_pem: bytes | None) -> c2pa.Context:
    config: dict = {"verify": {"remote_manifest_fetch": False}}
    if trust_pem:
        config["trust"] = {"user_anchors": trust_pem.decode()}
    return c2pa.Context.from_dict(config)


# --- reading ------------------------------------------------------------------------------------
def read(path: Path, trust: list[str] | None = None) -> dict:
    """The file's content credentials, validated.

    ``trust``: PEM root certificates (text) to trust; default the configured anchors (``FOLEYFLOW_C2PA_TRUST``,
    or the generated test root when no certificate is configured and one exists). Returns ``{"present",
    "valid", "trusted", "validation_state", "errors": [{"code", "explanation"}], "assertions": {label: data},
    "title", "signer", "claim_generator", "ingredients"}``; a file without a manifest gives ``present`` False.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    anchors = "\n".join(trust) if trust is not None else _configured_trust()
    result = {"present": False, "valid": False, "trusted": False, "validation_state": "None", "errors": [],
              "assertions": {}, "title": None, "signer": None, "claim_generator": None, "ingredients": []}
    mime = _MIME.get(path.suffix.lower())
    with _context(anchors.encode() if anchors else None) as ctx, open(path, "rb") as f:
        try:
            reader = c2pa.Reader(mime, f, context=ctx) if mime else c2pa.Reader(f, context=ctx)
        except c2pa.C2paError.ManifestNotFound:
            return result
        except c2pa.C2paError as exc:
            # a manifest that cannot even be parsed: present but not valid
            result.update(present=True, validation_state="Invalid",
                          errors=[{"code": type(exc).__name__, "explanation": str(exc)}])
            return result
        with reader:
            store = json.loads(reader.json())
            state = reader.get_validation_state() or "Invalid"
    manifest = store.get("manifests", {}).get(store.get("active_manifest") or "", {})
    status = store.get("validation_status") or []
    results = store.get("validation_results") or {}
    failures = list((results.get("activeManifest") or {}).get("failure", [])) or list(status)
    result.update(
        present=True,
        validation_state=state,
        valid=state in ("Valid", "Trusted"),
        trusted=state == "Trusted",
        errors=[{"code": s.get("code"), "explanation": s.get("explanation")} for s in failures],
        assertions={a.get("label"): _exact(a.get("label"), a.get("data")) for a in manifest.get("assertions", [])},
        title=manifest.get("title"),
        signer=(manifest.get("signature_info") or {}).get("common_name")
        or (manifest.get("signature_info") or {}).get("issuer"),
        claim_generator=[g.get("name") + (f" {g['version']}" if g.get("version") else "")
                         for g in manifest.get("claim_generator_info", [])],
        ingredients=[{"title": i.get("title"), "relationship": i.get("relationship")}
                     for i in manifest.get("ingredients", [])],
    )
    return result


def _exact(label: str | None, data):
    if label == GENERATION_LABEL and isinstance(data, dict) and isinstance(data.get(_EXACT), str):
        try:
            return json.loads(data[_EXACT])
        except ValueError:
            return data
    return data


def _configured_trust() -> str | None:
    trust_env = os.environ.get(TRUST_ENV)
    if trust_env:
        return _read_file(trust_env, TRUST_ENV, "the PEM root certificate(s) to trust").decode()
    if os.environ.get(CERT_ENV):
        return None
    from foleyflow.settings import get_settings
    root = get_settings(fresh=True).resolved_home / "c2pa" / "test-root.pem"
    return root.read_text() if root.exists() else None
