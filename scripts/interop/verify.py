#!/usr/bin/env python3
"""Checks Samverkan's transparency log with code the project did not write.

- leaves: recomputed from `samverkan export` output with `rfc8785` (Trail of Bits' RFC 8785);
- tree: the root of those leaves computed by `pymerkle` (an RFC 9162 Merkle tree), compared
  with the checkpoint's root line;
- checkpoint: its C2SP signed-note signature checked with `cryptography`'s Ed25519 against the
  verifier key (key id = SHA-256(name || 0x0A || 0x01 || public key)[:4], as C2SP specifies);
- proofs: every inclusion proof the server gave (GraphQL `inclusionProof`) checked by pymerkle.

Usage: verify.py EXPORT.jsonl CHECKPOINT VKEY PROOFS.json
Exits non-zero, with one line, on the first failure.
"""

import base64
import hashlib
import json
import sys

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pymerkle import InmemoryTree
from pymerkle.core import _inclusion_path_layout
from pymerkle.proof import InclusionProof, InvalidProof


def fail(message):
    print(f"interop: {message}", file=sys.stderr)
    sys.exit(1)


def check_note(note, vkey):
    """The checkpoint body of a signed note that `vkey` signed."""
    name, key_id, key = vkey.strip().split("+", 2)
    key = base64.b64decode(key)
    if key[0] != 1 or len(key) != 33:
        fail("the verifier key is not an Ed25519 note key")
    expected_id = hashlib.sha256(name.encode() + b"\n" + key).digest()[:4]
    if expected_id.hex() != key_id:
        fail("the verifier key's id does not match its name and key")
    text, _, signatures = note.rpartition("\n\n")
    text += "\n"
    public = Ed25519PublicKey.from_public_bytes(key[1:])
    for line in signatures.splitlines():
        dash, signer, signature = line.split(" ")
        if dash != "\u2014" or signer != name:
            continue
        signature = base64.b64decode(signature)
        if signature[:4] != expected_id:
            continue
        try:
            public.verify(signature[4:], text.encode())
        except InvalidSignature:
            fail("the checkpoint's signature does not verify")
        origin, size, root = text.splitlines()[:3]
        if origin != name:
            fail(f"the checkpoint names {origin!r}, the key {name!r}")
        return int(size), base64.b64decode(root)
    fail("the checkpoint carries no signature by the verifier key")


def main():
    if len(sys.argv) != 5:
        fail(__doc__.strip().splitlines()[-2])
    export, checkpoint, vkey, proofs = sys.argv[1:]
    with open(checkpoint, encoding="utf-8") as f:
        size, root = check_note(f.read(), open(vkey, encoding="utf-8").read())

    tree = InmemoryTree(algorithm="sha256")
    leaves = []
    with open(export, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            leaf = rfc8785.dumps(json.loads(line))
            leaves.append(hashlib.sha256(b"\x00" + leaf).digest())
            tree.append_entry(leaf)
            if tree.get_leaf(number) != leaves[-1]:
                fail(f"line {number}: pymerkle's leaf hash is not SHA-256(0x00 || leaf)")
    if tree.get_size() != size:
        fail(f"the export has {tree.get_size()} events, the checkpoint covers {size}")
    if tree.get_root(size) != root:
        fail("the root of the exported events is not the checkpoint's root")

    with open(proofs, encoding="utf-8") as f:
        given = json.load(f)
    for p in given:
        position, tree_size = p["position"], p["treeSize"]
        base = base64.b64decode(p["leafHash"])
        if base != leaves[position - 1]:
            fail(f"event {position}: the server's leaf hash is not the one recomputed from the export")
        rule, _ = _inclusion_path_layout(position, tree_size)
        path = [base] + [base64.b64decode(h) for h in p["hashes"]]
        proof = InclusionProof("sha256", True, tree_size, position, rule, path)
        try:
            proof.verify(base, tree.get_root(tree_size), index=position, size=tree_size)
        except InvalidProof as e:
            fail(f"event {position}: the inclusion proof does not verify: {e}")
    print(f"interop: ok: {size} leaves recomputed, root and signature checked, {len(given)} inclusion proofs verified")


if __name__ == "__main__":
    main()
