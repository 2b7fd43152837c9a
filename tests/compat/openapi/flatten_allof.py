"""Writes a copy of an OpenAPI description in which every `allOf: [{$ref: X}, {description: …}]`
is replaced by `{$ref: X}`.

Why: aws2openapi (which produced tests/compat/openapi/ivschat-openapi.yaml) attaches a
description to every referenced property through a one-element `allOf` (OpenAPI 3.0 ignores
siblings of `$ref`). OpenAPI Generator 7.9.0 cannot resolve such an `allOf` when the referenced
schema is an array or a map ("allOf schema null containing multiple types (not model) is not
supported"): the `cpp-qt-client` output then declares bare `QList` / `QMap` members and does not
compile, and the `javascript` client loses the item types of lists. No generator option changes
that (checked: --openapi-normalizer REF_AS_PARENT_IN_ALLOF / SIMPLIFY_ONEOF_ANYOF /
REFACTOR_ALLOF_WITH_PROPERTIES_ONLY, --inline-schema-options REFACTOR_ALLOF_INLINE_SCHEMAS).

Only descriptions are dropped; paths, parameters, schemas, constraints and types are unchanged.
Any other use of `allOf` is an error, so that a new shape in the description is noticed.

    python flatten_allof.py IN.yaml OUT.yaml
"""

from __future__ import annotations

import sys

import yaml


def flatten(node, path="$", counter=None):
    if isinstance(node, dict):
        if "allOf" in node:
            parts = node["allOf"]
            refs = [p for p in parts if set(p) == {"$ref"}]
            docs = [p for p in parts if set(p) <= {"description"}]
            if set(node) != {"allOf"} or len(refs) != 1 or len(refs) + len(docs) != len(parts):
                raise SystemExit(f"{path}: unexpected allOf shape {node!r}")
            counter[0] += 1
            return {"$ref": refs[0]["$ref"]}
        return {k: flatten(v, f"{path}.{k}", counter) for k, v in node.items()}
    if isinstance(node, list):
        return [flatten(v, f"{path}[{i}]", counter) for i, v in enumerate(node)]
    return node


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    counter = [0]
    out = flatten(doc, counter=counter)
    with open(argv[2], "w", encoding="utf-8") as f:
        yaml.safe_dump(out, f, sort_keys=False, allow_unicode=True, width=1 << 20)
    print(f"flatten_allof: {counter[0]} single-$ref allOf flattened", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
