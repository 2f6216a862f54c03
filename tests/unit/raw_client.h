/* A raw socket HTTP/1.1 client for the unit tests that drive a real
 * sgs_http_server on loopback: dial, send, and read one Content-Length
 * framed response. A failed connect or an oversized body fails the test
 * (Criterion asserts); reads time out after 5 s. */
#ifndef SGS_TESTS_UNIT_RAW_CLIENT_H
#define SGS_TESTS_UNIT_RAW_CLIENT_H

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

typedef struct reply {
    int status;
    char head[4096];
    char body[70000];
    size_t body_len;
} reply;

/* A socket connected to 127.0.0.1:port with a 5 s receive timeout;
 * fails the test when it cannot connect. The caller closes it. */
static inline int dial(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* Sends len bytes; stops quietly when the server closes early (a body
 * over the cap). */
static inline void send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        data += n;
        len -= (size_t)n;
    }
}

/* send_all() of a NUL-terminated string. */
static inline void send_str(int fd, const char *s)
{
    send_all(fd, s, strlen(s));
}

/* Reads one Content-Length framed response into r. 0, or -1 on EOF or
 * timeout. */
static inline int read_reply(int fd, reply *r)
{
    size_t got = 0;
    char *end = NULL;
    while (!end) {
        if (got >= sizeof r->head - 1)
            return -1;
        ssize_t n = recv(fd, r->head + got, 1, 0);
        if (n <= 0)
            return -1;
        got++;
        r->head[got] = '\0';
        end = strstr(r->head, "\r\n\r\n");
    }
    r->status = atoi(r->head + 9);
    const char *cl = strcasestr(r->head, "\r\nContent-Length:");
    size_t len = cl ? strtoul(cl + 17, NULL, 10) : 0;
    cr_assert_lt(len, sizeof r->body);
    r->body_len = 0;
    while (r->body_len < len) {
        ssize_t n = recv(fd, r->body + r->body_len, len - r->body_len, 0);
        if (n <= 0)
            return -1;
        r->body_len += (size_t)n;
    }
    r->body[r->body_len] = '\0';
    return 0;
}

/* One request on a fresh connection; fails the test without a reply. */
static inline void roundtrip(uint16_t port, const char *request, reply *r)
{
    int fd = dial(port);
    send_str(fd, request);
    cr_assert_eq(read_reply(fd, r), 0, "no reply to %s", request);
    close(fd);
}

#endif
