/* Lean HTTP/1.1 client: response parser and non-blocking connection. */
#include "common/http_client.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK 16384u

/* Case-insensitive comparison of a header name against a lower-case literal. */
static bool name_is(const char *name, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n == l && strncasecmp(name, lit, l) == 0;
}

static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* True when the first n bytes could still begin "HTTP/1.". */
static bool could_be_http(const uint8_t *d, size_t n)
{
    static const char pfx[] = "HTTP/1.";
    size_t m = n < sizeof pfx - 1 ? n : sizeof pfx - 1;
    return memcmp(d, pfx, m) == 0;
}

/* Looks for a token (comma-separated, case-insensitive) in a Connection value. */
static bool has_token(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok);
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e - s == tl && strncasecmp(v + s, tok, tl) == 0)
            return true;
    }
    return false;
}

long sgs_http_parse_response(const uint8_t *data, size_t len, size_t max_body,
                             sgs_http_response *out, sgs_err *err)
{
    if (!could_be_http(data, len))
        return sgs_err_set(err, SGS_ECORRUPT, "http response: does not start with HTTP/1.");
    size_t scan = len < SGS_HTTP_MAX_HEADER ? len : SGS_HTTP_MAX_HEADER;
    const uint8_t *end = NULL;
    for (size_t i = 3; i < scan; i++)
        if (data[i] == '\n' && data[i - 1] == '\r' && data[i - 2] == '\n' && data[i - 3] == '\r') {
            end = data + i + 1;
            break;
        }
    out->header_len = 0;
    if (end == NULL) {
        if (len >= SGS_HTTP_MAX_HEADER)
            return sgs_err_set(err, SGS_ELIMIT, "http response: header over %u bytes",
                               SGS_HTTP_MAX_HEADER);
        return 0;
    }
    size_t header_len = (size_t)(end - data);
    const char *p = (const char *)data;
    const char *hend = (const char *)end - 2; /* the final CRLF */

    /* Status line: HTTP/1.x SP ddd [SP reason] CRLF */
    if (header_len < 14 || (p[7] != '0' && p[7] != '1') || p[8] != ' ')
        return sgs_err_set(err, SGS_ECORRUPT, "http response: bad status line");
    bool http11 = p[7] == '1';
    int status = 0;
    for (int i = 9; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9')
            return sgs_err_set(err, SGS_ECORRUPT, "http response: bad status code");
        status = status * 10 + (p[i] - '0');
    }
    if (status < 100 || (p[12] != ' ' && p[12] != '\r'))
        return sgs_err_set(err, SGS_ECORRUPT, "http response: bad status code");
    const char *line = memchr(p, '\n', header_len);
    if (line == NULL || line[-1] != '\r')
        return sgs_err_set(err, SGS_ECORRUPT, "http response: bad status line ending");
    line++;

    bool keep_alive = http11, have_cl = false;
    uint64_t cl = 0;
    const char *ctype = NULL;
    size_t ctype_len = 0;
    while (line < hend) {
        const char *eol = memchr(line, '\n', (size_t)(hend + 2 - line));
        if (eol == NULL || eol == line || eol[-1] != '\r')
            return sgs_err_set(err, SGS_ECORRUPT, "http response: header line without CRLF");
        const char *colon = line;
        while (colon < eol && is_tchar((unsigned char)*colon))
            colon++;
        if (colon == line || *colon != ':')
            return sgs_err_set(err, SGS_ECORRUPT, "http response: bad header name at byte %zu",
                               (size_t)(line - p));
        size_t name_len = (size_t)(colon - line);
        const char *v = colon + 1, *ve = eol - 1;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        size_t vn = (size_t)(ve - v);
        for (size_t i = 0; i < vn; i++)
            if ((unsigned char)v[i] < 0x20 && v[i] != '\t')
                return sgs_err_set(err, SGS_ECORRUPT,
                                   "http response: control byte in a header value");
        if (name_is(line, name_len, "content-length")) {
            if (vn == 0 || vn > 18)
                return sgs_err_set(err, SGS_ECORRUPT, "http response: bad Content-Length");
            uint64_t x = 0;
            for (size_t i = 0; i < vn; i++) {
                if (v[i] < '0' || v[i] > '9')
                    return sgs_err_set(err, SGS_ECORRUPT, "http response: bad Content-Length");
                x = x * 10 + (uint64_t)(v[i] - '0');
            }
            if (have_cl && x != cl)
                return sgs_err_set(err, SGS_ECORRUPT,
                                   "http response: conflicting Content-Length headers");
            have_cl = true;
            cl = x;
        } else if (name_is(line, name_len, "transfer-encoding")) {
            return sgs_err_set(err, SGS_EPROTOCOL,
                               "http response: Transfer-Encoding is not supported");
        } else if (name_is(line, name_len, "connection")) {
            if (has_token(v, vn, "close"))
                keep_alive = false;
            else if (has_token(v, vn, "keep-alive"))
                keep_alive = true;
        } else if (name_is(line, name_len, "content-type")) {
            ctype = v;
            ctype_len = vn;
        }
        line = eol + 1;
    }
    if (status < 200)
        return sgs_err_set(err, SGS_EPROTOCOL, "http response: unexpected status %d", status);
    if (!have_cl) {
        if (status != 204 && status != 304)
            return sgs_err_set(err, SGS_EPROTOCOL, "http response: no Content-Length");
        cl = 0;
    }
    if (cl > max_body)
        return sgs_err_set(err, SGS_ELIMIT, "http response: body of %llu bytes over %zu",
                           (unsigned long long)cl, max_body);
    if (len - header_len < cl) {
        out->body = NULL;
        out->header_len = header_len;
        out->body_len = (size_t)cl;
        return 0;
    }
    out->status = status;
    out->keep_alive = keep_alive;
    out->body = end;
    out->body_len = (size_t)cl;
    out->content_type = ctype;
    out->content_type_len = ctype_len;
    out->header_len = header_len;
    return (long)(header_len + cl);
}

static void append_str(sgs_buf *out, const char *s)
{
    sgs_buf_append(out, s, strlen(s));
}

/* Formats by appending (no printf): the root formats one request per leaf
 * sub-request. */
void sgs_http_format_request(sgs_buf *out, const char *method, const char *host, const char *path,
                             const char *extra_headers, const char *content_type,
                             const void *body, size_t body_len)
{
    sgs_buf_reserve(out, 160 + body_len);
    append_str(out, method);
    sgs_buf_putc(out, ' ');
    append_str(out, path);
    sgs_buf_append(out, " HTTP/1.1\r\nHost: ", 17);
    append_str(out, host);
    sgs_buf_append(out, "\r\n", 2);
    if (extra_headers)
        append_str(out, extra_headers);
    if (content_type || body_len > 0) {
        if (content_type) {
            sgs_buf_append(out, "Content-Type: ", 14);
            append_str(out, content_type);
            sgs_buf_append(out, "\r\n", 2);
        }
        char digits[24];
        size_t n = 0;
        size_t v = body_len;
        do {
            digits[sizeof digits - 1 - n++] = (char)('0' + v % 10);
            v /= 10;
        } while (v > 0);
        sgs_buf_append(out, "Content-Length: ", 16);
        sgs_buf_append(out, digits + sizeof digits - n, n);
        sgs_buf_append(out, "\r\n", 2);
    }
    sgs_buf_append(out, "\r\n", 2);
    if (body_len > 0)
        sgs_buf_append(out, body, body_len);
}

void sgs_http_conn_init(sgs_http_conn *c, size_t max_body)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    sgs_buf_init(&c->out);
    sgs_buf_init(&c->in);
    c->max_body = max_body;
}

void sgs_http_conn_close(sgs_http_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->connecting = false;
    c->out_off = 0;
    c->expect = 0;
    c->n_responses = 0;
    sgs_buf_reset(&c->in);
}

void sgs_http_conn_fini(sgs_http_conn *c)
{
    sgs_http_conn_close(c);
    sgs_buf_fini(&c->out);
    sgs_buf_fini(&c->in);
}

int sgs_http_conn_connect(sgs_http_conn *c, const struct sockaddr *addr, socklen_t addr_len,
                          sgs_err *err)
{
    sgs_http_conn_close(c);
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return sgs_err_set(err, SGS_EIO, "socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, addr, addr_len) != 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        return sgs_err_set(err, SGS_EIO, "connect: %s", strerror(e));
    }
    c->fd = fd;
    c->connecting = true;
    return 0;
}

int sgs_http_conn_io(sgs_http_conn *c, sgs_http_response *resp, sgs_err *err)
{
    if (c->fd < 0)
        return sgs_err_set(err, SGS_EIO, "http: connection is closed");
    if (c->out_off < c->out.len) {
        if (c->connecting) {
            int so = 0;
            socklen_t sl = sizeof so;
            if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &so, &sl) == 0 && so != 0)
                return sgs_err_set(err, SGS_EIO, "connect: %s", strerror(so));
        }
        while (c->out_off < c->out.len) {
            ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
                             MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    return SGS_HTTP_IO_WANT_WRITE;
                return sgs_err_set(err, SGS_EIO, "%s: %s", c->connecting ? "connect" : "send",
                                   strerror(errno));
            }
            c->connecting = false;
            c->out_off += (size_t)n;
        }
        /* The answer cannot be there yet: wait rather than spend a recv. */
        return SGS_HTTP_IO_WANT_READ;
    }
    for (;;) {
        size_t room = READ_CHUNK;
        if (c->expect > c->in.len && c->expect - c->in.len > room)
            room = c->expect - c->in.len;
        sgs_buf_reserve(&c->in, room);
        ssize_t n = recv(c->fd, c->in.data + c->in.len, room, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return SGS_HTTP_IO_WANT_READ;
            return sgs_err_set(err, SGS_EIO, "recv: %s", strerror(errno));
        }
        if (n == 0)
            return sgs_err_set(err, SGS_EIO, "recv: peer closed the connection after %zu bytes",
                               c->in.len);
        c->in.len += (size_t)n;
        if (c->expect == 0 || c->in.len >= c->expect) {
            long r = sgs_http_parse_response(c->in.data, c->in.len, c->max_body, resp, err);
            if (r < 0)
                return (int)r;
            if (r > 0) {
                c->expect = (size_t)r;
                c->n_responses++;
                return SGS_HTTP_IO_DONE;
            }
            /* Header complete but body not: remember the size to wait for. */
            if (resp->header_len > 0)
                c->expect = resp->header_len + resp->body_len;
        }
        if ((size_t)n < room)
            return SGS_HTTP_IO_WANT_READ;
    }
}

bool sgs_http_conn_reuse(sgs_http_conn *c, const sgs_http_response *resp)
{
    bool ok = resp->keep_alive && c->in.len == c->expect && c->fd >= 0;
    sgs_buf_reset(&c->out);
    c->out_off = 0;
    sgs_buf_reset(&c->in);
    c->expect = 0;
    if (!ok) {
        uint64_t n = c->n_responses;
        sgs_http_conn_close(c);
        c->n_responses = n;
    }
    return ok;
}

bool sgs_http_conn_idle_broken(sgs_http_conn *c)
{
    if (c->fd < 0)
        return true;
    char b;
    ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return false;
    return true;
}
