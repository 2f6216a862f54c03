/* XXH3 wrapper and jump consistent hash. */
#include "common/hash.h"

#include <xxhash.h>

uint64_t sgs_hash64(const void *data, size_t n)
{
    return XXH3_64bits(data, n);
}

uint32_t sgs_jump_hash(uint64_t key, uint32_t n_buckets)
{
    int64_t b = -1, j = 0;
    while (j < (int64_t)n_buckets) {
        b = j;
        key = key * 2862933555777941757ULL + 1;
        j = (int64_t)((double)(b + 1) * ((double)(1LL << 31) / (double)((key >> 33) + 1)));
    }
    return (uint32_t)b;
}

uint32_t sgs_shard_of_id(const char *id, size_t id_len, uint32_t n_shards)
{
    return sgs_jump_hash(sgs_hash64(id, id_len), n_shards);
}
