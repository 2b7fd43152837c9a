"""Our extension API (issue 22, README "Extensions (not AWS)", docs/extensions/openapi.yaml):
``POST /ivschat-server/ListRoomMessages``, signed with SigV4 by botocore itself (``SigV4Auth``
on a raw ``AWSRequest``, service ``ivschat``), as a Python client without a generated SDK
would call it.  The room options are ordinary tags, set with boto3."""

from __future__ import annotations

import json

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from botocore.httpsession import URLLib3Session

from conftest import ACCESS_KEY, REGION, SECRET_KEY, endpoint

PATH = "/ivschat-server/ListRoomMessages"


def call(body: dict, secret: str = SECRET_KEY):
    """Sends a SigV4-signed ListRoomMessages; returns (status, error type, JSON body)."""
    request = AWSRequest(
        method="POST",
        url=endpoint() + PATH,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    SigV4Auth(Credentials(ACCESS_KEY, secret), "ivschat", REGION).add_auth(request)
    response = URLLib3Session().send(request.prepare())
    return (
        response.status_code,
        response.headers.get("x-amzn-errortype", ""),
        json.loads(response.content or b"{}"),
    )


def test_list_room_messages_signed_by_botocore(client, res):
    room = res.room(tags={"ivschat-server:history": "2", "team": "web"})
    ids = [
        client.send_event(roomIdentifier=room["arn"], eventName=f"e{n}", attributes={"n": str(n)})["id"]
        for n in range(3)
    ]
    # The tags are ordinary tags to boto3.
    assert client.list_tags_for_resource(resourceArn=room["arn"])["tags"]["ivschat-server:history"] == "2"

    status, _, page = call({"roomIdentifier": room["arn"]})
    assert status == 200, page
    # The last two, oldest first, as the EVENT frames members received.
    assert [m["Id"] for m in page["messages"]] == ids[1:]
    assert page["messages"][0]["Type"] == "EVENT"
    assert page["messages"][0]["EventName"] == "e1"
    assert page["messages"][0]["Attributes"] == {"n": "1"}
    assert "nextToken" not in page

    status, _, first = call({"roomIdentifier": room["arn"], "maxResults": 1})
    assert status == 200
    assert [m["Id"] for m in first["messages"]] == ids[1:2]
    status, _, second = call(
        {"roomIdentifier": room["arn"], "maxResults": 1, "nextToken": first["nextToken"]}
    )
    assert [m["Id"] for m in second["messages"]] == ids[2:]

    status, _, since = call({"roomIdentifier": room["arn"], "since": ids[1]})
    assert [m["Id"] for m in since["messages"]] == ids[2:]


def test_list_room_messages_errors_have_the_aws_shapes(client, res):
    plain = res.room()
    status, _, page = call({"roomIdentifier": plain["arn"]})
    assert (status, page) == (200, {"messages": []})

    gone = plain["arn"].rsplit("/", 1)[0] + "/AAAAAAAAAAAA"
    status, kind, body = call({"roomIdentifier": gone})
    assert (status, kind) == (404, "ResourceNotFoundException"), body
    status, kind, body = call({"roomIdentifier": plain["arn"], "maxResults": 1000})
    assert (status, kind) == (400, "ValidationException"), body
    status, kind, body = call({"roomIdentifier": plain["arn"]}, secret="wrong")
    assert (status, kind) == (403, "InvalidSignatureException"), body


@pytest.mark.parametrize(
    "key,value",
    [
        ("ivschat-server:history", "0"),
        ("ivschat-server:history-max-age", "forever"),
        ("ivschat-server:replay", "yes"),
    ],
)
def test_invalid_room_option_tags_are_validation_errors(client, key, value):
    with pytest.raises(ClientError) as raised:
        client.create_room(tags={key: value})
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert key in raised.value.response["Error"]["Message"]
