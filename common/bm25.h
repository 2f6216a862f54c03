/* BM25 scoring, shared by the indexer (block-max and term-max scores) and
 * the leaf (query scores), so both compute the same numbers.
 *
 * score(term, doc) = idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avg_len))
 * idf = ln(1 + (N - df + 0.5) / (df + 0.5)), N and df corpus-wide.
 * k1 = 1.2, b = 0.75. Computed in double. */
#ifndef SGS_COMMON_BM25_H
#define SGS_COMMON_BM25_H

#include <math.h>
#include <stdint.h>

#define SGS_BM25_K1 1.2
#define SGS_BM25_B 0.75

/* idf of a term found in df of n_docs documents. */
static inline double sgs_bm25_idf(uint64_t n_docs, uint64_t df)
{
    return log(1.0 + ((double)n_docs - (double)df + 0.5) / ((double)df + 0.5));
}

/* The length part of the denominator for a document of len tokens. */
static inline double sgs_bm25_norm(uint32_t len, double avg_len)
{
    return SGS_BM25_K1 * (1.0 - SGS_BM25_B + SGS_BM25_B * (double)len / avg_len);
}

/* A term's contribution to a document's score. */
static inline double sgs_bm25_score(double idf, uint32_t tf, double norm)
{
    return idf * (double)tf * (SGS_BM25_K1 + 1.0) / ((double)tf + norm);
}

/* A document length in one byte, for score bounds that need not read the
 * 4-byte lengths: the length itself below 64, then 16 steps per power of two
 * up to 2^18, 255 above. sgs_bm25_len_floor(sgs_bm25_len_code(len)) <= len
 * always, and within 1/16 of len below 2^18; both are increasing. */
static inline uint8_t sgs_bm25_len_code(uint32_t len)
{
    if (len < 64)
        return (uint8_t)len;
    unsigned e = 31u - (unsigned)__builtin_clz(len); /* 6 .. 31 */
    if (e > 17)
        return 255;
    return (uint8_t)(64u + (e - 6u) * 16u + ((len >> (e - 4u)) & 15u));
}

/* The smallest length with this code. */
static inline uint32_t sgs_bm25_len_floor(uint8_t code)
{
    if (code < 64)
        return code;
    unsigned e = (code - 64u) / 16u + 6u, m = (code - 64u) % 16u;
    return (16u + m) << (e - 4u);
}

/* The smallest float not below x: stored maxima stay upper bounds. */
static inline float sgs_float_ceil(double x)
{
    float f = (float)x;
    if ((double)f < x)
        f = nextafterf(f, INFINITY);
    return f;
}

#endif
