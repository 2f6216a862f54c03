/* The shard file format: the byte layout every shard file has, and the one
 * place that layout is specified. The tables below are the spec; the writer
 * (shard_writer.c) and the reader (shard_reader.c) follow them, and the
 * reader trusts nothing it has not checked against them.
 *
 * A shard file holds one shard of one index generation. It is written once
 * and read through mmap. All integers are little-endian; floats are IEEE-754
 * binary32/64, little-endian. Document ids inside a shard are dense,
 * 0 .. n_docs-1, in the order the documents appeared in the input.
 *
 * FILE
 *   OFFSET          SIZE              MEANING
 *   0               128               header
 *   128             32 * n_sections   section table, one entry per kind, ordered by kind
 *   ...                               sections, each at an 8-byte aligned offset, in any
 *                                     order, not overlapping each other or the above
 *
 * HEADER
 *   OFFSET SIZE MEANING
 *   0      8    magic "SGSSHARD"
 *   8      4    format version (SGS_SHARD_VERSION)
 *   12     4    header size (128)
 *   16     4    shard id, < shard count
 *   20     4    shard count, >= 1
 *   24     8    generation id, shared by every shard of one build
 *   32     8    n_docs: documents in this shard
 *   40     8    corpus n_docs: documents in the whole index (BM25's N)
 *   48     8    corpus average document length in tokens (double)
 *   56     8    n_terms: distinct terms in this shard
 *   64     8    n_postings: postings in this shard
 *   72     8    n_tokens: tokens in this shard's documents
 *   80     4    tokenizer id (SGS_TOKENIZER_UNICODE_LN_SIMPLE_LOWER)
 *   84     4    maximum token bytes (SGS_TOKEN_MAX_BYTES)
 *   88     4    BM25 k1 (float)
 *   92     4    BM25 b (float)
 *   96     4    dense divisor D: a term is a bitset when shard_df * D > n_docs
 *   100    4    n_sections (SGS_SECTION_COUNT)
 *   104    8    XXH3-64 of the section table bytes
 *   112    8    reserved, zero
 *   120    8    XXH3-64 of header bytes [0, 120)
 *
 * SECTION TABLE ENTRY
 *   OFFSET SIZE MEANING
 *   0      4    kind (enum sgs_section_kind), entry i has kind i + 1
 *   4      4    flags, zero
 *   8      8    offset of the section from the start of the file
 *   16     8    size of the section in bytes
 *   24     8    XXH3-64 of the section's bytes
 *
 * SECTIONS
 *   TERM_STRINGS    the bytes of every term (UTF-8, as the tokenizer emits them),
 *                   concatenated in sorted order, nothing between them
 *   TERM_ENTRIES    n_terms entries of 48 bytes, sorted by term bytes (memcmp
 *                   order, a prefix before its extensions); strictly increasing
 *   TERM_HASH       u64 n_slots (a power of two >= 2 * n_terms, >= 2), then n_slots
 *                   u32: 0 for empty, else entry index + 1. A term with hash h
 *                   sits at the first slot from h & (n_slots - 1), probing
 *                   linearly, before any empty slot
 *   POSTINGS        each term's postings at its entry's offset (4-byte aligned;
 *                   8-byte aligned for bitsets)
 *   DOC_LENGTHS     n_docs u32: tokens in each document (>= 1)
 *   EXT_ID_OFFSETS  n_docs + 1 u64: offsets into EXT_ID_BYTES; first 0, last its
 *                   size, non-decreasing
 *   EXT_ID_BYTES    each document's external id (UTF-8, non-empty, unique in the index;
 *                   jump_consistent_hash(XXH3-64(id), shard count) is this shard)
 *   STORED_OFFSETS  n_docs + 1 u64: offsets into STORED_BYTES, as above
 *   STORED_BYTES    each document's stored fields as a compact JSON object (UTF-8)
 *   EXT_ID_RANKS    n_docs u32: each document's rank among this shard's external ids
 *                   in memcmp order (a prefix before its extensions): a permutation of
 *                   0 .. n_docs-1, so ties in score break on ranks, without reading ids
 *
 * TERM ENTRY (48 bytes)
 *   OFFSET SIZE MEANING
 *   0      8    XXH3-64 of the term bytes
 *   8      8    postings offset, from the start of the POSTINGS section
 *   16     8    postings size in bytes
 *   24     4    term offset into TERM_STRINGS
 *   28     4    shard df: documents of this shard with the term, >= 1
 *   32     4    global df: documents of the whole index with the term, >= shard df
 *   36     4    max score (float): no posting of the term in this shard scores more
 *   40     1    term length in bytes, 1 .. SGS_TOKEN_MAX_BYTES
 *   41     1    encoding: SGS_POSTINGS_BLOCKS or SGS_POSTINGS_BITSET
 *   42     6    reserved, zero
 *
 * POSTINGS, encoding BLOCKS (shard df * D <= n_docs)
 *   n_blocks = ceil(shard df / 128) skip entries of 16 bytes, then block data.
 *   SKIP ENTRY
 *   OFFSET SIZE MEANING
 *   0      4    last doc id of the block
 *   4      4    offset of the block's data from the end of the skip table
 *   8      4    block max score (float): no posting of the block scores more
 *   12     1    doc bits: width of the packed doc gaps (0 .. 32)
 *   13     1    tf bits: width of the packed tf - 1 values (0 .. 32)
 *   14     1    count - 1: postings in the block minus one; 127 for all but the last
 *   15     1    reserved, zero
 *   BLOCK DATA: sgs_packed_size(count, doc bits) bytes of doc gaps
 *   (gap = doc - previous doc - 1, the first block's previous doc being
 *   UINT32_MAX so its first gap is the doc id), then sgs_packed_size(count,
 *   tf bits) bytes of tf - 1; layouts in postings.h. A block's data ends where
 *   the next block's starts (the last block's at the postings size).
 *
 * POSTINGS, encoding BITSET (shard df * D > n_docs)
 *   OFFSET              SIZE            MEANING
 *   0                   8 * W           W = ceil(n_docs / 64) u64 words; bit d of word
 *                                       d / 64 is set when doc d has the term
 *   8W                  4 * R           R = ceil(W / 8) u32 ranks: rank[i] = set bits
 *                                       in words [0, 8i)
 *   8W + 4R             8 * n_blocks    n_blocks = ceil(shard df / 128) tf block entries:
 *                                       u32 offset from the end of this table, u8 tf
 *                                       bits, 3 bytes reserved zero
 *   8W + 4R + 8n_blocks ...             packed tf - 1 per block of 128 postings in doc
 *                                       order, sgs_packed_size(count, tf bits) bytes each
 */
#ifndef SGS_COMMON_SHARD_FORMAT_H
#define SGS_COMMON_SHARD_FORMAT_H

#include <stdint.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "sgsearch reads and writes shard files in place and needs a little-endian host"
#endif

#define SGS_SHARD_MAGIC "SGSSHARD"
#define SGS_SHARD_VERSION 2u
#define SGS_SHARD_HEADER_SIZE 128u
#define SGS_SHARD_SECTION_ENTRY_SIZE 32u
#define SGS_SHARD_TERM_ENTRY_SIZE 48u
#define SGS_SHARD_SKIP_ENTRY_SIZE 16u
#define SGS_SHARD_TF_ENTRY_SIZE 8u
#define SGS_SHARD_DENSE_DIVISOR 32u
#define SGS_SHARD_RANK_WORDS 8u /* u64 bitset words per rank sample */

#define SGS_TOKENIZER_UNICODE_LN_SIMPLE_LOWER 1u

enum sgs_section_kind {
    SGS_SECTION_TERM_STRINGS = 1,
    SGS_SECTION_TERM_ENTRIES = 2,
    SGS_SECTION_TERM_HASH = 3,
    SGS_SECTION_POSTINGS = 4,
    SGS_SECTION_DOC_LENGTHS = 5,
    SGS_SECTION_EXT_ID_OFFSETS = 6,
    SGS_SECTION_EXT_ID_BYTES = 7,
    SGS_SECTION_STORED_OFFSETS = 8,
    SGS_SECTION_STORED_BYTES = 9,
    SGS_SECTION_EXT_ID_RANKS = 10,
};
#define SGS_SECTION_COUNT 10u

enum sgs_postings_encoding {
    SGS_POSTINGS_BLOCKS = 0,
    SGS_POSTINGS_BITSET = 1,
};

/* The header, decoded. Field meanings as in the HEADER table. */
typedef struct sgs_shard_header {
    uint32_t version;
    uint32_t shard_id;
    uint32_t shard_count;
    uint64_t generation;
    uint64_t n_docs;
    uint64_t corpus_n_docs;
    double corpus_avg_len;
    uint64_t n_terms;
    uint64_t n_postings;
    uint64_t n_tokens;
    uint32_t tokenizer;
    uint32_t max_token_bytes;
    float bm25_k1;
    float bm25_b;
    uint32_t dense_divisor;
} sgs_shard_header;

/* One section table entry, decoded. */
typedef struct sgs_section {
    uint32_t kind;
    uint64_t offset;
    uint64_t size;
    uint64_t xxh3;
} sgs_section;

/* A term entry, decoded. */
typedef struct sgs_term_entry {
    uint64_t hash;
    uint64_t postings_offset;
    uint64_t postings_size;
    uint32_t term_offset;
    uint32_t shard_df;
    uint32_t global_df;
    float max_score;
    uint8_t term_len;
    uint8_t encoding;
} sgs_term_entry;

/* The name of a section kind ("term_strings", ...), or "unknown". */
const char *sgs_section_name(uint32_t kind);

/* True when a term with this shard df is stored as a bitset in a shard of n_docs. */
static inline int sgs_shard_term_is_dense(uint64_t shard_df, uint64_t n_docs)
{
    return shard_df * SGS_SHARD_DENSE_DIVISOR > n_docs;
}

/* Little-endian loads from unaligned bytes. */
static inline uint32_t sgs_load_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t sgs_load_u64(const uint8_t *p)
{
    return (uint64_t)sgs_load_u32(p) | (uint64_t)sgs_load_u32(p + 4) << 32;
}

#endif
