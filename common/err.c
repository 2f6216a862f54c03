/* Error codes: the table lookups and the first-error-wins setter. */
#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int sgs_err_set(sgs_err *err, int code, const char *fmt, ...)
{
    if (err == NULL || err->code != 0)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

const char *sgs_err_type(int code)
{
    switch (code) {
#define SGS_ERR_CASE(name, value, type, status) \
    case value:                                 \
        return type;
        SGS_ERR_TABLE(SGS_ERR_CASE)
#undef SGS_ERR_CASE
    }
    return "internal_error";
}

int sgs_err_http_status(int code)
{
    switch (code) {
#define SGS_ERR_CASE(name, value, type, status) \
    case value:                                 \
        return status;
        SGS_ERR_TABLE(SGS_ERR_CASE)
#undef SGS_ERR_CASE
    }
    return 500;
}

void sgs_err_clear(sgs_err *err)
{
    if (err == NULL)
        return;
    err->code = 0;
    err->msg[0] = '\0';
}
