"""boto3 against ivschat-server: the shared scenario list, with exact response shapes.

Expected behaviour comes from docs/protocol/control-plane.md (the wire contract).
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from botocore.exceptions import ClientError

from conftest import (
    ACCOUNT,
    ID_RE,
    LOGGING_ARN_RE,
    LOGGING_KEYS,
    REGION,
    ROOM_ARN_RE,
    ROOM_KEYS,
    ROOM_SUMMARY_KEYS,
    TOKEN_RE,
    UUID_RE,
    WIRE_TIME_RE,
    assert_client_error,
    assert_close,
    assert_not_found,
    assert_request_id,
    assert_validation,
    body,
    lambda_arn,
    make_client,
    random_id,
    unique,
    unknown_logging_arn,
    unknown_room_arn,
    utcnow,
)

S3 = {"s3": {"bucketName": "py-compat-bucket"}}
CWL = {"cloudWatchLogs": {"logGroupName": "/aws/ivschat/py-compat"}}
FIREHOSE = {"firehose": {"deliveryStreamName": "py-compat-stream"}}


def list_all_rooms(client, **filters):
    """Every room matching the filters, following nextToken; checks the page protocol."""
    rooms, token, seen_tokens = [], None, set()
    while True:
        kwargs = dict(filters)
        if token:
            kwargs["nextToken"] = token
        page = client.list_rooms(**kwargs)
        assert isinstance(page["rooms"], list)
        rooms.extend(page["rooms"])
        token = page.get("nextToken")
        if token is None:
            return rooms
        assert token, "nextToken must be omitted, not empty, on the last page"
        assert token not in seen_tokens, "a nextToken came back twice"
        seen_tokens.add(token)


def list_all_loggings(client, **kwargs):
    items, token, seen_tokens = [], None, set()
    while True:
        args = dict(kwargs)
        if token:
            args["nextToken"] = token
        page = client.list_logging_configurations(**args)
        assert isinstance(page["loggingConfigurations"], list)
        items.extend(page["loggingConfigurations"])
        token = page.get("nextToken")
        if token is None:
            return items
        assert token, "nextToken must be omitted, not empty, on the last page"
        assert token not in seen_tokens, "a nextToken came back twice"
        seen_tokens.add(token)


def assert_room_shape(room: dict):
    assert set(body(room)) == ROOM_KEYS, sorted(body(room))
    m = ROOM_ARN_RE.match(room["arn"])
    assert m, room["arn"]
    assert room["id"] == m.group(1)
    assert ID_RE.match(room["id"])
    assert isinstance(room["createTime"], dt.datetime)
    assert isinstance(room["updateTime"], dt.datetime)
    assert room["updateTime"] >= room["createTime"]


def assert_logging_shape(cfg: dict):
    assert set(body(cfg)) == LOGGING_KEYS, sorted(body(cfg))
    m = LOGGING_ARN_RE.match(cfg["arn"])
    assert m, cfg["arn"]
    assert cfg["id"] == m.group(1)
    assert isinstance(cfg["createTime"], dt.datetime)
    assert isinstance(cfg["updateTime"], dt.datetime)
    assert cfg["updateTime"] >= cfg["createTime"]


# --------------------------------------------------------------------------------------
# Rooms
# --------------------------------------------------------------------------------------


def test_create_room_defaults(client, res):
    before = utcnow()
    room = res.room()
    assert_request_id(room)
    assert room["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert_room_shape(room)
    assert room["name"] == ""
    assert room["maximumMessageRatePerSecond"] == 10
    assert room["maximumMessageLength"] == 500
    assert room["messageReviewHandler"] == {"fallbackResult": "ALLOW"}
    assert room["tags"] == {}
    assert room["loggingConfigurationIdentifiers"] == []
    assert_close(room["createTime"], before)
    assert_close(room["updateTime"], before)


def test_create_room_every_member_echoed(client, res):
    cfg = res.logging(name=unique())
    handler = {"uri": lambda_arn(), "fallbackResult": "DENY"}
    name = unique()
    room = res.room(
        name=name,
        maximumMessageRatePerSecond=42,
        maximumMessageLength=123,
        messageReviewHandler=handler,
        tags={"team": "compat", "empty": ""},
        loggingConfigurationIdentifiers=[cfg["arn"]],
    )
    assert_room_shape(room)
    assert room["name"] == name
    assert room["maximumMessageRatePerSecond"] == 42
    assert room["maximumMessageLength"] == 123
    assert room["messageReviewHandler"] == handler
    assert room["tags"] == {"team": "compat", "empty": ""}
    assert room["loggingConfigurationIdentifiers"] == [cfg["arn"]]

    got = client.get_room(identifier=room["arn"])
    assert body(got) == body(room)


def test_create_room_handler_uri_only_defaults_fallback(client, res):
    uri = lambda_arn()
    room = res.room(messageReviewHandler={"uri": uri})
    assert room["messageReviewHandler"] == {"uri": uri, "fallbackResult": "ALLOW"}


def test_create_room_range_bounds_accepted(client, res):
    low = res.room(maximumMessageRatePerSecond=1, maximumMessageLength=1)
    assert (low["maximumMessageRatePerSecond"], low["maximumMessageLength"]) == (1, 1)
    high = res.room(maximumMessageRatePerSecond=100, maximumMessageLength=500, name="a" * 128)
    assert (high["maximumMessageRatePerSecond"], high["maximumMessageLength"]) == (100, 500)
    assert high["name"] == "a" * 128


def test_get_room(client, res):
    room = res.room(name=unique(), tags={"k": "v"})
    got = client.get_room(identifier=room["arn"])
    assert_request_id(got)
    assert_room_shape(got)
    assert body(got) == body(room)


def test_update_room_one_member_keeps_the_others(client, res):
    cfg = res.logging()
    uri = lambda_arn()
    room = res.room(
        name=unique(),
        maximumMessageRatePerSecond=7,
        maximumMessageLength=77,
        messageReviewHandler={"uri": uri, "fallbackResult": "DENY"},
        tags={"keep": "me"},
        loggingConfigurationIdentifiers=[cfg["arn"]],
    )
    updated = client.update_room(identifier=room["arn"], maximumMessageLength=99)
    assert_request_id(updated)
    assert_room_shape(updated)
    assert updated["maximumMessageLength"] == 99
    for key in ROOM_KEYS - {"maximumMessageLength", "updateTime"}:
        assert updated[key] == room[key], key
    assert updated["updateTime"] > room["updateTime"]
    assert body(client.get_room(identifier=room["arn"])) == body(updated)


def test_update_room_every_member(client, res):
    room = res.room()
    cfg = res.logging()
    uri = lambda_arn()
    name = unique()
    updated = client.update_room(
        identifier=room["arn"],
        name=name,
        maximumMessageRatePerSecond=55,
        maximumMessageLength=321,
        messageReviewHandler={"uri": uri, "fallbackResult": "DENY"},
        loggingConfigurationIdentifiers=[cfg["arn"]],
    )
    assert updated["name"] == name
    assert updated["maximumMessageRatePerSecond"] == 55
    assert updated["maximumMessageLength"] == 321
    assert updated["messageReviewHandler"] == {"uri": uri, "fallbackResult": "DENY"}
    assert updated["loggingConfigurationIdentifiers"] == [cfg["arn"]]
    assert updated["createTime"] == room["createTime"]
    assert updated["arn"] == room["arn"] and updated["id"] == room["id"]
    assert updated["tags"] == {}


def test_update_room_empty_uri_removes_handler(client, res):
    uri = lambda_arn()
    room = res.room(messageReviewHandler={"uri": uri, "fallbackResult": "DENY"})
    assert [r["id"] for r in list_all_rooms(client, messageReviewHandlerUri=uri)] == [room["id"]]

    updated = client.update_room(identifier=room["arn"], messageReviewHandler={"uri": ""})
    assert updated["messageReviewHandler"].get("uri", "") == ""
    got = client.get_room(identifier=room["arn"])
    assert got["messageReviewHandler"].get("uri", "") == ""
    assert list_all_rooms(client, messageReviewHandlerUri=uri) == []


def test_update_room_empty_list_detaches_logging(client, res):
    cfg = res.logging()
    room = res.room(loggingConfigurationIdentifiers=[cfg["arn"]])
    updated = client.update_room(identifier=room["arn"], loggingConfigurationIdentifiers=[])
    assert updated["loggingConfigurationIdentifiers"] == []
    # Detached, so the configuration can now be deleted.
    client.delete_logging_configuration(identifier=cfg["arn"])


def test_delete_room_then_get_is_not_found(client, res):
    room = res.room()
    deleted = client.delete_room(identifier=room["arn"])
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert body(deleted) == {}
    assert_request_id(deleted)

    with pytest.raises(client.exceptions.ResourceNotFoundException) as ei:
        client.get_room(identifier=room["arn"])
    assert_not_found(ei, room["id"])
    with pytest.raises(client.exceptions.ResourceNotFoundException) as ei:
        client.delete_room(identifier=room["arn"])
    assert_not_found(ei, room["id"])
    with pytest.raises(client.exceptions.ResourceNotFoundException) as ei:
        client.update_room(identifier=room["arn"], name="x")
    assert_not_found(ei, room["id"])


def test_unknown_room_not_found_everywhere(client):
    arn = unknown_room_arn()
    rid = arn.rsplit("/", 1)[1]
    calls = [
        lambda: client.get_room(identifier=arn),
        lambda: client.update_room(identifier=arn, maximumMessageLength=5),
        lambda: client.delete_room(identifier=arn),
        lambda: client.create_chat_token(roomIdentifier=arn, userId="u"),
        lambda: client.send_event(roomIdentifier=arn, eventName="e"),
        lambda: client.delete_message(roomIdentifier=arn, id="ABCDEFabcdef"),
        lambda: client.disconnect_user(roomIdentifier=arn, userId="u"),
    ]
    for call in calls:
        with pytest.raises(ClientError) as ei:
            call()
        assert_not_found(ei, rid)


# --------------------------------------------------------------------------------------
# ListRooms
# --------------------------------------------------------------------------------------


def test_list_rooms_sorted_by_update_time_newest_first(client, res):
    name = unique()
    rooms = [res.room(name=name) for _ in range(3)]
    listed = client.list_rooms(name=name)
    assert "nextToken" not in listed
    summaries = listed["rooms"]
    assert {r["id"] for r in summaries} == {r["id"] for r in rooms}
    for s in summaries:
        assert set(s) == ROOM_SUMMARY_KEYS, sorted(s)
    times = [s["updateTime"] for s in summaries]
    assert times == sorted(times, reverse=True)

    # Touch the oldest: it moves to the front.
    oldest = rooms[0]
    client.update_room(identifier=oldest["arn"], maximumMessageLength=300)
    again = client.list_rooms(name=name)["rooms"]
    assert again[0]["id"] == oldest["id"]
    times = [s["updateTime"] for s in again]
    assert times == sorted(times, reverse=True)


def test_list_rooms_summary_matches_room(client, res):
    cfg = res.logging()
    name = unique()
    uri = lambda_arn()
    room = res.room(
        name=name,
        messageReviewHandler={"uri": uri},
        tags={"a": "b"},
        loggingConfigurationIdentifiers=[cfg["arn"]],
    )
    [summary] = client.list_rooms(name=name)["rooms"]
    assert set(summary) == ROOM_SUMMARY_KEYS
    for key in ROOM_SUMMARY_KEYS:
        assert summary[key] == room[key], key


def test_list_rooms_pagination(client, res):
    name = unique()
    created = [res.room(name=name) for _ in range(5)]

    page1 = client.list_rooms(name=name, maxResults=2)
    assert len(page1["rooms"]) == 2 and page1.get("nextToken")
    page2 = client.list_rooms(name=name, maxResults=2, nextToken=page1["nextToken"])
    assert len(page2["rooms"]) == 2 and page2.get("nextToken")
    assert page2["nextToken"] != page1["nextToken"]
    page3 = client.list_rooms(name=name, maxResults=2, nextToken=page2["nextToken"])
    assert len(page3["rooms"]) == 1
    assert "nextToken" not in page3

    ids = [r["id"] for p in (page1, page2, page3) for r in p["rooms"]]
    assert sorted(ids) == sorted(r["id"] for r in created)
    times = [r["updateTime"] for p in (page1, page2, page3) for r in p["rooms"]]
    assert times == sorted(times, reverse=True)

    # An exact fit: the last full page carries no token.
    exact = client.list_rooms(name=name, maxResults=5)
    assert len(exact["rooms"]) == 5 and "nextToken" not in exact
    one_by_one = list_all_rooms(client, name=name, maxResults=1)
    assert [r["id"] for r in one_by_one] == ids


def test_list_rooms_without_filter_finds_new_room(client, res):
    room = res.room(name=unique())
    all_rooms = list_all_rooms(client, maxResults=50)
    assert room["id"] in {r["id"] for r in all_rooms}


def test_list_rooms_filter_name(client, res):
    name = unique()
    mine = res.room(name=name)
    res.room(name=unique())
    listed = client.list_rooms(name=name)["rooms"]
    assert [r["id"] for r in listed] == [mine["id"]]
    assert client.list_rooms(name=unique())["rooms"] == []


def test_list_rooms_filter_message_review_handler_uri(client, res):
    uri = lambda_arn()
    with_uri = [res.room(messageReviewHandler={"uri": uri}) for _ in range(2)]
    res.room(messageReviewHandler={"uri": lambda_arn()})
    res.room()
    listed = list_all_rooms(client, messageReviewHandlerUri=uri)
    assert sorted(r["id"] for r in listed) == sorted(r["id"] for r in with_uri)
    for r in listed:
        assert r["messageReviewHandler"]["uri"] == uri


def test_list_rooms_filter_logging_configuration(client, res):
    cfg = res.logging()
    other = res.logging(destination=CWL)
    attached = res.room(loggingConfigurationIdentifiers=[cfg["arn"], other["arn"]])
    res.room(loggingConfigurationIdentifiers=[other["arn"]])
    res.room()
    listed = list_all_rooms(client, loggingConfigurationIdentifier=cfg["arn"])
    assert [r["id"] for r in listed] == [attached["id"]]
    assert listed[0]["loggingConfigurationIdentifiers"] == [cfg["arn"], other["arn"]]
    assert len(list_all_rooms(client, loggingConfigurationIdentifier=other["arn"])) == 2


def test_list_rooms_filters_combine(client, res):
    name = unique()
    uri = lambda_arn()
    both = res.room(name=name, messageReviewHandler={"uri": uri})
    res.room(name=name)
    res.room(messageReviewHandler={"uri": uri})
    listed = client.list_rooms(name=name, messageReviewHandlerUri=uri)["rooms"]
    assert [r["id"] for r in listed] == [both["id"]]


def test_list_rooms_invalid_next_token(client):
    with pytest.raises(client.exceptions.ValidationException) as ei:
        client.list_rooms(nextToken="this-is-not-a-token")
    assert_client_error(ei, "ValidationException", 400)


def test_list_rooms_max_results_out_of_range(client, raw_client):
    with pytest.raises(ClientError) as ei:
        client.list_rooms(maxResults=51)
    assert_validation(ei, "maxResults")
    with pytest.raises(ClientError) as ei:
        raw_client.list_rooms(maxResults=0)
    assert_validation(ei, "maxResults")


# --------------------------------------------------------------------------------------
# Logging configurations
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("destination", [S3, CWL, FIREHOSE], ids=["s3", "cloudWatchLogs", "firehose"])
def test_create_logging_configuration(client, res, destination):
    before = utcnow()
    name = unique()
    cfg = res.logging(destination=destination, name=name, tags={"kind": next(iter(destination))})
    assert_request_id(cfg)
    assert_logging_shape(cfg)
    assert cfg["state"] == "ACTIVE"
    assert cfg["name"] == name
    assert cfg["destinationConfiguration"] == destination
    assert cfg["tags"] == {"kind": next(iter(destination))}
    assert_close(cfg["createTime"], before)

    got = client.get_logging_configuration(identifier=cfg["arn"])
    assert_request_id(got)
    assert_logging_shape(got)
    assert body(got) == body(cfg)


def test_create_logging_configuration_defaults(client, res):
    cfg = res.logging(destination=S3)
    assert_logging_shape(cfg)
    assert cfg["name"] == ""
    assert cfg["tags"] == {}
    assert cfg["state"] == "ACTIVE"


def test_update_logging_configuration(client, res):
    cfg = res.logging(destination=S3, name=unique(), tags={"t": "1"})
    new_name = unique()
    renamed = client.update_logging_configuration(identifier=cfg["arn"], name=new_name)
    assert_logging_shape(renamed)
    assert renamed["name"] == new_name
    assert renamed["destinationConfiguration"] == S3
    assert renamed["state"] == "ACTIVE"
    assert renamed["tags"] == {"t": "1"}
    assert renamed["createTime"] == cfg["createTime"]
    assert renamed["updateTime"] > cfg["updateTime"]

    moved = client.update_logging_configuration(identifier=cfg["arn"], destinationConfiguration=FIREHOSE)
    assert moved["destinationConfiguration"] == FIREHOSE
    assert moved["name"] == new_name
    assert moved["state"] == "ACTIVE"
    assert moved["updateTime"] >= renamed["updateTime"]
    assert body(client.get_logging_configuration(identifier=cfg["arn"])) == body(moved)


def test_list_logging_configurations_pagination(client, res):
    mine = [res.logging(destination=d, name=unique()) for d in (S3, CWL, FIREHOSE)]
    everything = list_all_loggings(client)
    by_id = {c["id"]: c for c in everything}
    assert len(by_id) == len(everything), "a configuration was listed twice"
    for cfg in mine:
        assert set(by_id[cfg["id"]]) == LOGGING_KEYS
        assert by_id[cfg["id"]] == body(cfg)

    paged = list_all_loggings(client, maxResults=1)
    assert sorted(c["id"] for c in paged) == sorted(by_id)

    first = client.list_logging_configurations(maxResults=1)
    assert len(first["loggingConfigurations"]) == 1
    assert first.get("nextToken")


def test_list_logging_configurations_invalid_next_token(client):
    with pytest.raises(client.exceptions.ValidationException) as ei:
        client.list_logging_configurations(nextToken="not-a-real-token")
    assert_client_error(ei, "ValidationException", 400)


def test_delete_logging_configuration(client, res):
    cfg = res.logging()
    deleted = client.delete_logging_configuration(identifier=cfg["arn"])
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert body(deleted) == {}
    assert_request_id(deleted)
    with pytest.raises(client.exceptions.ResourceNotFoundException) as ei:
        client.get_logging_configuration(identifier=cfg["arn"])
    assert_not_found(ei, cfg["id"])
    with pytest.raises(client.exceptions.ResourceNotFoundException) as ei:
        client.delete_logging_configuration(identifier=cfg["arn"])
    assert_not_found(ei, cfg["id"])
    with pytest.raises(client.exceptions.ResourceNotFoundException) as ei:
        client.update_logging_configuration(identifier=cfg["arn"], name="x")
    assert_not_found(ei, cfg["id"])
    assert cfg["id"] not in {c["id"] for c in list_all_loggings(client)}


def test_delete_attached_logging_configuration_conflicts(client, res):
    cfg = res.logging()
    room = res.room(loggingConfigurationIdentifiers=[cfg["arn"]])
    with pytest.raises(client.exceptions.ConflictException) as ei:
        client.delete_logging_configuration(identifier=cfg["arn"])
    resp = assert_client_error(ei, "ConflictException", 409)
    assert resp.get("resourceType") == "ROOM", resp
    assert ID_RE.match(resp.get("resourceId") or ""), resp
    # Still there, still attached.
    client.get_logging_configuration(identifier=cfg["arn"])
    assert client.get_room(identifier=room["arn"])["loggingConfigurationIdentifiers"] == [cfg["arn"]]
    # Once the room is gone, the configuration can be deleted.
    client.delete_room(identifier=room["arn"])
    client.delete_logging_configuration(identifier=cfg["arn"])


def test_attach_unknown_logging_configuration(client, res):
    arn = unknown_logging_arn()
    with pytest.raises(client.exceptions.ResourceNotFoundException) as ei:
        res.room(loggingConfigurationIdentifiers=[arn])
    assert_not_found(ei, arn.rsplit("/", 1)[1])
    room = res.room()
    with pytest.raises(client.exceptions.ResourceNotFoundException) as ei:
        client.update_room(identifier=room["arn"], loggingConfigurationIdentifiers=[arn])
    assert_not_found(ei, arn.rsplit("/", 1)[1])
    assert client.get_room(identifier=room["arn"])["loggingConfigurationIdentifiers"] == []


def test_attach_three_logging_configurations_but_not_four(client, res):
    cfgs = [res.logging() for _ in range(3)]
    arns = [c["arn"] for c in cfgs]
    room = res.room(loggingConfigurationIdentifiers=arns)
    assert room["loggingConfigurationIdentifiers"] == arns
    with pytest.raises(ClientError) as ei:
        client.update_room(identifier=room["arn"], loggingConfigurationIdentifiers=arns + [arns[0]])
    assert_validation(ei, "loggingConfigurationIdentifiers")


def test_logging_destination_union_must_have_one_member(raw_client, res):
    for bad in ({}, {**S3, **CWL}):
        with pytest.raises(ClientError) as ei:
            created = raw_client.create_logging_configuration(destinationConfiguration=bad)
            res.track_logging(created["arn"])  # only reached if the server wrongly accepts it
        code = ei.value.response["Error"]["Code"]
        assert code in {"SerializationException", "ValidationException"}, ei.value.response
        assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.parametrize(
    "destination,field",
    [
        ({"s3": {"bucketName": "Bad_Bucket"}}, "bucketName"),
        ({"cloudWatchLogs": {"logGroupName": "bad group!"}}, "logGroupName"),
        ({"firehose": {"deliveryStreamName": "bad stream!"}}, "deliveryStreamName"),
    ],
    ids=["s3", "cloudWatchLogs", "firehose"],
)
def test_logging_destination_pattern_validation(client, res, destination, field):
    with pytest.raises(ClientError) as ei:
        res.logging(destination=destination)
    assert_validation(ei, field)


# --------------------------------------------------------------------------------------
# Tags
# --------------------------------------------------------------------------------------


def _exercise_tags(client, arn: str, initial: dict):
    listed = client.list_tags_for_resource(resourceArn=arn)
    assert_request_id(listed)
    assert body(listed) == {"tags": initial}

    tagged = client.tag_resource(resourceArn=arn, tags={"a": "1", "b": "2"})
    assert body(tagged) == {}
    assert tagged["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert_request_id(tagged)
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {**initial, "a": "1", "b": "2"}

    # Overwrite one, add one.
    client.tag_resource(resourceArn=arn, tags={"a": "one", "c": ""})
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {
        **initial,
        "a": "one",
        "b": "2",
        "c": "",
    }

    # Removing keys that do not exist succeeds.
    untagged = client.untag_resource(resourceArn=arn, tagKeys=["a", "does-not-exist"])
    assert body(untagged) == {}
    assert untagged["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert_request_id(untagged)
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {**initial, "b": "2", "c": ""}
    client.untag_resource(resourceArn=arn, tagKeys=["never-there"])
    client.untag_resource(resourceArn=arn, tagKeys=["b", "c", *initial])
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {}


def test_tags_on_room(client, res):
    name = unique()
    room = res.room(name=name, tags={"created": "yes"})
    _exercise_tags(client, room["arn"], {"created": "yes"})
    client.tag_resource(resourceArn=room["arn"], tags={"final": "x"})
    assert client.get_room(identifier=room["arn"])["tags"] == {"final": "x"}
    [summary] = client.list_rooms(name=name)["rooms"]
    assert summary["tags"] == {"final": "x"}


def test_tags_on_logging_configuration(client, res):
    cfg = res.logging(tags={"created": "yes"})
    _exercise_tags(client, cfg["arn"], {"created": "yes"})
    client.tag_resource(resourceArn=cfg["arn"], tags={"final": "x"})
    assert client.get_logging_configuration(identifier=cfg["arn"])["tags"] == {"final": "x"}


def test_tags_special_characters(client, res):
    room = res.room()
    tags = {"aws-ish:key/with spaces": "value with = and + and @", "ünïcode": "✓"}
    client.tag_resource(resourceArn=room["arn"], tags=tags)
    assert client.list_tags_for_resource(resourceArn=room["arn"])["tags"] == tags
    client.untag_resource(resourceArn=room["arn"], tagKeys=list(tags))
    assert client.list_tags_for_resource(resourceArn=room["arn"])["tags"] == {}


def test_tags_limit_51(client, res):
    room = res.room()
    fifty = {f"k{i}": "v" for i in range(50)}
    client.tag_resource(resourceArn=room["arn"], tags=fifty)
    assert len(client.list_tags_for_resource(resourceArn=room["arn"])["tags"]) == 50

    other = res.room()
    with pytest.raises(ClientError) as ei:
        client.tag_resource(resourceArn=other["arn"], tags={f"k{i}": "v" for i in range(51)})
    assert_validation(ei, "tags")
    assert client.list_tags_for_resource(resourceArn=other["arn"])["tags"] == {}

    with pytest.raises(ClientError) as ei:
        res.room(tags={f"k{i}": "v" for i in range(51)})
    assert_validation(ei, "tags")

    with pytest.raises(ClientError) as ei:
        res.logging(tags={f"k{i}": "v" for i in range(51)})
    assert_validation(ei, "tags")


def test_tags_merge_beyond_50_rejected(client, res):
    """docs/protocol/control-plane.md §5 TagResource: at most 50 tags on the resource after it."""
    room = res.room(tags={f"old{i}": "v" for i in range(30)})
    with pytest.raises(ClientError) as ei:
        client.tag_resource(resourceArn=room["arn"], tags={f"new{i}": "v" for i in range(21)})
    assert ei.value.response["Error"]["Code"] == "ValidationException", ei.value.response
    assert len(client.list_tags_for_resource(resourceArn=room["arn"])["tags"]) == 30
    # Overwriting existing keys does not count twice.
    client.tag_resource(
        resourceArn=room["arn"], tags={**{f"old{i}": "w" for i in range(30)}, **{f"new{i}": "v" for i in range(20)}}
    )
    assert len(client.list_tags_for_resource(resourceArn=room["arn"])["tags"]) == 50


def test_tags_unknown_arn(client):
    for arn in (unknown_room_arn(), unknown_logging_arn()):
        rid = arn.rsplit("/", 1)[1]
        with pytest.raises(client.exceptions.ResourceNotFoundException) as ei:
            client.list_tags_for_resource(resourceArn=arn)
        assert_not_found(ei, rid)
        with pytest.raises(client.exceptions.ResourceNotFoundException) as ei:
            client.tag_resource(resourceArn=arn, tags={"a": "b"})
        assert_not_found(ei, rid)
        with pytest.raises(client.exceptions.ResourceNotFoundException) as ei:
            client.untag_resource(resourceArn=arn, tagKeys=["a"])
        assert_not_found(ei, rid)


def test_tags_malformed_arn(client):
    with pytest.raises(ClientError) as ei:
        client.list_tags_for_resource(resourceArn="not-an-arn")
    assert_client_error(ei, "ValidationException", 400)


def test_tags_of_deleted_room(client, res):
    room = res.room(tags={"a": "b"})
    client.delete_room(identifier=room["arn"])
    with pytest.raises(client.exceptions.ResourceNotFoundException) as ei:
        client.list_tags_for_resource(resourceArn=room["arn"])
    assert_not_found(ei, room["id"])


# --------------------------------------------------------------------------------------
# CreateChatToken
# --------------------------------------------------------------------------------------


def test_create_chat_token_defaults(client, res):
    room = res.room()
    before = utcnow()
    tok = client.create_chat_token(roomIdentifier=room["arn"], userId="user-1")
    assert_request_id(tok)
    assert set(body(tok)) == {"token", "tokenExpirationTime", "sessionExpirationTime"}
    assert TOKEN_RE.match(tok["token"]), tok["token"]
    assert_close(tok["tokenExpirationTime"], before + dt.timedelta(seconds=60))
    assert_close(tok["sessionExpirationTime"], before + dt.timedelta(minutes=60))


def test_create_chat_token_every_member(client, res):
    room = res.room()
    before = utcnow()
    tok = client.create_chat_token(
        roomIdentifier=room["arn"],
        userId="ünïcode user ✓",
        capabilities=["SEND_MESSAGE", "DISCONNECT_USER", "DELETE_MESSAGE"],
        sessionDurationInMinutes=180,
        attributes={"displayName": "Py", "color": "blue"},
    )
    assert TOKEN_RE.match(tok["token"]), tok["token"]
    assert_close(tok["tokenExpirationTime"], before + dt.timedelta(seconds=60))
    assert_close(tok["sessionExpirationTime"], before + dt.timedelta(minutes=180))

    short = client.create_chat_token(roomIdentifier=room["arn"], userId="u", sessionDurationInMinutes=1)
    assert_close(short["sessionExpirationTime"], before + dt.timedelta(minutes=1))
    assert short["token"] != tok["token"]


def test_create_chat_token_errors(client, raw_client, res):
    arn = unknown_room_arn()
    with pytest.raises(client.exceptions.ResourceNotFoundException) as ei:
        client.create_chat_token(roomIdentifier=arn, userId="u")
    assert_not_found(ei, arn.rsplit("/", 1)[1])

    room = res.room()
    with pytest.raises(ClientError) as ei:
        client.create_chat_token(roomIdentifier=room["arn"], userId="u", sessionDurationInMinutes=181)
    assert_validation(ei, "sessionDurationInMinutes")
    with pytest.raises(ClientError) as ei:
        raw_client.create_chat_token(roomIdentifier=room["arn"], userId="u", sessionDurationInMinutes=0)
    assert_validation(ei, "sessionDurationInMinutes")
    with pytest.raises(ClientError) as ei:
        raw_client.create_chat_token(roomIdentifier=room["arn"], userId="")
    assert_validation(ei, "userId")
    with pytest.raises(ClientError) as ei:
        raw_client.create_chat_token(roomIdentifier=room["arn"])
    assert_validation(ei, "userId")
    with pytest.raises(ClientError) as ei:
        client.create_chat_token(roomIdentifier=room["arn"], userId="u", capabilities=["FLY"])
    assert_validation(ei, "capabilities")


# --------------------------------------------------------------------------------------
# Messaging: SendEvent, DeleteMessage, DisconnectUser
# --------------------------------------------------------------------------------------


def test_send_event(client, res):
    room = res.room()
    sent = client.send_event(roomIdentifier=room["arn"], eventName="app:poll", attributes={"q": "?"})
    assert_request_id(sent)
    assert set(body(sent)) == {"id"}
    assert ID_RE.match(sent["id"]), sent
    plain = client.send_event(roomIdentifier=room["arn"], eventName="e" * 100)
    assert ID_RE.match(plain["id"]) and plain["id"] != sent["id"]


def test_delete_message(client, res):
    room = res.room()
    sent = client.send_event(roomIdentifier=room["arn"], eventName="x")
    deleted = client.delete_message(roomIdentifier=room["arn"], id=sent["id"], reason="spam")
    assert_request_id(deleted)
    assert set(body(deleted)) == {"id"}
    assert ID_RE.match(deleted["id"]), deleted
    again = client.delete_message(roomIdentifier=room["arn"], id="ABCDEFabcdef")
    assert ID_RE.match(again["id"])


def test_delete_message_id_validation(client, raw_client, res):
    room = res.room()
    with pytest.raises(ClientError) as ei:
        raw_client.delete_message(roomIdentifier=room["arn"], id="ABCDEFabcde")  # 11 chars
    assert_validation(ei, "id")
    with pytest.raises(ClientError) as ei:
        client.delete_message(roomIdentifier=room["arn"], id="ABCDEFabcdef1")  # 13 chars
    assert_validation(ei, "id")
    with pytest.raises(ClientError) as ei:
        client.delete_message(roomIdentifier=room["arn"], id="ABCDEF-bcdef")  # not alnum
    assert_validation(ei, "id")
    with pytest.raises(ClientError) as ei:
        client.delete_message(roomIdentifier=room["arn"], id="ABCDEFabcdef", reason="r" * 257)
    assert_validation(ei, "reason")


def test_disconnect_user(client, res):
    room = res.room()
    resp = client.disconnect_user(roomIdentifier=room["arn"], userId="user-1", reason="bye")
    assert_request_id(resp)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert body(resp) == {}
    resp = client.disconnect_user(roomIdentifier=room["arn"], userId="nobody-connected")
    assert body(resp) == {}


def test_messaging_validation(client, raw_client, res):
    room = res.room()
    with pytest.raises(ClientError) as ei:
        raw_client.send_event(roomIdentifier=room["arn"], eventName="")
    assert_validation(ei, "eventName")
    with pytest.raises(ClientError) as ei:
        client.send_event(roomIdentifier=room["arn"], eventName="e" * 101)
    assert_validation(ei, "eventName")
    with pytest.raises(ClientError) as ei:
        raw_client.disconnect_user(roomIdentifier=room["arn"], userId="")
    assert_validation(ei, "userId")
    with pytest.raises(ClientError) as ei:
        raw_client.disconnect_user(roomIdentifier=room["arn"], userId="u", reason="")
    assert_validation(ei, "reason")


# --------------------------------------------------------------------------------------
# Validation errors
# --------------------------------------------------------------------------------------


ROOM_ID_ONLY = random_id()


@pytest.mark.parametrize(
    "use_raw,operation,params,field",
    [
        (False, "create_room", {"name": "bad name!"}, "name"),
        (False, "create_room", {"name": "a" * 129}, "name"),
        (False, "create_room", {"maximumMessageRatePerSecond": 101}, "maximumMessageRatePerSecond"),
        (True, "create_room", {"maximumMessageRatePerSecond": 0}, "maximumMessageRatePerSecond"),
        (False, "create_room", {"maximumMessageLength": 501}, "maximumMessageLength"),
        (True, "create_room", {"maximumMessageLength": 0}, "maximumMessageLength"),
        (False, "create_room", {"messageReviewHandler": {"uri": "not-a-lambda"}}, "uri"),
        (False, "create_room", {"messageReviewHandler": {"fallbackResult": "MAYBE"}}, "fallbackResult"),
        (False, "create_room", {"loggingConfigurationIdentifiers": ["not-an-arn"]}, "loggingConfigurationIdentifiers"),
        (False, "get_room", {"identifier": ROOM_ID_ONLY}, "identifier"),
        (False, "delete_room", {"identifier": ROOM_ID_ONLY}, "identifier"),
        (False, "update_room", {"identifier": ROOM_ID_ONLY, "name": "x"}, "identifier"),
        (
            False,
            "get_room",
            {"identifier": f"arn:aws:ivschat:{REGION}:{ACCOUNT}:logging-configuration/{ROOM_ID_ONLY}"},
            "identifier",
        ),
        (True, "get_room", {}, "identifier"),
        (True, "get_room", {"identifier": ""}, "identifier"),
        (False, "get_logging_configuration", {"identifier": ROOM_ID_ONLY}, "identifier"),
        (False, "create_chat_token", {"roomIdentifier": ROOM_ID_ONLY, "userId": "u"}, "roomIdentifier"),
        (False, "send_event", {"roomIdentifier": ROOM_ID_ONLY, "eventName": "e"}, "roomIdentifier"),
        (False, "disconnect_user", {"roomIdentifier": ROOM_ID_ONLY, "userId": "u"}, "roomIdentifier"),
        (False, "list_rooms", {"name": "bad name!"}, "name"),
        (False, "list_rooms", {"loggingConfigurationIdentifier": "not-an-arn"}, "loggingConfigurationIdentifier"),
        (False, "create_logging_configuration", {"name": "bad name!", "destinationConfiguration": S3}, "name"),
        (True, "create_logging_configuration", {}, "destinationConfiguration"),
    ],
)
def test_validation_exception_shape(client, raw_client, use_raw, operation, params, field):
    c = raw_client if use_raw else client
    with pytest.raises(ClientError) as ei:
        getattr(c, operation)(**params)
    resp = assert_validation(ei, field)
    # The same members, checked through the typed exception's response.
    assert resp["Error"]["Code"] == "ValidationException"
    assert resp["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-errortype", "").split(":")[0] == "ValidationException"


def test_validation_error_lists_every_bad_field(client):
    with pytest.raises(ClientError) as ei:
        client.create_room(name="bad name!", maximumMessageRatePerSecond=101, maximumMessageLength=501)
    resp = assert_validation(ei)
    names = " ".join(e["name"] for e in resp["fieldList"])
    for field in ("name", "maximumMessageRatePerSecond", "maximumMessageLength"):
        assert field in names, resp["fieldList"]


# --------------------------------------------------------------------------------------
# Quota
# --------------------------------------------------------------------------------------


QUOTA = 10


def test_logging_configuration_quota(client, res):
    existing = len(list_all_loggings(client))
    assert existing <= QUOTA, f"{existing} logging configurations exist already"
    for _ in range(QUOTA - existing):
        res.logging(name=unique("quota"))
    assert len(list_all_loggings(client)) == QUOTA

    with pytest.raises(client.exceptions.ServiceQuotaExceededException) as ei:
        res.logging(name=unique("quota"))
    resp = assert_client_error(ei, "ServiceQuotaExceededException", 402)
    assert resp.get("limit") == QUOTA, resp
    assert resp.get("resourceType") == "ROOM", resp
    assert "resourceId" in resp, resp

    # Freeing one slot makes room for exactly one more.
    if res.loggings:
        client.delete_logging_configuration(identifier=res.loggings[-1])
        res.logging(name=unique("quota"))


# --------------------------------------------------------------------------------------
# Auth
# --------------------------------------------------------------------------------------


def test_wrong_secret_is_invalid_signature():
    bad = make_client(secret_key="not-the-secret")
    with pytest.raises(ClientError) as ei:
        bad.list_rooms()
    assert_client_error(ei, "InvalidSignatureException", 403)


def test_unknown_access_key_is_unrecognized_client():
    bad = make_client(access_key="AKIDNOTKNOWN0000", secret_key="whatever")
    with pytest.raises(ClientError) as ei:
        bad.create_room()
    assert_client_error(ei, "UnrecognizedClientException", 403)


def test_wrong_secret_on_tag_path():
    bad = make_client(secret_key="not-the-secret")
    with pytest.raises(ClientError) as ei:
        bad.list_tags_for_resource(resourceArn=unknown_room_arn())
    assert_client_error(ei, "InvalidSignatureException", 403)


# --------------------------------------------------------------------------------------
# Request ids and the raw wire format
# --------------------------------------------------------------------------------------


def test_every_response_has_request_id(wire):
    c, log, r = wire
    room = r.room(tags={"a": "b"})
    c.get_room(identifier=room["arn"])
    c.list_rooms(maxResults=1)
    c.tag_resource(resourceArn=room["arn"], tags={"c": "d"})
    c.list_tags_for_resource(resourceArn=room["arn"])
    c.untag_resource(resourceArn=room["arn"], tagKeys=["c"])
    c.create_chat_token(roomIdentifier=room["arn"], userId="u")
    c.send_event(roomIdentifier=room["arn"], eventName="e")
    c.disconnect_user(roomIdentifier=room["arn"], userId="u")
    c.delete_room(identifier=room["arn"])
    for call in (
        lambda: c.get_room(identifier=room["arn"]),
        lambda: c.get_room(identifier="bare"),
        lambda: c.list_rooms(nextToken="junk"),
    ):
        with pytest.raises(ClientError):
            call()
    ids = []
    for call in log.calls:
        rid = call["headers"].get("x-amzn-requestid")
        assert rid and UUID_RE.match(rid), call
        ids.append(rid)
    assert len(set(ids)) == len(ids), "request ids repeat"


def _walk(value, path="$"):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, f"{path}[{i}]")
    else:
        yield path, value


def test_wire_format_of_success_responses(wire):
    c, log, r = wire
    cfg = r.logging()
    assert log.last["status"] == 200
    room = r.room(loggingConfigurationIdentifiers=[cfg["arn"]])
    c.get_room(identifier=room["arn"])
    c.list_rooms(maxResults=2)
    c.get_logging_configuration(identifier=cfg["arn"])
    c.list_logging_configurations(maxResults=2)
    c.create_chat_token(roomIdentifier=room["arn"], userId="u")
    c.update_room(identifier=room["arn"], name="renamed")
    for call in log.calls:
        assert call["status"] == 200, call
        assert call["headers"].get("content-type", "").startswith("application/json"), call
        doc = call["body"] and json.loads(call["body"])
        assert isinstance(doc, dict), call
        for path, value in _walk(doc):
            assert value is not None, f"{call['operation']}: null at {path}"
            if path.rsplit(".", 1)[-1] in {
                "createTime",
                "updateTime",
                "tokenExpirationTime",
                "sessionExpirationTime",
            }:
                assert isinstance(value, str) and WIRE_TIME_RE.match(value), (
                    f"{call['operation']}: {path} = {value!r} is not an RFC 3339 UTC string"
                )

    c.disconnect_user(roomIdentifier=room["arn"], userId="u")
    assert log.last["status"] == 200
    assert log.last["body"].strip() in (b"", b"{}")
    c.delete_room(identifier=room["arn"])
    assert log.last["status"] == 204 and log.last["body"] == b""
    c.delete_logging_configuration(identifier=cfg["arn"])
    assert log.last["status"] == 204 and log.last["body"] == b""


def test_wire_format_of_errors(wire):
    c, log, r = wire
    arn = unknown_room_arn()
    with pytest.raises(ClientError):
        c.get_room(identifier=arn)
    call = log.last
    assert call["status"] == 404
    assert call["headers"].get("x-amzn-errortype") == "ResourceNotFoundException"
    doc = log.last_json()
    assert isinstance(doc.get("message"), str) and doc["message"]
    assert doc["resourceId"] == arn.rsplit("/", 1)[1]
    assert doc["resourceType"] == "ROOM"

    with pytest.raises(ClientError):
        c.create_room(name="bad name!")
    assert log.last["status"] == 400
    assert log.last["headers"].get("x-amzn-errortype") == "ValidationException"
    doc = log.last_json()
    assert doc["reason"] == "FIELD_VALIDATION_FAILED"
    assert isinstance(doc["message"], str) and doc["message"]
    assert all(set(f) == {"name", "message"} for f in doc["fieldList"])


# --------------------------------------------------------------------------------------
# Lengths count code points (docs/protocol/control-plane.md §0 "Length rules"), tag key/value limits
# --------------------------------------------------------------------------------------


def test_lengths_count_code_points(client, res):
    room = res.room()
    value = "\U0001F44D" * 256  # 256 code points, 1024 UTF-8 bytes
    key = "\u00e9" * 128  # 128 code points, 256 UTF-8 bytes
    client.tag_resource(resourceArn=room["arn"], tags={key: value})
    assert client.list_tags_for_resource(resourceArn=room["arn"])["tags"] == {key: value}

    tok = client.create_chat_token(roomIdentifier=room["arn"], userId="\U0001F44D" * 128)
    assert TOKEN_RE.match(tok["token"])
    with pytest.raises(ClientError) as ei:
        client.create_chat_token(roomIdentifier=room["arn"], userId="\U0001F44D" * 129)
    assert_validation(ei, "userId")


def test_tag_key_and_value_limits(client, raw_client, res):
    room = res.room()
    with pytest.raises(ClientError) as ei:
        client.tag_resource(resourceArn=room["arn"], tags={"k" * 129: "v"})
    assert_validation(ei, "tags")
    with pytest.raises(ClientError) as ei:
        client.tag_resource(resourceArn=room["arn"], tags={"k": "v" * 257})
    assert_validation(ei, "tags")
    with pytest.raises(ClientError) as ei:
        raw_client.tag_resource(resourceArn=room["arn"], tags={"": "v"})
    assert_validation(ei, "tags")
    with pytest.raises(ClientError) as ei:
        client.create_room(tags={"k" * 129: "v"})
    assert_validation(ei, "tags")
    assert client.list_tags_for_resource(resourceArn=room["arn"])["tags"] == {}
    client.tag_resource(resourceArn=room["arn"], tags={"k" * 128: "v" * 256})
    assert client.list_tags_for_resource(resourceArn=room["arn"])["tags"] == {"k" * 128: "v" * 256}


def test_list_logging_configurations_max_results_out_of_range(client, raw_client):
    with pytest.raises(ClientError) as ei:
        client.list_logging_configurations(maxResults=51)
    assert_validation(ei, "maxResults")
    with pytest.raises(ClientError) as ei:
        raw_client.list_logging_configurations(maxResults=0)
    assert_validation(ei, "maxResults")

