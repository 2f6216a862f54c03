/* A growable byte buffer, the one way this project builds variable-size
 * output in memory (encoded blocks, JSON text, file sections).
 *
 * Invariant: len <= cap; data is NULL only while cap == 0. Storage is owned
 * by the buffer; sgs_buf_fini() frees it. Growth aborts on out-of-memory. */
#ifndef SGS_COMMON_BUF_H
#define SGS_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct sgs_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} sgs_buf;

/* Initialises an empty buffer (no allocation). */
void sgs_buf_init(sgs_buf *b);

/* Frees the storage; the buffer is empty and reusable afterwards. */
void sgs_buf_fini(sgs_buf *b);

/* Ensures room for extra more bytes past len. */
void sgs_buf_reserve(sgs_buf *b, size_t extra);

/* Appends n bytes. */
void sgs_buf_append(sgs_buf *b, const void *src, size_t n);

/* Appends one byte. */
void sgs_buf_putc(sgs_buf *b, uint8_t c);

/* Appends a little-endian integer of the given width. */
void sgs_buf_put_u16(sgs_buf *b, uint16_t v);
void sgs_buf_put_u32(sgs_buf *b, uint32_t v);
void sgs_buf_put_u64(sgs_buf *b, uint64_t v);

/* Appends n zero bytes. */
void sgs_buf_zero(sgs_buf *b, size_t n);

/* Appends printf-formatted text (no NUL kept in len). */
void sgs_buf_printf(sgs_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends s as the body of a JSON string (escaped, without quotes). */
void sgs_buf_json_escape(sgs_buf *b, const char *s, size_t n);

/* Sets len to 0, keeping the storage. */
void sgs_buf_reset(sgs_buf *b);

#endif
