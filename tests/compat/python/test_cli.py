"""The AWS CLI (v1, from PyPI) against ivschat-server: the main scenarios and the README
quickstart, through ``aws ivschat <op> --endpoint-url … --output json``.

The CLI prints timestamps exactly as they came over the wire (v1's default
``cli_timestamp_format = none``), so these tests also see the raw RFC 3339 strings.
Service errors exit with status 255 and print
``An error occurred (<Code>) when calling the <Operation> operation: <message>`` on stderr.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import (
    ACCESS_KEY,
    ID_RE,
    LOGGING_ARN_RE,
    LOGGING_KEYS,
    REGION,
    ROOM_ARN_RE,
    ROOM_KEYS,
    ROOM_SUMMARY_KEYS,
    SECRET_KEY,
    TOKEN_RE,
    WIRE_TIME_RE,
    endpoint,
    lambda_arn,
    unique,
    unknown_logging_arn,
    unknown_room_arn,
    utcnow,
)

SERVICE_ERROR_EXIT = 255  # AWS CLI v1: ClientError (and client-side parameter validation)


def _aws_executable() -> str:
    beside = Path(sys.executable).parent / "aws"
    if beside.exists():
        return str(beside)
    found = shutil.which("aws")
    if not found:
        pytest.fail("no `aws` command: install requirements.txt (awscli) into this Python")
    return found


AWS = _aws_executable()


def cli_env(**overrides) -> dict:
    env = dict(os.environ)
    for var in list(env):
        if var in {"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"} or (
            var.startswith("AWS_ENDPOINT_URL")
        ):
            del env[var]
    env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_RETRY_MODE="standard",
        AWS_MAX_ATTEMPTS="1",
        AWS_PAGER="",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(overrides)
    return env


class Result:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    @property
    def json(self):
        assert self.stdout.strip(), f"no output; stderr: {self.stderr}"
        return json.loads(self.stdout)

    def __repr__(self):
        return f"<rc={self.rc} stdout={self.stdout!r} stderr={self.stderr!r}>"


def aws(op: str, *args: str, env: dict | None = None) -> Result:
    cmd = [AWS, "ivschat", op, "--endpoint-url", endpoint(), "--output", "json", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env or cli_env(), timeout=60)
    return Result(proc)


def ok(op: str, *args: str) -> Result:
    r = aws(op, *args)
    assert r.rc == 0, r
    return r


def fails(op: str, *args: str, code: str, operation: str, env: dict | None = None) -> Result:
    r = aws(op, *args, env=env)
    assert r.rc == SERVICE_ERROR_EXIT, r
    expected = f"An error occurred ({code}) when calling the {operation} operation"
    assert expected in r.stderr, r
    assert r.stdout.strip() == "", r
    return r


def parse_time(value: str) -> dt.datetime:
    assert isinstance(value, str) and WIRE_TIME_RE.match(value), value
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def assert_room(room: dict):
    assert set(room) == ROOM_KEYS, sorted(room)
    m = ROOM_ARN_RE.match(room["arn"])
    assert m and room["id"] == m.group(1), room
    assert parse_time(room["updateTime"]) >= parse_time(room["createTime"])


def assert_logging(cfg: dict):
    assert set(cfg) == LOGGING_KEYS, sorted(cfg)
    m = LOGGING_ARN_RE.match(cfg["arn"])
    assert m and cfg["id"] == m.group(1), cfg
    assert cfg["state"] == "ACTIVE"
    parse_time(cfg["createTime"])
    parse_time(cfg["updateTime"])


def create_room(res, *args: str) -> dict:
    room = ok("create-room", *args).json
    res.rooms.append(room["arn"])
    return room


def create_logging(res, *args: str) -> dict:
    cfg = ok("create-logging-configuration", *args).json
    res.loggings.append(cfg["arn"])
    return cfg


def test_cli_has_ivschat():
    r = subprocess.run([AWS, "--version"], capture_output=True, text=True, env=cli_env())
    assert r.returncode == 0 and "aws-cli/1." in (r.stdout + r.stderr), r
    r = subprocess.run([AWS, "ivschat", "help"], capture_output=True, text=True, env=cli_env())
    assert r.returncode == 0 and "create-chat-token" in r.stdout


def test_readme_quickstart(res):
    """README quickstart: create-room, get-room, list-rooms, tag-resource,
    list-tags-for-resource, untag-resource, delete-room."""
    name = unique("cli")
    room = create_room(res, "--name", name)
    assert_room(room)
    assert room["name"] == name
    assert room["maximumMessageRatePerSecond"] == 10
    assert room["maximumMessageLength"] == 500
    assert room["messageReviewHandler"] == {"fallbackResult": "ALLOW"}
    assert room["tags"] == {}
    assert room["loggingConfigurationIdentifiers"] == []
    assert abs((parse_time(room["createTime"]) - utcnow()).total_seconds()) < 15
    arn = room["arn"]

    assert ok("get-room", "--identifier", arn).json == room

    listed = ok("list-rooms", "--name", name).json
    assert list(listed) == ["rooms"], listed
    [summary] = listed["rooms"]
    assert set(summary) == ROOM_SUMMARY_KEYS
    assert summary["arn"] == arn and summary["id"] == room["id"]

    tagged = ok("tag-resource", "--resource-arn", arn, "--tags", "env=dev,team=chat")
    assert tagged.stdout.strip() == "", tagged
    assert ok("list-tags-for-resource", "--resource-arn", arn).json == {
        "tags": {"env": "dev", "team": "chat"}
    }

    untagged = ok("untag-resource", "--resource-arn", arn, "--tag-keys", "env", "not-there")
    assert untagged.stdout.strip() == "", untagged
    assert ok("list-tags-for-resource", "--resource-arn", arn).json == {"tags": {"team": "chat"}}
    assert ok("get-room", "--identifier", arn).json["tags"] == {"team": "chat"}

    deleted = ok("delete-room", "--identifier", arn)
    assert deleted.stdout.strip() == "", deleted

    r = fails("get-room", "--identifier", arn, code="ResourceNotFoundException", operation="GetRoom")
    assert room["id"] in r.stderr
    fails("delete-room", "--identifier", arn, code="ResourceNotFoundException", operation="DeleteRoom")
    fails("list-tags-for-resource", "--resource-arn", arn, code="ResourceNotFoundException",
          operation="ListTagsForResource")


def test_cli_create_and_update_room_every_member(res):
    cfg = create_logging(res, "--destination-configuration", "s3={bucketName=cli-bucket}")
    uri = lambda_arn()
    name = unique("cli")
    room = create_room(
        res,
        "--name", name,
        "--maximum-message-rate-per-second", "25",
        "--maximum-message-length", "250",
        "--message-review-handler", f"uri={uri},fallbackResult=DENY",
        "--logging-configuration-identifiers", cfg["arn"],
        "--tags", "a=1",
    )
    assert_room(room)
    assert room["name"] == name
    assert room["maximumMessageRatePerSecond"] == 25
    assert room["maximumMessageLength"] == 250
    assert room["messageReviewHandler"] == {"uri": uri, "fallbackResult": "DENY"}
    assert room["loggingConfigurationIdentifiers"] == [cfg["arn"]]
    assert room["tags"] == {"a": "1"}

    updated = ok("update-room", "--identifier", room["arn"], "--maximum-message-rate-per-second", "50").json
    assert_room(updated)
    assert updated["maximumMessageRatePerSecond"] == 50
    for key in ROOM_KEYS - {"maximumMessageRatePerSecond", "updateTime"}:
        assert updated[key] == room[key], key
    assert parse_time(updated["updateTime"]) > parse_time(room["updateTime"])

    cleared = ok(
        "update-room", "--identifier", room["arn"],
        "--message-review-handler", "uri=",
        "--logging-configuration-identifiers", "[]",
    ).json
    assert cleared["messageReviewHandler"].get("uri", "") == ""
    assert cleared["loggingConfigurationIdentifiers"] == []
    assert ok("list-rooms", "--message-review-handler-uri", uri).json == {"rooms": []}


def test_cli_list_rooms_pagination_and_filters(res):
    name = unique("cli")
    first = create_room(res, "--name", name)
    second = create_room(res, "--name", name)

    page1 = ok("list-rooms", "--name", name, "--max-results", "1").json
    assert len(page1["rooms"]) == 1 and page1.get("nextToken"), page1
    assert page1["rooms"][0]["id"] == second["id"]  # newest first
    page2 = ok("list-rooms", "--name", name, "--max-results", "1", "--next-token", page1["nextToken"]).json
    assert [r["id"] for r in page2["rooms"]] == [first["id"]]
    assert "nextToken" not in page2

    fails("list-rooms", "--next-token", "garbage", code="ValidationException", operation="ListRooms")
    fails("list-rooms", "--max-results", "51", code="ValidationException", operation="ListRooms")


def test_cli_logging_configurations(res):
    name = unique("cli")
    s3 = create_logging(res, "--name", name, "--destination-configuration", "s3={bucketName=cli-bucket}",
                        "--tags", "k=v")
    assert_logging(s3)
    assert s3["name"] == name
    assert s3["destinationConfiguration"] == {"s3": {"bucketName": "cli-bucket"}}
    assert s3["tags"] == {"k": "v"}

    cwl = create_logging(res, "--destination-configuration",
                         json.dumps({"cloudWatchLogs": {"logGroupName": "/aws/ivschat/cli"}}))
    assert_logging(cwl)
    assert cwl["destinationConfiguration"] == {"cloudWatchLogs": {"logGroupName": "/aws/ivschat/cli"}}
    fh = create_logging(res, "--destination-configuration", "firehose={deliveryStreamName=cli-stream}")
    assert_logging(fh)
    assert fh["destinationConfiguration"] == {"firehose": {"deliveryStreamName": "cli-stream"}}

    assert ok("get-logging-configuration", "--identifier", s3["arn"]).json == s3

    new_name = unique("cli")
    updated = ok("update-logging-configuration", "--identifier", s3["arn"], "--name", new_name,
                 "--destination-configuration", "firehose={deliveryStreamName=other}").json
    assert_logging(updated)
    assert updated["name"] == new_name
    assert updated["destinationConfiguration"] == {"firehose": {"deliveryStreamName": "other"}}
    assert updated["createTime"] == s3["createTime"]

    page = ok("list-logging-configurations", "--max-results", "1").json
    assert len(page["loggingConfigurations"]) == 1 and page.get("nextToken"), page
    listed = ok("list-logging-configurations").json
    assert "nextToken" not in listed
    ids = {c["id"] for c in listed["loggingConfigurations"]}
    assert {s3["id"], cwl["id"], fh["id"]} <= ids

    # Attached to a room, it cannot be deleted.
    room = create_room(res, "--logging-configuration-identifiers", s3["arn"], cwl["arn"])
    assert room["loggingConfigurationIdentifiers"] == [s3["arn"], cwl["arn"]]
    assert [r["id"] for r in ok("list-rooms", "--logging-configuration-identifier", s3["arn"]).json["rooms"]] == [
        room["id"]
    ]
    fails("delete-logging-configuration", "--identifier", s3["arn"], code="ConflictException",
          operation="DeleteLoggingConfiguration")
    ok("delete-room", "--identifier", room["arn"])
    deleted = ok("delete-logging-configuration", "--identifier", s3["arn"])
    assert deleted.stdout.strip() == ""
    fails("get-logging-configuration", "--identifier", s3["arn"], code="ResourceNotFoundException",
          operation="GetLoggingConfiguration")

    fails("create-room", "--logging-configuration-identifiers", unknown_logging_arn(),
          code="ResourceNotFoundException", operation="CreateRoom")


def test_cli_tags_on_logging_configuration_and_limits(res):
    cfg = create_logging(res, "--destination-configuration", "s3={bucketName=cli-bucket}")
    ok("tag-resource", "--resource-arn", cfg["arn"], "--tags", "x=1,y=2")
    assert ok("list-tags-for-resource", "--resource-arn", cfg["arn"]).json == {"tags": {"x": "1", "y": "2"}}
    ok("untag-resource", "--resource-arn", cfg["arn"], "--tag-keys", "x", "zzz")
    assert ok("list-tags-for-resource", "--resource-arn", cfg["arn"]).json == {"tags": {"y": "2"}}

    too_many = json.dumps({f"k{i}": "v" for i in range(51)})
    fails("tag-resource", "--resource-arn", cfg["arn"], "--tags", too_many, code="ValidationException",
          operation="TagResource")
    fails("tag-resource", "--resource-arn", unknown_room_arn(), "--tags", "a=b",
          code="ResourceNotFoundException", operation="TagResource")
    fails("untag-resource", "--resource-arn", unknown_logging_arn(), "--tag-keys", "a",
          code="ResourceNotFoundException", operation="UntagResource")


def test_cli_chat_token(res):
    room = create_room(res)
    before = utcnow()
    tok = ok("create-chat-token", "--room-identifier", room["arn"], "--user-id", "cli-user",
             "--capabilities", "SEND_MESSAGE", "DELETE_MESSAGE",
             "--session-duration-in-minutes", "30", "--attributes", "color=red").json
    assert set(tok) == {"token", "tokenExpirationTime", "sessionExpirationTime"}
    assert TOKEN_RE.match(tok["token"])
    assert abs((parse_time(tok["tokenExpirationTime"]) - (before + dt.timedelta(seconds=60))).total_seconds()) < 15
    assert abs((parse_time(tok["sessionExpirationTime"]) - (before + dt.timedelta(minutes=30))).total_seconds()) < 15

    default = ok("create-chat-token", "--room-identifier", room["arn"], "--user-id", "u").json
    assert abs((parse_time(default["sessionExpirationTime"]) - (before + dt.timedelta(minutes=60))).total_seconds()) < 15

    fails("create-chat-token", "--room-identifier", room["arn"], "--user-id", "u",
          "--session-duration-in-minutes", "181", code="ValidationException", operation="CreateChatToken")
    fails("create-chat-token", "--room-identifier", unknown_room_arn(), "--user-id", "u",
          code="ResourceNotFoundException", operation="CreateChatToken")


def test_cli_messaging(res):
    room = create_room(res)
    sent = ok("send-event", "--room-identifier", room["arn"], "--event-name", "app:hello",
              "--attributes", "a=1").json
    assert list(sent) == ["id"] and ID_RE.match(sent["id"])
    deleted = ok("delete-message", "--room-identifier", room["arn"], "--id", sent["id"], "--reason", "spam").json
    assert list(deleted) == ["id"] and ID_RE.match(deleted["id"])
    disc = ok("disconnect-user", "--room-identifier", room["arn"], "--user-id", "cli-user", "--reason", "bye")
    assert disc.stdout.strip() == "", disc

    fails("delete-message", "--room-identifier", room["arn"], "--id", "ABCDEFabcdef1",
          code="ValidationException", operation="DeleteMessage")
    unknown = unknown_room_arn()
    fails("send-event", "--room-identifier", unknown, "--event-name", "e",
          code="ResourceNotFoundException", operation="SendEvent")
    fails("delete-message", "--room-identifier", unknown, "--id", "ABCDEFabcdef",
          code="ResourceNotFoundException", operation="DeleteMessage")
    fails("disconnect-user", "--room-identifier", unknown, "--user-id", "u",
          code="ResourceNotFoundException", operation="DisconnectUser")


def test_cli_validation_errors():
    r = fails("create-room", "--name", "bad name!", code="ValidationException", operation="CreateRoom")
    assert "name" in r.stderr
    r = fails("create-room", "--maximum-message-rate-per-second", "101", code="ValidationException",
              operation="CreateRoom")
    assert "maximumMessageRatePerSecond" in r.stderr
    fails("get-room", "--identifier", "ABCDEFabcdef", code="ValidationException", operation="GetRoom")


def test_cli_client_side_validation_stops_below_minimum():
    r = aws("create-room", "--maximum-message-rate-per-second", "0")
    assert r.rc == SERVICE_ERROR_EXIT and "Parameter validation failed" in r.stderr, r


def test_cli_auth_errors():
    fails("list-rooms", code="InvalidSignatureException", operation="ListRooms",
          env=cli_env(AWS_SECRET_ACCESS_KEY="wrong-secret"))
    fails("list-rooms", code="UnrecognizedClientException", operation="ListRooms",
          env=cli_env(AWS_ACCESS_KEY_ID="AKIDUNKNOWN00000", AWS_SECRET_ACCESS_KEY="whatever"))


def test_cli_debug_shows_request_id(res):
    r = aws("list-rooms", "--max-results", "1", "--debug")
    assert r.rc == 0, r
    assert "x-amzn-requestid" in r.stderr.lower()
