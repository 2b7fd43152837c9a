#!/usr/bin/env python3
"""Writes the committed seed corpora (fuzz/corpus/<target>/seed-*) and the libFuzzer
dictionaries (fuzz/dicts/*.dict). Rerun after changing it; the output is deterministic.

    python3 fuzz/make_seeds.py
"""

import hashlib
import hmac
import json
import os
import struct
from urllib.parse import quote

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "..", "crates", "proto", "model", "ivschat-service-2.json")
ROOM = "arn:aws:ivschat:us-east-1:000000000000:room/g1H2I3j4k5L6"
LOGCFG = "arn:aws:ivschat:us-east-1:000000000000:logging-configuration/ABcdef123456"

BODIES = {
    "CreateChatToken": {"roomIdentifier": ROOM, "userId": "alice", "capabilities": ["SEND_MESSAGE", "DELETE_MESSAGE"],
                        "sessionDurationInMinutes": 60, "attributes": {"displayName": "Alice"}},
    "CreateLoggingConfiguration": {"name": "logs", "destinationConfiguration": {"s3": {"bucketName": "my-bucket"}},
                                   "tags": {"team": "video"}},
    "CreateRoom": {"name": "lobby", "maximumMessageRatePerSecond": 10, "maximumMessageLength": 500,
                   "messageReviewHandler": {"uri": "arn:aws:lambda:us-east-1:000000000000:function:review",
                                            "fallbackResult": "DENY"},
                   "tags": {"k": "v"}, "loggingConfigurationIdentifiers": [LOGCFG]},
    "DeleteLoggingConfiguration": {"identifier": LOGCFG},
    "DeleteMessage": {"roomIdentifier": ROOM, "id": "msgid123", "reason": "spam"},
    "DeleteRoom": {"identifier": ROOM},
    "DisconnectUser": {"roomIdentifier": ROOM, "userId": "bob", "reason": "bye"},
    "GetLoggingConfiguration": {"identifier": LOGCFG},
    "GetRoom": {"identifier": ROOM},
    "ListLoggingConfigurations": {"maxResults": 10, "nextToken": ""},
    "ListRooms": {"name": "lobby", "maxResults": 5, "messageReviewHandlerUri": "",
                  "loggingConfigurationIdentifier": LOGCFG},
    "SendEvent": {"roomIdentifier": ROOM, "eventName": "app:poll", "attributes": {"q": "yes?"}},
    "UpdateLoggingConfiguration": {"identifier": LOGCFG, "name": "n",
                                   "destinationConfiguration": {"cloudWatchLogs": {"logGroupName": "/ivs/chat"}}},
    "UpdateRoom": {"identifier": ROOM, "name": "x", "maximumMessageLength": 100, "loggingConfigurationIdentifiers": []},
}


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def http_text(method, target, headers, body=b""):
    head = f"{method} {target}\n" + "".join(f"{k}: {v}\n" for k, v in headers)
    return head.encode() + b"\n" + body


def control_plane():
    for op, body in BODIES.items():
        raw = json.dumps(body).encode()
        write("control_plane", op, http_text("POST", f"/{op}", [("content-type", "application/json")], raw))
    tag_path = "/tags/" + quote(ROOM, safe="")
    write("control_plane", "TagResource", http_text("POST", tag_path, [("content-type", "application/json")],
                                                   b'{"tags":{"a":"b"}}'))
    write("control_plane", "ListTagsForResource", http_text("GET", tag_path, []))
    write("control_plane", "UntagResource", http_text("DELETE", tag_path + "%23tagKeys?tagKeys=a&tagKeys=b%20c", []))
    write("control_plane", "ListRooms-query", http_text("POST", "/ListRooms?maxResults=3&nextToken=abc",
                                                       [("content-type", "application/json"), ("accept", "*/*")], b""))
    write("control_plane", "union-null", http_text("POST", "/CreateLoggingConfiguration", [("content-type", "application/json")],
                                                  b'{"destinationConfiguration":{"s3":{"bucketName":"b"},"firehose":null}}'))
    write("control_plane", "bad-json", http_text("POST", "/CreateRoom", [("content-type", "application/json")], b'{"name": 1e400, '))


AKID, SECRET = "test", "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY"  # fuzz_targets/sigv4.rs
AMZ_DATE, DATE = "20150830T123600Z", "20150830"


def sign(method, path, query, headers, body):
    """SigV4 as botocore does it for ivschat (double-encoded path)."""
    canonical_uri = quote(path, safe="/~")
    pairs = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in query)
    canonical_query = "&".join(f"{k}={v}" for k, v in pairs)
    names = sorted(k.lower() for k, _ in headers)
    canonical_headers = "".join(f"{k.lower()}:{v.strip()}\n" for k, v in sorted(headers, key=lambda h: h[0].lower()))
    signed = ";".join(names)
    creq = "\n".join([method, canonical_uri, canonical_query, canonical_headers, signed,
                      hashlib.sha256(body).hexdigest()])
    scope = f"{DATE}/us-east-1/ivschat/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", AMZ_DATE, scope, hashlib.sha256(creq.encode()).hexdigest()])
    key = ("AWS4" + SECRET).encode()
    for part in (DATE, "us-east-1", "ivschat", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, sts.encode(), hashlib.sha256).hexdigest(), signed, scope


def sigv4():
    prefix = bytes([0]) + struct.pack("<h", 30)
    # Header form, a body and the ARN label.
    for name, method, path, query, body in [
        ("post-createroom", "POST", "/CreateRoom", [], b'{"name":"lobby"}'),
        ("get-tags", "GET", "/tags/" + quote(ROOM, safe=""), [], b""),
        ("delete-untag", "DELETE", "/tags/" + quote(ROOM, safe=""), [("tagKeys", "a b"), ("tagKeys", "c")], b""),
    ]:
        headers = [("host", "127.0.0.1:8080"), ("x-amz-date", AMZ_DATE), ("content-type", "application/json")]
        sig, signed, scope = sign(method, path, query, headers, body)
        auth = f"AWS4-HMAC-SHA256 Credential={AKID}/{scope}, SignedHeaders={signed}, Signature={sig}"
        target = path + ("?" + "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in query) if query else "")
        write("sigv4", name, prefix + http_text(method, target, headers + [("authorization", auth)], body))
    # Content hash header and a wrong signature.
    body = b"{}"
    headers = [("host", "h"), ("x-amz-date", AMZ_DATE), ("x-amz-content-sha256", hashlib.sha256(body).hexdigest())]
    sig, signed, scope = sign("POST", "/GetRoom", [], headers, body)
    auth = f"AWS4-HMAC-SHA256 Credential={AKID}/{scope},SignedHeaders={signed},Signature={'0' * 64}"
    write("sigv4", "content-sha256", prefix + http_text("POST", "/GetRoom", headers + [("authorization", auth)], body))
    # Date header instead of X-Amz-Date, with a session token (control byte 1).
    headers = [("host", "h"), ("date", "Sun, 30 Aug 2015 12:36:00 GMT"), ("x-amz-security-token", "FwoGZXIvYXdzEXAMPLEsessiontoken")]
    sig, signed, scope = sign("POST", "/ListRooms", [], headers, b"")
    auth = f"AWS4-HMAC-SHA256 Credential={AKID}/{scope}, SignedHeaders={signed}, Signature={sig}"
    write("sigv4", "date-header-token", bytes([1]) + struct.pack("<h", 0) + http_text("POST", "/ListRooms", headers + [("authorization", auth)]))
    # Presigned.
    query = [("X-Amz-Algorithm", "AWS4-HMAC-SHA256"), ("X-Amz-Credential", f"{AKID}/{DATE}/us-east-1/ivschat/aws4_request"),
             ("X-Amz-Date", AMZ_DATE), ("X-Amz-Expires", "300"), ("X-Amz-SignedHeaders", "host")]
    headers = [("host", "127.0.0.1:8080")]
    sig, _, _ = sign("POST", "/GetRoom", query, headers, b"")
    qs = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in query + [("X-Amz-Signature", sig)])
    write("sigv4", "presigned", prefix + http_text("POST", "/GetRoom?" + qs, headers))
    write("sigv4", "unsigned", prefix + http_text("POST", "/CreateRoom", [("host", "h")], b"{}"))
    write("sigv4", "other-scheme", prefix + http_text("GET", "/", [("authorization", "Basic dXNlcjpwYXNz")]))


def chat_token():
    write("chat_token", "garbage", b"\x00" + b"AQ" + b"A" * 60)
    write("chat_token", "short", b"\x00abc")
    # Odd mode: claims from `arbitrary` bytes, then a position and a character.
    write("chat_token", "claims", b"\x01" + b"\x05g1H2I3j4k5L6\x05alice\x03\x00\x01\x02" + bytes(range(64)))


def ws_action():
    frames = [
        {"Action": "SEND_MESSAGE", "RequestId": "e7ef", "Content": "hello", "Attributes": {"kind": "smoke"}},
        {"action": "send_message", "requestId": "x", "content": "hi"},
        {"Action": "DELETE_MESSAGE", "RequestId": "r1", "Id": "msg1", "Reason": "spam"},
        {"Action": "DISCONNECT_USER", "RequestId": "r2", "UserId": "bob", "Reason": None},
        {"Action": "SEND_MESSAGE", "Content": "x" * 10, "Attributes": {"a" * 500: "b" * 600}},
        {"Action": "NOPE"},
    ]
    for i, f in enumerate(frames):
        write("ws_action", f"frame{i}", json.dumps(f).encode())
    write("ws_action", "not-json", b'{"Action": "SEND_MESSAGE", ')


def dicts():
    model = json.load(open(MODEL))
    words = set()
    for name, shape in model["shapes"].items():
        for member, ref in shape.get("members", {}).items():
            words.add(json.dumps(member))
            words.add(member)
        for value in shape.get("enum", []):
            words.add(json.dumps(value))
    for op in model["operations"]:
        words.add("/" + op)
    words.update(["/tags/", "%23tagKeys", "tagKeys=", "maxResults=", "nextToken=", "content-type: application/json",
                  "accept: ", "arn:aws:ivschat:us-east-1:000000000000:room/", "arn:aws:ivschat:us-east-1:000000000000:logging-configuration/",
                  "arn%3Aaws%3Aivschat%3Aus-east-1%3A000000000000%3Aroom%2F", "arn:aws:lambda:us-east-1:000000000000:function:",
                  "null", "true", "false", "{}", "[]", "\\u0000", "1e400", "-0", "2147483648"])
    write_dict("control_plane", words)
    write_dict("sigv4", {"AWS4-HMAC-SHA256", "Credential=", "SignedHeaders=", "Signature=", "authorization: ",
                         "x-amz-date: ", "date: ", "x-amz-security-token: ", "x-amz-content-sha256: ", "UNSIGNED-PAYLOAD",
                         "X-Amz-Algorithm=", "X-Amz-Credential=", "X-Amz-Date=", "X-Amz-Expires=", "X-Amz-SignedHeaders=",
                         "X-Amz-Signature=", "X-Amz-Security-Token=", "X-Amz-Content-Sha256=", "/us-east-1/ivschat/aws4_request",
                         "20150830T123600Z", "Sun, 30 Aug 2015 12:36:00 GMT", "host;x-amz-date", "host", "%2F", "%25", "/./", "/../", "//"})
    write_dict("ws_action", {'"Action"', '"RequestId"', '"Content"', '"Attributes"', '"Id"', '"UserId"', '"Reason"',
                             '"SEND_MESSAGE"', '"DELETE_MESSAGE"', '"DISCONNECT_USER"', "null", "\\u0000", "\\ud800"})


def write_dict(target, words):
    with open(os.path.join(HERE, "dicts", f"{target}.dict"), "w") as f:
        for w in sorted(words):
            f.write(json.dumps(w) + "\n")  # libFuzzer dictionary entries are C-style quoted strings


if __name__ == "__main__":
    control_plane()
    sigv4()
    chat_token()
    ws_action()
    dicts()
