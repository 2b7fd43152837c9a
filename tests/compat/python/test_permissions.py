"""IAM policies per user through boto3 (README "Credentials and permissions").

This module starts its own ivschat-server (binary: ``IVSCHAT_SERVER_BIN``, else
``$CARGO_TARGET_DIR/debug/ivschat-server``) with a configuration holding one full-access
``[[credentials]]`` key and several ``[[users]]`` with policies, one inline and one from a
file (``policies/``), and checks what each key may do and the AccessDeniedException
(HTTP 403) the others get, worded as AWS words it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chatlog_helpers import configured_server
from conftest import ACCOUNT, REGION, assert_client_error, make_client

HERE = Path(__file__).resolve().parent

READ_ONLY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["ivschat:Get*", "ivschat:List*"], "Resource": "*"}]}
MODERATION = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["ivschat:DeleteMessage", "ivschat:DisconnectUser"],
     "Resource": "arn:aws:ivschat:*:*:room/*"}]}
ALL_BUT_DELETE = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "ivschat:*", "Resource": "*"},
    {"Sid": "KeepRooms", "Effect": "Deny", "Action": "ivschat:DeleteRoom", "Resource": "*"}]}
NOT_ACTION = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "NotAction": ["ivschat:Delete*", "ivschat:Update*"], "Resource": "*"}]}
CREATE_ONLY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "ivschat:CreateRoom", "Resource": "*"}]}
WEB_ROOMS_ONLY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["ivschat:CreateRoom", "ivschat:TagResource"], "Resource": "*",
     "Condition": {"StringEquals": {"aws:RequestTag/app": "web"},
                   "ForAllValues:StringEquals": {"aws:TagKeys": ["app"]}}},
    {"Effect": "Allow", "Action": "ivschat:UpdateRoom", "Resource": "*",
     "Condition": {"StringEquals": {"aws:ResourceTag/app": "web"}}}]}

USERS = {
    # name: (access key, policies)
    "app-backend": ("minter", ["policies/tokens-for-web-rooms.json"]),
    "auditor": ("reader", [READ_ONLY]),
    "moderator": ("moderator", [MODERATION]),
    "operator": ("operator", [ALL_BUT_DELETE]),
    "careful": ("careful", [NOT_ACTION]),
    "creator": ("creator", [CREATE_ONLY]),
    "web-team": ("webteam", [WEB_ROOMS_ONLY]),
}

EVERYTHING = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "ivschat:*", "Resource": "*"}]}
ACCOUNT_A, ACCOUNT_B = "111111111111", "222222222222"
# Users of two other accounts than the server's (README "Several accounts").
TENANTS = {
    # name: (access key, account)
    "tenant-a": ("tenant-a", ACCOUNT_A),
    "tenant-b": ("tenant-b", ACCOUNT_B),
}


def toml_string(s: str) -> str:
    return json.dumps(s)  # a JSON string literal is a valid TOML basic string


def config_text() -> str:
    lines = ['[[credentials]]', 'access_key_id = "admin"', 'secret_access_key = "admin-secret"', ""]
    for name, (key, policies) in USERS.items():
        rendered = [toml_string(p if isinstance(p, str) else json.dumps(p)) for p in policies]
        lines += ["[[users]]", f"name = {toml_string(name)}",
                  f'access_keys = [{{ access_key_id = "{key}", secret_access_key = "{key}-secret" }}]',
                  f"policies = [{', '.join(rendered)}]", ""]
    for name, (key, account) in TENANTS.items():
        lines += ["[[users]]", f"name = {toml_string(name)}", f'account_id = "{account}"',
                  f'access_keys = [{{ access_key_id = "{key}", secret_access_key = "{key}-secret" }}]',
                  f"policies = [{toml_string(json.dumps(EVERYTHING))}]", ""]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    work = tmp_path_factory.mktemp("permissions")
    (work / "policies").mkdir()
    for f in (HERE / "policies").iterdir():
        (work / "policies" / f.name).write_text(f.read_text())
    with configured_server(work, config_text()) as url:
        yield url


@pytest.fixture
def as_key(server, monkeypatch):
    monkeypatch.setenv("IVSCHAT_ENDPOINT", server)
    return lambda key: make_client(key, f"{key}-secret")


def room_pattern() -> str:
    return f"arn:aws:ivschat:{REGION}:{ACCOUNT}:room/*"


def assert_denied(excinfo, user: str, action: str, resource: str, explicit: bool = False):
    resp = assert_client_error(excinfo, "AccessDeniedException", 403)
    why = ("with an explicit deny in an identity-based policy" if explicit
           else f"because no identity-based policy allows the {action} action")
    assert resp["Error"]["Message"] == (
        f"User: arn:aws:iam::{ACCOUNT}:user/{user} is not authorized to perform: {action} "
        f"on resource: {resource} {why}"), resp


def test_token_minting_key_is_limited_to_rooms_tagged_app_web(as_key):
    admin, minter = as_key("admin"), as_key("minter")
    web = admin.create_room(tags={"app": "web"})["arn"]
    ops = admin.create_room(tags={"app": "ops"})["arn"]
    assert minter.create_chat_token(roomIdentifier=web, userId="u1")["token"]
    with pytest.raises(Exception) as ei:
        minter.create_chat_token(roomIdentifier=ops, userId="u1")
    assert_denied(ei, "app-backend", "ivschat:CreateChatToken", ops)
    with pytest.raises(Exception) as ei:
        minter.list_rooms()
    assert_denied(ei, "app-backend", "ivschat:ListRooms", "*")


def test_read_only_key(as_key):
    admin, reader = as_key("admin"), as_key("reader")
    arn = admin.create_room(tags={"app": "web"})["arn"]
    assert reader.get_room(identifier=arn)["arn"] == arn
    assert any(r["arn"] == arn for r in reader.list_rooms(maxResults=50)["rooms"])
    assert reader.list_tags_for_resource(resourceArn=arn)["tags"] == {"app": "web"}
    with pytest.raises(Exception) as ei:
        reader.delete_room(identifier=arn)
    assert_denied(ei, "auditor", "ivschat:DeleteRoom", arn)
    with pytest.raises(Exception) as ei:
        reader.create_room()
    assert_denied(ei, "auditor", "ivschat:CreateRoom", room_pattern())


def test_moderation_key(as_key):
    admin, moderator = as_key("admin"), as_key("moderator")
    arn = admin.create_room()["arn"]
    moderator.disconnect_user(roomIdentifier=arn, userId="someone")
    with pytest.raises(Exception) as ei:
        moderator.send_event(roomIdentifier=arn, eventName="x")
    assert_denied(ei, "moderator", "ivschat:SendEvent", arn)


def test_explicit_deny_overrides_wildcard_allow(as_key):
    operator = as_key("operator")
    arn = operator.create_room(tags={"app": "web"})["arn"]
    operator.update_room(identifier=arn, name="renamed")
    with pytest.raises(Exception) as ei:
        operator.delete_room(identifier=arn)
    assert_denied(ei, "operator", "ivschat:DeleteRoom", arn, explicit=True)


def test_not_action(as_key):
    careful = as_key("careful")
    arn = careful.create_room()["arn"]
    careful.get_room(identifier=arn)
    with pytest.raises(Exception) as ei:
        careful.update_room(identifier=arn, name="x")
    assert_denied(ei, "careful", "ivschat:UpdateRoom", arn)


def test_create_with_tags_needs_tag_resource(as_key):
    creator = as_key("creator")
    creator.create_room()
    with pytest.raises(Exception) as ei:
        creator.create_room(tags={"app": "web"})
    assert_denied(ei, "creator", "ivschat:TagResource", room_pattern())


def test_request_and_resource_tag_conditions(as_key):
    admin, team = as_key("admin"), as_key("webteam")
    mine = team.create_room(tags={"app": "web"})["arn"]
    for tags in ({"app": "ops"}, {}, {"app": "web", "owner": "me"}):
        with pytest.raises(Exception) as ei:
            team.create_room(tags=tags)
        assert_client_error(ei, "AccessDeniedException", 403)
    team.update_room(identifier=mine, name="ours")
    other = admin.create_room(tags={"app": "ops"})["arn"]
    with pytest.raises(Exception) as ei:
        team.update_room(identifier=other, name="theirs")
    assert_denied(ei, "web-team", "ivschat:UpdateRoom", other)


def test_credentials_keep_full_access(as_key):
    admin = as_key("admin")
    arn = admin.create_room(tags={"app": "web"})["arn"]
    admin.untag_resource(resourceArn=arn, tagKeys=["app"])
    admin.delete_room(identifier=arn)


def in_account(arn: str, account: str) -> str:
    """The same resource id, asked for in another account."""
    parts = arn.split(":", 5)
    parts[4] = account
    return ":".join(parts)


def assert_not_found(excinfo, what: str, arn: str):
    resp = assert_client_error(excinfo, "ResourceNotFoundException", 404)
    assert resp["Error"]["Message"] == f"{what} {arn.rsplit('/', 1)[1]} not found", resp


def test_two_accounts_are_isolated(as_key):
    admin, a, b = as_key("admin"), as_key("tenant-a"), as_key("tenant-b")
    logging_arn = a.create_logging_configuration(
        destinationConfiguration={"s3": {"bucketName": "a-bucket"}}, tags={"team": "a"})["arn"]
    room = a.create_room(tags={"team": "a"}, loggingConfigurationIdentifiers=[logging_arn])
    room_arn = room["arn"]
    assert room_arn.startswith(f"arn:aws:ivschat:{REGION}:{ACCOUNT_A}:room/")
    assert logging_arn.startswith(f"arn:aws:ivschat:{REGION}:{ACCOUNT_A}:logging-configuration/")
    assert room["loggingConfigurationIdentifiers"] == [logging_arn]
    b_room = b.create_room()["arn"]
    assert b_room.startswith(f"arn:aws:ivschat:{REGION}:{ACCOUNT_B}:room/")

    # Each account lists its own; the server's account lists none of theirs.
    assert [r["arn"] for r in a.list_rooms()["rooms"]] == [room_arn]
    assert [r["arn"] for r in b.list_rooms()["rooms"]] == [b_room]
    assert all(r["arn"] not in (room_arn, b_room) for r in admin.list_rooms()["rooms"])
    assert [c["arn"] for c in a.list_logging_configurations()["loggingConfigurations"]] == [logging_arn]
    assert b.list_logging_configurations()["loggingConfigurations"] == []

    # B, by A's ARN or by the same id in its own account: answered as for a missing room.
    for arn in (room_arn, in_account(room_arn, ACCOUNT_B)):
        for call in (lambda: b.get_room(identifier=arn),
                     lambda: b.update_room(identifier=arn, name="x"),
                     lambda: b.delete_room(identifier=arn),
                     lambda: b.create_chat_token(roomIdentifier=arn, userId="intruder"),
                     lambda: b.send_event(roomIdentifier=arn, eventName="x"),
                     lambda: b.disconnect_user(roomIdentifier=arn, userId="u")):
            with pytest.raises(Exception) as ei:
                call()
            assert_not_found(ei, "Room", arn)
    same_room = in_account(room_arn, ACCOUNT_B)
    for call in (lambda: b.list_tags_for_resource(resourceArn=same_room),
                 lambda: b.tag_resource(resourceArn=same_room, tags={"team": "b"}),
                 lambda: b.untag_resource(resourceArn=same_room, tagKeys=["team"])):
        with pytest.raises(Exception) as ei:
            call()
        assert_not_found(ei, "Room", same_room)
    same_logging = in_account(logging_arn, ACCOUNT_B)
    for call in (lambda: b.get_logging_configuration(identifier=same_logging),
                 lambda: b.update_logging_configuration(identifier=same_logging, name="x"),
                 lambda: b.delete_logging_configuration(identifier=same_logging),
                 lambda: b.create_room(loggingConfigurationIdentifiers=[same_logging])):
        with pytest.raises(Exception) as ei:
            call()
        assert_not_found(ei, "Logging configuration", same_logging)

    # A's room is untouched, tags included, and A still mints tokens for it.
    assert a.list_tags_for_resource(resourceArn=room_arn)["tags"] == {"team": "a"}
    assert a.get_room(identifier=room_arn)["name"] == room["name"]
    assert a.create_chat_token(roomIdentifier=room_arn, userId="alice")["token"]
