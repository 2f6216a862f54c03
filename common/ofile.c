/* Buffered, checksummed output file. */
#include "common/ofile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/mem.h"

#define OFILE_BUF_SIZE (128u << 10)

struct sgs_ofile {
    int fd;
    char *path;
    uint8_t *buf;
    size_t buf_len;
    uint64_t size;
    XXH3_state_t *xxh;
    int failed; /* sticky: first error code */
    char failed_msg[SGS_ERR_MSG_MAX];
};

static int fail(sgs_ofile *f, sgs_err *err, const char *call)
{
    if (!f->failed) {
        f->failed = SGS_EIO;
        snprintf(f->failed_msg, sizeof f->failed_msg, "%s %s: %s", call, f->path,
                 strerror(errno));
    }
    return sgs_err_set(err, f->failed, "%s", f->failed_msg);
}

sgs_ofile *sgs_ofile_open(const char *path, bool with_checksum, sgs_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        sgs_err_set(err, SGS_EIO, "open %s: %s", path, strerror(errno));
        return NULL;
    }
    sgs_ofile *f = sgs_xcalloc(1, sizeof *f);
    f->fd = fd;
    f->path = sgs_xstrdup(path);
    f->buf = sgs_xmalloc(OFILE_BUF_SIZE);
    if (with_checksum) {
        f->xxh = XXH3_createState();
        if (f->xxh == NULL)
            abort();
        XXH3_64bits_reset(f->xxh);
    }
    return f;
}

static int write_all(sgs_ofile *f, const uint8_t *p, size_t n, sgs_err *err)
{
    while (n > 0) {
        ssize_t w = write(f->fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return fail(f, err, "write");
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int sgs_ofile_flush(sgs_ofile *f, sgs_err *err)
{
    if (f->failed)
        return sgs_err_set(err, f->failed, "%s", f->failed_msg);
    int rc = write_all(f, f->buf, f->buf_len, err);
    f->buf_len = 0;
    return rc;
}

int sgs_ofile_write(sgs_ofile *f, const void *data, size_t n, sgs_err *err)
{
    if (f->failed)
        return sgs_err_set(err, f->failed, "%s", f->failed_msg);
    if (n == 0)
        return 0;
    if (f->xxh)
        XXH3_64bits_update(f->xxh, data, n);
    f->size += n;
    if (n >= OFILE_BUF_SIZE) {
        if (sgs_ofile_flush(f, err) != 0)
            return f->failed;
        return write_all(f, data, n, err);
    }
    if (f->buf_len + n > OFILE_BUF_SIZE && sgs_ofile_flush(f, err) != 0)
        return f->failed;
    memcpy(f->buf + f->buf_len, data, n);
    f->buf_len += n;
    return 0;
}

int sgs_ofile_pad(sgs_ofile *f, size_t align, sgs_err *err)
{
    static const uint8_t zeros[64];
    size_t rem = (size_t)(f->size % align);
    if (rem == 0)
        return 0;
    return sgs_ofile_write(f, zeros, align - rem, err);
}

uint64_t sgs_ofile_size(const sgs_ofile *f)
{
    return f->size;
}

uint64_t sgs_ofile_checksum(const sgs_ofile *f)
{
    return f->xxh ? XXH3_64bits_digest(f->xxh) : 0;
}

int sgs_ofile_fd(const sgs_ofile *f)
{
    return f->fd;
}

int sgs_ofile_append_file(sgs_ofile *f, const char *path, sgs_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sgs_err_set(err, SGS_EIO, "open %s: %s", path, strerror(errno));
    uint8_t *tmp = sgs_xmalloc(OFILE_BUF_SIZE);
    int rc = 0;
    for (;;) {
        ssize_t got = read(fd, tmp, OFILE_BUF_SIZE);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = sgs_err_set(err, SGS_EIO, "read %s: %s", path, strerror(errno));
            break;
        }
        if (got == 0)
            break;
        rc = sgs_ofile_write(f, tmp, (size_t)got, err);
        if (rc != 0)
            break;
    }
    free(tmp);
    close(fd);
    return rc;
}

int sgs_ofile_close(sgs_ofile *f, bool sync, sgs_err *err)
{
    if (f == NULL)
        return 0;
    int rc = sgs_ofile_flush(f, err);
    if (rc == 0 && sync && fsync(f->fd) != 0)
        rc = fail(f, err, "fsync");
    if (close(f->fd) != 0 && rc == 0)
        rc = fail(f, err, "close");
    if (f->xxh)
        XXH3_freeState(f->xxh);
    free(f->buf);
    free(f->path);
    free(f);
    return rc;
}
