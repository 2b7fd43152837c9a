"""Chat logging end to end against real AWS wire endpoints (moto's server mode on loopback).

Unlike the other files here, these tests do not use the shared server named by
``IVSCHAT_ENDPOINT``: each starts its own moto and its own ivschat-server (binary from
``IVSCHAT_SERVER_BIN``, else ``$CARGO_TARGET_DIR/debug/ivschat-server``) with every logging
destination on moto, chats through a real WebSocket client, and reads S3, CloudWatch Logs and
Firehose back with boto3. Expected behaviour: docs/protocol/messaging.md §8 and the module docs
of crates/server/src/delivery.

moto's Firehose writes the records of each PutRecordBatch call, concatenated, as one object in
the delivery stream's ExtendedS3 destination bucket; that bucket is how the Firehose records
are read back.

There is no event to await in another process, so the destinations are polled (bounded).
"""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest

from chatlog_helpers import (
    ACCOUNT,
    REGION,
    ChatClient,
    ChatServer,
    Destinations,
    MotoServer,
    check_record_line,
    epoch_millis,
    expected_record,
    is_subsequence,
    multiset,
    wait_until,
)

KINDS = ("s3", "cloudWatchLogs", "firehose")
# Bounded waits. Healthy delivery takes ~1 s (S3 batches for 1 s, streams ship every 100 ms);
# after an outage the server retries with backoff 1, 2, 4, 8, 16 s…
DELIVERY_TIMEOUT = 20.0
RECOVERY_TIMEOUT = 45.0


# ------------------------------------------------------------------------------- fixtures


@pytest.fixture
def moto(tmp_path):
    server = MotoServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def chat(tmp_path, moto):
    server = ChatServer(tmp_path, moto.url)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def open_client():
    opened: list[ChatClient] = []

    def open_(server: ChatServer, token: str, name: str) -> ChatClient:
        client = ChatClient(server.ws_url, token, name)
        opened.append(client)
        return client

    yield open_
    for client in opened:
        client.close()


@pytest.fixture
def dest(moto):
    d = Destinations(moto, uuid.uuid4().hex[:10])
    d.create()
    return d


# -------------------------------------------------------------------------------- helpers


def create_logged_room(ivs, dest: Destinations) -> tuple[str, str]:
    """Three logging configurations (one per kind) and a room using all three: (arn, id)."""
    arns = []
    for kind, destination in dest.logging_destinations().items():
        resp = ivs.create_logging_configuration(
            name=f"moto-{kind}-{uuid.uuid4().hex[:8]}", destinationConfiguration=destination
        )
        assert resp["state"] == "ACTIVE", resp
        arns.append(resp["arn"])
    room = ivs.create_room(name=f"moto-{uuid.uuid4().hex[:8]}", loggingConfigurationIdentifiers=arns)
    assert sorted(room["loggingConfigurationIdentifiers"]) == sorted(arns), room
    return room["arn"], room["id"]


def token(ivs, room_arn: str, user: str, capabilities: list[str]) -> str:
    return ivs.create_chat_token(roomIdentifier=room_arn, userId=user, capabilities=capabilities)[
        "token"
    ]


def send_message(client: ChatClient, request_id: str, content: str, **extra) -> dict:
    client.send({"Action": "SEND_MESSAGE", "RequestId": request_id, "Content": content, **extra})
    frame = client.wait_request(request_id)
    assert frame["Type"] == "MESSAGE", frame
    return frame


def read_all(dest: Destinations, room_id: str, raw_frames: dict[str, str]) -> dict:
    """Every record each destination holds, as chunks (one S3 object / Firehose object / the
    log stream), each chunk a list of records in stored order. Checks each record's shape and
    the destination's layout on the way."""
    out: dict[str, list[list[dict]]] = {kind: [] for kind in KINDS}

    # S3: gzip JSON lines under the documented prefix and object name.
    prefix = dest.s3_prefix(room_id)
    name_re = re.compile(
        rf"^{re.escape(prefix)}(\d{{4}})/(\d{{2}})/(\d{{2}})/(\d{{2}})/"
        rf"{ACCOUNT}_IVSChatLogs_1\.0_{REGION}_room_{room_id}_[^/]+\.log\.gz$"
    )
    for obj in dest.read_s3(room_id):
        key = obj["key"]
        assert key.startswith(prefix), f"S3 object outside {prefix}: {key}"
        m = name_re.match(key)
        assert m, f"S3 key does not follow the layout: {key}"
        assert obj["body"][:2] == b"\x1f\x8b", f"S3 object {key} is not gzip"
        lines = obj["lines"]
        assert lines[-1] == "", f"S3 object {key}: last record not newline-terminated"
        records = [check_record_line(line, raw_frames, f"S3 {key}") for line in lines[:-1]]
        assert records, f"empty S3 object {key}"
        # The hour folders are those of the first record of the object.
        first = records[0]["event_timestamp"]
        assert "/".join(m.groups()) == f"{first[0:4]}/{first[5:7]}/{first[8:10]}/{first[11:13]}", (
            key,
            first,
        )
        out["s3"].append(records)

    # CloudWatch Logs: one stream per room, one event per record.
    cw = dest.read_cloudwatch(room_id)
    stream = dest.log_stream_name(room_id)
    assert set(cw["streams"]) <= {stream}, f"unexpected streams in the group: {cw['streams']}"
    records = []
    for event in cw["events"]:
        record = check_record_line(event["message"], raw_frames, f"CloudWatch {stream}")
        assert event["timestamp"] == epoch_millis(record["event_timestamp"]), (event, record)
        records.append(record)
    if cw["events"]:
        out["cloudWatchLogs"].append(records)

    # Firehose: each record is the JSON line + "\n"; moto concatenates a batch into one object.
    for obj in dest.read_firehose():
        body = obj["body"].decode()
        assert body.endswith("\n"), f"Firehose object {obj['key']}: record without its newline"
        lines = body.split("\n")[:-1]
        out["firehose"].append(
            [check_record_line(line, raw_frames, f"Firehose {obj['key']}") for line in lines]
        )
    return out


def wait_delivered(dest, room_id, raw_frames, ids: set[str], timeout: float, server: ChatServer):
    """Polls until every destination holds a record for each frame Id in ``ids``."""
    state = {}

    def probe():
        got = read_all(dest, room_id, raw_frames)
        state["got"] = got
        missing = {
            kind: sorted(ids - {r["payload"]["Id"] for chunk in chunks for r in chunk})
            for kind, chunks in got.items()
        }
        state["missing"] = missing
        return got if not any(missing.values()) else None

    def details():
        return f"missing frame Ids per destination: {state.get('missing')}\n{server.log_tail()}"

    return wait_until(probe, timeout, 0.25, "chat log records in every destination", details)


def check_delivery(got: dict, expected: list[dict], allowed_extra: list[dict] = ()) -> dict:
    """Every expected record is in every destination, each chunk keeps the sending order, and
    nothing else is there except duplicates (at-least-once) and ``allowed_extra``.
    Returns the duplicates found per destination (record Id → count)."""
    duplicates = {}
    allowed = multiset(list(expected) + list(allowed_extra))
    for kind, chunks in got.items():
        flat = [r for chunk in chunks for r in chunk]
        have = multiset(flat)
        missing = [r for r in expected if json.dumps(r, sort_keys=True) not in have]
        assert not missing, f"{kind}: records missing: {missing}"
        foreign = [k for k in have if k not in allowed]
        assert not foreign, f"{kind}: records that no client received: {foreign}"
        for chunk in chunks:
            firsts = []
            for r in chunk:
                if r not in firsts:
                    firsts.append(r)
            order = list(allowed_extra) + list(expected)
            assert is_subsequence([r for r in firsts if r in expected], expected), (
                f"{kind}: records out of order in one {'object' if kind != 'cloudWatchLogs' else 'stream'}: "
                f"{[r['payload']['Id'] for r in firsts]} vs sent {[r['payload']['Id'] for r in order]}"
            )
        dups = {json.loads(k)["payload"]["Id"]: n for k, n in have.items() if n > 1}
        if dups:
            duplicates[kind] = dups
    return duplicates


# ---------------------------------------------------------------------------------- tests


def test_records_reach_all_three_destinations(moto, chat, dest, open_client):
    ivs = chat.client()
    room_arn, room_id = create_logged_room(ivs, dest)
    alice = open_client(chat, token(ivs, room_arn, "alice", ["SEND_MESSAGE", "DELETE_MESSAGE"]), "alice")
    bob = open_client(chat, token(ivs, room_arn, "bob", []), "bob")

    m1 = send_message(alice, "r1", "hi")
    m2 = send_message(alice, "r2", "second", Attributes={"k": "v"})
    # An ERROR (bob may not send) goes to bob only and is never logged.
    bob.send({"Action": "SEND_MESSAGE", "RequestId": "b1", "Content": "not allowed"})
    error = bob.wait_request("b1")
    assert error["Type"] == "ERROR" and error["ErrorCode"] == 403, error
    alice.send({"Action": "DELETE_MESSAGE", "RequestId": "r3", "Id": m1["Id"], "Reason": "cleanup"})
    deleted = alice.wait_request("r3")
    assert deleted["Type"] == "EVENT" and deleted["EventName"] == "aws:DELETE_MESSAGE", deleted
    event_id = ivs.send_event(roomIdentifier=room_arn, eventName="app:custom", attributes={"a": "b"})["id"]
    custom = alice.wait_id(event_id)
    ivs.disconnect_user(roomIdentifier=room_arn, userId="bob", reason="bye")
    kicked = alice.wait_for(lambda f: f.get("EventName") == "aws:DISCONNECT_USER")
    bob.wait_closed()

    logged = alice.logged()
    frames = [f for _, f in logged]
    assert [f["Id"] for f in frames] == [m1["Id"], m2["Id"], deleted["Id"], custom["Id"], kicked["Id"]]
    # bob received the same frames (ERRORs aside), his own disconnect event included.
    assert [f for _, f in bob.logged()] == frames
    raw_frames = {f["Id"]: raw for raw, f in logged}
    expected = [expected_record(f) for f in frames]

    got = wait_delivered(dest, room_id, raw_frames, set(raw_frames), DELIVERY_TIMEOUT, chat)
    # Nothing else may arrive late: wait past one S3 window and a few flushes, then re-read.
    time.sleep(1.5)
    got = read_all(dest, room_id, raw_frames)
    assert check_delivery(got, expected) == {}, "duplicates without any failure"
    # CloudWatch Logs holds the records in one stream, exactly in order.
    assert got["cloudWatchLogs"] == [expected]
    cw = dest.read_cloudwatch(room_id)
    assert cw["streams"] == [f"aws/IVSChatLogs/1.0/room_{room_id}"]
    # Firehose, record by record (moto's request recorder): one chat record per Firehose
    # record, each the record's JSON line followed by "\n", in order.
    sent = [data for call in dest.firehose_put_records() for data in call]
    for data in sent:
        assert data.endswith(b"\n") and data.count(b"\n") == 1, data
    assert [json.loads(d) for d in sent] == expected


def test_records_sent_during_an_outage_arrive_afterwards(moto, chat, dest, open_client):
    ivs = chat.client()
    room_arn, room_id = create_logged_room(ivs, dest)
    alice = open_client(chat, token(ivs, room_arn, "alice", ["SEND_MESSAGE"]), "alice")

    # The pipeline works before the outage.
    before = send_message(alice, "before", "before the outage")
    wait_delivered(dest, room_id, {}, {before["Id"]}, DELIVERY_TIMEOUT, chat)

    moto.stop()
    outage_start = time.monotonic()
    for i in range(3):
        t = time.monotonic()
        send_message(alice, f"out{i}", f"during the outage {i}")
        assert time.monotonic() - t < 2.0, "chat slowed down by a logging destination outage"
    event_id = ivs.send_event(roomIdentifier=room_arn, eventName="app:outage")["id"]
    alice.wait_id(event_id, timeout=2.0)
    # Long enough for every destination to try and fail (S3 after its 1 s window).
    time.sleep(1.5)
    moto.start()
    dest.create()  # moto's state is gone
    outage_s = time.monotonic() - outage_start

    logged = alice.logged()
    raw_frames = {f["Id"]: raw for raw, f in logged}
    during = [f for _, f in logged if f["Id"] != before["Id"]]
    assert len(during) == 4
    t = time.monotonic()
    got = wait_delivered(
        dest, room_id, raw_frames, {f["Id"] for f in during}, RECOVERY_TIMEOUT, chat
    )
    recovered_s = time.monotonic() - t
    # `before` was delivered to the old moto; a second copy would be an allowed duplicate.
    duplicates = check_delivery(
        got, [expected_record(f) for f in during], allowed_extra=[expected_record(before)]
    )
    print(f"\noutage {outage_s:.1f}s, recovered {recovered_s:.1f}s after moto came back; "
          f"duplicates: {duplicates or 'none'}")


def test_records_survive_a_server_kill_during_an_outage(moto, chat, dest, open_client):
    ivs = chat.client()
    room_arn, room_id = create_logged_room(ivs, dest)
    alice = open_client(chat, token(ivs, room_arn, "alice", ["SEND_MESSAGE"]), "alice")

    moto.stop()
    for i in range(3):
        send_message(alice, f"k{i}", f"before the kill {i}", Attributes={"i": str(i)})
    event_id = ivs.send_event(roomIdentifier=room_arn, eventName="app:kill", attributes={"x": "y"})["id"]
    alice.wait_id(event_id)
    # The records are spooled durably before clients see the frames: kill at once.
    chat.kill9()
    alice.wait_closed(timeout=5)

    chat.start()  # same port, same data directory
    moto.start()
    dest.create()  # moto's state is gone

    logged = alice.logged()
    assert len(logged) == 4
    raw_frames = {f["Id"]: raw for raw, f in logged}
    t = time.monotonic()
    got = wait_delivered(dest, room_id, raw_frames, set(raw_frames), RECOVERY_TIMEOUT, chat)
    recovered_s = time.monotonic() - t
    duplicates = check_delivery(got, [expected_record(f) for _, f in logged])
    print(f"\nrecovered {recovered_s:.1f}s after moto came back; duplicates: {duplicates or 'none'}")
