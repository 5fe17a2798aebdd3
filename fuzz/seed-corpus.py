#!/usr/bin/env python3
"""Seeds fuzz/corpus/<target>/ from real data. Run once before `cargo fuzz cmin`; CI never runs it.

    fuzz/seed-corpus.py EXPORT.jsonl

EXPORT.jsonl is `samverkan export` of a ledger holding fixtures/history.jsonl (full lines, with
position, stream, streamVersion, prevHash and hash):

    samverkan import fixtures/history.jsonl --data /tmp/seed && samverkan export --data /tmp/seed

- decode_record: every golden record (ledger/golden/records-v1.jsonl), prefixed with the 8-byte
  big-endian position it was sealed at.
- import_jsonl: every fixture line alone, in its import form and in its export form; every golden
  sample as a minimal line (type, effective, data); the first 40 lines of both files as one file.
- validate_command: the input [0, hi, lo] of every template (fixture lines, then golden samples,
  as fuzz/src/command.rs reads them): one command, the real event unchanged.
"""

import hashlib
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"


def put(target, data):
    directory = CORPUS / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / hashlib.sha1(data).hexdigest()).write_bytes(data)


def main():
    export = pathlib.Path(sys.argv[1]).read_text(encoding="utf-8").splitlines()
    history = (ROOT / "fixtures" / "history.jsonl").read_text(encoding="utf-8").splitlines()
    golden = (ROOT / "ledger" / "golden" / "records-v1.jsonl").read_text(encoding="utf-8").splitlines()

    for index, line in enumerate(golden):
        record = bytes.fromhex(json.loads(line)["record"])
        put("decode_record", (index + 1).to_bytes(8, "big") + record)

    for line in history + export:
        put("import_jsonl", (line + "\n").encode())
    for line in golden:
        sample = json.loads(line)
        minimal = {"type": sample["type"], "effective": "2022-06-13", "data": sample["data"]}
        put("import_jsonl", (json.dumps(minimal, ensure_ascii=False) + "\n").encode())
    put("import_jsonl", ("\n".join(history[:40]) + "\n").encode())
    put("import_jsonl", ("\n".join(export[:40]) + "\n").encode())

    for index in range(len(history) + len(golden)):
        put("validate_command", b"\x00" + index.to_bytes(2, "big"))


if __name__ == "__main__":
    main()
