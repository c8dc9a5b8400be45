"""The project's one throwaway certificate authority: EC P-256 keys, short-lived certificates, PEM files.

Used by the sandbox's HTTPS listener (the pagerduty SDK refuses base URLs that are not https://;
clients trust `ca_file` through an ssl context, `verify=` for httpx, or SSL_CERT_FILE for a process)
and by devkit's local control plane (kube-apiserver serving cert, the admin client cert in
`system:masters`, the service-account key pair). `cryptography` is imported when a key is made, so
importing this module costs nothing at sandbox start.
"""

from __future__ import annotations

import ipaddress
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

# Certificates start five minutes in the past so a slightly skewed clock still accepts them.
BACKDATE = timedelta(minutes=5)


def new_key() -> ec.EllipticCurvePrivateKey:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def write_private(path: Path, data: bytes) -> None:
    """A file only its owner can read (keys)."""
    path.write_bytes(data)
    path.chmod(0o600)


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _alt_names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    from cryptography import x509

    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def certificate_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return private_key_pem(self.key)


class CertificateAuthority:
    """A self-signed CA valid for `days`, issuing leaf certificates for servers and clients."""

    def __init__(self, common_name: str, *, days: float = 30) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes

        self.days = days
        self.name = _name(common_name)
        key = new_key()
        now = datetime.now(UTC)
        self._ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        certificate = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(self._ski, critical=False)
            .sign(key, hashes.SHA256())
        )
        self.issued = Issued(certificate, key)

    def certificate_pem(self) -> bytes:
        return self.issued.certificate_pem()

    def issue(
        self,
        common_name: str,
        *,
        organization: str | None = None,
        hosts: Sequence[str] = (),
        server: bool = False,
        client: bool = False,
    ) -> Issued:
        """A leaf certificate: `hosts` (names or IP addresses) become its SANs; `server`/`client` its uses."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.x509.oid import ExtendedKeyUsageOID

        key = new_key()
        now = datetime.now(UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name, organization))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + timedelta(days=self.days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(self._ski), critical=False
            )
        )
        if hosts:
            builder = builder.add_extension(x509.SubjectAlternativeName(_alt_names(hosts)), critical=False)
        usages = [ExtendedKeyUsageOID.SERVER_AUTH] * server + [ExtendedKeyUsageOID.CLIENT_AUTH] * client
        if usages:
            builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        return Issued(builder.sign(self.issued.key, hashes.SHA256()), key)


@dataclass(frozen=True)
class TlsFiles:
    directory: Path
    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


def generate(directory: Path | None = None) -> TlsFiles:
    """The sandbox's files: a CA and a serving certificate for localhost, 127.0.0.1 and ::1."""
    folder = directory or Path(tempfile.mkdtemp(prefix="oncall-sandbox-tls-"))
    folder.mkdir(parents=True, exist_ok=True)
    ca = CertificateAuthority("oncall-operator sandbox CA")
    server = ca.issue("localhost", hosts=("localhost", "127.0.0.1", "::1"), server=True)
    files = TlsFiles(folder, folder / "ca.pem", folder / "server.pem", folder / "server-key.pem")
    files.ca_file.write_bytes(ca.certificate_pem())
    files.cert_file.write_bytes(server.certificate_pem())
    write_private(files.key_file, server.key_pem())
    return files
