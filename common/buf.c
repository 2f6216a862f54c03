/* Growable byte buffer. */
#include "common/buf.h"

#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "common/mem.h"

void sgs_buf_init(sgs_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void sgs_buf_fini(sgs_buf *b)
{
    free(b->data);
    sgs_buf_init(b);
}

void sgs_buf_reserve(sgs_buf *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->len < extra)
        cap *= 2;
    b->data = sgs_xrealloc(b->data, cap);
    b->cap = cap;
}

void sgs_buf_append(sgs_buf *b, const void *src, size_t n)
{
    if (n == 0)
        return;
    sgs_buf_reserve(b, n);
    memcpy(b->data + b->len, src, n);
    b->len += n;
}

void sgs_buf_putc(sgs_buf *b, uint8_t c)
{
    sgs_buf_reserve(b, 1);
    b->data[b->len++] = c;
}

void sgs_buf_put_u16(sgs_buf *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    sgs_buf_append(b, x, 2);
}

void sgs_buf_put_u32(sgs_buf *b, uint32_t v)
{
    uint8_t x[4];
    for (int i = 0; i < 4; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    sgs_buf_append(b, x, 4);
}

void sgs_buf_put_u64(sgs_buf *b, uint64_t v)
{
    uint8_t x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    sgs_buf_append(b, x, 8);
}

void sgs_buf_zero(sgs_buf *b, size_t n)
{
    sgs_buf_reserve(b, n);
    memset(b->data + b->len, 0, n);
    b->len += n;
}

void sgs_buf_printf(sgs_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    sgs_buf_reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void sgs_buf_json_escape(sgs_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    sgs_buf_reserve(b, n + 2);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': sgs_buf_append(b, "\\\"", 2); break;
        case '\\': sgs_buf_append(b, "\\\\", 2); break;
        case '\n': sgs_buf_append(b, "\\n", 2); break;
        case '\r': sgs_buf_append(b, "\\r", 2); break;
        case '\t': sgs_buf_append(b, "\\t", 2); break;
        default:
            if (c < 0x20) {
                char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                sgs_buf_append(b, e, 6);
            } else {
                sgs_buf_putc(b, c);
            }
        }
    }
}

void sgs_buf_reset(sgs_buf *b)
{
    b->len = 0;
}
