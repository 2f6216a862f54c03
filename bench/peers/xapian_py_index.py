#!/usr/bin/python3
"""Variant Xapian peer: indexes sgsearch JSONL straight into a Xapian (glass)
database through the Python bindings (Debian package python3-xapian).

  xapian_py_index.py INPUT.jsonl DBDIR [--skip S] [--limit L]

--skip and --limit index only the L non-empty lines after the first S, so a
large corpus can be indexed in parts at once and the parts merged with
xapian-compact (scripts/bench-leaf.sh does that above a million documents).

Same settings as the scriptindex peer: id as the unique boolean term Q<id>,
title and body as free text without positions, no stemming, "id=...\\ntitle=..."
stored as document data. Unlike scriptindex, the timed run includes parsing
the JSON (as sgs-index does) and the Python interpreter's per-document cost, so
this is a secondary figure. XAPIAN_FLUSH_THRESHOLD applies as for scriptindex.
"""
import argparse
import json
import sys

import xapian


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("input")
    ap.add_argument("db")
    ap.add_argument("--skip", type=int, default=0)
    ap.add_argument("--limit", type=int, default=-1)
    a = ap.parse_args()
    if a.skip < 0:
        ap.error("--skip must be at least 0")
    src, dbdir = a.input, a.db
    db = xapian.WritableDatabase(dbdir, xapian.DB_CREATE_OR_OVERWRITE)
    tg = xapian.TermGenerator()
    tg.set_stemming_strategy(xapian.TermGenerator.STEM_NONE)
    n = seen = 0
    loads = json.loads
    with open(src, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            seen += 1
            if seen <= a.skip:
                continue
            if n == a.limit:
                break
            d = loads(line)
            doc_id = str(d["id"])
            title = d.get("title") or ""
            body = d.get("body") or ""
            doc = xapian.Document()
            tg.set_document(doc)
            tg.index_text_without_positions(title)
            tg.index_text_without_positions(body)
            doc.set_data("id=%s\ntitle=%s\n" % (doc_id, title))
            idterm = "Q" + doc_id
            doc.add_boolean_term(idterm)
            db.replace_document(idterm, doc)
            n += 1
    db.commit()
    db.close()
    sys.stderr.write("indexed %d documents\n" % n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
