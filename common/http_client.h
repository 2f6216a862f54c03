/* A lean HTTP/1.1 client for talking to our own servers: one non-blocking
 * keep-alive connection at a time, driven by the caller's event loop, that
 * speaks exactly what the leaves answer (a status line, headers, a body
 * framed by Content-Length). No TLS, no chunked bodies, no pipelining.
 *
 * Two layers:
 *   - sgs_http_parse_response(): a pure parser of one response held in a
 *     buffer. It trusts nothing: every length is bounded (headers by
 *     SGS_HTTP_MAX_HEADER, the body by the caller's cap), garbage is an error,
 *     never a crash (it is fuzzed: tests/fuzz/fuzz_http_response.c).
 *   - sgs_http_conn: caller-provided storage for one connection. The caller
 *     formats a request into conn->out (sgs_http_format_request), then calls
 *     sgs_http_conn_io() whenever the socket is ready; it connects, writes,
 *     reads and parses as far as the socket allows and says what to wait for
 *     next. One request is outstanding at a time; after a response the
 *     connection is reused (sgs_http_conn_reuse) or closed.
 *
 * Invariants: fd is -1 exactly when the connection is closed; a response's
 * pointers point into conn->in and live until the next sgs_http_conn_reuse,
 * sgs_http_conn_close or sgs_http_conn_fini. */
#ifndef SGS_COMMON_HTTP_CLIENT_H
#define SGS_COMMON_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/buf.h"
#include "common/err.h"

#define SGS_HTTP_MAX_HEADER 8192u /* status line and headers, bytes */

/* One parsed response; pointers borrow from the parsed bytes. */
typedef struct sgs_http_response {
    int status;                /* 100..999 */
    bool keep_alive;           /* the connection may carry another request */
    const uint8_t *body;
    size_t body_len;
    const char *content_type;  /* not NUL-terminated; NULL when absent */
    size_t content_type_len;
    size_t header_len;         /* bytes up to and including the blank line */
} sgs_http_response;

/* Parses the response at the start of data[0, len). Returns the size of the
 * whole message (header and body) and fills *out when it is complete, 0 when
 * more bytes are needed (out->header_len is then 0 while the header is
 * incomplete; once it is complete, header_len and body_len give the size to
 * wait for), or a negative code with err set: SGS_ECORRUPT for
 * bytes that are not an HTTP/1.x response (naming what), SGS_ELIMIT for
 * headers over SGS_HTTP_MAX_HEADER or a body over max_body, SGS_EPROTOCOL for
 * framing this client does not speak (chunked, no Content-Length). */
long sgs_http_parse_response(const uint8_t *data, size_t len, size_t max_body,
                             sgs_http_response *out, sgs_err *err);

/* Appends a request: "<method> <path> HTTP/1.1", Host, the extra header
 * lines given (each ending in \r\n, or NULL), Content-Type and Content-Length
 * when body_len > 0 or content_type is set, then the body. */
void sgs_http_format_request(sgs_buf *out, const char *method, const char *host, const char *path,
                             const char *extra_headers, const char *content_type,
                             const void *body, size_t body_len);

typedef enum sgs_http_io {
    SGS_HTTP_IO_WANT_WRITE = 1, /* wait for EPOLLOUT, then call again */
    SGS_HTTP_IO_WANT_READ = 2,  /* wait for EPOLLIN, then call again */
    SGS_HTTP_IO_DONE = 3,       /* a response is complete */
} sgs_http_io;

/* One connection; caller storage. Fields are private except as noted. */
typedef struct sgs_http_conn {
    int fd;              /* public, read-only: the socket, or -1 */
    bool connecting;
    sgs_buf out;         /* public: the request to send (sgs_http_format_request) */
    size_t out_off;      /* bytes of out already written */
    sgs_buf in;          /* bytes read of the response */
    size_t expect;       /* whole response size once its header is parsed, else 0 */
    size_t max_body;
    uint64_t n_responses; /* public, read-only: responses received on this socket */
} sgs_http_conn;

/* Initialises a closed connection whose responses may carry at most
 * max_body body bytes. */
void sgs_http_conn_init(sgs_http_conn *c, size_t max_body);

/* Closes the socket (if open) and frees the buffers. */
void sgs_http_conn_fini(sgs_http_conn *c);

/* Closes the socket; the buffers are kept for reuse. */
void sgs_http_conn_close(sgs_http_conn *c);

/* Starts a non-blocking TCP connect (TCP_NODELAY set). 0, or SGS_EIO naming
 * the call. The connect completes inside sgs_http_conn_io(). */
int sgs_http_conn_connect(sgs_http_conn *c, const struct sockaddr *addr, socklen_t addr_len,
                          sgs_err *err);

/* Drives the request in c->out: finishes the connect, writes, reads, parses.
 * Returns SGS_HTTP_IO_WANT_WRITE/READ, or SGS_HTTP_IO_DONE with *resp
 * filled, or a negative code with err set (SGS_EIO: connect failed, reset,
 * or the peer closed before the response was complete, naming the call;
 * or a parse error as sgs_http_parse_response). The connection must be
 * closed after an error. */
int sgs_http_conn_io(sgs_http_conn *c, sgs_http_response *resp, sgs_err *err);

/* After SGS_HTTP_IO_DONE: makes the connection ready for the next request
 * (c->out emptied). Returns false, having closed the socket, when the
 * response said not to keep it alive or extra bytes followed it. */
bool sgs_http_conn_reuse(sgs_http_conn *c, const sgs_http_response *resp);

/* For an idle kept-alive connection whose socket turned readable: true when
 * the peer closed it or sent stray bytes (the caller should close it). */
bool sgs_http_conn_idle_broken(sgs_http_conn *c);

#endif
