#!/usr/bin/python3
"""Shared helpers for the peer indexers (Xapian, Sphinx) of the indexing benchmark.

Library (imported by run_peers.py) and command line (used by the *_index.sh
scripts):

  peerlib.py to-scriptindex IN.jsonl OUT.dump     JSONL -> scriptindex dump; prints the doc count
  peerlib.py to-tsv IN.jsonl OUT.tsv              JSONL -> Sphinx tsvpipe rows; prints the doc count
  peerlib.py sphinx-charset                       prints a charset_table matching sgs tokenization
  peerlib.py sphinx-conf OUT.conf NAME=TSV:PATH... [--mem-limit M] [--header TEXT]
      writes the sphinx.conf of one plain index per NAME (source: the tsvpipe rows
      of TSV, index files at PATH), the settings every Sphinx index here uses
  peerlib.py measure --tool T --input F.jsonl --docs N --index PATH [--warm FILE]...
                     [--timeout S] [--log FILE] [--setting K=V]... -- CMD ARGS...
      runs CMD under /usr/bin/time -v (bounded by --timeout), prints one JSON object.

Conversions happen before timing so only the peer's own indexer is measured.
"""
import argparse
import ctypes
import ctypes.util
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import unicodedata

TIME_BIN = "/usr/bin/time"
READ_CHUNK = 1 << 20


def _iter_docs(path):
    """Yields (id, title, body) strings from a JSONL file; blank lines are skipped."""
    loads = json.loads
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                d = loads(line)
            except ValueError as e:
                raise SystemExit("%s:%d: bad JSON: %s" % (path, lineno, e))
            doc_id = d.get("id")
            if doc_id is None or doc_id == "":
                raise SystemExit("%s:%d: missing id" % (path, lineno))
            title = d.get("title") or ""
            body = d.get("body") or ""
            yield (doc_id if isinstance(doc_id, str) else str(doc_id),
                   title if isinstance(title, str) else str(title),
                   body if isinstance(body, str) else str(body))


def _open_out(path):
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=d)
    return os.fdopen(fd, "w", encoding="utf-8", errors="surrogatepass",
                     newline="\n", buffering=READ_CHUNK), tmp


def jsonl_to_scriptindex(src, dst):
    """Writes scriptindex's dump format: 'field=value' lines, records separated by
    a blank line, newlines inside a value continued with a leading '='.
    Returns the number of documents."""
    out, tmp = _open_out(dst)
    n = 0
    try:
        w = out.write
        for doc_id, title, body in _iter_docs(src):
            # CR would survive into a stored value; as a token separator it is
            # equivalent to a newline, so fold it.
            if "\r" in title:
                title = title.replace("\r", "\n")
            if "\r" in body:
                body = body.replace("\r", "\n")
            if "\n" in doc_id or "\r" in doc_id:
                doc_id = doc_id.replace("\r", " ").replace("\n", " ")
            w("id=%s\ntitle=%s\nbody=%s\n\n" % (
                doc_id, title.replace("\n", "\n="), body.replace("\n", "\n=")))
            n += 1
        out.close()
        os.replace(tmp, dst)
    except BaseException:
        out.close()
        os.unlink(tmp)
        raise
    return n


# Sphinx's TSV reader has no escaping: TAB, CR, LF and NUL always end a column
# or row. All four are token separators, so mapping them to a space changes no
# token (the stored title differs only in those whitespace bytes).
_TSV_TABLE = str.maketrans({"\t": " ", "\r": " ", "\n": " ", "\0": " "})


def jsonl_to_tsv(src, dst):
    """Writes Sphinx tsvpipe rows: line number (the numeric Sphinx doc id),
    ext_id, title, body. Returns the number of documents."""
    out, tmp = _open_out(dst)
    n = 0
    t = _TSV_TABLE
    try:
        w = out.write
        for doc_id, title, body in _iter_docs(src):
            n += 1
            w("%d\t%s\t%s\t%s\n" % (n, doc_id.translate(t), title.translate(t),
                                    body.translate(t)))
        out.close()
        os.replace(tmp, dst)
    except BaseException:
        out.close()
        os.unlink(tmp)
        raise
    return n


# ---------------------------------------------------------------------------
# Sphinx charset_table equal to sgsearch's tokenizer (common/tokenize.h): a
# word character is any code point of general category L* or N*, lowered with
# its simple lowercase mapping. Sphinx 2.2 handles code points below 0x30000
# only (CSphLowercaser::MAX_CODE), so that is where the table stops.

SPHINX_MAX_CODE = 0x30000


def _char_classes():
    """Returns (is_word(cp) -> bool, lower(cp) -> cp, source name)."""
    lib = None
    for name in ("libutf8proc.so.2", ctypes.util.find_library("utf8proc")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError:
            lib = None
    if lib is not None:
        lib.utf8proc_category.restype = ctypes.c_int
        lib.utf8proc_category.argtypes = [ctypes.c_int32]
        lib.utf8proc_tolower.restype = ctypes.c_int32
        lib.utf8proc_tolower.argtypes = [ctypes.c_int32]
        lib.utf8proc_version.restype = ctypes.c_char_p
        cat, low = lib.utf8proc_category, lib.utf8proc_tolower
        # 1..5 = Lu Ll Lt Lm Lo, 9..11 = Nd Nl No
        return ((lambda cp: 1 <= cat(cp) <= 5 or 9 <= cat(cp) <= 11), low,
                "utf8proc " + lib.utf8proc_version().decode())

    def low_py(cp):
        s = chr(cp).lower()
        if len(s) == 1:
            return ord(s)
        return 0x69 if cp == 0x130 else cp  # U+0130's simple mapping is 'i'
    return ((lambda cp: unicodedata.category(chr(cp))[0] in "LN"), low_py,
            "python unicodedata " + unicodedata.unidata_version)


def sphinx_charset_table():
    """Returns (charset_table value, description). Consecutive code points that
    map with the same offset are written as ranges."""
    is_word, lower, src = _char_classes()
    entries = []
    run = None  # [start, end, dst_start]

    def flush():
        if run is None:
            return
        s, e, d = run
        if s == d:
            entries.append("U+%X" % s if s == e else "U+%X..U+%X" % (s, e))
        elif s == e:
            entries.append("U+%X->U+%X" % (s, d))
        else:
            entries.append("U+%X..U+%X->U+%X..U+%X" % (s, e, d, d + e - s))

    for cp in range(0x21, SPHINX_MAX_CODE):
        if 0xD800 <= cp <= 0xDFFF or not is_word(cp):
            continue
        dst = lower(cp)
        if dst >= SPHINX_MAX_CODE or dst < 0x21:
            dst = cp
        if run is not None and cp == run[1] + 1 and dst - cp == run[2] - run[0]:
            run[1] = cp
            continue
        flush()
        run = [cp, cp, dst]
    flush()
    return ", ".join(entries), "%d entries from %s" % (len(entries), src)


def wrap_conf_value(value, width=1000):
    """Breaks a long comma-separated sphinx.conf value into backslash-continued
    lines: the config parser rejects lines longer than a few KB."""
    lines, cur = [], ""
    for part in value.split(", "):
        if cur and len(cur) + len(part) + 2 > width:
            lines.append(cur + ",")
            cur = part
        else:
            cur = part if not cur else cur + ", " + part
    lines.append(cur)
    return " \\\n        ".join(lines)


SPHINX_SOURCE_INDEX = """
source src_{name}
{{
    type                = tsvpipe
    tsvpipe_command     = cat {tsv}
    # Columns follow declaration order after the numeric doc id.
    tsvpipe_attr_string = ext_id
    tsvpipe_field_string = title
    tsvpipe_field       = body
}}

index {name}
{{
    source              = src_{name}
    path                = {path}
    docinfo             = extern
    dict                = keywords
    morphology          = none
    min_word_len        = 1
    html_strip          = 0
    # No positions: doclists keep doc ids, field masks and hit counts only.
    hitless_words       = all
    index_field_lengths = 0
    # Every Unicode L*/N* code point below U+30000, simply lowercased:
    # the same classes as sgsearch's tokenizer (common/tokenize.h).
    charset_table       = {charset}
}}
"""


def sphinx_conf(indexes, mem_limit="256M", header="", charset=None):
    """The sphinx.conf text of one plain index per (name, tsv, path) in
    indexes, built from tsvpipe rows (numeric id, ext_id, title, body; see
    jsonl_to_tsv), and an indexer section with mem_limit. The one definition
    of the Sphinx index settings: the indexing benchmark
    (bench/peers/sphinx_index.sh) and the end-to-end scenario
    (bench/scenarios/peers.py) both write their configs with it."""
    if charset is None:
        charset = wrap_conf_value(sphinx_charset_table()[0])
    parts = ["# " + line for line in header.splitlines()] if header else []
    for name, tsv, path in indexes:
        parts.append(SPHINX_SOURCE_INDEX.format(name=name, tsv=tsv, path=path, charset=charset))
    parts.append("indexer\n{\n    mem_limit           = %s\n}\n" % mem_limit)
    return "\n".join(parts)


# ---------------------------------------------------------------------------
# Measuring

def du_bytes(path):
    """Apparent size in bytes of a file or directory tree (like du -sb)."""
    if not os.path.exists(path):
        return 0
    try:
        out = subprocess.run(["du", "-sb", path], check=True, capture_output=True,
                             text=True).stdout
        return int(out.split()[0])
    except (OSError, subprocess.CalledProcessError, ValueError):
        total = 0
        for root, _dirs, files in os.walk(path):
            for f in files:
                try:
                    total += os.lstat(os.path.join(root, f)).st_size
                except OSError:
                    pass
        return total


def warm(paths):
    """Reads files once so every tool starts with its input in the page cache."""
    buf = bytearray(READ_CHUNK)
    for p in paths:
        if not p or not os.path.isfile(p):
            continue
        with open(p, "rb", buffering=0) as f:
            while f.readinto(buf):
                pass


def _parse_time_v(text):
    """Parses GNU time -v output into a dict of the fields we use."""
    out = {}
    pats = {
        "user_s": r"User time \(seconds\): ([\d.]+)",
        "sys_s": r"System time \(seconds\): ([\d.]+)",
        "peak_rss_kb": r"Maximum resident set size \(kbytes\): (\d+)",
        "exit_status": r"Exit status: (\d+)",
        "major_faults": r"Major \(requiring I/O\) page faults: (\d+)",
        "fs_out": r"File system outputs: (\d+)",
    }
    for k, pat in pats.items():
        m = re.search(pat, text)
        if m:
            out[k] = float(m.group(1)) if "." in m.group(1) else int(m.group(1))
    m = re.search(r"Command terminated by signal (\d+)", text)
    if m:
        out["signal"] = int(m.group(1))
    return out


def ensure_time_bin():
    if os.access(TIME_BIN, os.X_OK):
        return True
    sys.stderr.write("peers: %s missing; install Debian package 'time'\n" % TIME_BIN)
    return False


def run_timed(cmd, timeout, log_path=None, env=None, cwd=None):
    """Runs cmd (a list) under /usr/bin/time -v in its own process group.
    Returns a dict: seconds (wall, measured here), user_s, sys_s, peak_rss_kb,
    exit_status, timed_out. peak_rss_kb is the largest RSS of the command or
    any of its descendants (GNU time reads it from wait4)."""
    fd, tfile = tempfile.mkstemp(prefix="peer-time-", suffix=".txt")
    os.close(fd)
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL
    res = {"timed_out": False}
    try:
        full = [TIME_BIN, "-v", "-o", tfile, "--"] + list(cmd)
        t0 = time.perf_counter()
        p = subprocess.Popen(full, stdout=log, stderr=subprocess.STDOUT, env=env,
                             cwd=cwd, start_new_session=True)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            res["timed_out"] = True
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
        res["seconds"] = time.perf_counter() - t0
        with open(tfile, errors="replace") as f:
            res.update(_parse_time_v(f.read()))
        res.setdefault("exit_status", p.returncode)
        if p.returncode != 0 and not res.get("exit_status"):
            res["exit_status"] = p.returncode
    finally:
        if log is not subprocess.DEVNULL:
            log.close()
        os.unlink(tfile)
    return res


def result_record(tool, input_path, docs, index_path, cmd, timing, settings=None,
                  docs_indexed=None, tool_input=None):
    """Builds the benchmark's JSON object for one peer run."""
    input_bytes = os.path.getsize(input_path)
    secs = timing.get("seconds") or 0.0
    ok = not timing.get("timed_out") and timing.get("exit_status", 1) == 0
    rec = {
        "tool": tool,
        "docs": docs,
        "input_bytes": input_bytes,
        "seconds": round(secs, 3),
        "docs_per_s": round(docs / secs, 1) if ok and secs > 0 else None,
        "mb_per_s": round(input_bytes / 1e6 / secs, 3) if ok and secs > 0 else None,
        "peak_rss_kb": timing.get("peak_rss_kb"),
        "index_bytes": du_bytes(index_path) if ok else None,
        "command": " ".join(shlex.quote(c) for c in cmd),
        "ok": ok,
        "cpu_seconds": round(timing.get("user_s", 0) + timing.get("sys_s", 0), 3),
        "threads": 1,
    }
    if tool_input:
        rec["tool_input_bytes"] = os.path.getsize(tool_input)
    if docs_indexed is not None:
        rec["docs_indexed"] = docs_indexed
    if settings:
        rec["settings"] = settings
    if timing.get("timed_out"):
        rec["error"] = "timed out"
    elif not ok:
        rec["error"] = "exit status %s" % timing.get("exit_status")
    return rec


def _measure_cli(a):
    if not ensure_time_bin():
        return 2
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        sys.stderr.write("measure: no command\n")
        return 2
    warm([a.input] + (a.warm or []))
    timing = run_timed(cmd, a.timeout, log_path=a.log)
    settings = dict(s.split("=", 1) for s in (a.setting or []))
    rec = result_record(a.tool, a.input, a.docs, a.index, cmd, timing,
                        settings=settings or None,
                        tool_input=a.warm[0] if a.warm else None)
    if rec["ok"] and a.count_cmd:
        rec["docs_indexed"] = count_docs(a.count_cmd, rec)
    print(json.dumps(rec), flush=True)
    return 0 if rec["ok"] else 1


def count_docs(kind, rec=None):
    """Reads the document count back from a built index: kind is
    'xapian:DBPATH' or 'sphinx:CONF:INDEXNAME'. None when unavailable."""
    try:
        what, rest = kind.split(":", 1)
        if what == "xapian":
            out = subprocess.run(["xapian-delve", rest], capture_output=True, text=True,
                                 timeout=120).stdout
            m = re.search(r"number of documents = (\d+)", out)
        elif what == "sphinx":
            conf, name = rest.rsplit(":", 1)
            out = subprocess.run(["indextool", "--config", conf, "--dumpheader", name],
                                 capture_output=True, text=True, timeout=120).stdout
            m = re.search(r"total-documents: (\d+)", out)
        else:
            return None
        return int(m.group(1)) if m else None
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd_name", required=True)
    p = sub.add_parser("to-scriptindex")
    p.add_argument("src")
    p.add_argument("dst")
    p = sub.add_parser("to-tsv")
    p.add_argument("src")
    p.add_argument("dst")
    p = sub.add_parser("sphinx-charset")
    p.add_argument("--wrap", action="store_true",
                   help="break into lines ending in a backslash (sphinx.conf limits line length)")
    p = sub.add_parser("sphinx-conf")
    p.add_argument("out")
    p.add_argument("index", nargs="+", help="NAME=TSV:PATH")
    p.add_argument("--mem-limit", default="256M")
    p.add_argument("--header", default="")
    p = sub.add_parser("measure")
    p.add_argument("--tool", required=True)
    p.add_argument("--input", required=True, help="the original JSONL (for input_bytes)")
    p.add_argument("--docs", type=int, required=True)
    p.add_argument("--index", required=True, help="path whose size is the index size")
    p.add_argument("--warm", action="append", help="files to pre-read (first: tool input)")
    p.add_argument("--timeout", type=float, default=3600)
    p.add_argument("--log", help="file for the command's stdout/stderr")
    p.add_argument("--setting", action="append", help="K=V reported under settings")
    p.add_argument("--count-cmd", help="xapian:DB or sphinx:CONF:INDEX to read docs back")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args(argv)
    if a.cmd_name == "to-scriptindex":
        print(jsonl_to_scriptindex(a.src, a.dst))
    elif a.cmd_name == "to-tsv":
        print(jsonl_to_tsv(a.src, a.dst))
    elif a.cmd_name == "sphinx-charset":
        table, desc = sphinx_charset_table()
        if a.wrap:
            table = wrap_conf_value(table)
        sys.stderr.write("charset_table: %s\n" % desc)
        print(table)
    elif a.cmd_name == "sphinx-conf":
        idx = []
        for spec in a.index:
            name, sep, rest = spec.partition("=")
            tsv, sep2, path = rest.partition(":")
            if not (sep and sep2 and name and tsv and path):
                sys.exit("sphinx-conf: want NAME=TSV:PATH, got %r" % spec)
            idx.append((name, tsv, path))
        with open(a.out, "w") as f:
            f.write(sphinx_conf(idx, a.mem_limit, a.header))
    elif a.cmd_name == "measure":
        return _measure_cli(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
