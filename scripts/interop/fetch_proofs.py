#!/usr/bin/env python3
"""Asks a running Samverkan server, over GraphQL, for the inclusion proof of every event against
its latest checkpoint, as `verify.py` reads them.

Usage: fetch_proofs.py URL OUT.json
"""

import json
import sys
import urllib.request


def query(url, text, variables):
    body = json.dumps({"query": text, "variables": variables}).encode()
    request = urllib.request.Request(f"{url}/graphql", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        answer = json.load(response)
    if "errors" in answer:
        raise SystemExit(f"fetch_proofs: {answer['errors']}")
    return answer["data"]


def main():
    url, out = sys.argv[1].rstrip("/"), sys.argv[2]
    size = query(url, "{ checkpoint { size } }", {})["checkpoint"]["size"]
    page = """query($after: String, $size: Int) {
      events(first: 500, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes { inclusionProof(treeSize: $size) { position treeSize rootHash leafHash hashes } }
      }
    }"""
    proofs, after = [], None
    while True:
        events = query(url, page, {"after": after, "size": size})["events"]
        proofs += [node["inclusionProof"] for node in events["nodes"]]
        if not events["pageInfo"]["hasNextPage"]:
            break
        after = events["pageInfo"]["endCursor"]
    with open(out, "w", encoding="utf-8") as f:
        json.dump(proofs, f)


if __name__ == "__main__":
    main()
