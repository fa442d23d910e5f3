"""The key that signs a video's Content Credentials: the user's certificate, or swaplib's local one.

`video.c2pa.cert` / `video.c2pa.key` name a PEM certificate chain and its private key. Without them,
swaplib makes a key pair once per installation under `signing_home()` (`$SWAPLIB_HOME/c2pa`, else
`$XDG_CONFIG_HOME/swaplib/c2pa` or `~/.config/swaplib/c2pa`): a small local root and a signing
certificate it issued (C2PA refuses a self-signed end certificate). Nobody vouches for that root,
so its signature proves that the file is unchanged since swaplib signed it, not who signed it.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from swaplib.core.errors import SwaplibError

LOCAL_ISSUER = "swaplib local key (proves integrity, not identity)"
LOCAL_NOTE = ("signed with a key swaplib made on the machine that wrote the video: the signature proves the file "
              "is unchanged since it was signed, not who signed it")
CERT_NOTE = "signed with the certificate named by video.c2pa.cert: who signed it is whom that certificate names"
CERT_FILE, KEY_FILE = "cert.pem", "key.pem"
_EC_ALGS = {"secp256r1": c2pa.C2paSigningAlg.ES256, "secp384r1": c2pa.C2paSigningAlg.ES384,
            "secp521r1": c2pa.C2paSigningAlg.ES512}


@dataclass(frozen=True)
class C2paSettings:
    """config.yaml's video.c2pa: whether to embed a signed manifest, and with which certificate."""

    enabled: bool = True
    cert: str = ""  # PEM certificate chain, the signing certificate first ("" = swaplib's local key)
    key: str = ""  # its PEM private key, unencrypted

    def __post_init__(self):
        if bool(self.cert) != bool(self.key):
            raise SwaplibError("video.c2pa: give both cert and key, or neither (swaplib's local key)")


def c2pa_settings(value: C2paSettings | dict) -> C2paSettings:
    if isinstance(value, C2paSettings):
        return value
    try:
        return C2paSettings(**value)
    except TypeError as exc:
        raise SwaplibError(f"video.c2pa: {exc}") from None


@dataclass(frozen=True)
class SigningKey:
    cert: str  # PEM chain
    key: str  # PEM private key
    alg: c2pa.C2paSigningAlg
    note: str  # what the signature proves, for the manifest

    def signer(self) -> c2pa.Signer:
        # No timestamp authority: signing stays offline (the certificate's validity dates apply).
        info = c2pa.C2paSignerInfo(self.alg, self.cert.encode(), self.key.encode(), None)
        try:
            return c2pa.Signer.from_info(info)
        except c2pa.C2paError as exc:
            raise SwaplibError(f"the C2PA signer refused the key pair ({exc})") from None


def signing_home() -> Path:
    if os.environ.get("SWAPLIB_HOME"):
        return Path(os.environ["SWAPLIB_HOME"]) / "c2pa"
    config = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config) / "swaplib" / "c2pa"


def enabled_key(value: C2paSettings | dict) -> SigningKey | None:
    """The key that signs with config.yaml's video.c2pa (settings or its dict), or None where it is not
    enabled: asked for before any work, so that a bad certificate stops a job before it encodes."""
    settings = c2pa_settings(value)
    return signing_key(settings) if settings.enabled else None


def signing_key(settings: C2paSettings) -> SigningKey:
    """The key that signs: the user's certificate and key, checked now (a bad file stops the job before
    it encodes), or the local key pair, made on first use."""
    if settings.cert:
        cert, key = _read_pem(settings.cert, "cert"), _read_pem(settings.key, "key")
        _load_chain(cert, settings.cert)
        return SigningKey(cert, key, _algorithm(key, settings.key), CERT_NOTE)
    folder = local_key_folder()
    return SigningKey((folder / CERT_FILE).read_text(), (folder / KEY_FILE).read_text(), c2pa.C2paSigningAlg.ES256,
                      LOCAL_NOTE)


def local_key_folder(home: Path | None = None) -> Path:
    """The folder holding the local key pair, made once: written whole into a temporary folder and
    renamed into place, so two jobs starting at once end up with one key (the loser's is dropped)."""
    folder = home or signing_home()
    if (folder / KEY_FILE).is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".c2pa.", dir=folder.parent))  # 0700: the key is private
    try:
        cert, key = _local_key_pair()
        (tmp / CERT_FILE).write_text(cert)
        (tmp / KEY_FILE).write_text(key)
        os.chmod(tmp / KEY_FILE, 0o600)
        os.replace(tmp, folder)
    except OSError:
        if not (folder / KEY_FILE).is_file():  # not another job's key in place: a real failure
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _local_key_pair() -> tuple[str, str]:
    """A local root (ES256) and a signing certificate it issued, with the uses C2PA asks of a signer."""
    now = dt.datetime.now(dt.UTC)
    root_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root_name = _name(f"{LOCAL_ISSUER} root")
    root = (_certificate(root_name, root_name, root_key.public_key(), now)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
            .sign(root_key, hashes.SHA256()))
    leaf = (_certificate(_name(LOCAL_ISSUER), root_name, key.public_key(), now)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(digital_signature=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    chain = "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in (leaf, root))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return chain, pem


def _name(common_name: str) -> x509.Name:
    # No user or host name: the certificate travels inside every video it signs.
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "swaplib")])


def _certificate(subject: x509.Name, issuer: x509.Name, public_key, now: dt.datetime) -> x509.CertificateBuilder:
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))


def _key_usage(**uses: bool) -> x509.KeyUsage:
    names = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
             "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
    return x509.KeyUsage(**{name: uses.get(name, False) for name in names})


def _read_pem(path: str, setting: str) -> str:
    try:
        return Path(path).read_text()
    except FileNotFoundError:
        raise SwaplibError(f"video.c2pa.{setting}: {path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SwaplibError(f"video.c2pa.{setting}: {path}: cannot read it ({exc})") from None


def _load_chain(pem: str, path: str) -> None:
    try:
        x509.load_pem_x509_certificates(pem.encode())
    except ValueError as exc:
        raise SwaplibError(f"video.c2pa.cert: {path}: not a PEM certificate chain ({exc})") from None


def _algorithm(pem: str, path: str) -> c2pa.C2paSigningAlg:
    """C2PA's signing algorithm for the private key: ES256/384/512 for EC, Ed25519, PS256 for RSA."""
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:  # TypeError: the key is encrypted
        raise SwaplibError(f"video.c2pa.key: {path}: not an unencrypted PEM private key ({exc})") from None
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return c2pa.C2paSigningAlg.ED25519
    if isinstance(key, rsa.RSAPrivateKey):
        return c2pa.C2paSigningAlg.PS256
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in _EC_ALGS:
        return _EC_ALGS[key.curve.name]
    raise SwaplibError(f"video.c2pa.key: {path}: C2PA signs with EC P-256/384/521, Ed25519 or RSA keys, not this one")
