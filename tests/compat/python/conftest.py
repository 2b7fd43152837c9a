"""Shared fixtures and helpers for the Python compatibility suite.

The server under test is named by ``IVSCHAT_ENDPOINT`` (e.g. ``http://127.0.0.1:8080``);
``tests/compat/run-python.sh`` sets it.  Every test creates its own resources, finds them
again through unique names/tags/filters, and deletes them at the end (also on failure), so
the suite can run against a server that other suites use at the same time.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

REGION = "us-east-1"
ACCOUNT = "000000000000"
ACCESS_KEY = "test"
SECRET_KEY = "test"

ID_RE = re.compile(r"^[A-Za-z0-9]{12}$")
ROOM_ARN_RE = re.compile(rf"^arn:aws:ivschat:{REGION}:{ACCOUNT}:room/([A-Za-z0-9]{{12}})$")
LOGGING_ARN_RE = re.compile(
    rf"^arn:aws:ivschat:{REGION}:{ACCOUNT}:logging-configuration/([A-Za-z0-9]{{12}})$"
)
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# RFC 3339 date-time in UTC with a `Z` suffix, optional fractional seconds
# (docs/protocol/control-plane.md §1).
WIRE_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]+$")

ROOM_KEYS = {
    "arn",
    "id",
    "name",
    "createTime",
    "updateTime",
    "maximumMessageRatePerSecond",
    "maximumMessageLength",
    "messageReviewHandler",
    "tags",
    "loggingConfigurationIdentifiers",
}
ROOM_SUMMARY_KEYS = ROOM_KEYS - {"maximumMessageRatePerSecond", "maximumMessageLength"}
LOGGING_KEYS = {
    "arn",
    "id",
    "createTime",
    "updateTime",
    "name",
    "destinationConfiguration",
    "state",
    "tags",
}


def endpoint() -> str:
    url = os.environ.get("IVSCHAT_ENDPOINT")
    if not url:
        pytest.exit("IVSCHAT_ENDPOINT is not set (run tests/compat/run-python.sh ENDPOINT_URL)", 4)
    return url


def make_client(access_key=ACCESS_KEY, secret_key=SECRET_KEY, validate=True):
    """A boto3 ivschat client for the server under test.

    ``validate=False`` turns off botocore's client-side parameter validation so that
    requests botocore would stop (below a min length/range, missing required members)
    reach the server.  Retries are off so that every error is the server's first answer.
    """
    return boto3.client(
        "ivschat",
        endpoint_url=endpoint(),
        region_name=REGION,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(
            parameter_validation=validate,
            retries={"mode": "standard", "max_attempts": 1},
            connect_timeout=10,
            read_timeout=30,
        ),
    )


def unique(prefix: str = "py") -> str:
    """A name unique to this call, valid as a room/logging-configuration name."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def random_id() -> str:
    """A well-formed 12-character id that no server will have handed out."""
    return "Zz" + uuid.uuid4().hex[:10]


def unknown_room_arn() -> str:
    return f"arn:aws:ivschat:{REGION}:{ACCOUNT}:room/{random_id()}"


def unknown_logging_arn() -> str:
    return f"arn:aws:ivschat:{REGION}:{ACCOUNT}:logging-configuration/{random_id()}"


def lambda_arn() -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{unique('review')}"


def body(resp: dict) -> dict:
    """A boto3 response without ResponseMetadata."""
    return {k: v for k, v in resp.items() if k != "ResponseMetadata"}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def assert_close(value: dt.datetime, expected: dt.datetime, tolerance_s: float = 15.0):
    assert isinstance(value, dt.datetime), value
    assert value.tzinfo is not None, f"{value!r} has no time zone"
    delta = abs((value - expected).total_seconds())
    assert delta <= tolerance_s, f"{value.isoformat()} is {delta:.1f}s away from {expected.isoformat()}"


def assert_request_id(resp_or_error_response: dict):
    meta = resp_or_error_response["ResponseMetadata"]
    rid = meta.get("RequestId")
    assert rid, f"no x-amzn-requestid in {meta.get('HTTPHeaders')}"
    assert UUID_RE.match(rid), f"request id {rid!r} is not a UUID"
    assert meta["HTTPHeaders"].get("x-amzn-requestid") == rid


def assert_client_error(excinfo, code: str, status: int) -> dict:
    """Checks a ClientError's code and HTTP status; returns ``e.response``."""
    err = excinfo.value
    assert isinstance(err, ClientError), err
    resp = err.response
    assert resp["Error"]["Code"] == code, resp
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == status, resp
    assert resp["Error"].get("Message"), f"empty error message: {resp}"
    assert_request_id(resp)
    return resp


def assert_validation(excinfo, field: str | None = None) -> dict:
    """A ValidationException with reason FIELD_VALIDATION_FAILED and a fieldList entry
    naming ``field``.  botocore parses the modeled members of an error shape into the top
    level of ``e.response`` (``reason``, ``fieldList``), next to ``Error``."""
    resp = assert_client_error(excinfo, "ValidationException", 400)
    # The typed exception class is the modeled one.
    assert type(excinfo.value).__name__ == "ValidationException"
    assert resp.get("reason") == "FIELD_VALIDATION_FAILED", resp
    fields = resp.get("fieldList")
    assert isinstance(fields, list) and fields, f"no fieldList in {resp}"
    for entry in fields:
        assert set(entry) == {"name", "message"}, entry
        assert isinstance(entry["name"], str) and entry["name"], entry
        assert isinstance(entry["message"], str) and entry["message"], entry
    if field is not None:
        names = [e["name"] for e in fields]
        assert any(field in n for n in names), f"{field!r} not among fieldList names {names}"
    return resp


def assert_not_found(excinfo, resource_id: str | None = None) -> dict:
    resp = assert_client_error(excinfo, "ResourceNotFoundException", 404)
    assert type(excinfo.value).__name__ == "ResourceNotFoundException"
    assert resp.get("resourceType") == "ROOM", resp
    assert ID_RE.match(resp.get("resourceId") or ""), resp
    if resource_id is not None:
        assert resp["resourceId"] == resource_id, resp
    return resp


class Resources:
    """Creates rooms and logging configurations and deletes them afterwards.

    Rooms are deleted before logging configurations (a configuration still attached to a
    room cannot be deleted).  Resources already deleted by the test are skipped.
    """

    def __init__(self, client):
        self.client = client
        self.rooms: list[str] = []
        self.loggings: list[str] = []

    def room(self, **kwargs) -> dict:
        resp = self.client.create_room(**kwargs)
        self.rooms.append(resp["arn"])
        return resp

    def logging(self, destination=None, **kwargs) -> dict:
        if destination is None:
            destination = {"s3": {"bucketName": "py-compat-bucket"}}
        resp = self.client.create_logging_configuration(
            destinationConfiguration=destination, **kwargs
        )
        self.loggings.append(resp["arn"])
        return resp

    def track_logging(self, arn: str):
        self.loggings.append(arn)

    def cleanup(self):
        problems = []
        for arn in reversed(self.rooms):
            try:
                self.client.delete_room(identifier=arn)
            except ClientError as e:
                if e.response["Error"]["Code"] != "ResourceNotFoundException":
                    problems.append((arn, e))
        for arn in reversed(self.loggings):
            try:
                self.client.delete_logging_configuration(identifier=arn)
            except ClientError as e:
                if e.response["Error"]["Code"] != "ResourceNotFoundException":
                    problems.append((arn, e))
        self.rooms.clear()
        self.loggings.clear()
        return problems


class WireLog:
    """Records every raw HTTP response a client receives (botocore ``after-call`` event)."""

    def __init__(self, client):
        self.calls: list[dict] = []
        client.meta.events.register("after-call.ivschat", self._record)

    def _record(self, http_response, model, **_):
        self.calls.append(
            {
                "operation": model.name,
                "status": http_response.status_code,
                "headers": {k.lower(): v for k, v in http_response.headers.items()},
                "body": http_response.content,
            }
        )

    @property
    def last(self) -> dict:
        return self.calls[-1]

    def last_json(self):
        raw = self.last["body"]
        return json.loads(raw) if raw else None


@pytest.fixture(scope="session")
def client():
    return make_client()


@pytest.fixture(scope="session")
def raw_client():
    """No client-side parameter validation: reaches the server's own validation."""
    return make_client(validate=False)


@pytest.fixture
def res(client):
    r = Resources(client)
    yield r
    r.cleanup()


@pytest.fixture
def wire():
    """A fresh client whose raw responses are recorded, with its own resource tracker."""
    c = make_client()
    log = WireLog(c)
    r = Resources(c)
    yield c, log, r
    r.cleanup()
