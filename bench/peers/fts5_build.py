#!/usr/bin/python3
"""Builds an SQLite FTS5 index of a sgsearch JSONL corpus for the query
benchmark: columns id (unindexed), title, body; tokenizer unicode61 with
diacritics kept (remove_diacritics 0), the closest to sgsearch's tokens
(letters and digits, simple lowercase); no positions are needed, so
detail=none (the smallest, fastest FTS5 index; bm25() works with it).

usage: fts5_build.py INPUT.jsonl DB [--id-field id] [--text-fields title,body]
"""
import argparse
import json
import os
import sqlite3
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("db")
    ap.add_argument("--id-field", default="id")
    ap.add_argument("--text-fields", default="title,body")
    a = ap.parse_args()
    fields = a.text_fields.split(",")
    if os.path.exists(a.db):
        os.unlink(a.db)
    con = sqlite3.connect(a.db)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("CREATE VIRTUAL TABLE docs USING fts5(id UNINDEXED, %s, "
                "tokenize='unicode61 remove_diacritics 0', detail=none)" % ", ".join(fields))
    t0 = time.time()
    n = 0

    def rows():
        nonlocal n
        with open(a.input, encoding="utf-8") as f:
            for line in f:
                d = json.loads(line)
                n += 1
                yield [d[a.id_field]] + [d.get(k, "") if isinstance(d.get(k, ""), str) else ""
                                         for k in fields]

    con.executemany("INSERT INTO docs VALUES (%s)" % ", ".join("?" * (1 + len(fields))), rows())
    con.execute("INSERT INTO docs(docs) VALUES ('optimize')")
    con.commit()
    con.close()
    print(json.dumps({"tool": "fts5", "docs": n, "seconds": round(time.time() - t0, 2),
                      "index_bytes": os.path.getsize(a.db)}))


if __name__ == "__main__":
    main()
