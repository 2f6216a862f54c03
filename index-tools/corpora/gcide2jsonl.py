#!/usr/bin/python3
"""Convert GCIDE (the dictd build from Debian's dict-gcide) to JSON Lines.

One index entry becomes one document for sgs-index:
    {"id": "gcide-<n>", "title": "<headword>", "body": "<definition text>"}

Invariants:
  - Deterministic: the same input files give the same output byte for byte
    (index order is kept, no hashing, no clock, no locale).
  - Ids are unique: n counts the emitted documents in index order from 0, so
    an id is stable for a given dict-gcide version.
  - dictd metadata is skipped: headwords starting with "00-database-" and any
    alias entry pointing at the same text (00-gcide-*, 00-web1913-info).

The dictd index has one line per headword: headword TAB offset TAB length,
the numbers written in dictd's base64 digits (A=0 .. /=63, most significant
first), counting bytes of the uncompressed .dict. The .dict.dz is dictzip,
which is gzip-compatible, so it is read whole with the gzip module.

Several headwords often share one definition text (alternative spellings,
sub-entries, species names inside a long entry): 203,637 headwords point
at 126,236 distinct texts, and the duplicated texts make up about 70% of
the bytes. By default each headword is its own document, as in the index;
--unique merges them into one document per distinct text, with its distinct
headwords joined by "; " (index order) as title.

The text is UTF-8 apart from a few stray Windows-1252 bytes; those are
decoded as Windows-1252 (U+FFFD where that fails too). Whitespace runs,
newlines included, become one space; nothing else is changed.
"""

import argparse
import codecs
import gzip
import json
import os
import sys
import time

PROG = "gcide2jsonl"
DEFAULT_INDEX = "/usr/share/dictd/gcide.index"
DEFAULT_DICT = "/usr/share/dictd/gcide.dict.dz"
METADATA_PREFIX = "00-database-"
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
B64_VALUE = {c: i for i, c in enumerate(B64)}


def cp1252_fallback(err):
    """Codec error handler: decode each undecodable byte as Windows-1252."""
    bad = err.object[err.start:err.end]
    return bad.decode("cp1252", errors="replace"), err.end


codecs.register_error("sgs_cp1252_fallback", cp1252_fallback)


def b64_number(text, lineno):
    """Decode a dictd base64 number; ValueError naming the line if bad."""
    if not text:
        raise ValueError(f"index line {lineno}: empty number")
    value = 0
    for ch in text:
        digit = B64_VALUE.get(ch)
        if digit is None:
            raise ValueError(f"index line {lineno}: bad base64 digit {ch!r}")
        value = value * 64 + digit
    return value


def read_index(path):
    """Return [(headword, offset, length)] in file order."""
    entries = []
    with open(path, "r", encoding="utf-8", newline="\n") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            parts = line.split("\t")
            if len(parts) != 3:
                raise ValueError(f"index line {lineno}: expected 3 tab-separated fields")
            entries.append((parts[0], b64_number(parts[1], lineno), b64_number(parts[2], lineno)))
    return entries


def main():
    ap = argparse.ArgumentParser(description="Convert GCIDE (dictd format) to JSON Lines for sgs-index.")
    ap.add_argument("--index", default=DEFAULT_INDEX, help="dictd index (default %(default)s)")
    ap.add_argument("--dict", default=DEFAULT_DICT, help="dictd data, .dict.dz or .dict (default %(default)s)")
    ap.add_argument("--out", default="-", help="output file (default: stdout)")
    ap.add_argument("--limit", type=int, default=0, help="write at most N documents (0: all)")
    ap.add_argument("--unique", action="store_true",
                    help="one document per distinct definition text, headwords joined by '; '")
    args = ap.parse_args()
    if args.limit < 0:
        ap.error("--limit must be >= 0")

    t0 = time.monotonic()
    try:
        entries = read_index(args.index)
        opener = gzip.open if args.dict.endswith(".dz") or args.dict.endswith(".gz") else open
        with opener(args.dict, "rb") as f:
            data = f.read()
    except (OSError, ValueError) as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 1

    meta_spans = {(off, ln) for hw, off, ln in entries if hw.startswith(METADATA_PREFIX)}
    docs = []  # [headwords, offset, length]
    by_span = {}
    n_skipped = 0
    for hw, off, ln in entries:
        if hw.startswith(METADATA_PREFIX) or (off, ln) in meta_spans:
            n_skipped += 1
            continue
        if off + ln > len(data):
            print(f"{PROG}: entry {hw!r} points past the end of the dict"
                  f" ({off}+{ln} > {len(data)})", file=sys.stderr)
            return 1
        if args.unique:
            doc = by_span.get((off, ln))
            if doc is not None:
                if hw not in doc[0]:
                    doc[0].append(hw)
                continue
            doc = [[hw], off, ln]
            by_span[(off, ln)] = doc
        else:
            doc = [[hw], off, ln]
        docs.append(doc)
    if args.limit:
        docs = docs[:args.limit]

    try:
        out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8", newline="\n")
    except OSError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 1
    n_bytes = 0
    n_empty = 0
    chunk = []
    try:
        for n, (headwords, off, ln) in enumerate(docs):
            text = data[off:off + ln].decode("utf-8", errors="sgs_cp1252_fallback")
            body = " ".join(text.split())
            if not body:
                n_empty += 1
            line = json.dumps({"id": f"gcide-{n}", "title": "; ".join(headwords), "body": body},
                              ensure_ascii=False, separators=(",", ":")) + "\n"
            n_bytes += len(line.encode("utf-8"))
            chunk.append(line)
            if len(chunk) >= 4096:
                out.write("".join(chunk))
                chunk.clear()
        out.write("".join(chunk))
        out.flush()
    except BrokenPipeError:
        # The reader went away (| head): stop quietly, and keep the
        # interpreter's final flush of stdout from failing again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as e:
        print(f"{PROG}: {args.out}: {e}", file=sys.stderr)
        return 1
    finally:
        if out is not sys.stdout:
            out.close()
    secs = time.monotonic() - t0
    print(f"{PROG}: docs={len(docs)} bytes={n_bytes} empty_bodies={n_empty}"
          f" skipped_metadata={n_skipped} index_entries={len(entries)} seconds={secs:.2f}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
