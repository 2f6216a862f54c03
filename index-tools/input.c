/* Decompressing sequential input: raw bytes are read in large blocks and fed
 * through zlib (gzip, including concatenated members) or libzstd. */
#include "index-tools/input.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "common/mem.h"

#define RAW_BUF_SIZE (1u << 20)

enum codec { CODEC_PLAIN, CODEC_GZIP, CODEC_ZSTD };

struct idx_input {
    int fd;
    char *path;
    enum codec codec;
    uint8_t *raw;
    size_t raw_len, raw_off; /* unconsumed raw bytes are raw[raw_off, raw_len) */
    bool raw_eof;
    uint64_t raw_pos, raw_size;
    z_stream z;
    bool z_done;
    ZSTD_DCtx *zstd;
};

static int fill_raw(idx_input *in, sgs_err *err)
{
    if (in->raw_off < in->raw_len || in->raw_eof)
        return 0;
    for (;;) {
        ssize_t got = read(in->fd, in->raw, RAW_BUF_SIZE);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return sgs_err_set(err, SGS_EIO, "read %s: %s", in->path, strerror(errno));
        in->raw_len = (size_t)got;
        in->raw_off = 0;
        in->raw_pos += (uint64_t)got;
        if (got == 0)
            in->raw_eof = true;
        return 0;
    }
}

idx_input *idx_input_open(const char *path, sgs_err *err)
{
    int fd = strcmp(path, "-") == 0 ? dup(STDIN_FILENO) : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        sgs_err_set(err, SGS_EIO, "open %s: %s", path, strerror(errno));
        return NULL;
    }
    idx_input *in = sgs_xcalloc(1, sizeof *in);
    in->fd = fd;
    in->path = sgs_xstrdup(path);
    in->raw = sgs_xmalloc(RAW_BUF_SIZE);
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        in->raw_size = (uint64_t)st.st_size;
    if (fill_raw(in, err) != 0)
        goto fail;
    const uint8_t *p = in->raw;
    if (in->raw_len >= 2 && p[0] == 0x1f && p[1] == 0x8b) {
        in->codec = CODEC_GZIP;
        if (inflateInit2(&in->z, 15 + 32) != Z_OK) {
            sgs_err_set(err, SGS_ENOMEM, "inflateInit2 %s failed", path);
            goto fail;
        }
    } else if (in->raw_len >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd) {
        in->codec = CODEC_ZSTD;
        in->zstd = ZSTD_createDCtx();
        if (in->zstd == NULL) {
            sgs_err_set(err, SGS_ENOMEM, "ZSTD_createDCtx for %s failed", path);
            goto fail;
        }
    }
    return in;
fail:
    idx_input_close(in);
    return NULL;
}

static ssize_t read_gzip(idx_input *in, void *buf, size_t n, sgs_err *err)
{
    in->z.next_out = buf;
    in->z.avail_out = (uInt)(n > (1u << 30) ? (1u << 30) : n);
    size_t want = in->z.avail_out;
    while (in->z.avail_out == want) {
        if (fill_raw(in, err) != 0)
            return -1;
        if (in->raw_off == in->raw_len) {
            if (!in->z_done)
                return sgs_err_set(err, SGS_ECORRUPT, "%s: gzip data ends early", in->path), -1;
            return 0;
        }
        if (in->z_done) {
            /* Another gzip member follows. */
            if (inflateReset(&in->z) != Z_OK)
                return sgs_err_set(err, SGS_ECORRUPT, "%s: inflateReset failed", in->path), -1;
            in->z_done = false;
        }
        in->z.next_in = in->raw + in->raw_off;
        in->z.avail_in = (uInt)(in->raw_len - in->raw_off);
        int rc = inflate(&in->z, Z_NO_FLUSH);
        in->raw_off = in->raw_len - in->z.avail_in;
        if (rc == Z_STREAM_END)
            in->z_done = true;
        else if (rc != Z_OK && rc != Z_BUF_ERROR)
            return sgs_err_set(err, SGS_ECORRUPT, "%s: bad gzip data (%s)", in->path,
                               in->z.msg ? in->z.msg : "inflate failed"), -1;
    }
    return (ssize_t)(want - in->z.avail_out);
}

static ssize_t read_zstd(idx_input *in, void *buf, size_t n, sgs_err *err)
{
    ZSTD_outBuffer out = {buf, n, 0};
    while (out.pos == 0) {
        if (fill_raw(in, err) != 0)
            return -1;
        if (in->raw_off == in->raw_len) {
            if (!in->z_done)
                return sgs_err_set(err, SGS_ECORRUPT, "%s: zstd data ends early", in->path), -1;
            return 0;
        }
        ZSTD_inBuffer zin = {in->raw + in->raw_off, in->raw_len - in->raw_off, 0};
        size_t rc = ZSTD_decompressStream(in->zstd, &out, &zin);
        in->raw_off += zin.pos;
        if (ZSTD_isError(rc))
            return sgs_err_set(err, SGS_ECORRUPT, "%s: bad zstd data (%s)", in->path,
                               ZSTD_getErrorName(rc)), -1;
        in->z_done = rc == 0;
    }
    return (ssize_t)out.pos;
}

ssize_t idx_input_read(idx_input *in, void *buf, size_t n, sgs_err *err)
{
    switch (in->codec) {
    case CODEC_GZIP:
        return read_gzip(in, buf, n, err);
    case CODEC_ZSTD:
        return read_zstd(in, buf, n, err);
    case CODEC_PLAIN:
        break;
    }
    if (fill_raw(in, err) != 0)
        return -1;
    size_t avail = in->raw_len - in->raw_off;
    size_t take = avail < n ? avail : n;
    memcpy(buf, in->raw + in->raw_off, take);
    in->raw_off += take;
    return (ssize_t)take;
}

uint64_t idx_input_raw_pos(const idx_input *in)
{
    return in->raw_pos - (in->raw_len - in->raw_off);
}

uint64_t idx_input_raw_size(const idx_input *in)
{
    return in->raw_size;
}

void idx_input_close(idx_input *in)
{
    if (in == NULL)
        return;
    if (in->codec == CODEC_GZIP)
        inflateEnd(&in->z);
    ZSTD_freeDCtx(in->zstd);
    close(in->fd);
    free(in->raw);
    free(in->path);
    free(in);
}
