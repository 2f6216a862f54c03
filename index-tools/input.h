/* Input files of sgs-index build: plain, gzip or zstd JSON Lines, or stdin
 * ("-"). The compression is detected from the first bytes, not the name.
 * Reads are sequential; progress is reported in bytes of the underlying
 * (possibly compressed) file. */
#ifndef SGS_INDEX_TOOLS_INPUT_H
#define SGS_INDEX_TOOLS_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

typedef struct idx_input idx_input;

/* Opens path ("-" for stdin). NULL and err set (SGS_EIO) on failure. */
idx_input *idx_input_open(const char *path, sgs_err *err);

/* Reads up to n decompressed bytes. Returns bytes read, 0 at end, or -1
 * with err set (SGS_EIO for read errors, SGS_ECORRUPT for bad compressed data). */
ssize_t idx_input_read(idx_input *in, void *buf, size_t n, sgs_err *err);

/* Bytes of the underlying file consumed so far. */
uint64_t idx_input_raw_pos(const idx_input *in);

/* Size of the underlying file, or 0 when unknown (a pipe). */
uint64_t idx_input_raw_size(const idx_input *in);

/* Closes and frees; NULL is a no-op. */
void idx_input_close(idx_input *in);

#endif
