#!/usr/bin/python3
"""Writes a synthetic JSONL corpus for trying the peers: N documents whose words
are drawn from a Zipf-like distribution over a fixed random vocabulary (a few
accented and Cyrillic words included, and some punctuation and newlines), so
the dictionary and posting lists look roughly like natural text.

  gen_synth.py --docs 100000 --out /tmp/synth.jsonl [--seed 1]
"""
import argparse
import bisect
import itertools
import json
import random


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=100000)
    ap.add_argument("--vocab", type=int, default=200000)
    ap.add_argument("--body-words", type=int, default=120, help="mean body length")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    extra = "éèàçöüñæøåßабвгдежзиклмнопрст"
    vocab = []
    for i in range(a.vocab):
        n = max(1, min(18, int(rnd.gauss(7, 3))))
        pool = extra if i % 97 == 50 else letters
        w = "".join(rnd.choice(pool) for _ in range(n))
        if i % 13 == 0:
            w = w.capitalize()
        if i % 29 == 0:
            w += str(rnd.randrange(1000))
        vocab.append(w)
    # Zipf weights 1/(r+2.7); cumulative for bisect sampling
    cum = list(itertools.accumulate(1.0 / (r + 2.7) for r in range(a.vocab)))
    total = cum[-1]

    def words(k):
        return [vocab[bisect.bisect_left(cum, rnd.random() * total)] for _ in range(k)]

    with open(a.out, "w", encoding="utf-8") as f:
        for d in range(a.docs):
            title = " ".join(words(rnd.randint(1, 5)))
            k = max(1, int(rnd.expovariate(1.0 / a.body_words)))
            ws = words(k)
            for j in range(7, len(ws), 11):
                ws[j] += rnd.choice([",", ".", ";", " -", "\n", "'s", ":"])
            f.write(json.dumps({"id": "syn-%d" % d, "title": title, "body": " ".join(ws)},
                               ensure_ascii=False))
            f.write("\n")


if __name__ == "__main__":
    main()
