/* A buffered output file that counts the bytes it has taken and, when asked,
 * keeps a running XXH3-64 of them. Used for shard sections and the indexer's
 * spill runs. Errors are sticky: after the first failed write every call
 * fails with the same reason, so callers may check once at the end. */
#ifndef SGS_COMMON_OFILE_H
#define SGS_COMMON_OFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct sgs_ofile sgs_ofile;

/* Creates (truncates) path for writing. NULL and err set (SGS_EIO naming
 * open and the path) on failure. Free with sgs_ofile_close(). */
sgs_ofile *sgs_ofile_open(const char *path, bool with_checksum, sgs_err *err);

/* Appends n bytes. */
int sgs_ofile_write(sgs_ofile *f, const void *data, size_t n, sgs_err *err);

/* Appends zero bytes until the byte count is a multiple of align. */
int sgs_ofile_pad(sgs_ofile *f, size_t align, sgs_err *err);

/* Bytes taken so far (buffered or written). */
uint64_t sgs_ofile_size(const sgs_ofile *f);

/* XXH3-64 of every byte taken so far (0 without checksum). */
uint64_t sgs_ofile_checksum(const sgs_ofile *f);

/* Writes out the buffer. */
int sgs_ofile_flush(sgs_ofile *f, sgs_err *err);

/* The underlying descriptor (after sgs_ofile_flush, for pwrite/fsync). */
int sgs_ofile_fd(const sgs_ofile *f);

/* Appends the whole content of the file at path (read back from disk). */
int sgs_ofile_append_file(sgs_ofile *f, const char *path, sgs_err *err);

/* Flushes, optionally fsyncs, closes and frees; returns the first error
 * seen. NULL is a no-op returning 0. */
int sgs_ofile_close(sgs_ofile *f, bool sync, sgs_err *err);

#endif
