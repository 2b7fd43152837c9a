"""Deletes the rooms and logging configurations a schemathesis run created.

    cleanup.py ENDPOINT CREATED_FILE

CREATED_FILE has one ARN a line (written by hooks.after_call). Rooms go first, since a room
may hold a logging configuration. Already-deleted resources (404) are fine.
"""

import sys

import requests

from hooks import SigV4


def main():
    endpoint, path = sys.argv[1].rstrip("/"), sys.argv[2]
    try:
        with open(path, encoding="utf-8") as f:
            arns = sorted({line.strip() for line in f if line.strip()}, key=lambda a: ":room/" not in a)
    except FileNotFoundError:
        arns = []
    deleted = 0
    for arn in arns:
        op = "DeleteRoom" if ":room/" in arn else "DeleteLoggingConfiguration"
        r = requests.post(
            f"{endpoint}/{op}",
            json={"identifier": arn},
            auth=SigV4(),
            timeout=30,
        )
        if r.status_code == 204:
            deleted += 1
        elif r.status_code != 404:
            sys.exit(f"{op} {arn}: {r.status_code} {r.text[:200]}")
    print(f"cleanup: deleted {deleted} of {len(arns)} resources created by the run")


if __name__ == "__main__":
    main()
