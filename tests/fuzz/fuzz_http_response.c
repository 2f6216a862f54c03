/* libFuzzer target: the HTTP response parser on arbitrary bytes, whole and
 * in every split a reader could see; a complete parse must stay in bounds
 * and agree with itself. */
#include <stdint.h>
#include <string.h>

#include "common/http_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sgs_http_response r;
    sgs_err err = {0};
    long whole = sgs_http_parse_response(data, size, 1u << 16, &r, &err);
    if (whole > 0) {
        if ((size_t)whole > size || r.header_len + r.body_len != (size_t)whole)
            __builtin_trap();
        if (r.body_len && (r.body < data || r.body + r.body_len > data + size))
            __builtin_trap();
        /* Any shorter prefix either needs more bytes or fails the same way. */
        for (size_t n = 0; n < (size_t)whole; n += 1 + n / 8) {
            sgs_err e2 = {0};
            long got = sgs_http_parse_response(data, n, 1u << 16, &r, &e2);
            if (got > 0)
                __builtin_trap();
        }
    }
    return 0;
}
