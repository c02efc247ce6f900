"""Throw-away certificates for the simulated parts and the test control plane (the
`cryptography` package): a CA with serving and client pairs, and self-signed serving pairs."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOOPBACK_NAMES = ("localhost",)
LOOPBACK_ADDRESSES = ("127.0.0.1",)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, private: ec.EllipticCurvePrivateKey) -> Path:
    path.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    return path


def _write_cert(path: Path, certificate: x509.Certificate) -> Path:
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


def _name(common: str, organization: str | None = None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COMMON_NAME, common)]
    if organization:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(parts)


def _alternative_names(dns: tuple[str, ...], ips: tuple[str, ...]) -> x509.SubjectAlternativeName:
    return x509.SubjectAlternativeName(
        [*(x509.DNSName(d) for d in dns), *(x509.IPAddress(ipaddress.ip_address(i)) for i in ips)]
    )


def _validity() -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    return start, start + dt.timedelta(days=7)


def self_signed(folder: Path, common_name: str) -> tuple[Path, Path]:
    """A self-signed serving pair for 127.0.0.1 and localhost: (certificate, key)."""
    folder.mkdir(parents=True, exist_ok=True)
    key = _key()
    start, until = _validity()
    subject = _name(common_name)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(until)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(_alternative_names(LOOPBACK_NAMES, LOOPBACK_ADDRESSES), critical=False)
        .sign(key, hashes.SHA256())
    )
    return (
        _write_cert(folder / f"{common_name}.crt", certificate),
        _write_key(folder / f"{common_name}.key", key),
    )


@dataclass(frozen=True, kw_only=True)
class Certificates:
    """PEM files of a throw-away PKI: the CA, the API server's serving pair, an admin client
    pair (O=system:masters) and the service-account signing pair."""

    ca: Path
    ca_key: Path
    serving: Path
    serving_key: Path
    admin: Path
    admin_key: Path
    service_account_key: Path
    service_account_public: Path


def _leaf(
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    names: x509.SubjectAlternativeName | None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    now, until = _validity()
    private = _key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if names is not None:
        builder = builder.add_extension(names, critical=False)
    return builder.sign(issuer_key, hashes.SHA256()), private


def client_pair(
    certificates: Certificates, folder: Path, common_name: str, organization: str | None = None
) -> tuple[Path, Path]:
    """A client pair (certificate, key) signed by the CA of `certificates`, e.g. a kubelet's
    (CN system:node:<name>, O system:nodes)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = x509.load_pem_x509_certificate(certificates.ca.read_bytes())
    ca_key = serialization.load_pem_private_key(certificates.ca_key.read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    certificate, key = _leaf(
        ca.subject,
        ca_key,
        _name(common_name, organization),
        ExtendedKeyUsageOID.CLIENT_AUTH,
        None,
    )
    stem = common_name.replace(":", "-")
    return _write_cert(folder / f"{stem}.crt", certificate), _write_key(folder / f"{stem}.key", key)


def make_certificates(folder: Path) -> Certificates:
    folder.mkdir(parents=True, exist_ok=True)
    now, until = _validity()
    ca_key = _key()
    ca_name = _name("kubatch-test-ca")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )

    alternative = _alternative_names(
        (*LOOPBACK_NAMES, "kubernetes", "kubernetes.default", "kubernetes.default.svc"),
        (*LOOPBACK_ADDRESSES, "10.96.0.1"),
    )
    serving, serving_key = _leaf(
        ca_name, ca_key, _name("kube-apiserver"), ExtendedKeyUsageOID.SERVER_AUTH, alternative
    )
    admin, admin_key = _leaf(
        ca_name,
        ca_key,
        _name("kubatch-admin", "system:masters"),
        ExtendedKeyUsageOID.CLIENT_AUTH,
        None,
    )
    account_key = _key()
    public = folder / "sa.pub"
    public.write_bytes(
        account_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return Certificates(
        ca=_write_cert(folder / "ca.crt", ca),
        ca_key=_write_key(folder / "ca.key", ca_key),
        serving=_write_cert(folder / "apiserver.crt", serving),
        serving_key=_write_key(folder / "apiserver.key", serving_key),
        admin=_write_cert(folder / "admin.crt", admin),
        admin_key=_write_key(folder / "admin.key", admin_key),
        service_account_key=_write_key(folder / "sa.key", account_key),
        service_account_public=public,
    )
