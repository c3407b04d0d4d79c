"""Certificates made at test time (trustme): a CA gwd trusts, one it does not, and
server/client certificates issued by them, as PEM files under a directory.

``lab = TLSLab(tmp_path)``; ``lab.server_context()`` is an SSLContext for a loopback
server whose certificate names ``localhost`` and ``127.0.0.1`` (``expired=True``: it
ran out yesterday; ``untrusted=True``: signed by the other CA; ``names=``: other
identities; ``require_client=True``: the client must show a certificate from the CA).
``lab.ca_file`` is the trusted CA's PEM; ``lab.client_cert()`` a (cert, key) pair.
``handshakes`` counts the TLS handshakes every server context made (SNI callback).
"""

from __future__ import annotations

import datetime
import ssl
from pathlib import Path

import trustme


class TLSLab:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.ca = trustme.CA(organization_name="gw test CA")
        self.other_ca = trustme.CA(organization_name="not trusted by gwd")
        self.ca_file = str(directory / "ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)
        self.handshakes = 0

    def server_context(self, *, names: tuple[str, ...] = ("localhost", "127.0.0.1"),
                       expired: bool = False, untrusted: bool = False,
                       require_client: bool = False) -> ssl.SSLContext:
        ca = self.other_ca if untrusted else self.ca
        when: dict[str, datetime.datetime] = {}
        if expired:
            now = datetime.datetime.now(datetime.UTC)
            when = {"not_before": now - datetime.timedelta(days=30),
                    "not_after": now - datetime.timedelta(days=1)}
        cert = ca.issue_cert(*names, **when)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(context)
        if require_client:
            context.verify_mode = ssl.CERT_REQUIRED
            self.ca.configure_trust(context)
        context.sni_callback = self._count
        return context

    def _count(self, *_: object) -> None:
        self.handshakes += 1

    def client_cert(self, name: str = "gw-client") -> tuple[str, str]:
        cert = self.ca.issue_cert(name)
        cert_path, key_path = self.dir / f"{name}.crt", self.dir / f"{name}.key"
        for blob in cert.cert_chain_pems:
            with open(cert_path, "ab") as fh:
                fh.write(blob.bytes())
        cert.private_key_pem.write_to_path(str(key_path))
        return str(cert_path), str(key_path)
