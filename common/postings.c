/* Posting-list codec: the scalar reference (which defines the byte layouts of
 * postings.h), the tail-block code every level shares, and the dispatch to
 * the full-block kernels of the active SIMD level.
 *
 * Invariants: the kernel table is chosen once (first use) and never changes;
 * decoders read exactly sgs_packed_size() bytes; the reference functions
 * touch memory byte by byte and depend on no host byte order. */
#include "common/postings.h"

#include <assert.h>
#include <stdatomic.h>
#include <string.h>

#include "common/simd.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the tail-block decoder loads little-endian words in place"
#endif

/* ---- scalar reference ---------------------------------------------------- */

static uint32_t low_mask(unsigned bits)
{
    return bits >= 32 ? UINT32_MAX : (UINT32_C(1) << bits) - 1;
}

static uint32_t load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void or_le32(uint8_t *p, uint32_t v)
{
    p[0] |= (uint8_t)v;
    p[1] |= (uint8_t)(v >> 8);
    p[2] |= (uint8_t)(v >> 16);
    p[3] |= (uint8_t)(v >> 24);
}

/* Byte offset of word w of lane j in a full block. */
static size_t lane_word(size_t w, size_t j)
{
    return 4 * (4 * w + j);
}

static void pack128_scalar(const uint32_t *in, unsigned bits, uint8_t *out)
{
    uint32_t mask = low_mask(bits);
    memset(out, 0, 16 * (size_t)bits);
    if (bits == 0)
        return;
    for (size_t i = 0; i < SGS_BLOCK_LEN; i++) {
        size_t j = i % 4, bit = (i / 4) * bits, w = bit / 32;
        unsigned shift = bit % 32;
        uint64_t x = (uint64_t)(in[i] & mask) << shift;
        or_le32(out + lane_word(w, j), (uint32_t)x);
        if (shift + bits > 32)
            or_le32(out + lane_word(w + 1, j), (uint32_t)(x >> 32));
    }
}

static void unpack128_scalar(const uint8_t *in, unsigned bits, uint32_t *out)
{
    uint32_t mask = low_mask(bits);
    if (bits == 0) {
        memset(out, 0, SGS_BLOCK_LEN * sizeof *out);
        return;
    }
    for (size_t i = 0; i < SGS_BLOCK_LEN; i++) {
        size_t j = i % 4, bit = (i / 4) * bits, w = bit / 32;
        unsigned shift = bit % 32;
        uint64_t x = load_le32(in + lane_word(w, j));
        if (shift + bits > 32)
            x |= (uint64_t)load_le32(in + lane_word(w + 1, j)) << 32;
        out[i] = (uint32_t)(x >> shift) & mask;
    }
}

/* The tail layout: value i at stream bits [i*bits, (i+1)*bits). */
static size_t pack_tail(const uint32_t *in, size_t n, unsigned bits, uint8_t *out)
{
    uint32_t mask = low_mask(bits);
    uint64_t acc = 0; /* pending stream bits, LSB first; fewer than 8 between values */
    unsigned n_acc = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        acc |= (uint64_t)(in[i] & mask) << n_acc;
        n_acc += bits;
        for (; n_acc >= 8; n_acc -= 8, acc >>= 8)
            out[o++] = (uint8_t)acc;
    }
    if (n_acc > 0)
        out[o++] = (uint8_t)acc;
    return o;
}

static void unpack_tail_scalar(const uint8_t *in, size_t n, unsigned bits, uint32_t *out)
{
    uint32_t mask = low_mask(bits);
    size_t size = sgs_packed_size(n, bits);
    for (size_t i = 0; i < n; i++) {
        size_t bit = i * bits, byte = bit / 8;
        uint64_t x = 0;
        for (size_t t = 0; t < 5 && byte + t < size; t++)
            x |= (uint64_t)in[byte + t] << (8 * t);
        out[i] = (uint32_t)(x >> (bit % 8)) & mask;
    }
}

size_t sgs_pack_scalar(const uint32_t *in, size_t n, unsigned bits, uint8_t *out)
{
    assert(n <= SGS_BLOCK_LEN && bits <= 32);
    if (n == SGS_BLOCK_LEN) {
        pack128_scalar(in, bits, out);
        return 16 * (size_t)bits;
    }
    return pack_tail(in, n, bits, out);
}

void sgs_unpack_scalar(const uint8_t *in, size_t n, unsigned bits, uint32_t *out)
{
    assert(n <= SGS_BLOCK_LEN && bits <= 32);
    if (n == SGS_BLOCK_LEN)
        unpack128_scalar(in, bits, out);
    else
        unpack_tail_scalar(in, n, bits, out);
}

uint32_t sgs_unpack_one(const uint8_t *in, size_t n, unsigned bits, size_t i)
{
    assert(n <= SGS_BLOCK_LEN && bits <= 32 && i < n);
    if (bits == 0)
        return 0;
    uint32_t mask = low_mask(bits);
    if (n == SGS_BLOCK_LEN) {
        size_t j = i % 4, bit = (i / 4) * bits, w = bit / 32;
        unsigned shift = bit % 32;
        uint64_t x = load_le32(in + lane_word(w, j));
        if (shift + bits > 32)
            x |= (uint64_t)load_le32(in + lane_word(w + 1, j)) << 32;
        return (uint32_t)(x >> shift) & mask;
    }
    size_t size = sgs_packed_size(n, bits), bit = i * bits, byte = bit / 8;
    uint64_t x = 0;
    for (size_t t = 0; t < 5 && byte + t < size; t++)
        x |= (uint64_t)in[byte + t] << (8 * t);
    return (uint32_t)(x >> (bit % 8)) & mask;
}

void sgs_delta_decode_scalar(uint32_t *vals, size_t n, uint32_t prev)
{
    for (size_t i = 0; i < n; i++)
        prev = vals[i] = prev + vals[i] + 1;
}

/* ---- the scalar level's kernel table -------------------------------------- */

static void unpack128_docs_scalar(const uint8_t *in, unsigned bits, uint32_t prev, uint32_t *out)
{
    unpack128_scalar(in, bits, out);
    sgs_delta_decode_scalar(out, SGS_BLOCK_LEN, prev);
}

static void unpack128_tfs_scalar(const uint8_t *in, unsigned bits, uint32_t *out)
{
    unpack128_scalar(in, bits, out);
    for (size_t i = 0; i < SGS_BLOCK_LEN; i++)
        out[i] += 1;
}

static const sgs_postings_kernels scalar_kernels = {
    .unpack128 = unpack128_scalar,
    .unpack128_docs = unpack128_docs_scalar,
    .unpack128_tfs = unpack128_tfs_scalar,
    .pack128 = pack128_scalar,
    .delta_decode = sgs_delta_decode_scalar,
};

/* ---- dispatch -------------------------------------------------------------- */

/* NULL until the first call resolves it; afterwards written again only with
 * the same value (two racing first calls agree), by resolve_kernels. */
static _Atomic(const sgs_postings_kernels *) active_kernels;

static const sgs_postings_kernels *resolve_kernels(void)
{
    const sgs_postings_kernels *k = sgs_postings_simd_kernels(sgs_simd_active());
    if (k == NULL)
        k = &scalar_kernels;
    atomic_store_explicit(&active_kernels, k, memory_order_release);
    return k;
}

static inline const sgs_postings_kernels *kernels(void)
{
    const sgs_postings_kernels *k = atomic_load_explicit(&active_kernels, memory_order_acquire);
    return k != NULL ? k : resolve_kernels();
}

/* ---- tail blocks, every level ----------------------------------------------- */

/* Like unpack_tail_scalar, one unaligned 8-byte load per value while that
 * stays inside the block's bytes. */
static void unpack_tail(const uint8_t *in, size_t n, unsigned bits, uint32_t *out)
{
    uint32_t mask = low_mask(bits);
    size_t size = sgs_packed_size(n, bits);
    size_t i = 0;
    if (bits == 0) {
        memset(out, 0, n * sizeof *out);
        return;
    }
    for (; i < n && (i * bits) / 8 + 8 <= size; i++) {
        size_t bit = i * bits;
        uint64_t x;
        memcpy(&x, in + bit / 8, 8);
        out[i] = (uint32_t)(x >> (bit % 8)) & mask;
    }
    for (; i < n; i++) {
        size_t bit = i * bits;
        uint64_t x = 0;
        memcpy(&x, in + bit / 8, size - bit / 8); /* < 8 bytes, the rest of the block */
        out[i] = (uint32_t)(x >> (bit % 8)) & mask;
    }
}

/* ---- public API ------------------------------------------------------------------ */

unsigned sgs_bits_max(const uint32_t *v, size_t n)
{
    uint32_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= v[i];
    return acc == 0 ? 0 : 32 - (unsigned)__builtin_clz(acc);
}

size_t sgs_packed_size(size_t n, unsigned bits)
{
    if (n == SGS_BLOCK_LEN)
        return 16 * (size_t)bits;
    return (n * bits + 7) / 8;
}

size_t sgs_pack(const uint32_t *in, size_t n, unsigned bits, uint8_t *out)
{
    assert(n <= SGS_BLOCK_LEN && bits <= 32);
    if (n == SGS_BLOCK_LEN) {
        kernels()->pack128(in, bits, out);
        return 16 * (size_t)bits;
    }
    return pack_tail(in, n, bits, out);
}

void sgs_unpack(const uint8_t *in, size_t n, unsigned bits, uint32_t *out)
{
    assert(n <= SGS_BLOCK_LEN && bits <= 32);
    if (n == SGS_BLOCK_LEN)
        kernels()->unpack128(in, bits, out);
    else
        unpack_tail(in, n, bits, out);
}

void sgs_delta_encode(const uint32_t *docs, size_t n, uint32_t prev, uint32_t *gaps)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t doc = docs[i];
        gaps[i] = doc - prev - 1;
        prev = doc;
    }
}

void sgs_delta_decode(uint32_t *vals, size_t n, uint32_t prev)
{
    kernels()->delta_decode(vals, n, prev);
}

size_t sgs_block_encode(const uint32_t *docs, const uint32_t *tfs, size_t n, uint32_t prev,
                        uint8_t *out, unsigned *doc_bits, unsigned *tf_bits)
{
    uint32_t vals[SGS_BLOCK_LEN];
    assert(n >= 1 && n <= SGS_BLOCK_LEN);
    sgs_delta_encode(docs, n, prev, vals);
    *doc_bits = sgs_bits_max(vals, n);
    size_t size = sgs_pack(vals, n, *doc_bits, out);
    for (size_t i = 0; i < n; i++) {
        assert(tfs[i] >= 1);
        vals[i] = tfs[i] - 1;
    }
    *tf_bits = sgs_bits_max(vals, n);
    return size + sgs_pack(vals, n, *tf_bits, out + size);
}

size_t sgs_block_max_bytes(void)
{
    return 2 * 16 * 32;
}

void sgs_block_decode(const uint8_t *in, size_t n, uint32_t prev, unsigned doc_bits,
                      unsigned tf_bits, uint32_t *docs, uint32_t *tfs)
{
    assert(n >= 1 && n <= SGS_BLOCK_LEN && doc_bits <= 32 && tf_bits <= 32);
    const sgs_postings_kernels *k = kernels();
    if (n == SGS_BLOCK_LEN) {
        k->unpack128_docs(in, doc_bits, prev, docs);
        if (tfs != NULL)
            k->unpack128_tfs(in + 16 * (size_t)doc_bits, tf_bits, tfs);
        return;
    }
    unpack_tail(in, n, doc_bits, docs);
    k->delta_decode(docs, n, prev);
    if (tfs != NULL) {
        unpack_tail(in + sgs_packed_size(n, doc_bits), n, tf_bits, tfs);
        for (size_t i = 0; i < n; i++)
            tfs[i] += 1;
    }
}
