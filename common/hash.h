/* Hashing used by more than one program: XXH3 for terms, ids and section
 * checksums, and jump consistent hashing for document-to-shard assignment.
 *
 * These functions define file contents (term dictionary slots, shard
 * assignment, checksums); changing them changes the shard format. */
#ifndef SGS_COMMON_HASH_H
#define SGS_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

/* XXH3_64bits of n bytes, seed 0. */
uint64_t sgs_hash64(const void *data, size_t n);

/* Lamping & Veach jump consistent hash: a bucket in [0, n_buckets) for key;
 * growing n_buckets to n+1 moves only about 1/(n+1) of the keys. n_buckets >= 1. */
uint32_t sgs_jump_hash(uint64_t key, uint32_t n_buckets);

/* The shard of a document: jump_hash(XXH3_64bits(id), n_shards). */
uint32_t sgs_shard_of_id(const char *id, size_t id_len, uint32_t n_shards);

#endif
