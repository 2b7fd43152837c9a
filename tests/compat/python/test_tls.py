"""boto3, the AWS CLI and a chat client over ``https://`` / ``wss://``: a server of this module's
own, started with ``--tls-cert`` / ``--tls-key`` and a certificate authority the test makes
(``cryptography``), which the clients trust the way users make them trust one: boto3 and the
CLI through ``AWS_CA_BUNDLE``, the WebSocket client through an SSL context."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import ssl
import subprocess
import urllib.request
import uuid
from pathlib import Path

import boto3
import botocore.exceptions
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.sync.client import connect as ws_connect

from chatlog_helpers import AWS_ENV, REGION, _stop_process, free_port, server_binary, tail, wait_until


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_pki(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate it signs for localhost and 127.0.0.1: (ca, chain, key)."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("ivschat compat test CA"))
        .issuer_name(_name("ivschat compat test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_path, chain_path, key_path = directory / "ca.pem", directory / "chain.pem", directory / "key.pem"
    ca_path.write_bytes(ca.public_bytes(pem))
    chain_path.write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    key_path.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_path, chain_path, key_path


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """``(https URL, CA bundle path)`` of a TLS server of this module's own."""
    binary = server_binary()
    if not os.access(binary, os.X_OK):
        pytest.fail(f"ivschat-server binary not found at {binary} (cargo build -p ivschat-server, or IVSCHAT_SERVER_BIN)")
    work = tmp_path_factory.mktemp("tls")
    ca, chain, key = make_pki(work)
    port = free_port()
    log_path = work / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IVSCHAT_") and not k.startswith("AWS_ENDPOINT_URL")}
    env.update(AWS_ENV)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [binary, "--listen", f"127.0.0.1:{port}", "--data-dir", str(work / "data"),
             "--tls-cert", str(chain), "--tls-key", str(key)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        )
    url = f"https://localhost:{port}"
    trusted = ssl.create_default_context(cafile=str(ca))

    def ready():
        if proc.poll() is not None:
            raise AssertionError(f"ivschat-server exited with {proc.returncode}:\n{tail(log_path)}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2, context=trusted) as resp:
                return resp.status == 200
        except OSError:
            return False

    try:
        wait_until(ready, 30.0, 0.1, "ivschat-server https /health", lambda: tail(log_path))
        yield url, ca
    finally:
        _stop_process(proc)


def _client(url: str):
    # A fresh session reads AWS_CA_BUNDLE when the client is made.
    return boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION
    ).client("ivschat", endpoint_url=url)


def test_boto3_over_https_trusting_the_ca_through_aws_ca_bundle(tls_server, monkeypatch):
    url, ca = tls_server
    monkeypatch.setenv("AWS_CA_BUNDLE", str(ca))
    ivschat = _client(url)
    room = ivschat.create_room(name="tls-room")
    try:
        assert ivschat.get_room(identifier=room["arn"])["name"] == "tls-room"
        token = ivschat.create_chat_token(roomIdentifier=room["arn"], userId="u1")
        assert token["token"]
    finally:
        ivschat.delete_room(identifier=room["arn"])


def test_boto3_refuses_the_server_without_the_ca(tls_server, monkeypatch):
    url, _ = tls_server
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    with pytest.raises(botocore.exceptions.SSLError):
        _client(url).list_rooms()


def test_aws_cli_over_https_with_aws_ca_bundle(tls_server):
    url, ca = tls_server
    env = dict(os.environ, AWS_CA_BUNDLE=str(ca))
    out = subprocess.run(
        ["aws", "ivschat", "list-rooms", "--endpoint-url", url, "--output", "json"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "rooms" in json.loads(out.stdout)


def test_chat_over_wss(tls_server, monkeypatch):
    url, ca = tls_server
    monkeypatch.setenv("AWS_CA_BUNDLE", str(ca))
    ivschat = _client(url)
    room = ivschat.create_room()
    try:
        token = ivschat.create_chat_token(
            roomIdentifier=room["arn"], userId="viewer", capabilities=["SEND_MESSAGE"]
        )["token"]
        context = ssl.create_default_context(cafile=str(ca))
        ws_url = url.replace("https://", "wss://", 1) + "/"
        with ws_connect(ws_url, subprotocols=[token], ssl=context, open_timeout=10, close_timeout=2) as ws:
            request_id = str(uuid.uuid4())
            ws.send(json.dumps({"Action": "SEND_MESSAGE", "RequestId": request_id, "Content": "over wss"}))
            frame = json.loads(ws.recv(timeout=10))
            assert frame["Type"] == "MESSAGE", frame
            assert frame["RequestId"] == request_id
            assert frame["Content"] == "over wss"
    finally:
        ivschat.delete_room(identifier=room["arn"])
