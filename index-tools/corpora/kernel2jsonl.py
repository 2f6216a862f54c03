#!/usr/bin/python3
"""Convert the Linux kernel source tarball to JSON Lines for sgs-index.

Input: /usr/src/linux-source-6.1.tar.xz (Debian package linux-source-6.1),
read as a stream (tarfile mode "r|xz"), so nothing is unpacked to disk and
memory holds one file at a time.

Every regular text file is cut into chunks of --chunk-lines lines, and each
chunk becomes one document:
    {"id": "<path>#<k>", "title": "<path>", "body": "<lines of chunk k>"}
path is the member name without the tarball's top folder
("linux-source-6.1/"); chunk k holds lines k*N+1 .. (k+1)*N of the file.

Invariants:
  - Deterministic: documents come in tar member order, and nothing depends
    on the clock, hashing or the locale.
  - Ids are unique: tar paths are unique per regular file (a repeated member
    name is reported and skipped), and k is unique within a file.
  - Files holding a NUL byte are binary and skipped. Other bytes that are not
    UTF-8 are decoded as U+FFFD. Lines end at "\\n" only (a form feed or a
    "\\r" does not split a line). The body is the chunk text as is,
    indentation and newlines included. A chunk of only whitespace is not
    written; its number is not reused, so ids keep mapping to line ranges.
"""

import argparse
import json
import lzma
import os
import sys
import tarfile
import time

PROG = "kernel2jsonl"
DEFAULT_TAR = "/usr/src/linux-source-6.1.tar.xz"


def strip_top(name):
    """Drop the tarball's top folder from a member name."""
    slash = name.find("/")
    return name[slash + 1:] if slash >= 0 else name


def chunks(text, n_lines):
    """Yield (k, chunk_text) for each n_lines-line chunk of text."""
    lines = text.split("\n")
    ends_with_newline = lines[-1] == ""
    if ends_with_newline:
        lines.pop()
    n_chunks = (len(lines) + n_lines - 1) // n_lines
    for k in range(n_chunks):
        group = lines[k * n_lines:(k + 1) * n_lines]
        last = k == n_chunks - 1
        yield k, "\n".join(group) + ("\n" if not last or ends_with_newline else "")


def main():
    ap = argparse.ArgumentParser(
        description="Convert the Linux kernel source tarball to JSON Lines for sgs-index.")
    ap.add_argument("--tar", default=DEFAULT_TAR, help="kernel source tarball (default %(default)s)")
    ap.add_argument("--out", default="-", help="output file (default: stdout)")
    ap.add_argument("--chunk-lines", type=int, default=200, help="lines per document (default %(default)s)")
    ap.add_argument("--limit", type=int, default=0, help="write at most N documents (0: all)")
    args = ap.parse_args()
    if args.chunk_lines < 1:
        ap.error("--chunk-lines must be >= 1")
    if args.limit < 0:
        ap.error("--limit must be >= 0")

    t0 = time.monotonic()
    try:
        out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8", newline="\n")
    except OSError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 1
    n_docs = n_bytes = n_files = 0
    n_binary = n_not_utf8 = n_dup = n_blank = 0
    seen = set()
    pending = []
    pending_chars = 0
    try:
        with tarfile.open(args.tar, mode="r|xz") as tar:
            for member in tar:
                if not member.isreg():
                    continue
                path = strip_top(member.name)
                if path in seen:
                    print(f"{PROG}: repeated member {path!r} skipped", file=sys.stderr)
                    n_dup += 1
                    continue
                seen.add(path)
                data = tar.extractfile(member).read()
                if b"\0" in data:
                    n_binary += 1
                    continue
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError:
                    text = data.decode("utf-8", errors="replace")
                    n_not_utf8 += 1
                n_files += 1
                for k, body in chunks(text, args.chunk_lines):
                    if body.isspace():
                        n_blank += 1
                        continue
                    line = json.dumps({"id": f"{path}#{k}", "title": path, "body": body},
                                      ensure_ascii=False, separators=(",", ":")) + "\n"
                    pending.append(line)
                    pending_chars += len(line)
                    n_bytes += len(line.encode("utf-8"))
                    n_docs += 1
                    if pending_chars >= 1 << 20:
                        out.write("".join(pending))
                        pending.clear()
                        pending_chars = 0
                    if args.limit and n_docs >= args.limit:
                        break
                if args.limit and n_docs >= args.limit:
                    break
        out.write("".join(pending))
        out.flush()
    except BrokenPipeError:
        # The reader went away (| head): stop quietly, and keep the
        # interpreter's final flush of stdout from failing again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (tarfile.TarError, lzma.LZMAError, EOFError) as e:
        print(f"{PROG}: {args.tar}: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 1
    finally:
        if out is not sys.stdout:
            out.close()
    secs = time.monotonic() - t0
    print(f"{PROG}: docs={n_docs} bytes={n_bytes} text_files={n_files}"
          f" binary_skipped={n_binary} not_utf8_replaced={n_not_utf8}"
          f" blank_chunks_skipped={n_blank} repeated_skipped={n_dup} seconds={secs:.2f}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
