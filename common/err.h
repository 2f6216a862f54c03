/* Error codes and the error record passed down call chains.
 *
 * One X-macro table maps each code to the `error.type` string clients see and
 * the HTTP status a server answers with, so handlers never pick statuses.
 * Codes are negative ints; 0 is success. The first error set on an sgs_err
 * wins: later sgs_err_set() calls on a set record are ignored, so the
 * innermost, most specific reason survives the unwinding. */
#ifndef SGS_COMMON_ERR_H
#define SGS_COMMON_ERR_H

#include <stddef.h>

/*        NAME            value  error.type              HTTP */
#define SGS_ERR_TABLE(X)                                                  \
    X(SGS_OK,              0,    "ok",                   200)             \
    X(SGS_EBADREQ,        -1,    "bad_request",          400)             \
    X(SGS_ECORRUPT,       -2,    "corrupt_data",         500)             \
    X(SGS_EIO,            -3,    "io_error",             500)             \
    X(SGS_ENOMEM,         -4,    "out_of_memory",        503)             \
    X(SGS_ELIMIT,         -5,    "limit_exceeded",       400)             \
    X(SGS_ENOTFOUND,      -6,    "not_found",            404)             \
    X(SGS_EVERSION,       -7,    "version_mismatch",     500)             \
    X(SGS_EUSAGE,         -8,    "usage_error",          400)             \
    X(SGS_ETIMEOUT,       -9,    "timeout",              504)             \
    X(SGS_EBUSY,         -10,    "too_many_requests",    429)             \
    X(SGS_EUNAVAILABLE,  -11,    "unavailable",          503)             \
    X(SGS_EINTERNAL,     -12,    "internal_error",       500)             \
    X(SGS_EQUERY,        -13,    "invalid_query",        400)             \
    X(SGS_EJSON,         -14,    "invalid_json",         400)             \
    X(SGS_EQUERY_LONG,   -15,    "query_too_long",       400)             \
    X(SGS_EQUERY_TERMS,  -16,    "too_many_terms",       400)             \
    X(SGS_EQUERY_DEPTH,  -17,    "query_too_deep",       400)             \
    X(SGS_EK_LARGE,      -18,    "k_too_large",          400)             \
    X(SGS_EBODY_LARGE,   -19,    "body_too_large",       400)             \
    X(SGS_EDRAINING,     -20,    "draining",             503)             \
    X(SGS_EPROTOCOL,     -21,    "protocol_mismatch",    400)             \
    X(SGS_EMETHOD,       -22,    "method_not_allowed",   405)

enum sgs_err_code {
#define SGS_ERR_ENUM(name, value, type, status) name = value,
    SGS_ERR_TABLE(SGS_ERR_ENUM)
#undef SGS_ERR_ENUM
};

#define SGS_ERR_MSG_MAX 512

/* An error record: a code and a human-readable reason. Zero-initialise it
 * (`sgs_err err = {0};`) before use. */
typedef struct sgs_err {
    int code;
    char msg[SGS_ERR_MSG_MAX];
} sgs_err;

/* Sets code and a printf-formatted reason unless err is NULL or already set;
 * returns code so callers can `return sgs_err_set(...)`. */
int sgs_err_set(sgs_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The error.type string of a code ("internal_error" for unknown codes). */
const char *sgs_err_type(int code);

/* The HTTP status a server answers with for a code (500 for unknown codes). */
int sgs_err_http_status(int code);

/* Clears the record so it can be reused. */
void sgs_err_clear(sgs_err *err);

#endif
