"""Turns the published OpenAPI description of IVS Chat into the one schemathesis tests against.

    prepare_spec.py IN.yaml OUT.json

The input is aws2openapi's conversion of the service model
(tests/compat/openapi/ivschat-openapi.yaml). Its known quirks (docs/protocol/control-plane.md §9)
are corrected here, and nothing else:

* Error responses: aws2openapi numbers each operation's modeled errors 480, 481, … and gives them
  empty schemas. They become the real status codes (the model's `httpStatusCode`: 400, 402, 403,
  404, 409, 429) with the restJson1 error body (`message` required), plus the framework errors
  every restJson1 operation may answer (400 SerializationException, 403 SigV4 errors, 404,
  406, 413, 415). InternalServerException (500) is dropped: the server must never answer 5xx.
* `/tags/{resourceArn}#tagKeys`: the fragment is a path-disambiguation hack, never sent; the
  DELETE (UntagResource) moves to `/tags/{resourceArn}`.
* The `X-Amz-*` header parameters and the `hmac` security scheme describe SigV4, which the
  hook signs for real (hooks.py); they are removed so that schemathesis does not generate them.
* Request bodies are optional and `null` members are absent: a restJson1 server reads an empty
  body as `{}` and a `null` member as a missing one (docs/protocol/control-plane.md §1), while
  the description says `requestBody.required: true` and has no `nullable`. Request schemas are
  inlined (their `$ref`s resolved) and every optional member gets `nullable: true`, so that
  schemathesis does not count `{"name": null}` or an empty CreateRoom body as invalid input
  the server should have refused. Response schemas are left strict.
* `destinationConfiguration` is a union in the model (exactly one member); the description has a
  plain object, so most generated "valid" ones have 0 or 3 members. It gets
  `minProperties`/`maxProperties` 1, as a union's JSON Schema should.
* Links for the stateful phase: the ARN returned by CreateRoom / CreateLoggingConfiguration
  feeds the operations that take an identifier, so generated sequences reach existing resources.

Kept as published: the `maxResults` / `nextToken` query parameters of the List operations
(the server accepts them, the body wins), and timestamps as `string`/`date-time` (which the
server's `…Z` millisecond timestamps must satisfy).
"""

import copy
import json
import sys

import yaml

# The model's httpStatusCode of each modeled error (crates/proto/src/errors.rs, one table).
MODELED = {
    "ValidationException": 400,
    "ServiceQuotaExceededException": 402,
    "AccessDeniedException": 403,
    "PendingVerification": 403,
    "ResourceNotFoundException": 404,
    "ConflictException": 409,
    "ThrottlingException": 429,
    "InternalServerException": 500,
}
# Framework errors (Smithy restJson1 + SigV4) any operation may answer.
FRAMEWORK = {
    400: "SerializationException",
    403: "SigV4 errors",
    404: "UnknownOperationException",
    406: "NotAcceptableException",
    413: "RequestEntityTooLargeException",
    415: "UnsupportedMediaTypeException",
}
ERROR_BODY = {
    "type": "object",
    "required": ["message"],
    "properties": {
        "message": {"type": "string"},
        "reason": {"type": "string"},
        "fieldList": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "message"],
                "properties": {"name": {"type": "string"}, "message": {"type": "string"}},
            },
        },
        "resourceId": {"type": "string"},
        "resourceType": {"type": "string"},
        "limit": {"type": "integer"},
    },
}

ROOM_LINKS = {
    "GetRoom": {"requestBody": {"identifier": "$response.body#/arn"}},
    "UpdateRoom": {"requestBody": {"identifier": "$response.body#/arn"}},
    "DeleteRoom": {"requestBody": {"identifier": "$response.body#/arn"}},
    "CreateChatToken": {"requestBody": {"roomIdentifier": "$response.body#/arn"}},
    "SendEvent": {"requestBody": {"roomIdentifier": "$response.body#/arn"}},
    "DeleteMessage": {"requestBody": {"roomIdentifier": "$response.body#/arn"}},
    "DisconnectUser": {"requestBody": {"roomIdentifier": "$response.body#/arn"}},
    "ListTagsForResource": {"parameters": {"path.resourceArn": "$response.body#/arn"}},
    "TagResource": {"parameters": {"path.resourceArn": "$response.body#/arn"}},
    "UntagResource": {"parameters": {"path.resourceArn": "$response.body#/arn"}},
}
LOGGING_LINKS = {
    "GetLoggingConfiguration": {"requestBody": {"identifier": "$response.body#/arn"}},
    "UpdateLoggingConfiguration": {"requestBody": {"identifier": "$response.body#/arn"}},
    "DeleteLoggingConfiguration": {"requestBody": {"identifier": "$response.body#/arn"}},
    "ListTagsForResource": {"parameters": {"path.resourceArn": "$response.body#/arn"}},
    "TagResource": {"parameters": {"path.resourceArn": "$response.body#/arn"}},
    "UntagResource": {"parameters": {"path.resourceArn": "$response.body#/arn"}},
}
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def error_response(description):
    return {
        "description": description,
        "content": {"application/json": {"schema": copy.deepcopy(ERROR_BODY)}},
    }


def fix_responses(op):
    fixed = {}
    for code, response in op["responses"].items():
        if not code.startswith("48"):
            fixed[code] = response
            continue
        name = response.get("description", "")
        status = MODELED.get(name)
        if status is None:
            raise SystemExit(f"{op['operationId']}: unknown error response {code} {name!r}")
        if status >= 500:
            continue
        names = fixed.get(str(status), {}).get("description")
        fixed[str(status)] = error_response(f"{names} | {name}" if names else name)
    for status, name in FRAMEWORK.items():
        key = str(status)
        names = fixed.get(key, {}).get("description")
        fixed[key] = error_response(f"{names} | {name}" if names else name)
    op["responses"] = fixed


def resolve(spec, schema):
    """A copy of `schema` with every `$ref` (to #/components/schemas) replaced by its target."""
    if isinstance(schema, list):
        return [resolve(spec, item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        target = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
        return resolve(spec, target)
    return {key: resolve(spec, value) for key, value in schema.items()}


def null_means_absent(schema, union=False):
    """Marks every optional member of every object in `schema` nullable (not a union's members:
    a union has exactly one member, which is never null)."""
    if isinstance(schema, list):
        for item in schema:
            null_means_absent(item)
        return
    if not isinstance(schema, dict):
        return
    properties = schema.get("properties")
    if isinstance(properties, dict):
        required = set(schema.get("required", []))
        for name, prop in list(properties.items()):
            is_union = name == "destinationConfiguration"
            null_means_absent(prop, union=is_union)
            if name not in required and not union:
                properties[name] = {"nullable": True, "allOf": [prop]}
    for key in ("items", "additionalProperties", "allOf", "anyOf", "oneOf"):
        if key in schema:
            null_means_absent(schema[key])


def links(target_map):
    return {
        f"{op_id}": {"operationId": op_id, **copy.deepcopy(definition)}
        for op_id, definition in target_map.items()
    }


def prepare(spec):
    spec.pop("security", None)
    spec.get("components", {}).pop("securitySchemes", None)
    spec["servers"] = [{"url": "http://127.0.0.1:8080"}]
    paths = spec["paths"]
    untag = paths.pop("/tags/{resourceArn}#tagKeys")
    tags = paths["/tags/{resourceArn}"]
    tags["delete"] = untag["delete"]
    for path, item in paths.items():
        item.pop("parameters", None)  # X-Amz-* (SigV4)
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            op["parameters"] = [
                p
                for p in op.get("parameters", [])
                if not p.get("$ref", "").startswith("#/components/parameters/X-Amz-")
            ]
            # Path-level parameters were removed; operation-level ones keep resourceArn.
            fix_responses(op)
            if "requestBody" in op:
                op["requestBody"]["required"] = False
                body = op["requestBody"]["content"]["application/json"]
                body["schema"] = resolve(spec, body["schema"])
                union = body["schema"].get("properties", {}).get("destinationConfiguration")
                if union is not None:
                    union["minProperties"] = 1
                    union["maxProperties"] = 1
                null_means_absent(body["schema"])
            if op["operationId"] == "CreateRoom":
                op["responses"]["200"]["links"] = links(ROOM_LINKS)
            if op["operationId"] == "CreateLoggingConfiguration":
                op["responses"]["200"]["links"] = links(LOGGING_LINKS)
    # The label is a path parameter only for the tag operations; it must be declared on each.
    for method in ("get", "post", "delete"):
        params = tags[method]["parameters"]
        if not any(p.get("name") == "resourceArn" for p in params):
            raise SystemExit(f"/tags/{{resourceArn}} {method}: no resourceArn parameter")
    for name in [n for n in spec["components"].get("parameters", {}) if n.startswith("X-Amz-")]:
        del spec["components"]["parameters"][name]
    return spec


def main():
    src, dst = sys.argv[1], sys.argv[2]
    with open(src, encoding="utf-8") as f:
        spec = yaml.safe_load(f)
    with open(dst, "w", encoding="utf-8") as f:
        json.dump(prepare(spec), f, indent=1)


if __name__ == "__main__":
    main()
