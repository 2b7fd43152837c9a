"""Helpers for test_logging_moto.py: processes (moto's server mode, ivschat-server), a chat
client, and readers for the three chat-logging destinations as moto holds them.

Everything listens on 127.0.0.1 only. Every process started here is stopped by its owner's
``stop``/``kill9``; the fixtures in test_logging_moto.py call them in finalizers.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import gzip
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

import boto3
from botocore.config import Config
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

REGION = "us-east-1"
ACCOUNT = "000000000000"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_EC2_METADATA_DISABLED": "true",
}
RECORD_KEYS = ["event_timestamp", "type", "payload", "version"]
EVENT_TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
SEND_TIME_RE = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_binary() -> str:
    explicit = os.environ.get("IVSCHAT_SERVER_BIN")
    if explicit:
        return explicit
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.expanduser(
        "~/.cache/ivschat-server/target"
    )
    return os.path.join(target, "debug", "ivschat-server")


def wait_until(probe, timeout: float, interval: float = 0.2, what: str = "condition", details=None):
    """Calls ``probe()`` until it returns something truthy (returned), at most ``timeout`` s.

    On timeout raises AssertionError naming ``what``, with ``details()`` (if given) appended.
    """
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = probe()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - a probe against a restarting service may fail
            last_error = e
        if time.monotonic() >= deadline:
            message = f"timed out after {timeout:.0f}s waiting for {what}"
            if last_error is not None:
                message += f" (last error: {last_error!r})"
            if details is not None:
                message += "\n" + details()
            raise AssertionError(message)
        time.sleep(interval)


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        return f"<{path}: {e}>"
    return "\n".join(text.splitlines()[-lines:])


def _stop_process(proc: subprocess.Popen | None, grace: float = 10.0):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


# ------------------------------------------------------------------------------------ moto


class MotoServer:
    """``python -m moto.server`` on a fixed loopback port; restartable on the same port
    (moto keeps its state in memory, so a restart starts empty)."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "moto.log"
        # moto's request recorder: every request it receives, one JSON line each (kept across
        # restarts), so the Firehose records can be seen one by one.
        self.recording_path = workdir / "moto-recording.jsonl"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0):
        assert self.proc is None or self.proc.poll() is not None, "moto is already running"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
        env.update(AWS_ENV)
        env["MOTO_ENABLE_RECORDING"] = "true"
        env["MOTO_RECORDER_FILEPATH"] = str(self.recording_path)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        s3 = self.client("s3")

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"moto exited with {self.proc.returncode}:\n{tail(self.log_path)}")
            s3.list_buckets()
            return True

        try:
            wait_until(ready, timeout, 0.1, "moto to answer", lambda: tail(self.log_path))
        except AssertionError:
            self.stop()
            raise

    def stop(self):
        _stop_process(self.proc)

    def recorded_requests(self, target_suffix: str) -> list[dict]:
        """Recorded JSON-protocol requests whose X-Amz-Target ends in ``target_suffix``
        (e.g. ``.PutRecordBatch``): their parsed JSON bodies, in arrival order."""
        out = []
        if not self.recording_path.exists():
            return out
        for line in self.recording_path.read_text().splitlines():
            entry = json.loads(line)
            headers = {k.lower(): v for k, v in entry.get("headers", {}).items()}
            if not headers.get("x-amz-target", "").endswith(target_suffix):
                continue
            body = entry.get("body") or ""
            if entry.get("body_encoded"):
                body = base64.b64decode(body).decode()
            out.append(json.loads(body))
        return out

    def client(self, service: str):
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(
                retries={"mode": "standard", "max_attempts": 2},
                connect_timeout=2,
                read_timeout=10,
            ),
        )


# --------------------------------------------------------------------------- ivschat-server


class ChatServer:
    """ivschat-server with every logging destination on moto."""

    CONFIG = "[logging]\ns3_batch_seconds = 1\nflush_interval_ms = 100\n"

    def __init__(self, workdir: Path, aws_endpoint: str):
        self.binary = server_binary()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/"
        self.data_dir = workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "ivschat.toml"
        self.config_path.write_text(self.CONFIG)
        self.log_path = workdir / "ivschat-server.log"
        self.aws_endpoint = aws_endpoint
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0):
        assert os.access(self.binary, os.X_OK), (
            f"ivschat-server binary not found at {self.binary} "
            "(build it with `cargo build -p ivschat-server` or set IVSCHAT_SERVER_BIN)"
        )
        assert self.proc is None or self.proc.poll() is not None, "server is already running"
        # Only this test's settings: no IVSCHAT_* or AWS endpoint overrides from outside.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("IVSCHAT_") and not k.startswith("AWS_ENDPOINT_URL")
        }
        env.update(AWS_ENV)
        env["IVSCHAT_LOG"] = "info"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    self.binary,
                    "--listen",
                    f"127.0.0.1:{self.port}",
                    "--data-dir",
                    str(self.data_dir),
                    "--aws-endpoint",
                    self.aws_endpoint,
                    "--config",
                    str(self.config_path),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"ivschat-server exited with {self.proc.returncode}:\n{tail(self.log_path)}"
                )
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as resp:
                return resp.status == 200

        try:
            wait_until(ready, timeout, 0.1, "ivschat-server /health", lambda: tail(self.log_path))
        except AssertionError:
            self.stop()
            raise

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # SIGKILL
            self.proc.wait(timeout=10)

    def stop(self):
        _stop_process(self.proc)

    def log_tail(self, lines: int = 40) -> str:
        return f"--- ivschat-server log ({self.log_path}) ---\n{tail(self.log_path, lines)}"

    def client(self):
        return boto3.client(
            "ivschat",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(
                retries={"mode": "standard", "max_attempts": 1},
                connect_timeout=5,
                read_timeout=30,
            ),
        )


# ------------------------------------------------------------------------------ chat client


class ChatClient:
    """A WebSocket chat connection; a reader thread keeps every frame (raw text and parsed)."""

    def __init__(self, ws_url: str, token: str, name: str):
        self.name = name
        self._stack = contextlib.ExitStack()
        self.ws = self._stack.enter_context(
            ws_connect(ws_url, subprotocols=[token], open_timeout=10, close_timeout=2, legacy=False)
        )
        self.raw: list[str] = []
        self.frames: list[dict] = []
        self.closed = False
        self.close_code = None
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, name=f"ws-{name}", daemon=True)
        self._thread.start()

    def _read(self):
        try:
            for message in self.ws:
                text = message if isinstance(message, str) else message.decode()
                frame = json.loads(text)
                with self._cond:
                    self.raw.append(text)
                    self.frames.append(frame)
                    self._cond.notify_all()
        except ConnectionClosed:
            pass
        except Exception as e:  # noqa: BLE001 - keep the reason for the test's message
            with self._cond:
                self.frames.append({"__reader_error__": repr(e)})
        finally:
            with self._cond:
                self.closed = True
                self.close_code = getattr(self.ws, "close_code", None)
                self._cond.notify_all()

    def send(self, obj: dict):
        self.ws.send(json.dumps(obj))

    def wait_for(self, predicate, timeout: float = 10.0) -> dict:
        """The first frame (in arrival order) that satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for frame in self.frames:
                    if predicate(frame):
                        return frame
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.closed:
                    raise AssertionError(
                        f"{self.name}: no matching frame within {timeout}s "
                        f"(closed={self.closed}); frames: {self.frames}"
                    )
                self._cond.wait(remaining)

    def wait_request(self, request_id: str, timeout: float = 10.0) -> dict:
        return self.wait_for(lambda f: f.get("RequestId") == request_id, timeout)

    def wait_id(self, frame_id: str, timeout: float = 10.0) -> dict:
        return self.wait_for(lambda f: f.get("Id") == frame_id, timeout)

    def wait_closed(self, timeout: float = 10.0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self.closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{self.name}: still open after {timeout}s")
                self._cond.wait(remaining)

    def logged(self) -> list[tuple[str, dict]]:
        """(raw, parsed) for every MESSAGE/EVENT frame received, in order: what chat logging
        must record."""
        with self._cond:
            return [
                (raw, frame)
                for raw, frame in zip(self.raw, self.frames)
                if frame.get("Type") in ("MESSAGE", "EVENT")
            ]

    def close(self):
        try:
            self._stack.close()
        except Exception:  # noqa: BLE001 - already gone (server killed)
            pass
        self._thread.join(timeout=5)


# --------------------------------------------------------------------------- destinations


class Destinations:
    """The three destinations in moto, created (and re-created after a moto restart) by name."""

    def __init__(self, moto: MotoServer, suffix: str):
        self.moto = moto
        self.bucket = f"ivschat-logs-{suffix}"
        self.firehose_bucket = f"ivschat-firehose-{suffix}"
        self.log_group = f"/ivschat/test/{suffix}"
        self.delivery_stream = f"ivschat-stream-{suffix}"

    def create(self):
        s3 = self.moto.client("s3")
        s3.create_bucket(Bucket=self.bucket)
        s3.create_bucket(Bucket=self.firehose_bucket)
        self.moto.client("logs").create_log_group(logGroupName=self.log_group)
        self.moto.client("firehose").create_delivery_stream(
            DeliveryStreamName=self.delivery_stream,
            DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                "RoleARN": "arn:aws:iam::123456789012:role/firehose-delivery",
                "BucketARN": f"arn:aws:s3:::{self.firehose_bucket}",
                "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60},
            },
        )

    def logging_destinations(self) -> dict:
        """destinationConfiguration for each kind."""
        return {
            "s3": {"s3": {"bucketName": self.bucket}},
            "cloudWatchLogs": {"cloudWatchLogs": {"logGroupName": self.log_group}},
            "firehose": {"firehose": {"deliveryStreamName": self.delivery_stream}},
        }

    # -- readers: each returns a list of "chunks" (one S3 object, one Firehose object, or the
    # -- whole log stream), each chunk a list of raw record lines in the order stored.

    def s3_prefix(self, room_id: str) -> str:
        return f"AWSLogs/{ACCOUNT}/IVSChatLogs/1.0/{REGION}/room_{room_id}/"

    def read_s3(self, room_id: str) -> list[dict]:
        """[{key, body (raw bytes), lines}] for every object under the room's prefix."""
        s3 = self.moto.client("s3")
        out = []
        for key in _list_keys(s3, self.bucket, ""):
            body = s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            lines = None
            if key.startswith(self.s3_prefix(room_id)):
                lines = gzip.decompress(body).decode().split("\n")
            out.append({"key": key, "body": body, "lines": lines})
        return out

    def log_stream_name(self, room_id: str) -> str:
        return f"aws/IVSChatLogs/1.0/room_{room_id}"

    def read_cloudwatch(self, room_id: str) -> dict:
        """{streams: [names in the group], events: [{timestamp, message}] of the room's stream}."""
        logs = self.moto.client("logs")
        streams = []
        kwargs = {"logGroupName": self.log_group}
        while True:
            page = logs.describe_log_streams(**kwargs)
            streams += [s["logStreamName"] for s in page.get("logStreams", [])]
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        events = []
        name = self.log_stream_name(room_id)
        if name in streams:
            kwargs = {"logGroupName": self.log_group, "logStreamName": name, "startFromHead": True}
            while True:
                page = logs.get_log_events(**kwargs)
                events += page["events"]
                token = page.get("nextForwardToken")
                if not page["events"] or not token or token == kwargs.get("nextToken"):
                    break
                kwargs["nextToken"] = token
        return {"streams": streams, "events": events}

    def read_firehose(self) -> list[dict]:
        """[{key, body}] for every object moto's Firehose wrote to its S3 destination
        (moto writes each PutRecord(Batch) call's records, concatenated, as one object)."""
        s3 = self.moto.client("s3")
        return [
            {"key": key, "body": s3.get_object(Bucket=self.firehose_bucket, Key=key)["Body"].read()}
            for key in _list_keys(s3, self.firehose_bucket, "")
        ]


    def firehose_put_records(self) -> list[list[bytes]]:
        """The Data of every record the server sent to the delivery stream, per PutRecord(Batch)
        call, as moto's request recorder saw them (including calls moto refused)."""
        calls = []
        for body in self.moto.recorded_requests(".PutRecordBatch"):
            if body.get("DeliveryStreamName") == self.delivery_stream:
                calls.append([base64.b64decode(r["Data"]) for r in body.get("Records", [])])
        for body in self.moto.recorded_requests(".PutRecord"):
            if body.get("DeliveryStreamName") == self.delivery_stream:
                calls.append([base64.b64decode(body["Record"]["Data"])])
        return calls


@contextlib.contextmanager
def configured_server(work: Path, config_text: str):
    """An ivschat-server of this module's own (``server_binary()``) with ``config_text`` as its
    TOML configuration, on a free loopback port with its data under ``work``; yields its URL once
    ``/health`` answers, and stops it afterwards. ``IVSCHAT_*`` and ``AWS_ENDPOINT_URL*`` of the
    caller's environment are not passed on, so only the file configures it."""
    import pytest

    binary = server_binary()
    if not os.access(binary, os.X_OK):
        pytest.fail(f"ivschat-server binary not found at {binary} (cargo build -p ivschat-server, or IVSCHAT_SERVER_BIN)")
    config = work / "ivschat.toml"
    config.write_text(config_text)
    log_path = work / "server.log"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IVSCHAT_") and not k.startswith("AWS_ENDPOINT_URL")}
    env.update(AWS_ENV)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [binary, "--listen", f"127.0.0.1:{port}", "--data-dir", str(work / "data"), "--config", str(config)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        )
    url = f"http://127.0.0.1:{port}"

    def ready():
        if proc.poll() is not None:
            raise AssertionError(f"ivschat-server exited with {proc.returncode}:\n{tail(log_path)}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    try:
        wait_until(ready, 30.0, 0.1, "ivschat-server /health", lambda: tail(log_path))
        yield url
    finally:
        _stop_process(proc)


def _list_keys(s3, bucket: str, prefix: str) -> list[str]:
    keys = []
    kwargs = {"Bucket": bucket, "Prefix": prefix}
    while True:
        page = s3.list_objects_v2(**kwargs)
        keys += [o["Key"] for o in page.get("Contents", [])]
        if not page.get("IsTruncated"):
            return keys
        kwargs["ContinuationToken"] = page["NextContinuationToken"]


# -------------------------------------------------------------------------------- records


def send_time_millis(send_time: str) -> str:
    """A frame's SendTime (RFC 3339, up to nanoseconds) truncated to the record's millisecond form."""
    m = SEND_TIME_RE.match(send_time)
    assert m, f"SendTime {send_time!r} is not RFC 3339 UTC"
    frac = (m.group(2) or "").ljust(3, "0")[:3]
    return f"{m.group(1)}.{frac}Z"


def epoch_millis(event_timestamp: str) -> int:
    t = dt.datetime.strptime(event_timestamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)
    return (t - EPOCH) // dt.timedelta(milliseconds=1)


def expected_record(frame: dict) -> dict:
    """The record chat logging writes for a frame a client received (docs/protocol/messaging.md §8)."""
    return {
        "event_timestamp": send_time_millis(frame["SendTime"]),
        "type": frame["Type"],
        "payload": frame,
        "version": "1.0",
    }


def check_record_line(line: str, raw_frames: dict[str, str], where: str) -> dict:
    """Parses one record line and checks its shape; returns the record.

    ``raw_frames`` maps frame Id → the raw frame text a client received, for the server's
    promise that the payload is inserted verbatim.
    """
    pairs = json.loads(line, object_pairs_hook=lambda kv: kv)
    keys = [k for k, _ in pairs]
    assert keys == RECORD_KEYS, f"{where}: record keys {keys}, expected {RECORD_KEYS}: {line}"
    record = json.loads(line)
    assert record["version"] == "1.0", f"{where}: {line}"
    assert record["type"] in ("MESSAGE", "EVENT"), f"{where}: ERROR or unknown type logged: {line}"
    assert EVENT_TIMESTAMP_RE.match(record["event_timestamp"]), f"{where}: {line}"
    payload = record["payload"]
    assert isinstance(payload, dict) and payload.get("Type") == record["type"], f"{where}: {line}"
    raw = raw_frames.get(payload.get("Id"))
    if raw is not None:
        assert f'"payload":{raw},' in line, (
            f"{where}: payload is not the received frame verbatim\n  frame:  {raw}\n  record: {line}"
        )
    return record


def multiset(records: list[dict]) -> Counter:
    return Counter(json.dumps(r, sort_keys=True) for r in records)


def is_subsequence(items: list, of: list) -> bool:
    it = iter(of)
    return all(any(x == y for y in it) for x in items)
