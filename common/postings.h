/* The posting-list codec of the shard file: doc ids and term frequencies in
 * blocks of up to SGS_BLOCK_LEN postings, delta-coded and bit-packed.
 *
 * Invariants: the byte layouts below are part of the shard file format
 * (shard_format.h points here) and never change; every SIMD level produces
 * and accepts exactly the bytes the scalar reference does. Decoders read
 * exactly sgs_packed_size() bytes and trust the caller to have checked that
 * those bytes and the bit widths (0 .. 32) are in bounds; nothing here
 * allocates or keeps state beyond the once-chosen kernel table.
 *
 * VALUES
 *   A posting list is a strictly increasing run of doc ids with a tf >= 1
 *   each, cut into blocks of 128 (the last may be shorter). A block stores
 *     doc gaps  gap[i] = doc[i] - doc[i-1] - 1 (mod 2^32), doc[-1] being the
 *               previous block's last doc, or UINT32_MAX for the first block
 *               (so the first gap of a list is its first doc id);
 *     tf - 1    for each posting.
 *   Each of the two arrays is bit-packed with one width b (0 .. 32), the bits
 *   needed by its largest value (sgs_bits_max); b = 0 means all zero.
 *
 * FULL BLOCK, n = 128 values at width b (the 4-lane vertical layout of
 * SIMD-BP128, Lemire & Boytsov): 16 * b bytes
 *   OFFSET        SIZE  MEANING
 *   16*w + 4*j    4     word w (0 .. b-1) of lane j (0 .. 3), little-endian
 *   Lane j is an LSB-first bit stream of 32 * b bits over its words w = 0 ..
 *   b-1 (stream bit t is bit t % 32 of word t / 32). Value i = 4k + j
 *   (k = 0 .. 31) occupies stream bits [k*b, (k+1)*b) of lane j; a value may
 *   straddle two words of its lane. b = 0: no bytes, all values zero.
 *
 * TAIL BLOCK, n = 1 .. 127 values at width b (horizontal): ceil(n*b / 8) bytes
 *   OFFSET        SIZE            MEANING
 *   0             ceil(n*b / 8)   an LSB-first bit stream (stream bit t is bit
 *                                 t % 8 of byte t / 8); value i occupies bits
 *                                 [i*b, (i+1)*b). Bits past n*b in the last
 *                                 byte are written zero and ignored on read.
 *
 * BLOCK DATA (sgs_block_encode): the packed doc gaps at doc bits, then the
 *   packed tf - 1 values at tf bits, each as FULL or TAIL above by count:
 *   OFFSET                       SIZE                         MEANING
 *   0                            sgs_packed_size(n, doc bits) doc gaps
 *   sgs_packed_size(n, doc bits) sgs_packed_size(n, tf bits)  tf - 1
 */
#ifndef SGS_COMMON_POSTINGS_H
#define SGS_COMMON_POSTINGS_H

#include <stddef.h>
#include <stdint.h>

#include "common/simd.h"

#define SGS_BLOCK_LEN 128

/* Bits needed by the largest of v[0..n): 0 for n == 0 or all zero, else 1 .. 32. */
unsigned sgs_bits_max(const uint32_t *v, size_t n);

/* Bytes that n values (1 .. 128) at width bits take: 16*bits for a full
 * block of 128, else ceil(n*bits/8); 0 for n == 0. */
size_t sgs_packed_size(size_t n, unsigned bits);

/* Packs in[0..n) (n 1 .. 128, bits 0 .. 32) into out in the layout above and
 * returns the bytes written, sgs_packed_size(n, bits). Bits of a value above
 * `bits` are dropped, so the caller passes bits >= sgs_bits_max(in, n). */
size_t sgs_pack(const uint32_t *in, size_t n, unsigned bits, uint8_t *out);

/* Unpacks n values (1 .. 128) at width bits from exactly
 * sgs_packed_size(n, bits) bytes at in (any alignment) into out, which has
 * room for SGS_BLOCK_LEN values. */
void sgs_unpack(const uint8_t *in, size_t n, unsigned bits, uint32_t *out);

/* gaps[i] = docs[i] - docs[i-1] - 1 with docs[-1] = prev (UINT32_MAX for the
 * first block of a list). docs must increase strictly above prev; gaps may
 * alias docs. */
void sgs_delta_encode(const uint32_t *docs, size_t n, uint32_t prev, uint32_t *gaps);

/* In place, the inverse of sgs_delta_encode: vals[i] becomes
 * vals[i-1] + vals[i] + 1 (mod 2^32), vals[-1] being prev. */
void sgs_delta_decode(uint32_t *vals, size_t n, uint32_t prev);

/* Encodes one block of n postings (1 .. 128): docs strictly increasing above
 * prev, tfs >= 1. Writes the BLOCK DATA above to out (room for
 * sgs_block_max_bytes()), stores the two widths for the skip entry and
 * returns the bytes written. */
size_t sgs_block_encode(const uint32_t *docs, const uint32_t *tfs, size_t n, uint32_t prev,
                        uint8_t *out, unsigned *doc_bits, unsigned *tf_bits);

/* The most bytes sgs_block_encode writes: 2 * 16 * 32 = 1024. */
size_t sgs_block_max_bytes(void);

/* Decodes BLOCK DATA of n postings (1 .. 128) whose size the caller has
 * checked equals sgs_packed_size(n, doc_bits) + sgs_packed_size(n, tf_bits),
 * with both widths <= 32. Writes the doc ids to docs and, unless tfs is NULL,
 * the tfs (stored value + 1) to tfs; each has room for SGS_BLOCK_LEN. */
void sgs_block_decode(const uint8_t *in, size_t n, uint32_t prev, unsigned doc_bits,
                      unsigned tf_bits, uint32_t *docs, uint32_t *tfs);

/* Value i (< n) of sgs_unpack(in, n, bits, ...), read without unpacking the
 * others; same layouts, same checked sizes. */
uint32_t sgs_unpack_one(const uint8_t *in, size_t n, unsigned bits, size_t i);

/* Scalar reference versions: simple code that defines the format, always
 * compiled, for tests and as the SGS_SIMD=scalar path. Same contracts as the
 * functions above. */
size_t sgs_pack_scalar(const uint32_t *in, size_t n, unsigned bits, uint8_t *out);
void sgs_unpack_scalar(const uint8_t *in, size_t n, unsigned bits, uint32_t *out);
void sgs_delta_decode_scalar(uint32_t *vals, size_t n, uint32_t prev);

/* Internal, for postings.c and postings_simd.c only: the full-block kernels
 * of one SIMD level. unpack128 writes values, unpack128_docs gaps decoded to
 * doc ids after prev, unpack128_tfs values + 1; all take bits 0 .. 32. */
typedef struct sgs_postings_kernels {
    void (*unpack128)(const uint8_t *in, unsigned bits, uint32_t *out);
    void (*unpack128_docs)(const uint8_t *in, unsigned bits, uint32_t prev, uint32_t *out);
    void (*unpack128_tfs)(const uint8_t *in, unsigned bits, uint32_t *out);
    void (*pack128)(const uint32_t *in, unsigned bits, uint8_t *out);
    void (*delta_decode)(uint32_t *vals, size_t n, uint32_t prev);
} sgs_postings_kernels;

/* Internal: the kernels for level (SSE2 or AVX2 on x86-64), or NULL when this
 * build has none for it. Returns a static table. */
const sgs_postings_kernels *sgs_postings_simd_kernels(sgs_simd_level level);

#endif
