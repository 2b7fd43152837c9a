"""ThrottlingException (429) through boto3 and the AWS CLI, and ServiceQuotaExceededException (402)
through the AWS CLI: the client-compatibility-matrix scenarios (tests/compat/matrix/scenarios.toml)
that test_boto3.py and test_cli.py leave out.

ThrottlingException needs an account rate a client can exceed: the shared server allows 100
SendEvent requests per second, so this module starts its own ivschat-server (binary:
``IVSCHAT_SERVER_BIN``, else ``$CARGO_TARGET_DIR/debug/ivschat-server``) with
``[quotas] send_event_per_second = 1``. The quota test uses the shared server
(``IVSCHAT_ENDPOINT``) like the rest of the suite, and deletes what it created.
"""

from __future__ import annotations

import subprocess
import time

import pytest
from chatlog_helpers import configured_server
from conftest import ID_RE, assert_client_error, make_client, unique
from test_cli import AWS, SERVICE_ERROR_EXIT, aws, cli_env


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory):
    """An ivschat-server whose account SendEvent rate is 1 request per second."""
    work = tmp_path_factory.mktemp("throttle")
    with configured_server(work, "[quotas]\nsend_event_per_second = 1\n") as url:
        yield url


def test_boto3_throttling_exception(slow_server, monkeypatch):
    monkeypatch.setenv("IVSCHAT_ENDPOINT", slow_server)
    client = make_client()  # no retries: the first answer counts
    room = client.create_room()
    try:
        with pytest.raises(client.exceptions.ThrottlingException) as ei:
            for _ in range(5):  # five quick requests at 1 request/s: one is refused
                sent = client.send_event(roomIdentifier=room["arn"], eventName="burst")
                assert ID_RE.match(sent["id"])
        resp = assert_client_error(ei, "ThrottlingException", 429)
        assert resp.get("limit") == 1, resp
        assert resp.get("resourceType") == "ROOM", resp
    finally:
        time.sleep(1.1)  # let the window pass
        client.delete_room(identifier=room["arn"])


def test_cli_throttling_exception(slow_server, monkeypatch):
    monkeypatch.setenv("IVSCHAT_ENDPOINT", slow_server)
    client = make_client()
    room = client.create_room()
    try:
        # A CLI process takes about as long to start as the bucket (1 token, 1 per second) takes
        # to refill, so five are started at once: unless they spread over 4 s, one is refused.
        cmd = [AWS, "ivschat", "send-event", "--endpoint-url", slow_server, "--output", "json",
               "--room-identifier", room["arn"], "--event-name", "burst"]
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env())
                 for _ in range(5)]
        outcomes = [(*p.communicate(timeout=60), p.returncode) for p in procs]
        refused = [o for o in outcomes if o[2] != 0]
        assert refused, f"no CLI request was throttled: {outcomes}"
        for stdout, stderr, rc in refused:
            assert rc == SERVICE_ERROR_EXIT, (rc, stderr)
            assert "An error occurred (ThrottlingException) when calling the SendEvent operation" in stderr, stderr
            assert stdout.strip() == ""
        for stdout, _, rc in outcomes:
            if rc == 0:
                assert '"id"' in stdout, stdout
    finally:
        time.sleep(1.1)
        client.delete_room(identifier=room["arn"])


def test_cli_service_quota_exceeded():
    """The 11th logging configuration (quota 10) through `aws ivschat create-logging-configuration`."""
    client = make_client()
    existing = client.list_logging_configurations(maxResults=50)["loggingConfigurations"]
    assert len(existing) <= 10, f"{len(existing)} logging configurations exist already"
    created = []
    try:
        refusal = None
        for _ in range(11 - len(existing)):
            r = aws("create-logging-configuration", "--name", unique("cliquota"),
                    "--destination-configuration", "s3={bucketName=cli-quota}")
            if r.rc != 0:
                refusal = r
                break
            created.append(r.json["arn"])
        assert refusal is not None, f"no refusal after {len(created)} (+{len(existing)} existing)"
        assert len(existing) + len(created) == 10
        assert refusal.rc == SERVICE_ERROR_EXIT, refusal
        assert ("An error occurred (ServiceQuotaExceededException) when calling the "
                "CreateLoggingConfiguration operation") in refusal.stderr, refusal
    finally:
        for arn in created:
            client.delete_logging_configuration(identifier=arn)
