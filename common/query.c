/* The query language: the string parser (a lexer and a recursive-descent
 * parser whose recursion is bounded by the nesting limit, checked before each
 * descent), the JSON tree reader (bounded likewise), the validator for trees
 * built elsewhere, the two printers and the positive-term list.
 *
 * Every builder normalizes bottom-up as it goes: a node is made from children
 * that are already normalized, so flattening one level, dropping vanished
 * operands and cancelling NOT NOT at the node being made is enough.
 *
 * A vanished operand (a word with no tokens, or an operator over vanished
 * operands) is NULL while building: an AND or OR drops it, a NOT over it
 * vanishes too, and a query that vanishes entirely has no positive term. */
#include "common/query.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tokenize.h"

/* ---- building normalized nodes ------------------------------------------- */

/* A growable array of node pointers in the arena (queries are small, so the
 * copies on growth waste little). */
typedef struct nodevec {
    sgs_query_node **v;
    uint32_t n, cap;
} nodevec;

static void nodevec_push(sgs_arena *a, nodevec *nv, sgs_query_node *x)
{
    if (nv->n == nv->cap) {
        uint32_t cap = nv->cap ? nv->cap * 2 : 4;
        sgs_query_node **v = sgs_arena_alloc(a, cap * sizeof *v);
        if (nv->n)
            memcpy(v, nv->v, nv->n * sizeof *v);
        nv->v = v;
        nv->cap = cap;
    }
    nv->v[nv->n++] = x;
}

static sgs_query_node *new_term(sgs_arena *a, const char *tok, size_t len)
{
    sgs_query_node *n = sgs_arena_zalloc(a, sizeof *n);
    n->kind = SGS_QUERY_TERM;
    n->term = sgs_arena_strndup(a, tok, len);
    n->term_len = (uint32_t)len;
    return n;
}

/* An AND or OR over kids (normalized or NULL): vanished kids dropped, kids of
 * the same kind spliced in, a single kid returned as is, none gives NULL. */
static sgs_query_node *make_nary(sgs_arena *a, sgs_query_kind kind, const nodevec *kids)
{
    uint32_t count = 0;
    sgs_query_node *last = NULL;
    for (uint32_t i = 0; i < kids->n; i++) {
        sgs_query_node *k = kids->v[i];
        if (k == NULL)
            continue;
        count += k->kind == kind ? k->n_children : 1;
        last = k;
    }
    if (count == 0)
        return NULL;
    if (count == 1)
        return last;
    sgs_query_node *n = sgs_arena_zalloc(a, sizeof *n);
    n->kind = kind;
    n->n_children = count;
    n->children = sgs_arena_alloc(a, count * sizeof *n->children);
    uint32_t j = 0;
    for (uint32_t i = 0; i < kids->n; i++) {
        sgs_query_node *k = kids->v[i];
        if (k == NULL)
            continue;
        if (k->kind == kind) {
            memcpy(n->children + j, k->children, k->n_children * sizeof *k->children);
            j += k->n_children;
        } else {
            n->children[j++] = k;
        }
    }
    return n;
}

/* NOT over child (normalized or NULL): NOT NOT x is x, NOT of nothing is nothing. */
static sgs_query_node *make_not(sgs_arena *a, sgs_query_node *child)
{
    if (child == NULL)
        return NULL;
    if (child->kind == SGS_QUERY_NOT)
        return child->children[0];
    sgs_query_node *n = sgs_arena_zalloc(a, sizeof *n);
    n->kind = SGS_QUERY_NOT;
    n->n_children = 1;
    n->children = sgs_arena_alloc(a, sizeof *n->children);
    n->children[0] = child;
    return n;
}

/* Tokenizing one word (or JSON term) into TERM nodes, counting against the limit. */
typedef struct word_ctx {
    sgs_arena *a;
    nodevec terms;
    uint32_t *n_terms;
    bool too_many;
} word_ctx;

static void on_token(void *ctx, const char *tok, size_t len)
{
    word_ctx *w = ctx;
    if (*w->n_terms >= SGS_QUERY_MAX_TERMS) {
        w->too_many = true;
        return;
    }
    (*w->n_terms)++;
    nodevec_push(w->a, &w->terms, new_term(w->a, tok, len));
}

/* The node of one word: a TERM, the AND of its TERMs, or NULL when it has no
 * tokens. False when the query's terms pass the limit (the caller names the
 * place, so no message is formatted unless it fails). */
static bool word_node(sgs_arena *a, const char *s, size_t len, uint32_t *n_terms,
                      sgs_query_node **out)
{
    word_ctx w = {.a = a, .n_terms = n_terms};
    sgs_tokenize(s, len, on_token, &w);
    if (w.too_many)
        return false;
    *out = make_nary(a, SGS_QUERY_AND, &w.terms);
    return true;
}

/* Levels of a normalized tree (a TERM is 1). Only called on trees whose
 * depth the builders already bounded. */
static uint32_t tree_depth(const sgs_query_node *n)
{
    uint32_t d = 0;
    for (uint32_t i = 0; i < n->n_children; i++) {
        uint32_t c = tree_depth(n->children[i]);
        if (c > d)
            d = c;
    }
    return d + 1;
}

static bool has_positive(const sgs_query_node *n)
{
    switch (n->kind) {
    case SGS_QUERY_TERM:
        return true;
    case SGS_QUERY_NOT:
        return false;
    default:
        for (uint32_t i = 0; i < n->n_children; i++)
            if (has_positive(n->children[i]))
                return true;
        return false;
    }
}

/* The checks every parser ends with: something left, depth, a positive term. */
static sgs_query_node *finish(sgs_query_node *root, const char *what, sgs_err *err)
{
    if (root == NULL) {
        sgs_err_set(err, SGS_EQUERY, "%s has no searchable words", what);
        return NULL;
    }
    uint32_t depth = tree_depth(root);
    if (depth > SGS_QUERY_MAX_DEPTH) {
        sgs_err_set(err, SGS_EQUERY_DEPTH, "%s is %u levels deep, more than %u", what, depth,
                    SGS_QUERY_MAX_DEPTH);
        return NULL;
    }
    if (!has_positive(root)) {
        sgs_err_set(err, SGS_EQUERY,
                    "%s has no positive term: every word is excluded by NOT or '-'", what);
        return NULL;
    }
    return root;
}

/* ---- the query string ----------------------------------------------------- */

enum lex_kind { LEX_END, LEX_WORD, LEX_OR, LEX_NOT, LEX_LPAREN, LEX_RPAREN };

typedef struct parser {
    const char *q;
    size_t len;
    size_t pos;     /* where the next token is lexed */
    bool plain;     /* the next word follows '-' and is never OR/NOT */
    int tok;        /* current token */
    size_t tok_off; /* its offset */
    size_t tok_len; /* its length (a word's bytes are q + tok_off) */
    sgs_arena *a;
    uint32_t n_terms;
    sgs_err *err;
} parser;

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_delim(unsigned char c)
{
    return is_space(c) || c == '(' || c == ')';
}

/* Lexes the next token. A run of '-' opening a word is one NOT per dash
 * when a word or '(' follows; a word of dashes alone is an ordinary word
 * (with no tokens, so it drops out). */
static void lex(parser *p)
{
    const unsigned char *s = (const unsigned char *)p->q;
    while (p->pos < p->len && is_space(s[p->pos]))
        p->pos++;
    bool plain = p->plain;
    p->plain = false;
    p->tok_off = p->pos;
    p->tok_len = 1;
    if (p->pos >= p->len) {
        p->tok = LEX_END;
        p->tok_len = 0;
        return;
    }
    if (s[p->pos] == '(' || s[p->pos] == ')') {
        p->tok = s[p->pos] == '(' ? LEX_LPAREN : LEX_RPAREN;
        p->pos++;
        return;
    }
    size_t end = p->pos;
    while (end < p->len && !is_delim(s[end]))
        end++;
    if (s[p->pos] == '-') {
        size_t rest = p->pos;
        while (rest < end && s[rest] == '-')
            rest++;
        if (rest < end || (end < p->len && s[end] == '(')) {
            p->tok = LEX_NOT;
            p->pos++;
            p->plain = true;
            return;
        }
    }
    p->tok_len = end - p->pos;
    p->pos = end;
    if (!plain && p->tok_len == 2 && memcmp(s + p->tok_off, "OR", 2) == 0)
        p->tok = LEX_OR;
    else if (!plain && p->tok_len == 3 && memcmp(s + p->tok_off, "NOT", 3) == 0)
        p->tok = LEX_NOT;
    else
        p->tok = LEX_WORD;
}

static int parse_seq(parser *p, uint32_t nesting, sgs_query_node **out, bool *empty);

/* The name of the current NOT token as written, for messages. */
static const char *not_name(const parser *p)
{
    return p->tok_len == 1 ? "'-'" : "NOT";
}

/* unary := ('NOT' | '-') unary | WORD | '(' seq ')' */
static int parse_unary(parser *p, uint32_t nesting, sgs_query_node **out)
{
    size_t off = p->tok_off;
    int rc;
    switch (p->tok) {
    case LEX_NOT: {
        const char *name = not_name(p);
        if (nesting + 2 > SGS_QUERY_MAX_DEPTH)
            return sgs_err_set(p->err, SGS_EQUERY_DEPTH,
                               "%s at byte %zu nests deeper than %u levels of parentheses and NOT",
                               name, off, SGS_QUERY_MAX_DEPTH);
        lex(p);
        if (p->tok == LEX_END || p->tok == LEX_RPAREN || p->tok == LEX_OR)
            return sgs_err_set(p->err, SGS_EQUERY, "%s at byte %zu has no word after it", name,
                               off);
        sgs_query_node *child = NULL;
        if ((rc = parse_unary(p, nesting + 1, &child)) != 0)
            return rc;
        *out = make_not(p->a, child);
        return 0;
    }
    case LEX_LPAREN: {
        if (nesting + 2 > SGS_QUERY_MAX_DEPTH)
            return sgs_err_set(p->err, SGS_EQUERY_DEPTH,
                               "'(' at byte %zu nests deeper than %u levels of parentheses and NOT",
                               off, SGS_QUERY_MAX_DEPTH);
        lex(p);
        bool empty = false;
        if ((rc = parse_seq(p, nesting + 1, out, &empty)) != 0)
            return rc;
        if (p->tok != LEX_RPAREN)
            return sgs_err_set(p->err, SGS_EQUERY, "'(' at byte %zu is never closed", off);
        if (empty)
            return sgs_err_set(p->err, SGS_EQUERY, "empty parentheses at byte %zu", off);
        lex(p);
        return 0;
    }
    case LEX_WORD: {
        if (!word_node(p->a, p->q + off, p->tok_len, &p->n_terms, out))
            return sgs_err_set(p->err, SGS_EQUERY_TERMS,
                               "word at byte %zu: more than %u terms in the query", off,
                               SGS_QUERY_MAX_TERMS);
        lex(p);
        return 0;
    }
    default:
        /* parse_seq and parse_or never call here on END, OR or ')'. */
        return sgs_err_set(p->err, SGS_EINTERNAL, "query parser: unexpected token at byte %zu",
                           off);
    }
}

/* or := unary ('OR' unary)* */
static int parse_or(parser *p, uint32_t nesting, sgs_query_node **out)
{
    nodevec kids = {0};
    sgs_query_node *n = NULL;
    int rc = parse_unary(p, nesting, &n);
    if (rc != 0)
        return rc;
    nodevec_push(p->a, &kids, n);
    while (p->tok == LEX_OR) {
        size_t off = p->tok_off;
        lex(p);
        if (p->tok == LEX_END || p->tok == LEX_RPAREN || p->tok == LEX_OR)
            return sgs_err_set(p->err, SGS_EQUERY, "OR at byte %zu has no word after it", off);
        if ((rc = parse_unary(p, nesting, &n)) != 0)
            return rc;
        nodevec_push(p->a, &kids, n);
    }
    *out = make_nary(p->a, SGS_QUERY_OR, &kids);
    return 0;
}

/* seq := or* up to ')' or the end, ANDed; *empty when it holds nothing. */
static int parse_seq(parser *p, uint32_t nesting, sgs_query_node **out, bool *empty)
{
    nodevec kids = {0};
    *empty = true;
    while (p->tok != LEX_END && p->tok != LEX_RPAREN) {
        if (p->tok == LEX_OR)
            return sgs_err_set(p->err, SGS_EQUERY, "OR at byte %zu has no word before it",
                               p->tok_off);
        sgs_query_node *n = NULL;
        int rc = parse_or(p, nesting, &n);
        if (rc != 0)
            return rc;
        *empty = false;
        nodevec_push(p->a, &kids, n);
    }
    *out = make_nary(p->a, SGS_QUERY_AND, &kids);
    return 0;
}

sgs_query_node *sgs_query_parse(const char *q, size_t len, sgs_arena *a, sgs_err *err)
{
    if (len > SGS_QUERY_MAX_BYTES) {
        sgs_err_set(err, SGS_EQUERY_LONG, "query is %zu bytes, more than %u", len,
                    SGS_QUERY_MAX_BYTES);
        return NULL;
    }
    size_t bad;
    if (!sgs_utf8_check(q, len, &bad)) {
        sgs_err_set(err, SGS_EQUERY, "query is not valid UTF-8 at byte %zu", bad);
        return NULL;
    }
    parser p = {.q = q, .len = len, .a = a, .err = err};
    lex(&p);
    sgs_query_node *root = NULL;
    bool empty = false;
    if (parse_seq(&p, 0, &root, &empty) != 0)
        return NULL;
    if (p.tok == LEX_RPAREN) {
        sgs_err_set(err, SGS_EQUERY, "')' at byte %zu has no matching '('", p.tok_off);
        return NULL;
    }
    if (empty) {
        sgs_err_set(err, SGS_EQUERY, "query is empty");
        return NULL;
    }
    return finish(root, "query", err);
}

/* ---- the JSON tree -------------------------------------------------------- */

#define PATH_MAX_BYTES 512
#define PATH_MAX_STEPS (SGS_QUERY_MAX_DEPTH + 2)

/* Where in a tree a reader is, kept as steps and formatted ("query.and[2].not")
 * only when an error names it, so a valid tree costs no formatting. */
typedef struct path_step {
    const char *key;
    uint32_t index;
    bool indexed;
} path_step;

typedef struct tree_path {
    path_step steps[PATH_MAX_STEPS];
    uint32_t n; /* may pass PATH_MAX_STEPS; deeper steps are not kept */
    char text[PATH_MAX_BYTES];
} tree_path;

static void path_push(tree_path *p, const char *key, size_t index, bool indexed)
{
    if (p->n < PATH_MAX_STEPS)
        p->steps[p->n] = (path_step){key, (uint32_t)index, indexed};
    p->n++;
}

static void path_pop(tree_path *p)
{
    p->n--;
}

/* The path as text, in p->text. */
static const char *path_str(tree_path *p)
{
    size_t len = (size_t)snprintf(p->text, sizeof p->text, "query");
    uint32_t n = p->n < PATH_MAX_STEPS ? p->n : PATH_MAX_STEPS;
    for (uint32_t i = 0; i < n && len < sizeof p->text; i++) {
        const path_step *st = &p->steps[i];
        int w = st->indexed ? snprintf(p->text + len, sizeof p->text - len, ".%s[%" PRIu32 "]",
                                       st->key, st->index)
                            : snprintf(p->text + len, sizeof p->text - len, ".%s", st->key);
        if (w < 0)
            break;
        len += (size_t)w;
    }
    return p->text;
}

typedef struct json_ctx {
    sgs_arena *a;
    uint32_t n_terms;
    tree_path path;
    sgs_err *err;
} json_ctx;

/* depth: levels of JSON objects down to and including j (the root is 1). */
static int json_node(json_ctx *c, const json_t *j, uint32_t depth, sgs_query_node **out)
{
    if (!json_is_object(j))
        return sgs_err_set(c->err, SGS_EQUERY,
                           "%s: expected an object with one key: term, and, or or not",
                           path_str(&c->path));
    if (json_object_size(j) != 1)
        return sgs_err_set(c->err, SGS_EQUERY, "%s: expected exactly one key, found %zu",
                           path_str(&c->path), json_object_size(j));
    void *it = json_object_iter((json_t *)j);
    const char *key = json_object_iter_key(it);
    const json_t *v = json_object_iter_value(it);
    int rc;

    if (strcmp(key, "term") == 0) {
        path_push(&c->path, "term", 0, false);
        if (!json_is_string(v)) {
            rc = sgs_err_set(c->err, SGS_EQUERY, "%s: expected a string", path_str(&c->path));
        } else {
            const char *s = json_string_value(v);
            size_t len = json_string_length(v), bad;
            if (len > SGS_QUERY_MAX_BYTES)
                rc = sgs_err_set(c->err, SGS_EQUERY_LONG, "%s: %zu bytes, more than %u",
                                 path_str(&c->path), len, SGS_QUERY_MAX_BYTES);
            else if (!sgs_utf8_check(s, len, &bad))
                rc = sgs_err_set(c->err, SGS_EQUERY, "%s: not valid UTF-8 at byte %zu",
                                 path_str(&c->path), bad);
            else if (!word_node(c->a, s, len, &c->n_terms, out))
                rc = sgs_err_set(c->err, SGS_EQUERY_TERMS, "%s: more than %u terms in the query",
                                 path_str(&c->path), SGS_QUERY_MAX_TERMS);
            else
                rc = 0;
        }
        path_pop(&c->path);
        return rc;
    }

    bool is_and = strcmp(key, "and") == 0, is_or = strcmp(key, "or") == 0;
    bool is_not = strcmp(key, "not") == 0;
    if (!is_and && !is_or && !is_not)
        return sgs_err_set(c->err, SGS_EQUERY,
                           "%s: unknown key \"%.64s\" (expected term, and, or or not)",
                           path_str(&c->path), key);
    if (depth + 1 > SGS_QUERY_MAX_DEPTH)
        return sgs_err_set(c->err, SGS_EQUERY_DEPTH, "%s.%s: nested deeper than %u levels",
                           path_str(&c->path), key, SGS_QUERY_MAX_DEPTH);

    if (is_not) {
        path_push(&c->path, "not", 0, false);
        sgs_query_node *child = NULL;
        rc = json_node(c, v, depth + 1, &child);
        path_pop(&c->path);
        if (rc == 0)
            *out = make_not(c->a, child);
        return rc;
    }

    if (!json_is_array(v) || json_array_size(v) == 0) {
        return sgs_err_set(c->err, SGS_EQUERY, "%s.%s: expected a non-empty array",
                           path_str(&c->path), key);
    }
    nodevec kids = {0};
    for (size_t i = 0; i < json_array_size(v); i++) {
        path_push(&c->path, is_and ? "and" : "or", i, true);
        sgs_query_node *child = NULL;
        rc = json_node(c, json_array_get(v, i), depth + 1, &child);
        path_pop(&c->path);
        if (rc != 0)
            return rc;
        nodevec_push(c->a, &kids, child);
    }
    *out = make_nary(c->a, is_and ? SGS_QUERY_AND : SGS_QUERY_OR, &kids);
    return 0;
}

sgs_query_node *sgs_query_from_json(const json_t *tree, sgs_arena *a, sgs_err *err)
{
    json_ctx c = {.a = a, .err = err};
    if (tree == NULL) {
        sgs_err_set(err, SGS_EQUERY, "query: missing");
        return NULL;
    }
    sgs_query_node *root = NULL;
    if (json_node(&c, tree, 1, &root) != 0)
        return NULL;
    return finish(root, "query", err);
}

/* ---- validating trees built elsewhere ------------------------------------- */

typedef struct validate_ctx {
    uint32_t n_terms;
    bool positive;
    tree_path path;
    sgs_err *err;
} validate_ctx;

/* The tokenizer turns s into exactly one token equal to s. */
typedef struct self_token {
    const char *s;
    size_t len;
    size_t n;
    bool same;
} self_token;

static void on_self_token(void *ctx, const char *tok, size_t len)
{
    self_token *t = ctx;
    t->n++;
    t->same = len == t->len && memcmp(tok, t->s, len) == 0;
}

static int validate_node(validate_ctx *c, const sgs_query_node *n, uint32_t depth, bool positive)
{
    if (depth > SGS_QUERY_MAX_DEPTH)
        return sgs_err_set(c->err, SGS_EQUERY_DEPTH, "%s: nested deeper than %u levels",
                           path_str(&c->path), SGS_QUERY_MAX_DEPTH);
    if (n == NULL)
        return sgs_err_set(c->err, SGS_EQUERY, "%s: missing node", path_str(&c->path));
    switch (n->kind) {
    case SGS_QUERY_TERM: {
        if (n->n_children != 0)
            return sgs_err_set(c->err, SGS_EQUERY, "%s: a term with children", path_str(&c->path));
        if (n->term == NULL || n->term_len == 0 || n->term_len > SGS_TOKEN_MAX_BYTES)
            return sgs_err_set(c->err, SGS_EQUERY, "%s: term of %u bytes (1 to %u allowed)",
                               path_str(&c->path), n->term == NULL ? 0 : n->term_len,
                               SGS_TOKEN_MAX_BYTES);
        if (++c->n_terms > SGS_QUERY_MAX_TERMS)
            return sgs_err_set(c->err, SGS_EQUERY_TERMS, "%s: more than %u terms in the query",
                               path_str(&c->path), SGS_QUERY_MAX_TERMS);
        size_t bad;
        if (!sgs_utf8_check(n->term, n->term_len, &bad))
            return sgs_err_set(c->err, SGS_EQUERY, "%s: term is not valid UTF-8 at byte %zu",
                               path_str(&c->path), bad);
        self_token t = {.s = n->term, .len = n->term_len};
        sgs_tokenize(n->term, n->term_len, on_self_token, &t);
        if (t.n != 1 || !t.same)
            return sgs_err_set(c->err, SGS_EQUERY,
                               "%s: term is not one token as the tokenizer emits it",
                               path_str(&c->path));
        if (positive)
            c->positive = true;
        return 0;
    }
    case SGS_QUERY_AND:
    case SGS_QUERY_OR: {
        const char *key = n->kind == SGS_QUERY_AND ? "and" : "or";
        if (n->n_children < 2 || n->children == NULL)
            return sgs_err_set(c->err, SGS_EQUERY, "%s: %s with %u children (at least 2)",
                               path_str(&c->path), key, n->n_children);
        for (uint32_t i = 0; i < n->n_children; i++) {
            path_push(&c->path, key, i, true);
            int rc = 0;
            if (n->children[i] != NULL && n->children[i]->kind == n->kind)
                rc = sgs_err_set(c->err, SGS_EQUERY, "%s: %s directly inside %s (not flattened)",
                                 path_str(&c->path), key, key);
            else
                rc = validate_node(c, n->children[i], depth + 1, positive);
            path_pop(&c->path);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    case SGS_QUERY_NOT: {
        if (n->n_children != 1 || n->children == NULL)
            return sgs_err_set(c->err, SGS_EQUERY, "%s: not with %u children (exactly 1)",
                               path_str(&c->path), n->n_children);
        path_push(&c->path, "not", 0, false);
        int rc;
        if (n->children[0] != NULL && n->children[0]->kind == SGS_QUERY_NOT)
            rc = sgs_err_set(c->err, SGS_EQUERY, "%s: not directly inside not", path_str(&c->path));
        else
            rc = validate_node(c, n->children[0], depth + 1, false);
        path_pop(&c->path);
        return rc;
    }
    default:
        return sgs_err_set(c->err, SGS_EQUERY, "%s: unknown node kind %d", path_str(&c->path),
                           (int)n->kind);
    }
}

int sgs_query_validate(const sgs_query_node *n, sgs_err *err)
{
    validate_ctx c = {.err = err};
    int rc = validate_node(&c, n, 1, true);
    if (rc != 0)
        return rc;
    if (!c.positive)
        return sgs_err_set(err, SGS_EQUERY,
                           "query has no positive term: every term is under a NOT");
    return 0;
}

/* ---- printing ------------------------------------------------------------- */

json_t *sgs_query_to_json(const sgs_query_node *n)
{
    switch (n->kind) {
    case SGS_QUERY_TERM: {
        json_t *o = json_object();
        json_object_set_new(o, "term", json_stringn(n->term, n->term_len));
        return o;
    }
    case SGS_QUERY_NOT: {
        json_t *o = json_object();
        json_object_set_new(o, "not", sgs_query_to_json(n->children[0]));
        return o;
    }
    default: {
        json_t *arr = json_array();
        for (uint32_t i = 0; i < n->n_children; i++)
            json_array_append_new(arr, sgs_query_to_json(n->children[i]));
        json_t *o = json_object();
        json_object_set_new(o, n->kind == SGS_QUERY_AND ? "and" : "or", arr);
        return o;
    }
    }
}

/* Where a node is printed, which decides its parentheses: an AND needs them
 * inside OR or NOT, an OR inside NOT (OR binds tighter than AND). */
enum print_ctx { IN_AND, IN_OR, IN_NOT };

static void print_node(const sgs_query_node *n, sgs_buf *out, enum print_ctx where)
{
    switch (n->kind) {
    case SGS_QUERY_TERM:
        sgs_buf_append(out, n->term, n->term_len);
        return;
    case SGS_QUERY_NOT:
        sgs_buf_putc(out, '-');
        print_node(n->children[0], out, IN_NOT);
        return;
    default: {
        bool and = n->kind == SGS_QUERY_AND;
        bool paren = and ? where != IN_AND : where == IN_NOT;
        if (paren)
            sgs_buf_putc(out, '(');
        for (uint32_t i = 0; i < n->n_children; i++) {
            if (i > 0)
                sgs_buf_append(out, and ? " " : " OR ", and ? 1 : 4);
            print_node(n->children[i], out, and ? IN_AND : IN_OR);
        }
        if (paren)
            sgs_buf_putc(out, ')');
    }
    }
}

void sgs_query_to_string(const sgs_query_node *n, sgs_buf *out)
{
    print_node(n, out, IN_AND);
}

bool sgs_query_equal(const sgs_query_node *a, const sgs_query_node *b)
{
    if (a == b)
        return true;
    if (a == NULL || b == NULL || a->kind != b->kind || a->n_children != b->n_children)
        return false;
    if (a->kind == SGS_QUERY_TERM)
        return a->term_len == b->term_len && memcmp(a->term, b->term, a->term_len) == 0;
    for (uint32_t i = 0; i < a->n_children; i++)
        if (!sgs_query_equal(a->children[i], b->children[i]))
            return false;
    return true;
}

/* ---- positive terms ------------------------------------------------------- */

static void collect_positive(const sgs_query_node *n, sgs_arena *a, nodevec *out)
{
    if (n->kind == SGS_QUERY_TERM)
        nodevec_push(a, out, (sgs_query_node *)n);
    else if (n->kind != SGS_QUERY_NOT)
        for (uint32_t i = 0; i < n->n_children; i++)
            collect_positive(n->children[i], a, out);
}

static int term_cmp(const sgs_query_node *x, const sgs_query_node *y)
{
    uint32_t m = x->term_len < y->term_len ? x->term_len : y->term_len;
    int c = memcmp(x->term, y->term, m);
    if (c != 0)
        return c;
    return x->term_len < y->term_len ? -1 : x->term_len > y->term_len;
}

static int term_qsort_cmp(const void *x, const void *y)
{
    return term_cmp(*(const sgs_query_node *const *)x, *(const sgs_query_node *const *)y);
}

uint32_t sgs_query_positive_terms(const sgs_query_node *n, sgs_arena *a,
                                  const sgs_query_node ***terms)
{
    nodevec v = {0};
    if (n != NULL)
        collect_positive(n, a, &v);
    if (v.n > 1)
        qsort(v.v, v.n, sizeof *v.v, term_qsort_cmp);
    uint32_t k = 0;
    for (uint32_t i = 0; i < v.n; i++)
        if (k == 0 || term_cmp(v.v[k - 1], v.v[i]) != 0)
            v.v[k++] = v.v[i];
    *terms = (const sgs_query_node **)v.v;
    return k;
}
