/* The tokenizer shared by the indexer and the query parser, so a query is
 * always tokenized exactly as the index was.
 *
 * A token is a maximal run of code points whose Unicode general category is
 * L* (letters) or N* (numbers). Each code point is lowered with its simple
 * lowercase mapping (utf8proc_tolower); no normalization, no stemming, no
 * stop words. A token whose lowered UTF-8 form is longer than
 * SGS_TOKEN_MAX_BYTES is skipped. Bytes that are not valid UTF-8 separate
 * tokens (callers validate input first; see sgs_utf8_check). */
#ifndef SGS_COMMON_TOKENIZE_H
#define SGS_COMMON_TOKENIZE_H

#include <stdbool.h>
#include <stddef.h>

#define SGS_TOKEN_MAX_BYTES 255

/* Called once per token with the lowered bytes (not NUL-terminated, valid
 * only during the call). */
typedef void (*sgs_token_fn)(void *ctx, const char *token, size_t len);

/* Tokenizes n bytes of text, calling fn for each token in order. Returns the
 * number of tokens passed to fn. */
size_t sgs_tokenize(const char *text, size_t n, sgs_token_fn fn, void *ctx);

/* True when the n bytes are well-formed UTF-8 (no overlongs, surrogates or
 * code points past U+10FFFF). On false, *bad_offset (if not NULL) is the
 * offset of the first bad byte. */
bool sgs_utf8_check(const char *s, size_t n, size_t *bad_offset);

#endif
