"""A throwaway certificate authority, and a Redis server that speaks only TLS."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support import RedisServer


@dataclass(frozen=True)
class Certificates:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(directory: Path) -> Certificates:
    """A CA, and a server and a client certificate it signed, valid for 127.0.0.1."""
    directory.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=aggregen test CA", "-keyout", "ca.key", "-out", "ca.crt",
             cwd=directory)  # fmt: skip
    (directory / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN=aggregen {name}",
                 "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=directory)  # fmt: skip
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "1", "-extfile", "san.cnf",
                 "-out", f"{name}.crt", cwd=directory)  # fmt: skip
    return Certificates(
        ca=directory / "ca.crt",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
        client_cert=directory / "client.crt",
        client_key=directory / "client.key",
    )


class TlsRedisServer(RedisServer):
    """A RedisServer with its plain port off and TLS (client certificates required) on."""

    certificates: Certificates

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"rediss://{auth}127.0.0.1:{self.port}/0"

    def extra_arguments(self) -> list[str]:
        c = self.certificates
        return [
            "--port", "0", "--tls-port", str(self.port),
            "--tls-cert-file", str(c.server_cert), "--tls-key-file", str(c.server_key),
            "--tls-ca-cert-file", str(c.ca), "--tls-auth-clients", "yes",
        ]  # fmt: skip

    def client_options(self) -> dict[str, str]:
        c = self.certificates
        return {
            "ssl_ca_certs": str(c.ca),
            "ssl_certfile": str(c.client_cert),
            "ssl_keyfile": str(c.client_key),
        }
