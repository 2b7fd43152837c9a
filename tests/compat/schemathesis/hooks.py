"""Schemathesis hooks for ivschat-server (loaded with SCHEMATHESIS_HOOKS=hooks).

* Every request is signed with SigV4 by botocore (service `ivschat`, region us-east-1, key
  test/test), as boto3 signs it. Before signing, the query string is re-encoded the way AWS
  SDKs encode it (`%20`, never `+`), since `requests` form-encodes spaces as `+`.
* Checks added to schemathesis' own:
  - `aws_error_shape`: a 4xx carries `X-Amzn-Errortype` with a known error type whose status
    is the one the server's error table gives it, and a JSON body with a string `message`;
  - `signature_accepted`: no request signed here is refused with a SigV4 error (the server's
    verifier and botocore's signer must agree on every generated path, query and body).
* Each answer's operation and status are appended to $IVSCHAT_ST_STATUSES (for the summary).
* Resources created by the run are written, one ARN a line, to $IVSCHAT_ST_CREATED so that
  run-schemathesis.sh can delete them afterwards (the server is shared with other suites).
"""

import json
import os
from urllib.parse import quote, unquote_plus, urlsplit, urlunsplit

import requests
import schemathesis
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

REGION = "us-east-1"
# IVSCHAT_ST_SECRET only exists to check that the checks fail with a wrong key.
CREDENTIALS = Credentials("test", os.environ.get("IVSCHAT_ST_SECRET", "test"))

# X-Amzn-Errortype → HTTP status (crates/proto/src/errors.rs).
ERROR_STATUS = {
    "ValidationException": 400,
    "ServiceQuotaExceededException": 402,
    "AccessDeniedException": 403,
    "PendingVerification": 403,
    "ResourceNotFoundException": 404,
    "ConflictException": 409,
    "ThrottlingException": 429,
    "SerializationException": 400,
    "UnsupportedMediaTypeException": 415,
    "NotAcceptableException": 406,
    "UnknownOperationException": 404,
    "RequestEntityTooLargeException": 413,
    "RequestTimeoutException": 408,
    "MissingAuthenticationTokenException": 403,
    "IncompleteSignatureException": 403,
    "UnrecognizedClientException": 403,
    "InvalidSignatureException": 403,
}
SIGV4_ERRORS = {
    "MissingAuthenticationTokenException",
    "IncompleteSignatureException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
}
AUTH_HEADERS = {"authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"}


def aws_query(query):
    """`a=b+c&d` (form encoding) → `a=b%20c&d=` (AWS URI encoding, as the SDKs send it)."""
    if not query:
        return query
    pairs = []
    for piece in query.split("&"):
        if not piece:
            continue
        key, _, value = piece.partition("=")
        pairs.append(
            quote(unquote_plus(key), safe="-_.~") + "=" + quote(unquote_plus(value), safe="-_.~")
        )
    return "&".join(pairs)


class SigV4(requests.auth.AuthBase):
    """Signs a prepared `requests` request as botocore signs boto3's."""

    def __call__(self, r):
        parts = urlsplit(r.url)
        r.url = urlunsplit(parts._replace(query=aws_query(parts.query)))
        body = r.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        for name in list(r.headers):
            if name.lower() in AUTH_HEADERS:
                del r.headers[name]
        headers = {k: v for k, v in r.headers.items() if k.lower() not in ("connection",)}
        aws = AWSRequest(method=r.method, url=r.url, data=body, headers=headers)
        SigV4Auth(CREDENTIALS, "ivschat", REGION).add_auth(aws)
        for name in ("Authorization", "X-Amz-Date"):
            r.headers[name] = aws.headers[name]
        r.headers["X-Ivschat-Test-Signed"] = "1"
        return r


@schemathesis.hook
def before_call(context, case, kwargs):
    kwargs["auth"] = SigV4()


@schemathesis.hook
def after_call(context, case, response):
    statuses = os.environ.get("IVSCHAT_ST_STATUSES")
    if statuses:
        with open(statuses, "a", encoding="utf-8") as f:
            f.write(f"{case.operation.definition.raw.get('operationId', case.operation.label)} {response.status_code}\n")
    path = os.environ.get("IVSCHAT_ST_CREATED")
    if not path or response.status_code != 200:
        return
    if case.operation.path not in ("/CreateRoom", "/CreateLoggingConfiguration"):
        return
    try:
        arn = json.loads(response.content)["arn"]
    except Exception:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(arn + "\n")


def _header(response, name):
    values = response.headers.get(name.lower()) or []
    return values[0] if values else None


@schemathesis.check
def aws_error_shape(ctx, response, case):
    status = response.status_code
    if status < 400:
        return None
    error_type = _header(response, "x-amzn-errortype")
    if error_type is None:
        raise AssertionError(f"{status} without an X-Amzn-Errortype header")
    if error_type not in ERROR_STATUS:
        raise AssertionError(f"unknown X-Amzn-Errortype {error_type!r}")
    if ERROR_STATUS[error_type] != status:
        raise AssertionError(
            f"{error_type} answered with {status}, the error table says {ERROR_STATUS[error_type]}"
        )
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"{status} {error_type}: the body is not JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("message"), str):
        raise AssertionError(f"{status} {error_type}: the body has no string 'message'")
    return None


@schemathesis.check
def signature_accepted(ctx, response, case):
    request = response.request
    if request is None or request.headers.get("X-Ivschat-Test-Signed") != "1":
        return None
    error_type = _header(response, "x-amzn-errortype")
    if error_type in SIGV4_ERRORS:
        try:
            message = json.loads(response.content).get("message")
        except Exception:
            message = response.text[:300]
        raise AssertionError(f"a request signed by botocore was refused: {error_type}: {message}")
    return None
