"""Shared helpers for the pytest suites: build an index with the real
sgs-index, start and stop sgs-leaf and sgs-root processes on OS-chosen
loopback ports, a small keep-alive HTTP client, and a reference of the
search semantics (tokenizer, shard assignment, query-string parser, boolean
evaluation and BM25 top-k) written here independently of the C code.

Invariants:
  - every process started here is tracked and killed at the end of the
    session at the latest (tests/conftest.py), even when a test fails;
    only those PIDs are ever signalled;
  - the reference follows the contracts in common/query.h, common/eval.h,
    common/bm25.h and docs/query-language.md, never the C sources;
  - random helpers take an explicit seed; test_seed() prints SGS_TEST_SEED.
"""
import ctypes
import heapq
import http.client
import json
import math
import os
import random
import signal
import subprocess
import tempfile
import time
import unicodedata
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("SGS_BUILD", "build/release"))
SGS_INDEX = os.path.join(BUILD, "sgs-index")
SGS_SYNTH = os.path.join(BUILD, "sgs-synth")
SGS_LEAF = os.path.join(BUILD, "sgs-leaf")
SGS_ROOT = os.path.join(BUILD, "sgs-root")
GCIDE2JSONL = os.path.join(ROOT, "index-tools", "corpora", "gcide2jsonl.py")
GCIDE_INDEX = "/usr/share/dictd/gcide.index"

# A sanitizer build is several times slower: every wait scales with this.
SAN = bool(os.environ.get("SGS_SAN"))
SLOW = 5.0 if SAN else 1.0

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "LeakSanitizer", "runtime error:")

# ---------------------------------------------------------------- randomness


def test_seed():
    """The seed of this run's random tests: SGS_TEST_SEED or a fresh one, printed."""
    seed = int(os.environ.get("SGS_TEST_SEED", random.randrange(1 << 31)))
    print(f"SGS_TEST_SEED={seed}")
    return seed


test_seed.__test__ = False  # not a pytest test

# ------------------------------------------------------- hashing, sharding

_xxhash = ctypes.CDLL("libxxhash.so.0")
_xxhash.XXH3_64bits.restype = ctypes.c_uint64
_xxhash.XXH3_64bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]


def xxh3_64(data: bytes) -> int:
    return _xxhash.XXH3_64bits(data, len(data))


def jump_hash(key: int, buckets: int) -> int:
    """Lamping & Veach, 'A Fast, Minimal Memory, Consistent Hash Algorithm'."""
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * 2862933555777941757 + 1) & 0xFFFFFFFFFFFFFFFF
        j = int((b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b


def shard_of(doc_id: str, shards: int) -> int:
    return jump_hash(xxh3_64(doc_id.encode()), shards)

# ---------------------------------------------------------------- tokenizer


def _simple_lower(c: str) -> str:
    if c == "\u0130":  # the one letter whose full lowercase mapping differs in length
        return "i"
    low = c.lower()
    return low if len(low) == 1 else c


def tokenize(text: str):
    """Maximal runs of L* and N* code points, simple-lowercased; tokens over
    255 UTF-8 bytes are dropped."""
    out, cur = [], []
    for c in text + " ":
        if unicodedata.category(c)[0] in "LN":
            cur.append(_simple_lower(c))
        elif cur:
            tok = "".join(cur)
            if len(tok.encode()) <= 255:
                out.append(tok)
            cur = []
    return out


def reference_index(docs, shards, text_fields=("title", "body")):
    """Per document (id -> (shard, length)) and per term (term -> global df,
    {shard: shard df}) computed from parsed documents."""
    doc_info, df, shard_df = {}, {}, {}
    for d in docs:
        toks = doc_tokens(d, text_fields)
        s = shard_of(d["id"], shards)
        doc_info[d["id"]] = (s, len(toks))
        for t in set(toks):
            df[t] = df.get(t, 0) + 1
            shard_df.setdefault(t, {}).setdefault(s, 0)
            shard_df[t][s] += 1
    return doc_info, df, shard_df


def doc_tokens(d, text_fields=("title", "body")):
    toks = []
    for f in text_fields:
        v = d.get(f)
        if isinstance(v, str):
            toks.extend(tokenize(v))
    return toks

# ---------------------------------------------------------------- corpora

WORDS = ["alpha", "Beta", "gamma", "delta", "épée", "CAFÉ", "naïve", "straße", "ΩMEGA", "日本語",
         "x86", "42", "Ünïcödé", "İstanbul", "ǅemal", "crème", "brûlée", "über", "ŁÓDŹ", "мир",
         "Привет", "١٢٣", "ⅻ", "½", "a1b2", "e=mc²", "don't", "foo_bar", "co-op", "a.b.c"]


def synthetic_docs(seed, n):
    """Documents with Unicode, case, punctuation, numbers, extra and missing
    fields, and over-long tokens, so the tokenizer's edge cases are exercised."""
    rng = random.Random(seed)
    vocab = WORDS + ["w%d" % i for i in range(400)]
    docs = []
    for i in range(n):
        def words(k):
            return " ".join(rng.choice(vocab) if rng.random() < 0.7 else
                            "w%d" % int(rng.paretovariate(1.0)) for _ in range(k))
        d = {"id": "doc-%d-%s" % (i, rng.choice(["x", "é", "日"]))}
        if rng.random() < 0.9:
            d["title"] = words(rng.randint(1, 6))
        body = words(rng.randint(0, 60))
        if rng.random() < 0.05:
            body += " " + "z" * rng.choice([255, 256, 300]) + " tail"
        if rng.random() < 0.05:
            body += " ..,;!? \t\n"
        d["body"] = body
        if rng.random() < 0.1:
            d["extra"] = {"nested": [1, 2, 3]}
        if not tokenize(d.get("title", "") + " " + d["body"]):
            d["body"] = "filler"
        docs.append(d)
    return docs


def write_jsonl(path, docs):
    with open(path, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")


def gcide_docs(path, limit):
    """The first limit GCIDE entries as documents (written to path as JSON
    Lines), or None when dict-gcide is not installed."""
    if not os.path.exists(GCIDE_INDEX):
        return None
    r = run(["/usr/bin/python3", GCIDE2JSONL, "--limit", str(limit), "--out", str(path)])
    assert r.returncode == 0, r.stderr
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]

# ---------------------------------------------------------------- indexer


def run(args, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 600 * SLOW)
    return subprocess.run(args, **kw)


def build_index(docs, out_dir, shards, *extra_args, generation=None, check=True):
    """Writes docs (dicts) as JSON Lines beside out_dir and builds an index of
    shards shards into out_dir with sgs-index; generation is an int or hex
    string (default: random). Returns out_dir as a str."""
    out_dir = str(out_dir)
    src = out_dir.rstrip("/") + ".jsonl"
    write_jsonl(src, docs)
    args = [SGS_INDEX, "build", "--input", src, "--shards", str(shards), "--out", out_dir]
    if generation is not None:
        args += ["--generation",
                 generation if isinstance(generation, str) else "%016x" % generation]
    args += [str(a) for a in extra_args]
    r = run(args)
    if check:
        assert r.returncode == 0, f"sgs-index build failed ({r.returncode}): {r.stderr}"
    return out_dir


def manifest(index_dir):
    with open(os.path.join(str(index_dir), "manifest.json"), encoding="utf-8") as f:
        return json.load(f)

# ---------------------------------------------------------------- HTTP


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case name -> value (last one wins)
        self.header_list = None
        self.body = body
        self._json = None

    @property
    def json(self):
        if self._json is None:
            self._json = json.loads(self.body)
        return self._json

    def __repr__(self):
        return "Response(%d, %r)" % (self.status, self.body[:300])


class Http:
    """One keep-alive HTTP/1.1 connection to url (http://host:port)."""

    def __init__(self, url, timeout=30):
        host, port = url.split("//", 1)[1].rstrip("/").rsplit(":", 1)
        self.host, self.port = host.strip("[]"), int(port)
        self.timeout = timeout * SLOW
        self.conn = None

    def request(self, method, path, body=None, headers=None, json_body=None):
        """Sends one request and reads the whole answer. A dict/list json_body
        is sent as JSON. Raises on connection errors (no silent retry)."""
        headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body, ensure_ascii=False).encode()
            headers.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode()
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            self.conn.request(method, path, body=body, headers=headers)
            r = self.conn.getresponse()
            data = r.read()
        except Exception:
            self.close()
            raise
        resp = Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
        resp.header_list = r.getheaders()
        if r.will_close:
            self.close()
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def freeze(proc, timeout=10):
    """Sends SIGSTOP to proc (anything with .pid and .signal) and waits until
    every one of its threads shows as stopped: a thread running on another
    CPU stops a little later, and may still answer a request meanwhile."""
    proc.signal(signal.SIGSTOP)
    deadline = time.monotonic() + timeout * SLOW
    while True:
        states = []
        try:
            tasks = os.listdir("/proc/%d/task" % proc.pid)
        except OSError:
            tasks = []
        for t in tasks:
            try:
                with open("/proc/%d/task/%s/stat" % (proc.pid, t)) as f:
                    states.append(f.read().rsplit(")", 1)[1].split()[0])
            except OSError:
                pass
        if states and all(st in ("T", "t") for st in states):
            return
        if time.monotonic() > deadline:
            raise AssertionError("pid %d not stopped: %r" % (proc.pid, states))
        time.sleep(0.002)


def http_get(url, path, **kw):
    with Http(url) as h:
        return h.get(path, **kw)

# ---------------------------------------------------------------- processes

_LIVE = set()


def kill_all_live():
    """Kills every process these helpers started and still run (session end)."""
    for p in list(_LIVE):
        p.kill()


class Server:
    """A server process on 127.0.0.1:<OS-chosen port>: started with --listen
    and --port-file, ready once the port file exists and GET /readyz is 200.
    stderr goes to a file (.stderr_path) for diagnostics."""

    binary = None
    name = "server"

    def __init__(self, args, env=None, tmp_dir=None, wait=True, ready_timeout=30):
        self.tmp_dir = str(tmp_dir) if tmp_dir else tempfile.mkdtemp(prefix="sgs-%s-" % self.name)
        tag = "%s-%d" % (self.name, time.monotonic_ns())
        self.port_file = os.path.join(self.tmp_dir, tag + ".port")
        self.stderr_path = os.path.join(self.tmp_dir, tag + ".stderr")
        self.args = [self.binary, "--listen", "127.0.0.1:0", "--port-file", self.port_file]
        self.args += [str(a) for a in args]
        full_env = dict(os.environ)
        full_env.update(env or {})
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=self._err,
                                     env=full_env)
        _LIVE.add(self)
        self.port = None
        self.url = None
        self.returncode = None
        if wait:
            self.wait_ready(ready_timeout)

    @property
    def pid(self):
        return self.proc.pid

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def _fail(self, why):
        rc = self.proc.poll()
        self.kill()
        raise AssertionError("%s %s (exit %s); command %s; stderr:\n%s" %
                             (self.name, why, rc, " ".join(self.args), self.stderr()[-4000:]))

    def wait_port(self, timeout=30):
        deadline = time.monotonic() + timeout * SLOW
        while True:
            if os.path.exists(self.port_file):
                with open(self.port_file) as f:
                    text = f.read()
                if text.endswith("\n"):
                    self.port = int(text)
                    self.url = "http://127.0.0.1:%d" % self.port
                    return self.port
            if self.proc.poll() is not None:
                self._fail("exited before listening")
            if time.monotonic() > deadline:
                self._fail("wrote no port file in %.0f s" % (timeout * SLOW))
            time.sleep(0.01)

    def wait_ready(self, timeout=30):
        """Waits for the port file, then for GET /readyz 200."""
        deadline = time.monotonic() + timeout * SLOW
        self.wait_port(timeout)
        while True:
            try:
                if http_get(self.url, "/readyz").status == 200:
                    return self
            except OSError:
                pass
            if self.proc.poll() is not None:
                self._fail("exited before turning ready")
            if time.monotonic() > deadline:
                self._fail("not ready in %.0f s" % (timeout * SLOW))
            time.sleep(0.02)

    def signal(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout=30):
        try:
            self.returncode = self.proc.wait(timeout * SLOW)
        finally:
            _LIVE.discard(self)
            self._err.close()
        return self.returncode

    def stop(self, expect=0, timeout=30):
        """SIGTERM, wait; asserts the exit status is expect (None: any) and
        that stderr holds no sanitizer report. Returns the exit status."""
        if self.returncode is None:
            self.signal(signal.SIGTERM)
            try:
                self.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError("%s did not exit within %.0f s of SIGTERM; stderr:\n%s" %
                                     (self.name, timeout * SLOW, self.stderr()[-4000:]))
        self.assert_no_sanitizer_report()
        if expect is not None:
            assert self.returncode == expect, "%s exited %s, expected %s; stderr:\n%s" % (
                self.name, self.returncode, expect, self.stderr()[-4000:])
        return self.returncode

    def kill(self):
        if self.returncode is None:
            if self.proc.poll() is None:
                self.proc.kill()
            try:
                self.wait(10)
            except subprocess.TimeoutExpired:
                pass

    def assert_no_sanitizer_report(self):
        err = self.stderr()
        for m in SANITIZER_MARKERS:
            assert m not in err, "%s stderr holds a sanitizer report:\n%s" % (self.name, err[-8000:])

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *rest):
        if exc_type is None:
            self.stop()
        else:
            self.kill()


class Leaf(Server):
    """sgs-leaf serving index_dir; shard=None leaves the shard choice to args."""

    binary = SGS_LEAF
    name = "sgs-leaf"

    def __init__(self, index_dir, *args, shard=0, threads=2, **kw):
        a = ["--index", str(index_dir)]
        if shard is not None:
            a += ["--shard", str(shard)]
        if threads is not None:
            a += ["--threads", str(threads)]
        super().__init__(a + list(args), **kw)


class Root(Server):
    """sgs-root over shards ({shard: [leaf urls]}), extra args passed through."""

    binary = SGS_ROOT
    name = "sgs-root"

    def __init__(self, shards, *args, **kw):
        a = []
        for s in sorted(shards):
            a += ["--shard", "%d=%s" % (s, ",".join(shards[s]))]
        super().__init__(a + list(args), **kw)

# ---------------------------------------------------------------- queries
#
# Trees are tuples: ("term", token) | ("and", [..]) | ("or", [..]) | ("not", x).
# Raw trees (from the generator) may hold ("word", text): a query-string word
# or JSON term text, tokenized on normalization.


class QueryError(Exception):
    """A query the contract rejects; .type is the error.type expected."""

    def __init__(self, type_, reason):
        super().__init__(reason)
        self.type = type_


MAX_QUERY_BYTES = 4096
MAX_TERMS = 64
MAX_DEPTH = 16


def _word_node(text):
    toks = tokenize(text)
    if not toks:
        return None
    if len(toks) == 1:
        return ("term", toks[0])
    return ("and", [("term", t) for t in toks])


def normalize(node):
    """Normalized tree (common/query.h) of a raw tree, or None when it all
    drops out. Words become terms; nested AND/OR flatten; single children
    replace their parent; NOT NOT x is x."""
    if node is None:
        return None
    kind = node[0]
    if kind == "word":
        return _word_node(node[1])
    if kind == "term":
        return node
    if kind == "not":
        c = normalize(node[1])
        if c is None:
            return None
        if c[0] == "not":
            return c[1]
        return ("not", c)
    kids = []
    for c in node[1]:
        c = normalize(c)
        if c is None:
            continue
        if c[0] == kind:
            kids.extend(c[1])
        else:
            kids.append(c)
    if not kids:
        return None
    if len(kids) == 1:
        return kids[0]
    return (kind, kids)


def _lex(q):
    """Query string → lexemes: ("(",), (")",), ("OR",), ("NOT",), ("neg", n)
    (n dashes right before a parenthesis), ("word", text, n_dashes)."""
    out, i, n = [], 0, len(q)
    while i < n:
        c = q[i]
        if c in " \t\n\r":
            i += 1
        elif c in "()":
            out.append((c,))
            i += 1
        else:
            j = i
            while j < n and q[j] not in " \t\n\r()":
                j += 1
            w = q[i:j]
            dashes = len(w) - len(w.lstrip("-"))
            rest = w[dashes:]
            if rest == "":
                if j < n and q[j] == "(":
                    out.append(("neg", dashes))
                # a lone dash run is punctuation
            elif dashes == 0 and rest == "OR":
                out.append(("OR",))
            elif dashes == 0 and rest == "NOT":
                out.append(("NOT",))
            else:
                out.append(("word", rest, dashes))
            i = j
    return out


def parse_raw(q):
    """Parses a query string into a raw tree (words untokenized); raises
    QueryError for syntax errors."""
    toks = _lex(q)
    pos = [0]

    def peek():
        return toks[pos[0]] if pos[0] < len(toks) else None

    def take():
        t = peek()
        pos[0] += 1
        return t

    def neg(x, n):
        for _ in range(n):
            x = ("not", x)
        return x

    def unary():
        t = peek()
        if t is None or t[0] in (")", "OR"):
            raise QueryError("invalid_query", "operator with no word after it")
        if t[0] == "NOT":
            take()
            return ("not", unary())
        if t[0] == "neg":
            take()
            if peek() is None or peek()[0] != "(":
                raise QueryError("invalid_query", "dash group")
            return neg(primary(), t[1])
        return primary()

    def primary():
        t = take()
        if t[0] == "word":
            return neg(("word", t[1]), t[2])
        if t[0] == "(":
            if peek() is not None and peek()[0] == ")":
                raise QueryError("invalid_query", "empty parentheses")
            e = and_expr()
            if peek() is None or peek()[0] != ")":
                raise QueryError("invalid_query", "'(' is never closed")
            take()
            return e
        raise QueryError("invalid_query", "unexpected %r" % (t,))

    def or_expr():
        kids = [unary()]
        while peek() is not None and peek()[0] == "OR":
            take()
            kids.append(unary())
        return kids[0] if len(kids) == 1 else ("or", kids)

    def and_expr():
        kids = []
        while peek() is not None and peek()[0] != ")":
            kids.append(or_expr())
        if not kids:
            raise QueryError("invalid_query", "empty query")
        return kids[0] if len(kids) == 1 else ("and", kids)

    tree = and_expr()
    if peek() is not None:
        raise QueryError("invalid_query", "')' has no matching '('")
    return tree


def raw_from_json(tree):
    """A JSON query tree → raw tree; raises QueryError for wrong shapes."""
    if not isinstance(tree, dict) or len(tree) != 1:
        raise QueryError("invalid_query", "expected an object with one key")
    (k, v), = tree.items()
    if k == "term":
        if not isinstance(v, str):
            raise QueryError("invalid_query", "term must be a string")
        return ("word", v)
    if k in ("and", "or"):
        if not isinstance(v, list) or not v:
            raise QueryError("invalid_query", "expected a non-empty array")
        return (k, [raw_from_json(c) for c in v])
    if k == "not":
        return ("not", raw_from_json(v))
    raise QueryError("invalid_query", "unknown key %r" % k)


def positive_terms(node, negated=False, out=None):
    """Distinct positive terms (reached through no NOT), sorted by UTF-8 bytes."""
    top = out is None
    out = set() if top else out
    if node[0] == "term":
        if not negated:
            out.add(node[1])
    elif node[0] == "not":
        positive_terms(node[1], True, out)
    else:
        for c in node[1]:
            positive_terms(c, negated, out)
    return sorted(out, key=lambda t: t.encode()) if top else out


def count_terms(node):
    if node[0] == "term":
        return 1
    if node[0] == "not":
        return count_terms(node[1])
    return sum(count_terms(c) for c in node[1])


def tree_depth(node):
    if node[0] == "term":
        return 1
    if node[0] == "not":
        return 1 + tree_depth(node[1])
    return 1 + max(tree_depth(c) for c in node[1])


def finish(raw):
    """Normalizes a raw tree and applies the validity rules: a normalized
    tree, or QueryError."""
    n = normalize(raw)
    if n is None:
        raise QueryError("invalid_query", "every word dropped out")
    if count_terms(n) > MAX_TERMS:
        raise QueryError("too_many_terms", "too many terms")
    if tree_depth(n) > MAX_DEPTH:
        raise QueryError("query_too_deep", "too deep")
    if not positive_terms(n):
        raise QueryError("invalid_query", "no positive term")
    return n


def parse_query(q):
    """The normalized tree of a query string (QueryError when invalid)."""
    if len(q.encode()) > MAX_QUERY_BYTES:
        raise QueryError("query_too_long", "query too long")
    return finish(parse_raw(q))


def query_from_json(tree):
    """The normalized tree of a JSON query tree (QueryError when invalid)."""
    return finish(raw_from_json(tree))


def tree_to_json(node):
    """A normalized tree as a JSON query tree."""
    if node[0] == "term":
        return {"term": node[1]}
    if node[0] == "not":
        return {"not": tree_to_json(node[1])}
    return {node[0]: [tree_to_json(c) for c in node[1]]}

# ---------------------------------------------------------------- reference


def id_key(doc_id):
    return doc_id.encode()


class Reference:
    """Brute-force evaluation of normalized trees over docs, with BM25 on
    corpus-wide statistics; shards/shard restrict the matching documents to
    one shard of a shards-way build while the statistics stay corpus-wide."""

    K1 = 1.2
    B = 0.75

    def __init__(self, docs, text_fields=("title", "body"), store_fields=("title",)):
        self.docs = docs
        self.ids = [d["id"] for d in docs]
        self.tf = []
        self.length = []
        self.postings = {}
        self.fields = []
        total = 0
        for i, d in enumerate(docs):
            toks = doc_tokens(d, text_fields)
            c = Counter(toks)
            self.tf.append(c)
            self.length.append(len(toks))
            total += len(toks)
            for t in c:
                self.postings.setdefault(t, set()).add(i)
            self.fields.append({f: d[f] for f in store_fields if f in d})
        self.n = len(docs)
        self.avg_len = total / self.n if self.n else 0.0
        self.universe = set(range(self.n))
        self.norm = [self.K1 * (1.0 - self.B + self.B * ln / self.avg_len) for ln in self.length]
        self.id_bytes = [i.encode() for i in self.ids]
        self._contrib = {}
        self._shard_sets = {}

    def idf(self, term):
        df = len(self.postings.get(term, ()))
        return math.log(1.0 + (self.n - df + 0.5) / (df + 0.5))

    def matches(self, node, universe):
        k = node[0]
        if k == "term":
            return self.postings.get(node[1], set()) & universe
        if k == "not":
            return universe - self.matches(node[1], universe)
        sets = [self.matches(c, universe) for c in node[1]]
        if k == "and":
            out = sets[0]
            for s in sets[1:]:
                out = out & s
            return out
        out = set()
        for s in sets:
            out |= s
        return out

    def contributions(self, term):
        """{doc: the term's BM25 contribution}, computed once per term."""
        c = self._contrib.get(term)
        if c is None:
            idf = self.idf(term)
            c = {}
            for d in self.postings.get(term, ()):
                tf = self.tf[d][term]
                c[d] = idf * tf * (self.K1 + 1.0) / (tf + self.norm[d])
            self._contrib[term] = c
        return c

    def score(self, doc, terms):
        """The sum, in the order of terms, of their contributions to doc."""
        s = 0.0
        for t in terms:
            s += self.contributions(t).get(doc, 0.0)
        return s

    def shard_universe(self, shards, shard):
        key = (shards, shard)
        if key not in self._shard_sets:
            self._shard_sets[key] = {i for i, d in enumerate(self.ids)
                                     if shard_of(d, shards) == shard}
        return self._shard_sets[key]

    def search(self, node, k=10, shards=1, shard=0):
        """(total, [(id, score, fields)] best first, {id: score} of every
        match) for a normalized tree."""
        universe = self.universe if shards == 1 else self.shard_universe(shards, shard)
        docs = self.matches(node, universe)
        terms = positive_terms(node)
        contribs = [self.contributions(t) for t in terms]
        scores = {}
        for d in docs:
            v = 0.0
            for c in contribs:
                v += c.get(d, 0.0)
            scores[d] = v
        ib = self.id_bytes
        best = heapq.nsmallest(k, docs, key=lambda d: (-scores[d], ib[d])) if k else []
        hits = [(self.ids[d], scores[d], self.fields[d]) for d in best]
        return len(docs), hits, {self.ids[d]: v for d, v in scores.items()}

def close(a, b, rel=1e-5):
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-12)


def hits_match(got, want, all_scores, rel=1e-5):
    """None when got ([(id, score, fields)]) equals want, the reference top-k,
    within score tolerance; otherwise a description of the first difference.
    Where reference scores are within rel of each other (near ties the float
    arithmetic of another summation may order differently) any of the tied
    documents may take the place."""
    if len(got) != len(want):
        return "got %d hits, want %d" % (len(got), len(want))
    for i, (g, w) in enumerate(zip(got, want)):
        gid, gscore, gfields = g
        wid, wscore, wfields = w
        if not close(gscore, wscore, rel):
            return "hit %d: score %r, want %r (id %s, want %s)" % (i, gscore, wscore, gid, wid)
        if gid != wid:
            if gid not in all_scores or not close(all_scores[gid], wscore, rel):
                return "hit %d: id %r, want %r (score %r)" % (i, gid, wid, wscore)
        if gid == wid and gfields != wfields:
            return "hit %d (%s): fields %r, want %r" % (i, gid, gfields, wfields)
    if len({g[0] for g in got}) != len(got):
        return "duplicate ids in %r" % [g[0] for g in got]
    return None


def merge_shard_answers(answers, k):
    """Merges per-shard (total, hits) answers: summed totals, top-k by score
    descending then id bytes ascending."""
    total = sum(a[0] for a in answers)
    hits = [h for a in answers for h in a[1]]
    hits.sort(key=lambda h: (-h[1], id_key(h[0])))
    return total, hits[:k]

# ---------------------------------------------------------------- generator

UNICODE_WORDS = ["épée", "CAFÉ", "naïve", "straße", "ΩMEGA", "日本語", "Ünïcödé", "İstanbul",
                 "ǅemal", "crème", "мир", "Привет", "١٢٣", "ⅻ", "über", "ŁÓDŹ"]
MULTI_WORDS = ["co-op", "a.b.c", "e=mc²", "don't", "foo_bar", "x86-64", "E-Mail", "w1,w2"]
DROP_WORDS = ["!!!", "...", "½?", "—"]


class QueryGen:
    """Seeded random queries over a vocabulary: common terms (vocab's head),
    rare ones (its tail), missing ones, Unicode, multi-token and empty words,
    all operators and nesting. gen() returns a raw tree; as_string() and
    as_json() render it in either syntax."""

    def __init__(self, seed, vocab, max_depth=3, loose=0.1):
        self.rng = random.Random(seed)
        self.loose = loose  # how often as_string leaves out needed parentheses
        self.vocab = list(vocab)  # most frequent first
        self.max_depth = max_depth

    def word(self):
        r, rng = self.rng.random(), self.rng
        if r < 0.45:
            w = rng.choice(self.vocab[: max(1, len(self.vocab) // 20)])
        elif r < 0.75:
            w = rng.choice(self.vocab)
        elif r < 0.82:
            w = "zz%dmissing" % rng.randrange(1000)
        elif r < 0.9:
            w = rng.choice(UNICODE_WORDS)
        elif r < 0.97:
            w = rng.choice(MULTI_WORDS)
        else:
            w = rng.choice(DROP_WORDS)
        if w in ("OR", "NOT"):
            w = w.lower()
        if rng.random() < 0.15:
            w = w.upper() if rng.random() < 0.5 else w.capitalize()
            if w in ("OR", "NOT"):
                w = w.lower()
        return ("word", w)

    def gen(self, depth=0):
        rng = self.rng
        if depth >= self.max_depth or rng.random() < 0.35 + 0.15 * depth:
            w = self.word()
            return ("not", w) if depth > 0 and rng.random() < 0.15 else w
        kind = rng.choice(["and", "and", "or", "or", "not"])
        if kind == "not":
            return ("not", self.gen(depth + 1))
        return (kind, [self.gen(depth + 1) for _ in range(rng.randint(2, 4))])

    def query(self):
        """A raw tree that has a positive term most of the time."""
        t = self.gen()
        if t[0] == "not" and self.rng.random() < 0.8:
            t = ("and", [self.word(), t])
        return t

    def as_string(self, node, ctx="top"):
        rng = self.rng
        k = node[0]
        if k == "word":
            return node[1]
        if k == "not":
            inner = node[1]
            s = self.as_string(inner, "not")
            if inner[0] in ("and", "or") and not s.startswith("("):
                s = "(" + s + ")"
            if s.startswith("NOT "):
                return "NOT " + s
            return ("-" + s) if rng.random() < 0.5 and not s.startswith("-") else "NOT " + s
        if k == "or":
            s = " OR ".join(self.as_string(c, "or") for c in node[1])
            need = ctx == "not"
            return "(" + s + ")" if need or (ctx != "top" and rng.random() < 0.3) else s
        s = (" " if rng.random() < 0.8 else "  \t").join(self.as_string(c, "and")
                                                          for c in node[1])
        need = ctx in ("or", "not")
        # Now and then leave out needed parentheses: the reference parses the
        # text either way, so the precedence rules get exercised too.
        if need and rng.random() < self.loose:
            need = False
        return "(" + s + ")" if need or (ctx == "and" and rng.random() < 0.3) else s

    def as_json(self, node):
        k = node[0]
        if k == "word":
            return {"term": node[1]}
        if k == "not":
            return {"not": self.as_json(node[1])}
        return {k: [self.as_json(c) for c in node[1]]}

# ---------------------------------------------------------------- checking


def expected(body_query):
    """The normalized tree a search body's q (str) or query (JSON tree)
    should evaluate, or the QueryError it should be rejected with."""
    try:
        if isinstance(body_query, str):
            return parse_query(body_query)
        return query_from_json(body_query)
    except QueryError as e:
        return e


def answer_of(resp_json):
    """(total, [(id, score, fields)]) of a JSON search answer."""
    return resp_json["total"], [(h["id"], h["score"], h["fields"]) for h in resp_json["hits"]]


def check_search(ref, resp, want, k, shards=1, shard=0):
    """None when the leaf's HTTP answer resp to a query whose expected tree
    or error is want matches the reference; otherwise what differs."""
    if isinstance(want, QueryError):
        if resp.status != 400:
            return "status %d, want 400 %s: %r" % (resp.status, want.type, resp.body[:300])
        try:
            got_type = resp.json["error"]["type"]
        except (ValueError, KeyError, TypeError):
            return "error body %r" % resp.body[:300]
        return None if got_type == want.type else "error type %s, want %s" % (got_type, want.type)
    if resp.status != 200:
        return "status %d: %r" % (resp.status, resp.body[:300])
    total, hits, scores = ref.search(want, k, shards, shard)
    got_total, got_hits = answer_of(resp.json)
    if got_total != total:
        return "total %d, want %d" % (got_total, total)
    return hits_match(got_hits, hits, scores)


class Corpus:
    """Documents, their reference, their vocabulary by document frequency
    (most common first), and index builds of them cached by shard count."""

    def __init__(self, docs, tmp_dir, name="corpus"):
        self.docs = docs
        self.ref = Reference(docs)
        self.vocab = sorted(self.ref.postings, key=lambda t: (-len(self.ref.postings[t]), t))
        self.tmp_dir = str(tmp_dir)
        self.name = name
        self._indexes = {}

    def index(self, shards, generation=None):
        key = (shards, generation)
        if key not in self._indexes:
            out = os.path.join(self.tmp_dir, "%s-%d-%s" % (self.name, shards, generation))
            self._indexes[key] = build_index(self.docs, out, shards, generation=generation)
        return self._indexes[key]
