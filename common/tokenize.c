/* Tokenizer: an ASCII fast path by table, utf8proc for everything else. */
#include "common/tokenize.h"

#include <stdint.h>
#include <string.h>
#include <utf8proc.h>

/* ASCII classes: 0 separator, otherwise the lowered byte. */
static const unsigned char ascii_token_byte[128] = {
    ['0'] = '0', ['1'] = '1', ['2'] = '2', ['3'] = '3', ['4'] = '4',
    ['5'] = '5', ['6'] = '6', ['7'] = '7', ['8'] = '8', ['9'] = '9',
    ['a'] = 'a', ['b'] = 'b', ['c'] = 'c', ['d'] = 'd', ['e'] = 'e', ['f'] = 'f',
    ['g'] = 'g', ['h'] = 'h', ['i'] = 'i', ['j'] = 'j', ['k'] = 'k', ['l'] = 'l',
    ['m'] = 'm', ['n'] = 'n', ['o'] = 'o', ['p'] = 'p', ['q'] = 'q', ['r'] = 'r',
    ['s'] = 's', ['t'] = 't', ['u'] = 'u', ['v'] = 'v', ['w'] = 'w', ['x'] = 'x',
    ['y'] = 'y', ['z'] = 'z',
    ['A'] = 'a', ['B'] = 'b', ['C'] = 'c', ['D'] = 'd', ['E'] = 'e', ['F'] = 'f',
    ['G'] = 'g', ['H'] = 'h', ['I'] = 'i', ['J'] = 'j', ['K'] = 'k', ['L'] = 'l',
    ['M'] = 'm', ['N'] = 'n', ['O'] = 'o', ['P'] = 'p', ['Q'] = 'q', ['R'] = 'r',
    ['S'] = 's', ['T'] = 't', ['U'] = 'u', ['V'] = 'v', ['W'] = 'w', ['X'] = 'x',
    ['Y'] = 'y', ['Z'] = 'z',
};

static bool is_token_codepoint(utf8proc_int32_t cp)
{
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return true;
    default:
        return false;
    }
}

size_t sgs_tokenize(const char *text, size_t n, sgs_token_fn fn, void *ctx)
{
    /* Room for one code point past the limit, so overlong tokens are seen. */
    char tok[SGS_TOKEN_MAX_BYTES + 8];
    size_t tok_len = 0, n_tokens = 0;
    bool overlong = false;
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i <= n) {
        bool in_token = false;
        size_t step = 1;
        if (i < n) {
            unsigned char c = s[i];
            if (c < 0x80) {
                unsigned char low = ascii_token_byte[c];
                if (low) {
                    in_token = true;
                    if (tok_len < SGS_TOKEN_MAX_BYTES + 1)
                        tok[tok_len++] = (char)low;
                    else
                        overlong = true;
                }
            } else {
                utf8proc_int32_t cp;
                utf8proc_ssize_t got = utf8proc_iterate(s + i, (utf8proc_ssize_t)(n - i), &cp);
                if (got > 0) {
                    step = (size_t)got;
                    if (is_token_codepoint(cp)) {
                        in_token = true;
                        utf8proc_uint8_t enc[4];
                        utf8proc_ssize_t w = utf8proc_encode_char(utf8proc_tolower(cp), enc);
                        if (tok_len + (size_t)w <= SGS_TOKEN_MAX_BYTES + 1) {
                            memcpy(tok + tok_len, enc, (size_t)w);
                            tok_len += (size_t)w;
                        } else {
                            overlong = true;
                        }
                    }
                }
            }
        }
        if (!in_token && tok_len > 0) {
            if (!overlong && tok_len <= SGS_TOKEN_MAX_BYTES) {
                fn(ctx, tok, tok_len);
                n_tokens++;
            }
            tok_len = 0;
            overlong = false;
        }
        i += step;
    }
    return n_tokens;
}

bool sgs_utf8_check(const char *s, size_t n, size_t *bad_offset)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        /* Skip ASCII eight bytes at a time. */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (w & 0x8080808080808080ULL)
                break;
            i += 8;
        }
        if (i >= n)
            break;
        unsigned char c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2; cp = c & 0x1F; min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3; cp = c & 0x0F; min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4; cp = c & 0x07; min = 0x10000;
        } else {
            goto bad;
        }
        if (i + len > n)
            goto bad;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                goto bad;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            goto bad;
        i += len;
    }
    return true;
bad:
    if (bad_offset)
        *bad_offset = i;
    return false;
}
