/* Tokenizer: letters and numbers of any script, simple lowercase, the
 * 255-byte limit, and the UTF-8 checker. */
#include "common/tokenize.h"

#include <criterion/criterion.h>
#include <string.h>

typedef struct collected {
    char toks[64][300];
    size_t n;
} collected;

static void collect(void *ctx, const char *tok, size_t len)
{
    collected *c = ctx;
    cr_assert_lt(c->n, 64);
    memcpy(c->toks[c->n], tok, len);
    c->toks[c->n][len] = '\0';
    c->n++;
}

static collected tokens_of(const char *text)
{
    collected c;
    memset(&c, 0, sizeof c);
    size_t n = sgs_tokenize(text, strlen(text), collect, &c);
    cr_assert_eq(n, c.n);
    return c;
}

Test(tokenize, ascii_words_are_lowered_and_split_on_punctuation)
{
    collected c = tokens_of("Hello, WORLD! x86-64 don't  e=mc2");
    const char *want[] = {"hello", "world", "x86", "64", "don", "t", "e", "mc2"};
    cr_assert_eq(c.n, 8);
    for (size_t i = 0; i < 8; i++)
        cr_assert_str_eq(c.toks[i], want[i]);
}

Test(tokenize, unicode_letters_and_numbers_of_any_script)
{
    collected c = tokens_of("CAFÉ naïve Straße ΩMEGA 日本語 Привет ١٢٣ ½ Ⅻ");
    const char *want[] = {"café", "naïve", "straße", "ωmega", "日本語", "привет", "١٢٣", "½", "ⅻ"};
    cr_assert_eq(c.n, 9);
    for (size_t i = 0; i < 9; i++)
        cr_assert_str_eq(c.toks[i], want[i]);
}

Test(tokenize, simple_lowercase_mapping_only)
{
    /* U+0130 lowers to plain 'i' under the simple mapping (full mapping adds U+0307). */
    collected c = tokens_of("\xc4\xb0stanbul \xc7\x85");
    cr_assert_eq(c.n, 2);
    cr_assert_str_eq(c.toks[0], "istanbul");
    cr_assert_str_eq(c.toks[1], "\xc7\x86"); /* Dž titlecase -> dž */
}

Test(tokenize, separators_marks_and_symbols_split)
{
    collected c = tokens_of("a_b a\xe2\x80\x94" "b a\xc2\xa0" "b $%^ \xf0\x9f\x98\x80x");
    const char *want[] = {"a", "b", "a", "b", "a", "b", "x"};
    cr_assert_eq(c.n, 7);
    for (size_t i = 0; i < 7; i++)
        cr_assert_str_eq(c.toks[i], want[i]);
}

Test(tokenize, tokens_over_255_bytes_are_skipped)
{
    char text[700];
    memset(text, 'a', 255);
    text[255] = ' ';
    memset(text + 256, 'b', 256);
    strcpy(text + 512, " end");
    collected c = tokens_of(text);
    cr_assert_eq(c.n, 2);
    cr_assert_eq(strlen(c.toks[0]), 255);
    cr_assert_str_eq(c.toks[1], "end");
}

Test(tokenize, limit_counts_lowered_bytes)
{
    /* 127 x U+023A (2 bytes) lowers to U+2C65 (3 bytes): 254 bytes in, 381 out. */
    char text[400] = {0};
    for (int i = 0; i < 127; i++)
        memcpy(text + 2 * i, "\xc8\xba", 2);
    collected c = tokens_of(text);
    cr_assert_eq(c.n, 0);
}

Test(tokenize, invalid_bytes_separate_tokens)
{
    collected c = tokens_of("ab\xff" "cd\xc3");
    cr_assert_eq(c.n, 2);
    cr_assert_str_eq(c.toks[0], "ab");
    cr_assert_str_eq(c.toks[1], "cd");
}

Test(utf8_check, accepts_well_formed_text)
{
    const char *ok = "plain ascii, café, 日本, \xf0\x9f\x98\x80, \xf4\x8f\xbf\xbf";
    cr_assert(sgs_utf8_check(ok, strlen(ok), NULL));
    cr_assert(sgs_utf8_check("", 0, NULL));
}

Test(utf8_check, rejects_and_locates_bad_sequences)
{
    struct {
        const char *s;
        size_t at;
    } bad[] = {
        {"abc\xff", 3},                  /* invalid byte */
        {"ab\xc0\xaf", 2},               /* overlong '/' */
        {"\xe0\x80\xaf", 0},             /* overlong three-byte */
        {"xx\xed\xa0\x80", 2},           /* surrogate */
        {"\xf4\x90\x80\x80", 0},         /* past U+10FFFF */
        {"12345678\xc3", 8},             /* truncated after the fast path */
        {"a\xe2\x82", 1},                /* truncated */
        {"a\x80", 1},                    /* lone continuation */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t at = 999;
        cr_assert_not(sgs_utf8_check(bad[i].s, strlen(bad[i].s), &at), "case %zu", i);
        cr_assert_eq(at, bad[i].at, "case %zu: at %zu", i, at);
    }
}
