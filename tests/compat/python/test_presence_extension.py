"""Our presence extension (README "Extensions (not AWS)"; docs/extensions/openapi.yaml) called
from Python the way a boto3 user would: botocore has no model for it, so the request is
signed with botocore's own SigV4 signer and the boto3 session's credentials, exactly as for
the AWS operations (service ``ivschat``), and sent to ``POST /ivschat-server/<Operation>``.
"""

from __future__ import annotations

import json
import time

import boto3
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from websockets.sync.client import connect as ws_connect

from conftest import ACCESS_KEY, REGION, SECRET_KEY, endpoint, unknown_room_arn


def call_extension(operation: str, payload: dict, access_key=ACCESS_KEY, secret_key=SECRET_KEY):
    """Signs with botocore's SigV4Auth (credentials from a boto3 Session) and sends."""
    session = boto3.Session(
        aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=REGION
    )
    url = f"{endpoint()}/ivschat-server/{operation}"
    request = AWSRequest(
        method="POST",
        url=url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    SigV4Auth(session.get_credentials(), "ivschat", REGION).add_auth(request)
    prepared = request.prepare()
    return requests.post(prepared.url, data=prepared.body, headers=dict(prepared.headers), timeout=30)


def presence(room_arn: str) -> dict:
    response = call_extension("GetRoomPresence", {"roomIdentifier": room_arn})
    assert response.status_code == 200, response.text
    return response.json()


def await_presence(room_arn: str, want: dict):
    """Bounded poll (10 s) of GetRoomPresence until it answers ``want``."""
    last = None
    for _ in range(200):
        last = presence(room_arn)
        if last == want:
            return
        time.sleep(0.05)
    raise AssertionError(f"presence stayed {last}, expected {want}")


def test_get_room_presence_and_list_room_users_signed_by_botocore(client, res):
    room = res.room()
    assert presence(room["arn"]) == {"connections": 0, "users": 0}
    token = client.create_chat_token(
        roomIdentifier=room["arn"], userId="py-viewer", attributes={"name": "Py"}
    )["token"]
    ws_url = endpoint().replace("http://", "ws://", 1) + "/"
    with ws_connect(ws_url, subprotocols=[token], open_timeout=10, close_timeout=2):
        await_presence(room["arn"], {"connections": 1, "users": 1})
        users = call_extension("ListRoomUsers", {"roomIdentifier": room["arn"], "maxResults": 10})
        assert users.status_code == 200, users.text
        assert users.json() == {
            "users": [{"userId": "py-viewer", "attributes": {"name": "Py"}, "connections": 1}]
        }
    await_presence(room["arn"], {"connections": 0, "users": 0})


def test_extension_errors_have_the_aws_shapes():
    missing = call_extension("GetRoomPresence", {"roomIdentifier": unknown_room_arn()})
    assert missing.status_code == 404, missing.text
    assert missing.headers["x-amzn-errortype"] == "ResourceNotFoundException"
    assert missing.json()["resourceType"] == "ROOM"

    bad = call_extension("ListRoomUsers", {"roomIdentifier": unknown_room_arn(), "maxResults": 0})
    assert bad.status_code == 400, bad.text
    assert bad.headers["x-amzn-errortype"] == "ValidationException"

    wrong_key = call_extension("GetRoomPresence", {"roomIdentifier": unknown_room_arn()},
                               secret_key="not-the-secret")
    assert wrong_key.status_code == 403, wrong_key.text
    assert wrong_key.headers["x-amzn-errortype"] == "InvalidSignatureException"
