/* Tests of the query language (common/query.h): precedence and grouping in
 * the string syntax, tokenizing of words, normalization, every error and
 * limit with its offset or JSON path, the JSON tree reader, the validator on
 * hand-built trees, both printers, positive terms, and round trips over
 * random trees and random query strings.
 *
 * Trees are compared through an S-expression printer written here, so the
 * printers under test are not their own oracle. Random inputs come from a
 * splitmix64 seeded by SGS_TEST_SEED when set, else by the clock; each random
 * test prints SGS_TEST_SEED=<n> so a failure reruns with the same inputs. */
#include "common/query.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/tokenize.h"
#include "tests/unit/rng.h"

/* ---- helpers ---------------------------------------------------------------- */

static rng test_rng(const char *test)
{
    uint64_t seed = test_seed();
    fprintf(stderr, "query/%s: SGS_TEST_SEED=%" PRIu64 "\n", test, seed);
    return (rng){seed};
}

static sgs_arena arena;

static void setup(void)
{
    sgs_arena_init(&arena, 1 << 16);
}

static void teardown(void)
{
    sgs_arena_fini(&arena);
}

TestSuite(query, .init = setup, .fini = teardown);

/* The reference printer: (and a (or b c)), (not x), bare terms. */
static void sexpr(const sgs_query_node *n, sgs_buf *out)
{
    static const char *names[] = {"?", "term", "and", "or", "not"};
    if (n->kind == SGS_QUERY_TERM) {
        sgs_buf_append(out, n->term, n->term_len);
        return;
    }
    sgs_buf_printf(out, "(%s", names[n->kind]);
    for (uint32_t i = 0; i < n->n_children; i++) {
        sgs_buf_putc(out, ' ');
        sexpr(n->children[i], out);
    }
    sgs_buf_putc(out, ')');
}

static char *sexpr_str(const sgs_query_node *n)
{
    sgs_buf b;
    sgs_buf_init(&b);
    sexpr(n, &b);
    char *s = sgs_arena_strndup(&arena, (const char *)b.data, b.len);
    sgs_buf_fini(&b);
    return s;
}

static char *print_str(const sgs_query_node *n)
{
    sgs_buf b;
    sgs_buf_init(&b);
    sgs_query_to_string(n, &b);
    char *s = sgs_arena_strndup(&arena, (const char *)b.data, b.len);
    sgs_buf_fini(&b);
    return s;
}

static sgs_query_node *parse_ok(const char *q)
{
    sgs_err err = {0};
    sgs_query_node *n = sgs_query_parse(q, strlen(q), &arena, &err);
    cr_assert_not_null(n, "parse \"%s\": %s", q, err.msg);
    cr_assert_eq(err.code, 0);
    cr_assert_eq(sgs_query_validate(n, &err), 0, "validate \"%s\": %s", q, err.msg);
    return n;
}

/* The query parses to the tree want (as an S-expression), prints back as
 * printed, and the printed text parses to the same tree. */
static void expect_tree(const char *q, const char *want, const char *printed)
{
    sgs_query_node *n = parse_ok(q);
    cr_assert_str_eq(sexpr_str(n), want, "query \"%s\"", q);
    char *text = print_str(n);
    if (printed != NULL)
        cr_assert_str_eq(text, printed, "query \"%s\" printed", q);
    sgs_query_node *again = parse_ok(text);
    cr_assert(sgs_query_equal(n, again), "\"%s\" printed as \"%s\" parses to %s", q, text,
              sexpr_str(again));
}

/* Parsing q fails with code, and the reason contains needle. */
static void expect_error_n(const char *q, size_t len, int code, const char *needle)
{
    sgs_err err = {0};
    sgs_query_node *n = sgs_query_parse(q, len, &arena, &err);
    cr_assert_null(n, "query \"%.60s\" should fail", q);
    cr_assert_eq(err.code, code, "query \"%.60s\": code %d (%s), want %d", q, err.code, err.msg,
                 code);
    if (needle != NULL)
        cr_assert(strstr(err.msg, needle) != NULL, "query \"%.60s\": reason \"%s\" lacks \"%s\"",
                  q, err.msg, needle);
}

static void expect_error(const char *q, int code, const char *needle)
{
    expect_error_n(q, strlen(q), code, needle);
}

static json_t *load(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    cr_assert_not_null(j, "bad test JSON %s: %s", text, je.text);
    return j;
}

static sgs_query_node *json_ok(const char *text)
{
    json_t *j = load(text);
    sgs_err err = {0};
    sgs_query_node *n = sgs_query_from_json(j, &arena, &err);
    json_decref(j);
    cr_assert_not_null(n, "from_json %s: %s", text, err.msg);
    cr_assert_eq(sgs_query_validate(n, &err), 0, "validate %s: %s", text, err.msg);
    return n;
}

static void expect_json_error(const char *text, int code, const char *needle)
{
    json_t *j = load(text);
    sgs_err err = {0};
    sgs_query_node *n = sgs_query_from_json(j, &arena, &err);
    json_decref(j);
    cr_assert_null(n, "%s should fail", text);
    cr_assert_eq(err.code, code, "%s: code %d (%s), want %d", text, err.code, err.msg, code);
    if (needle != NULL)
        cr_assert(strstr(err.msg, needle) != NULL, "%s: reason \"%s\" lacks \"%s\"", text,
                  err.msg, needle);
}

static char *repeat(const char *unit, size_t times, const char *middle, const char *tail_unit)
{
    size_t ul = strlen(unit), ml = strlen(middle), tl = strlen(tail_unit);
    char *s = sgs_arena_alloc(&arena, times * (ul + tl) + ml + 1);
    size_t o = 0;
    for (size_t i = 0; i < times; i++, o += ul)
        memcpy(s + o, unit, ul);
    memcpy(s + o, middle, ml);
    o += ml;
    for (size_t i = 0; i < times; i++, o += tl)
        memcpy(s + o, tail_unit, tl);
    s[o] = '\0';
    return s;
}

/* ---- precedence, grouping, words -------------------------------------------- */

Test(query, words_are_anded)
{
    expect_tree("alpha", "alpha", "alpha");
    expect_tree("a b c", "(and a b c)", "a b c");
    expect_tree("  a \t\n b  ", "(and a b)", "a b");
}

Test(query, or_binds_tighter_than_and)
{
    expect_tree("a b OR c", "(and a (or b c))", "a b OR c");
    expect_tree("a OR b c", "(and (or a b) c)", "a OR b c");
    expect_tree("a OR b OR c", "(or a b c)", "a OR b OR c");
    expect_tree("a OR b c OR d", "(and (or a b) (or c d))", "a OR b c OR d");
}

Test(query, not_binds_tightest)
{
    expect_tree("a -b", "(and a (not b))", "a -b");
    expect_tree("a NOT b", "(and a (not b))", "a -b");
    expect_tree("-b a", "(and (not b) a)", "-b a");
    expect_tree("a -b OR c", "(and a (or (not b) c))", "a -b OR c");
    expect_tree("a OR NOT b", "(or a (not b))", "a OR -b");
    expect_tree("a -(b OR c)", "(and a (not (or b c)))", "a -(b OR c)");
    expect_tree("a NOT (b c)", "(and a (not (and b c)))", "a -(b c)");
    expect_tree("a NOT(b c)", "(and a (not (and b c)))", "a -(b c)");
}

Test(query, parentheses_group)
{
    expect_tree("(a b) OR c", "(or (and a b) c)", "(a b) OR c");
    expect_tree("a (b OR c) d", "(and a (or b c) d)", "a b OR c d");
    expect_tree("((a))", "a", "a");
    expect_tree("(a OR b)", "(or a b)", "a OR b");
    expect_tree("a(b)c", "(and a b c)", "a b c");
    expect_tree("(a OR (b c)) -(d OR -e)", "(and (or a (and b c)) (not (or d (not e))))",
                "a OR (b c) -(d OR -e)");
}

Test(query, nested_same_operators_flatten)
{
    expect_tree("a (b c) ((d))", "(and a b c d)", NULL);
    expect_tree("a OR (b OR c) OR d", "(or a b c d)", NULL);
    expect_tree("(a OR b) OR (c OR d)", "(or a b c d)", NULL);
}

Test(query, double_negation_cancels)
{
    expect_tree("a NOT NOT b", "(and a b)", "a b");
    expect_tree("a --b", "(and a b)", "a b");
    expect_tree("a -NOT b", "(and a (not not) b)", "a -not b");
    expect_tree("a NOT -(b OR c)", "(and a (or b c))", "a b OR c");
    expect_tree("a ---b", "(and a (not b))", "a -b");
}

Test(query, duplicates_are_kept)
{
    expect_tree("a a OR a", "(and a (or a a))", NULL);
}

Test(query, lower_case_operators_are_words)
{
    expect_tree("cats or dogs", "(and cats or dogs)", "cats or dogs");
    expect_tree("not this", "(and not this)", "not this");
    expect_tree("Or Not", "(and or not)", NULL);
    expect_tree("-OR a", "(and (not or) a)", "-or a");
}

Test(query, words_are_tokenized)
{
    expect_tree("E-Mail", "(and e mail)", "e mail");
    expect_tree("x e-mail", "(and x e mail)", NULL);
    expect_tree("a OR e-mail", "(or a (and e mail))", "a OR (e mail)");
    expect_tree("-e-mail x", "(and (not (and e mail)) x)", "-(e mail) x");
    expect_tree("HELLO, World!", "(and hello world)", NULL);
    expect_tree("ORb NOTx", "(and orb notx)", NULL);
}

Test(query, unicode_words)
{
    expect_tree("Café NAÏVE", "(and café naïve)", "café naïve");
    expect_tree("Straße OR Ωmega", "(or straße ωmega)", NULL);
    expect_tree("日本語 -Привет", "(and 日本語 (not привет))", NULL);
    expect_tree("\xc4\xb0stanbul", "istanbul", NULL);
}

Test(query, words_without_tokens_drop_out)
{
    expect_tree("a !!!", "a", "a");
    expect_tree("a OR !!!", "a", "a");
    expect_tree("!!! OR a b", "(and a b)", NULL);
    expect_tree("a (!!! ;;;)", "a", NULL);
    expect_tree("a -!!!", "a", NULL);
    expect_tree("a NOT ...", "a", NULL);
    expect_tree("a - b", "(and a b)", NULL);
    expect_tree("a -- b", "(and a b)", NULL);
    expect_tree("a (b -) OR c", "(and a (or b c))", NULL);
}

/* ---- errors ----------------------------------------------------------------- */

Test(query, empty_and_wordless_queries)
{
    expect_error("", SGS_EQUERY, "empty");
    expect_error("   \t ", SGS_EQUERY, "empty");
    expect_error("!!! ???", SGS_EQUERY, "no searchable words");
    expect_error("- --", SGS_EQUERY, "no searchable words");
    expect_error("(!!!) OR ...", SGS_EQUERY, "no searchable words");
}

Test(query, no_positive_term)
{
    expect_error("-a", SGS_EQUERY, "no positive term");
    expect_error("NOT a", SGS_EQUERY, "no positive term");
    expect_error("-a -b", SGS_EQUERY, "no positive term");
    expect_error("-(a OR b)", SGS_EQUERY, "no positive term");
    expect_error("NOT (a b)", SGS_EQUERY, "no positive term");
    expect_error("-a OR -b", SGS_EQUERY, "no positive term");
    expect_error("-a !!!", SGS_EQUERY, "no positive term");
}

Test(query, dangling_operators)
{
    expect_error("a OR", SGS_EQUERY, "OR at byte 2 has no word after it");
    expect_error("OR a", SGS_EQUERY, "OR at byte 0 has no word before it");
    expect_error("a OR OR b", SGS_EQUERY, "OR at byte 2 has no word after it");
    expect_error("(OR a)", SGS_EQUERY, "OR at byte 1 has no word before it");
    expect_error("(a OR) b", SGS_EQUERY, "OR at byte 3 has no word after it");
    expect_error("a NOT", SGS_EQUERY, "NOT at byte 2 has no word after it");
    expect_error("a NOT OR b", SGS_EQUERY, "NOT at byte 2 has no word after it");
    expect_error("(a NOT)", SGS_EQUERY, "NOT at byte 3 has no word after it");
    expect_error("a -(", SGS_EQUERY, "'(' at byte 3 is never closed");
}

Test(query, unbalanced_and_empty_parentheses)
{
    expect_error("(a", SGS_EQUERY, "'(' at byte 0 is never closed");
    expect_error("a (b (c)", SGS_EQUERY, "'(' at byte 2 is never closed");
    expect_error("a)", SGS_EQUERY, "')' at byte 1 has no matching '('");
    expect_error("a) (b", SGS_EQUERY, "')' at byte 1");
    expect_error("()", SGS_EQUERY, "empty parentheses at byte 0");
    expect_error("a ( ) b", SGS_EQUERY, "empty parentheses at byte 2");
    expect_error(")", SGS_EQUERY, "')' at byte 0");
}

Test(query, invalid_utf8_names_the_offset)
{
    expect_error("ab \xff cd", SGS_EQUERY, "not valid UTF-8 at byte 3");
    expect_error("caf\xc3", SGS_EQUERY, "at byte 3");
    expect_error("\xed\xa0\x80", SGS_EQUERY, "at byte 0"); /* a surrogate */
    expect_error("\xc0\xaf", SGS_EQUERY, "at byte 0");     /* overlong '/' */
    char with_nul[] = {'a', ' ', '\0', ' ', 'b'};
    sgs_err err = {0};
    sgs_query_node *n = sgs_query_parse(with_nul, sizeof with_nul, &arena, &err);
    cr_assert_not_null(n, "%s", err.msg);
    cr_assert_str_eq(sexpr_str(n), "(and a b)");
}

Test(query, length_limit)
{
    char *q = sgs_arena_alloc(&arena, SGS_QUERY_MAX_BYTES + 2);
    memset(q, ' ', SGS_QUERY_MAX_BYTES + 1);
    q[0] = 'a';
    q[SGS_QUERY_MAX_BYTES - 1] = 'z';
    q[SGS_QUERY_MAX_BYTES] = 'y';
    q[SGS_QUERY_MAX_BYTES + 1] = '\0';
    expect_error_n(q, SGS_QUERY_MAX_BYTES + 1, SGS_EQUERY_LONG, "4097 bytes");
    sgs_err err = {0};
    sgs_query_node *n = sgs_query_parse(q, SGS_QUERY_MAX_BYTES, &arena, &err);
    cr_assert_not_null(n, "%s", err.msg);
    cr_assert_str_eq(sexpr_str(n), "(and a z)");
}

Test(query, term_limit)
{
    char q[1024] = "", q2[1024] = "";
    for (unsigned i = 0; i < SGS_QUERY_MAX_TERMS; i++) {
        sprintf(q + strlen(q), "w%u ", i);
        sprintf(q2 + strlen(q2), "w%u-", i);
    }
    sgs_query_node *n = parse_ok(q);
    cr_assert_eq(n->n_children, SGS_QUERY_MAX_TERMS);
    parse_ok(q2);
    strcat(q, "extra");
    expect_error(q, SGS_EQUERY_TERMS, "more than 64 terms");
    strcat(q2, "extra");
    expect_error(q2, SGS_EQUERY_TERMS, "more than 64 terms");
    /* Duplicates and excluded terms count too. */
    char q3[1024] = "a";
    for (unsigned i = 0; i < SGS_QUERY_MAX_TERMS; i++)
        strcat(q3, " -a");
    expect_error(q3, SGS_EQUERY_TERMS, NULL);
}

Test(query, nesting_limit)
{
    /* 15 levels of parentheses around a word: 16 levels as written. */
    parse_ok(repeat("(", SGS_QUERY_MAX_DEPTH - 1, "a", ")"));
    expect_error(repeat("(", SGS_QUERY_MAX_DEPTH, "a", ")"), SGS_EQUERY_DEPTH, "byte 15");
    parse_ok(repeat("a -(", 7, "b", ")"));
    expect_error(repeat("NOT ", SGS_QUERY_MAX_DEPTH, "a", ""), SGS_EQUERY_DEPTH, NULL);
    expect_error(repeat("-", SGS_QUERY_MAX_DEPTH, "a", ""), SGS_EQUERY_DEPTH, NULL);
    expect_error(repeat("-(", 8, "a", ")"), SGS_EQUERY_DEPTH, NULL);
}

Test(query, deep_nesting_never_recurses_far)
{
    /* Each of these would overflow the stack if the parser recursed per level. */
    size_t big = 100000;
    char *q = repeat("(", big, "a", ")");
    expect_error_n(q, 2 * big + 1, SGS_EQUERY_LONG, NULL);
    /* Within the byte limit: fails on depth, at the 16th level. */
    expect_error(repeat("(", 2000, "a", ")"), SGS_EQUERY_DEPTH, "byte 15");
    expect_error(repeat("-", 4000, "a", ""), SGS_EQUERY_DEPTH, NULL);
    expect_error(repeat("NOT ", 1000, "a", ""), SGS_EQUERY_DEPTH, NULL);
    expect_error(repeat("(", 4000, "", ""), SGS_EQUERY_DEPTH, NULL);
}

Test(query, normalized_depth_limit)
{
    /* Few parentheses, but each level adds an OR and an AND. */
    char *q = repeat("x OR (y ", 8, "z", ")");
    expect_error(q, SGS_EQUERY_DEPTH, "levels deep");
    parse_ok(repeat("x OR (y ", 7, "z", ")"));
}

/* ---- the JSON tree ---------------------------------------------------------- */

Test(query, json_tree_shapes)
{
    sgs_query_node *n = json_ok("{\"term\": \"Hello\"}");
    cr_assert_str_eq(sexpr_str(n), "hello");
    n = json_ok("{\"and\": [{\"term\": \"a\"}, {\"or\": [{\"term\": \"b\"}, {\"term\": \"c\"}]},"
                " {\"not\": {\"term\": \"d\"}}]}");
    cr_assert_str_eq(sexpr_str(n), "(and a (or b c) (not d))");
    n = json_ok("{\"and\": [{\"term\": \"E-Mail\"}, {\"and\": [{\"term\": \"x\"}]}]}");
    cr_assert_str_eq(sexpr_str(n), "(and e mail x)");
    n = json_ok("{\"or\": [{\"term\": \"a\"}, {\"or\": [{\"term\": \"b\"}, {\"term\": \"!!\"}]}]}");
    cr_assert_str_eq(sexpr_str(n), "(or a b)");
    n = json_ok("{\"and\": [{\"term\": \"a\"}, {\"not\": {\"not\": {\"term\": \"b\"}}}]}");
    cr_assert_str_eq(sexpr_str(n), "(and a b)");
    n = json_ok("{\"or\": [{\"term\": \"OR\"}]}");
    cr_assert_str_eq(sexpr_str(n), "or");
    n = json_ok("{\"term\": \"a b\"}");
    cr_assert_str_eq(sexpr_str(n), "(and a b)");
}

Test(query, json_tree_errors_name_the_path)
{
    expect_json_error("[1]", SGS_EQUERY, "query: expected an object");
    expect_json_error("{}", SGS_EQUERY, "query: expected exactly one key, found 0");
    expect_json_error("{\"term\": \"a\", \"and\": []}", SGS_EQUERY, "exactly one key, found 2");
    expect_json_error("{\"phrase\": \"a\"}", SGS_EQUERY, "query: unknown key \"phrase\"");
    expect_json_error("{\"term\": 3}", SGS_EQUERY, "query.term: expected a string");
    expect_json_error("{\"and\": {\"term\": \"a\"}}", SGS_EQUERY,
                      "query.and: expected a non-empty array");
    expect_json_error("{\"or\": []}", SGS_EQUERY, "query.or: expected a non-empty array");
    expect_json_error("{\"and\": [{\"term\": \"a\"}, {\"term\": \"b\"}, 7]}", SGS_EQUERY,
                      "query.and[2]: expected an object");
    expect_json_error("{\"and\": [{\"term\": \"a\"}, {\"not\": {\"or\": [{\"x\": 1}]}}]}",
                      SGS_EQUERY, "query.and[1].not.or[0]: unknown key \"x\"");
    expect_json_error("{\"not\": null}", SGS_EQUERY, "query.not: expected an object");
    expect_json_error("{\"term\": \"!!!\"}", SGS_EQUERY, "no searchable words");
    expect_json_error("{\"not\": {\"term\": \"a\"}}", SGS_EQUERY, "no positive term");
    expect_json_error("{\"and\": [{\"not\": {\"term\": \"a\"}}, {\"term\": \".\"}]}", SGS_EQUERY,
                      "no positive term");
    sgs_err err = {0};
    cr_assert_null(sgs_query_from_json(NULL, &arena, &err));
    cr_assert_eq(err.code, SGS_EQUERY);
}

Test(query, json_tree_limits)
{
    /* Nesting: 16 objects deep is the limit. */
    char *ok = repeat("{\"not\": ", SGS_QUERY_MAX_DEPTH - 2,
                      "{\"and\": [{\"term\": \"a\"}, {\"term\": \"b\"}]}", "}");
    json_ok(ok);
    char *deep = repeat("{\"not\": ", SGS_QUERY_MAX_DEPTH - 1,
                        "{\"and\": [{\"term\": \"a\"}, {\"term\": \"b\"}]}", "}");
    expect_json_error(deep, SGS_EQUERY_DEPTH, "nested deeper than 16");
    /* Far deeper than the limit: refused before descending. */
    char *very = repeat("{\"and\": [", 1000, "{\"term\": \"a\"}", "]}");
    expect_json_error(very, SGS_EQUERY_DEPTH, "query.and[0].and[0]");
    /* Terms. */
    sgs_buf b;
    sgs_buf_init(&b);
    sgs_buf_printf(&b, "{\"or\": [");
    for (unsigned i = 0; i <= SGS_QUERY_MAX_TERMS; i++)
        sgs_buf_printf(&b, "%s{\"term\": \"t%u\"}", i ? "," : "", i);
    sgs_buf_printf(&b, "]}");
    sgs_buf_putc(&b, '\0');
    expect_json_error((const char *)b.data, SGS_EQUERY_TERMS, "query.or[64].term");
    sgs_buf_reset(&b);
    sgs_buf_printf(&b, "{\"term\": \"");
    for (unsigned i = 0; i <= SGS_QUERY_MAX_BYTES; i++)
        sgs_buf_putc(&b, 'a');
    sgs_buf_printf(&b, "\"}");
    sgs_buf_putc(&b, '\0');
    expect_json_error((const char *)b.data, SGS_EQUERY_LONG, "query.term: 4097 bytes");
    sgs_buf_fini(&b);
}

Test(query, json_term_utf8_is_checked)
{
    json_t *j = json_object();
    json_object_set_new(j, "term", json_stringn_nocheck("ab\xff", 3));
    sgs_err err = {0};
    cr_assert_null(sgs_query_from_json(j, &arena, &err));
    cr_assert_eq(err.code, SGS_EQUERY);
    cr_assert(strstr(err.msg, "query.term: not valid UTF-8 at byte 2") != NULL, "%s", err.msg);
    json_decref(j);
}

Test(query, to_json_shapes)
{
    sgs_query_node *n = parse_ok("a -(b OR c) d");
    json_t *j = sgs_query_to_json(n);
    char *text = json_dumps(j, JSON_COMPACT);
    cr_assert_str_eq(text, "{\"and\":[{\"term\":\"a\"},{\"not\":{\"or\":[{\"term\":\"b\"},"
                           "{\"term\":\"c\"}]}},{\"term\":\"d\"}]}");
    free(text);
    sgs_err err = {0};
    sgs_query_node *back = sgs_query_from_json(j, &arena, &err);
    cr_assert(sgs_query_equal(n, back), "%s", err.msg);
    json_decref(j);
}

/* ---- the validator on hand-built trees -------------------------------------- */

static sgs_query_node *term(const char *t)
{
    sgs_query_node *n = sgs_arena_zalloc(&arena, sizeof *n);
    n->kind = SGS_QUERY_TERM;
    n->term = t;
    n->term_len = (uint32_t)strlen(t);
    return n;
}

static sgs_query_node *op(sgs_query_kind kind, uint32_t n_children, ...)
{
    sgs_query_node *n = sgs_arena_zalloc(&arena, sizeof *n);
    n->kind = kind;
    n->n_children = n_children;
    n->children = sgs_arena_zalloc(&arena, (n_children + 1) * sizeof *n->children);
    va_list ap;
    va_start(ap, n_children);
    for (uint32_t i = 0; i < n_children; i++)
        n->children[i] = va_arg(ap, sgs_query_node *);
    va_end(ap);
    return n;
}

/* A node of kind with room for n_children children, all NULL. */
static sgs_query_node *op_slots(sgs_query_kind kind, uint32_t n_children)
{
    sgs_query_node *n = sgs_arena_zalloc(&arena, sizeof *n);
    n->kind = kind;
    n->n_children = n_children;
    n->children = sgs_arena_zalloc(&arena, (n_children + 1) * sizeof *n->children);
    return n;
}

static void expect_invalid(const sgs_query_node *n, int code, const char *needle)
{
    sgs_err err = {0};
    cr_assert_eq(sgs_query_validate(n, &err), code, "code %d (%s), want %d", err.code, err.msg,
                 code);
    cr_assert_eq(err.code, code);
    if (needle != NULL)
        cr_assert(strstr(err.msg, needle) != NULL, "reason \"%s\" lacks \"%s\"", err.msg, needle);
}

Test(query, validate_accepts_normalized_trees)
{
    sgs_err err = {0};
    cr_assert_eq(sgs_query_validate(term("a"), &err), 0, "%s", err.msg);
    cr_assert_eq(sgs_query_validate(op(SGS_QUERY_AND, 3, term("a"),
                                       op(SGS_QUERY_OR, 2, term("b"), term("c")),
                                       op(SGS_QUERY_NOT, 1, term("d"))),
                                    &err),
                 0, "%s", err.msg);
    cr_assert_eq(sgs_query_validate(op(SGS_QUERY_OR, 2, term("a"), op(SGS_QUERY_NOT, 1, term("b"))),
                                    &err),
                 0, "%s", err.msg);
}

Test(query, validate_rejects_each_rule)
{
    expect_invalid(NULL, SGS_EQUERY, "missing node");
    expect_invalid(op(SGS_QUERY_AND, 1, term("a")), SGS_EQUERY, "and with 1 children");
    expect_invalid(op_slots(SGS_QUERY_OR, 0), SGS_EQUERY, "or with 0 children");
    expect_invalid(op(SGS_QUERY_AND, 2, term("a"), op(SGS_QUERY_AND, 2, term("b"), term("c"))),
                   SGS_EQUERY, "query.and[1]: and directly inside and");
    expect_invalid(op(SGS_QUERY_OR, 2, term("a"), op(SGS_QUERY_OR, 2, term("b"), term("c"))),
                   SGS_EQUERY, "not flattened");
    expect_invalid(op(SGS_QUERY_AND, 2, term("a"),
                      op(SGS_QUERY_NOT, 1, op(SGS_QUERY_NOT, 1, term("b")))),
                   SGS_EQUERY, "query.and[1].not: not directly inside not");
    expect_invalid(op(SGS_QUERY_NOT, 2, term("a"), term("b")), SGS_EQUERY, "exactly 1");
    expect_invalid(op(SGS_QUERY_AND, 2, term("a"), NULL), SGS_EQUERY, "query.and[1]: missing");
    expect_invalid(term("A"), SGS_EQUERY, "not one token");
    expect_invalid(term("a b"), SGS_EQUERY, "not one token");
    expect_invalid(term("e-mail"), SGS_EQUERY, "not one token");
    expect_invalid(term("!"), SGS_EQUERY, "not one token");
    expect_invalid(term(""), SGS_EQUERY, "term of 0 bytes");
    expect_invalid(term("ab\xff"), SGS_EQUERY, "not valid UTF-8 at byte 2");
    sgs_query_node *t = term("a");
    t->term = NULL;
    expect_invalid(t, SGS_EQUERY, "term of 0 bytes");
    t = term("a");
    t->n_children = 1;
    expect_invalid(t, SGS_EQUERY, "term with children");
    t = term("a");
    t->kind = (sgs_query_kind)9;
    expect_invalid(t, SGS_EQUERY, "unknown node kind 9");
    char *longterm = sgs_arena_alloc(&arena, 300);
    memset(longterm, 'a', 299);
    longterm[299] = '\0';
    expect_invalid(term(longterm), SGS_EQUERY, "term of 299 bytes");
    expect_invalid(op(SGS_QUERY_NOT, 1, term("a")), SGS_EQUERY, "no positive term");
    expect_invalid(op(SGS_QUERY_OR, 2, op(SGS_QUERY_NOT, 1, term("a")),
                      op(SGS_QUERY_NOT, 1, term("b"))),
                   SGS_EQUERY, "no positive term");
}

Test(query, validate_limits)
{
    /* Depth: alternate AND and OR down to 17 levels. */
    sgs_query_node *n = term("z");
    for (unsigned level = 2; level <= SGS_QUERY_MAX_DEPTH; level++)
        n = op(level % 2 ? SGS_QUERY_AND : SGS_QUERY_OR, 2, term("a"), n);
    sgs_err err = {0};
    cr_assert_eq(sgs_query_validate(n, &err), 0, "%s", err.msg);
    n = op(n->kind == SGS_QUERY_AND ? SGS_QUERY_OR : SGS_QUERY_AND, 2, term("a"), n);
    expect_invalid(n, SGS_EQUERY_DEPTH, "nested deeper than 16");
    /* Terms: 65 children of one OR. */
    sgs_query_node *or = op_slots(SGS_QUERY_OR, SGS_QUERY_MAX_TERMS + 1);
    for (unsigned i = 0; i <= SGS_QUERY_MAX_TERMS; i++)
        or->children[i] = term("t");
    expect_invalid(or, SGS_EQUERY_TERMS, "query.or[64]");
    or->n_children = SGS_QUERY_MAX_TERMS;
    cr_assert_eq(sgs_query_validate(or, &err), 0, "%s", err.msg);
}

/* ---- printers, equality, positive terms -------------------------------------- */

Test(query, to_string_parenthesizes_only_where_needed)
{
    cr_assert_str_eq(print_str(op(SGS_QUERY_OR, 2, op(SGS_QUERY_AND, 2, term("a"), term("b")),
                                  term("c"))),
                     "(a b) OR c");
    cr_assert_str_eq(print_str(op(SGS_QUERY_AND, 2, op(SGS_QUERY_OR, 2, term("a"), term("b")),
                                  term("c"))),
                     "a OR b c");
    cr_assert_str_eq(print_str(op(SGS_QUERY_AND, 2, term("x"),
                                  op(SGS_QUERY_NOT, 1, op(SGS_QUERY_OR, 2, term("a"), term("b"))))),
                     "x -(a OR b)");
    cr_assert_str_eq(print_str(op(SGS_QUERY_OR, 2, term("or"), term("not"))), "or OR not");
}

Test(query, equal_compares_shape_kind_order_and_bytes)
{
    cr_assert(sgs_query_equal(parse_ok("a b OR c"), parse_ok("a (b OR c)")));
    cr_assert(!sgs_query_equal(parse_ok("a b"), parse_ok("b a")));
    cr_assert(!sgs_query_equal(parse_ok("a b"), parse_ok("a OR b")));
    cr_assert(!sgs_query_equal(parse_ok("a b"), parse_ok("a b c")));
    cr_assert(!sgs_query_equal(parse_ok("ab"), parse_ok("abc")));
    cr_assert(!sgs_query_equal(parse_ok("a -b"), parse_ok("a b")));
    cr_assert(!sgs_query_equal(parse_ok("a"), NULL));
    cr_assert(sgs_query_equal(NULL, NULL));
}

Test(query, positive_terms_are_distinct_sorted_and_unexcluded)
{
    sgs_query_node *n = parse_ok("b a -c (a OR d) NOT (e f) c abc ab -(g OR -h)");
    const sgs_query_node **terms = NULL;
    uint32_t k = sgs_query_positive_terms(n, &arena, &terms);
    const char *want[] = {"a", "ab", "abc", "b", "c", "d"};
    cr_assert_eq(k, 6);
    for (uint32_t i = 0; i < k; i++)
        cr_assert_str_eq(terms[i]->term, want[i]);
    n = parse_ok("zeta éclair Zeta 10 9");
    k = sgs_query_positive_terms(n, &arena, &terms);
    const char *want2[] = {"10", "9", "zeta", "éclair"};
    cr_assert_eq(k, 4);
    for (uint32_t i = 0; i < k; i++)
        cr_assert_str_eq(terms[i]->term, want2[i]);
    k = sgs_query_positive_terms(parse_ok("x"), &arena, &terms);
    cr_assert_eq(k, 1);
    cr_assert_str_eq(terms[0]->term, "x");
}

/* ---- random round trips ----------------------------------------------------- */

static const char *vocab[] = {"a", "b", "ab", "or", "not", "x1", "42", "café", "ß", "ωmega",
                              "日本", "привет", "z"};

/* A random normalized tree of at most max_depth levels and at most budget
 * (>= 1) terms, whose kind differs from parent (so nothing needs
 * flattening). *used gets the number of terms it holds. */
static sgs_query_node *random_tree(rng *r, uint32_t max_depth, sgs_query_kind parent,
                                   uint32_t budget, uint32_t *used)
{
    uint32_t pick = rng_below(r, 10);
    if (max_depth <= 1 || budget < 2 || pick < 4) {
        *used = 1;
        return term(vocab[rng_below(r, sizeof vocab / sizeof vocab[0])]);
    }
    sgs_query_kind kind = pick < 6 ? SGS_QUERY_AND : pick < 8 ? SGS_QUERY_OR : SGS_QUERY_NOT;
    if (kind == parent)
        kind = kind == SGS_QUERY_NOT ? SGS_QUERY_AND : SGS_QUERY_NOT;
    if (kind == SGS_QUERY_NOT)
        return op(SGS_QUERY_NOT, 1, random_tree(r, max_depth - 1, kind, budget, used));
    uint32_t want = 2 + rng_below(r, 4);
    if (want > budget)
        want = budget;
    sgs_query_node *n = op_slots(kind, 0);
    n->children = sgs_arena_alloc(&arena, want * sizeof *n->children);
    uint32_t remaining = budget;
    for (uint32_t i = 0; i < want; i++) {
        uint32_t after = want - i - 1, got = 0;
        uint32_t child_budget = 1 + rng_below(r, remaining - after);
        n->children[n->n_children++] = random_tree(r, max_depth - 1, kind, child_budget, &got);
        remaining -= got;
    }
    *used = budget - remaining;
    return n;
}

Test(query, random_trees_round_trip_through_both_printers)
{
    rng r = test_rng("random_trees_round_trip_through_both_printers");
    uint32_t tested = 0;
    for (int iter = 0; iter < 5000; iter++) {
        sgs_arena_reset(&arena);
        uint32_t used = 0;
        sgs_query_node *n = random_tree(&r, 1 + rng_below(&r, SGS_QUERY_MAX_DEPTH),
                                        (sgs_query_kind)0, SGS_QUERY_MAX_TERMS, &used);
        sgs_err err = {0};
        int rc = sgs_query_validate(n, &err);
        if (rc == SGS_EQUERY && strstr(err.msg, "no positive term") != NULL)
            continue;
        cr_assert_eq(rc, 0, "generated tree: %s: %s", err.msg, sexpr_str(n));
        tested++;

        char *text = print_str(n);
        sgs_err perr = {0};
        sgs_query_node *back = sgs_query_parse(text, strlen(text), &arena, &perr);
        cr_assert_not_null(back, "\"%s\": %s", text, perr.msg);
        cr_assert(sgs_query_equal(n, back), "%s printed \"%s\" parsed %s", sexpr_str(n), text,
                  sexpr_str(back));

        json_t *j = sgs_query_to_json(n);
        char *jtext = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        json_t *j2 = load(jtext);
        sgs_err jerr = {0};
        sgs_query_node *jback = sgs_query_from_json(j2, &arena, &jerr);
        json_decref(j2);
        cr_assert_not_null(jback, "%s: %s", jtext, jerr.msg);
        cr_assert(sgs_query_equal(n, jback), "%s printed %s parsed %s", sexpr_str(n), jtext,
                  sexpr_str(jback));
        free(jtext);
    }
    cr_assert_gt(tested, 2000);
}

/* Random strings over the syntax's pieces: every parse either fails with a
 * query error or gives a valid tree that prints and parses back to itself. */
Test(query, random_strings_parse_or_fail_cleanly)
{
    static const char *pieces[] = {"a",   "b",  "OR", "NOT", "-",  "(",      ")",   " ",
                                   " ",   "--", "é",  "e-f", "!!", "\xff",   "or",  "Zz",
                                   "-(", "\t", "NOT(", "x",  "y",  "\xc3", "日本"};
    rng r = test_rng("random_strings_parse_or_fail_cleanly");
    uint32_t parsed = 0;
    for (int iter = 0; iter < 20000; iter++) {
        sgs_arena_reset(&arena);
        char q[256];
        size_t len = 0;
        uint32_t n_pieces = rng_below(&r, 24);
        for (uint32_t i = 0; i < n_pieces; i++) {
            const char *p = pieces[rng_below(&r, sizeof pieces / sizeof pieces[0])];
            size_t pl = strlen(p);
            memcpy(q + len, p, pl);
            len += pl;
            if (rng_below(&r, 2))
                q[len++] = ' ';
        }
        q[len] = '\0';
        sgs_err err = {0};
        sgs_query_node *n = sgs_query_parse(q, len, &arena, &err);
        if (n == NULL) {
            cr_assert(err.code == SGS_EQUERY || err.code == SGS_EQUERY_DEPTH ||
                          err.code == SGS_EQUERY_TERMS,
                      "\"%s\": code %d %s", q, err.code, err.msg);
            cr_assert_neq(err.msg[0], '\0');
            continue;
        }
        parsed++;
        cr_assert_eq(sgs_query_validate(n, &err), 0, "\"%s\" gave %s: %s", q, sexpr_str(n),
                     err.msg);
        char *text = print_str(n);
        sgs_query_node *back = sgs_query_parse(text, strlen(text), &arena, &err);
        cr_assert_not_null(back, "\"%s\" printed \"%s\": %s", q, text, err.msg);
        cr_assert(sgs_query_equal(n, back), "\"%s\" printed \"%s\"", q, text);
    }
    cr_assert_gt(parsed, 1000);
}

/* The validator and both printers rely on a token tokenizing to itself:
 * check it for every code point, so a parsed tree always validates. */
typedef struct first_token {
    char tok[300];
    size_t len, n;
} first_token;

static void on_first(void *ctx, const char *tok, size_t len)
{
    first_token *f = ctx;
    if (f->n++ == 0) {
        memcpy(f->tok, tok, len);
        f->len = len;
    }
}

static size_t utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

Test(query, every_token_is_a_fixed_point_of_the_tokenizer)
{
    uint32_t tokens = 0;
    for (uint32_t cp = 1; cp <= 0x10FFFF; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        char s[8];
        size_t len = utf8_encode(cp, s);
        first_token f = {0};
        sgs_tokenize(s, len, on_first, &f);
        if (f.n == 0)
            continue;
        tokens++;
        first_token g = {0};
        sgs_tokenize(f.tok, f.len, on_first, &g);
        cr_assert(g.n == 1 && g.len == f.len && memcmp(g.tok, f.tok, f.len) == 0,
                  "U+%04X lowers to a token that tokenizes differently", (unsigned)cp);
        sgs_query_node *t = term(f.tok);
        t->term_len = (uint32_t)f.len;
        sgs_err err = {0};
        cr_assert_eq(sgs_query_validate(t, &err), 0, "U+%04X: %s", (unsigned)cp, err.msg);
    }
    cr_assert_gt(tokens, 100000);
}
