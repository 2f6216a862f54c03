/* Shard assignment: jump consistent hash is stable, uniform and moves only
 * about 1/(n+1) of keys when a bucket is added. */
#include "common/hash.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

Test(jump_hash, known_values_and_range)
{
    /* One bucket takes every key; every key lands in range. */
    cr_assert_eq(sgs_jump_hash(0, 1), 0);
    cr_assert_eq(sgs_jump_hash(0xffffffffffffffffULL, 1), 0);
    for (uint64_t k = 0; k < 10000; k++) {
        uint32_t b = sgs_jump_hash(k * 0x9e3779b97f4a7c15ULL, 13);
        cr_assert_lt(b, 13);
    }
}

Test(jump_hash, adding_a_bucket_moves_about_one_in_n_plus_one)
{
    const int n_keys = 100000;
    for (uint32_t n = 1; n < 20; n++) {
        int moved = 0;
        for (int k = 0; k < n_keys; k++) {
            char id[32];
            int len = snprintf(id, sizeof id, "doc-%d", k);
            uint32_t a = sgs_shard_of_id(id, (size_t)len, n);
            uint32_t b = sgs_shard_of_id(id, (size_t)len, n + 1);
            if (a != b) {
                cr_assert_eq(b, n, "a key may only move to the new bucket");
                moved++;
            }
        }
        double expect = (double)n_keys / (n + 1);
        cr_assert(moved > 0.9 * expect && moved < 1.1 * expect, "n=%u moved %d", n, moved);
    }
}

Test(jump_hash, uniform_over_shards)
{
    uint32_t counts[8] = {0};
    for (int k = 0; k < 80000; k++) {
        char id[32];
        int len = snprintf(id, sizeof id, "id%d", k);
        counts[sgs_shard_of_id(id, (size_t)len, 8)]++;
    }
    for (int s = 0; s < 8; s++)
        cr_assert(counts[s] > 9400 && counts[s] < 10600, "shard %d has %u", s, counts[s]);
}

Test(hash64, is_xxh3_of_the_bytes)
{
    /* XXH3_64bits of the empty input, seed 0 (from xxHash's test vectors). */
    cr_assert_eq(sgs_hash64("", 0), 0x2D06800538D394C2ULL);
    cr_assert_neq(sgs_hash64("a", 1), sgs_hash64("b", 1));
}
