/* The query language, shared by the leaf and the root: the query string
 * syntax and the JSON query tree both parse into one normalized tree.
 *
 * Query string: words are ANDed; `OR` (upper case) between words; `-word` or
 * `NOT word` excludes; parentheses group. NOT binds tightest, then OR, then
 * AND, so `a b OR c` is a AND (b OR c). A word is tokenized with the index's
 * tokenizer (common/tokenize.h): one token is a TERM, several are the AND of
 * their TERMs ("e-mail" is e AND mail), none drops the word. `-` only means
 * NOT at the start of a word (one NOT per dash; the word after it is never an
 * operator); `OR`/`NOT` in lower case are plain words. An operator over
 * dropped words drops too: `a OR !!!` is a, `a -!!!` is a; a query left with
 * nothing is an error.
 *
 * JSON tree: {"term": "..."} (tokenized the same way), {"and": [..]},
 * {"or": [..]} (non-empty arrays), {"not": <tree>}. Exactly one key per object.
 *
 * Normalized tree (what every parser returns and every printer assumes):
 *   - AND and OR have at least 2 children; a child of an AND is never an AND
 *     and a child of an OR never an OR (nested ones are flattened, single
 *     children replace their parent);
 *   - NOT has exactly one child, never a NOT (NOT NOT x is x);
 *   - children keep the order they were written in; duplicates are kept.
 *   - TERM holds token bytes exactly as the tokenizer emits them.
 * A query is valid when it has at least one positive term: a TERM reached
 * from the root through no NOT. Positive terms are the terms that score.
 *
 * Printing a normalized tree (either printer) and parsing the text back gives
 * an equal tree (sgs_query_equal).
 *
 * Memory: nodes and term bytes live in the caller's arena. */
#ifndef SGS_COMMON_QUERY_H
#define SGS_COMMON_QUERY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/err.h"

/* Limits; each violation is its own error code (common/err.h). */
#define SGS_QUERY_MAX_BYTES 4096u /* query string bytes (SGS_EQUERY_LONG) */
#define SGS_QUERY_MAX_TERMS 64u   /* TERM nodes after tokenizing (SGS_EQUERY_TERMS) */
/* Depth (SGS_EQUERY_DEPTH), checked twice: as written (a word inside at most
 * 15 parentheses and NOTs; a JSON tree at most 16 objects deep), refused
 * before descending, and in the normalized tree (a TERM is one level). */
#define SGS_QUERY_MAX_DEPTH 16u

typedef enum sgs_query_kind {
    SGS_QUERY_TERM = 1,
    SGS_QUERY_AND = 2,
    SGS_QUERY_OR = 3,
    SGS_QUERY_NOT = 4,
} sgs_query_kind;

typedef struct sgs_query_node sgs_query_node;
struct sgs_query_node {
    sgs_query_kind kind;
    uint32_t n_children;       /* AND/OR: >= 2; NOT: 1; TERM: 0 */
    sgs_query_node **children; /* arena array of n_children */
    const char *term;          /* TERM: token bytes, NUL-terminated */
    uint32_t term_len;         /* TERM: 1 .. SGS_TOKEN_MAX_BYTES */
};

/* Parses a query string of len bytes into a normalized tree in arena a.
 * NULL and err set on failure: SGS_EQUERY_LONG, SGS_EQUERY_TERMS,
 * SGS_EQUERY_DEPTH, or SGS_EQUERY for invalid UTF-8, unbalanced parentheses,
 * a dangling OR/NOT, or no positive term (reason names the problem and the
 * byte offset where it has one). */
sgs_query_node *sgs_query_parse(const char *q, size_t len, sgs_arena *a, sgs_err *err);

/* Builds a normalized tree from a JSON query tree (borrowed). NULL and err
 * set as for sgs_query_parse, plus SGS_EQUERY for wrong shapes, types or
 * unknown keys (reason names the JSON path, e.g. "query.and[2]"). */
sgs_query_node *sgs_query_from_json(const json_t *tree, sgs_arena *a, sgs_err *err);

/* Checks that a tree built elsewhere (the binary wire decoder) is normalized
 * as above, within the limits, with terms that are one token each exactly as
 * the tokenizer emits it (so valid UTF-8, already lowered), and a positive term.
 * 0, or the error sgs_query_parse would give (SGS_EQUERY naming the rule). */
int sgs_query_validate(const sgs_query_node *n, sgs_err *err);

/* The tree as a JSON query tree; returns owned (json_decref). */
json_t *sgs_query_to_json(const sgs_query_node *n);

/* Appends the tree in query-string syntax, parenthesized so it parses back
 * to the same tree (terms are lower-case tokens, so none reads as OR/NOT). */
void sgs_query_to_string(const sgs_query_node *n, sgs_buf *out);

/* True when both trees have the same shape, kinds, child order and terms. */
bool sgs_query_equal(const sgs_query_node *a, const sgs_query_node *b);

/* The distinct positive terms of the tree, sorted by bytes (memcmp, shorter
 * prefix first): fills terms (arena array) and returns how many. This order
 * is the one every score is summed in, so equal inputs give equal doubles on
 * every shard. */
uint32_t sgs_query_positive_terms(const sgs_query_node *n, sgs_arena *a,
                                  const sgs_query_node ***terms);

#endif
