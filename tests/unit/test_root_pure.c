/* sgs-root's pure parts: replica choice (eligibility, avoidance, power of
 * two choices, slow start), the hedge token bucket, and the k-way merge of
 * shard answers (order, ties on id bytes, offset, failed shards). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "root/root.h"

static root_config cfg;
static root r;
static root_shard shard;
static root_replica reps[4];

static void setup(uint32_t n, uint64_t gen)
{
    memset(&cfg, 0, sizeof cfg);
    memset(&r, 0, sizeof r);
    memset(&shard, 0, sizeof shard);
    memset(reps, 0, sizeof reps);
    cfg.slow_start_ms = 1000;
    r.cfg = &cfg;
    r.rng = 88172645463325252ull;
    atomic_store(&r.serving_generation, gen);
    shard.replicas = reps;
    shard.n_replicas = n;
    for (uint32_t i = 0; i < n; i++) {
        reps[i].index = i;
        reps[i].shard = &shard;
        reps[i].probe_ok = true;
        reps[i].addr_len = 16;
        reps[i].generation = gen;
        reps[i].ewma_us = 100;
    }
}

Test(replica_choice, only_eligible_replicas_are_chosen)
{
    setup(4, 7);
    reps[0].probe_ok = false;
    reps[1].generation = 8;
    reps[2].ejected_until_ns = 1;
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(root_pick_replica(&r, &shard, 0, -1), 3);
    /* Avoiding the only eligible one leaves nothing. */
    cr_assert_eq(root_pick_replica(&r, &shard, 0, 3), -1);
    reps[3].addr_len = 0;
    cr_assert_eq(root_pick_replica(&r, &shard, 0, -1), -1);
}

Test(replica_choice, avoid_is_honoured_when_another_is_eligible)
{
    setup(3, 1);
    for (int i = 0; i < 1000; i++) {
        int got = root_pick_replica(&r, &shard, 0, 1);
        cr_assert(got == 0 || got == 2);
    }
}

Test(replica_choice, cheaper_replica_wins_most_but_not_all)
{
    setup(2, 1);
    reps[1].in_flight = 5;
    int n0 = 0;
    for (int i = 0; i < 10000; i++)
        n0 += root_pick_replica(&r, &shard, 0, -1) == 0;
    /* Two distinct draws: the dearer one wins only in the uniform
     * exploration picks (1 in ROOT_EXPLORE, half of them it). */
    double explore = 10000.0 / ROOT_EXPLORE / 2;
    cr_assert(n0 > 10000 - 2 * explore && n0 < 10000 - explore / 2,
              "cheap replica chosen %d of 10000", n0);
    reps[1].in_flight = 0;
    reps[0].ewma_us = 5000;
    n0 = 0;
    for (int i = 0; i < 10000; i++)
        n0 += root_pick_replica(&r, &shard, 0, -1) == 0;
    cr_assert(n0 > explore / 2 && n0 < 2 * explore, "slow replica chosen %d of 10000", n0);
}

Test(replica_choice, slow_start_ramps_a_new_replica)
{
    setup(2, 1);
    uint64_t now = 10ull * 1000000000u;
    reps[1].ready_since_ns = now; /* just ready: costs 4x */
    int n1 = 0;
    for (int i = 0; i < 10000; i++)
        n1 += root_pick_replica(&r, &shard, now, -1) == 1;
    cr_assert(n1 > (int)(10000 / ROOT_EXPLORE / 4) && n1 < (int)(10000 / ROOT_EXPLORE),
              "new replica chosen %d", n1);
    /* After the slow-start window it is an equal again. */
    n1 = 0;
    for (int i = 0; i < 10000; i++)
        n1 += root_pick_replica(&r, &shard, now + 2000000000ull, -1) == 1;
    cr_assert(n1 > 4000 && n1 < 6000, "ramped replica chosen %d", n1);
}

Test(hedge_budget, tokens_accrue_per_request_and_cap)
{
    memset(&r, 0, sizeof r);
    cr_assert(!root_hedge_take(&r));
    for (int i = 0; i < 19; i++)
        root_hedge_credit(&r, 0.05);
    cr_assert(!root_hedge_take(&r), "19 requests at 5%% do not buy a hedge");
    root_hedge_credit(&r, 0.05);
    root_hedge_credit(&r, 0.0001);
    cr_assert(root_hedge_take(&r));
    cr_assert(!root_hedge_take(&r));
    for (int i = 0; i < 100000; i++)
        root_hedge_credit(&r, 0.05);
    int taken = 0;
    while (root_hedge_take(&r))
        taken++;
    cr_assert_eq(taken, (int)ROOT_HEDGE_BURST);
    root_hedge_credit(&r, 0);
    cr_assert(!root_hedge_take(&r), "budget 0 never hedges");
}

Test(hedge_budget, capacity_follows_the_request_rate)
{
    memset(&r, 0, sizeof r);
    r.hedge_burst = 120; /* 2 s of 1,200 primaries a second at 5 % */
    for (int i = 0; i < 100000; i++)
        root_hedge_credit(&r, 0.05);
    int taken = 0;
    while (root_hedge_take(&r))
        taken++;
    cr_assert_eq(taken, 120, "a 200 ms stall's worth of hedges is banked");
    r.hedge_burst = 1; /* a trickle of requests still banks the floor */
    for (int i = 0; i < 100000; i++)
        root_hedge_credit(&r, 0.05);
    taken = 0;
    while (root_hedge_take(&r))
        taken++;
    cr_assert_eq(taken, (int)ROOT_HEDGE_BURST);
}

/* Two replicas, one loaded: distinct draws keep new work off the dearer
 * one except the uniform exploration picks. Each row is replica 0's state
 * (replica 1 as setup() leaves it but for its in_flight) and the bounds
 * of its share of 16000 picks, both exclusive. */
Test(replica_choice, a_loaded_replica_gets_only_exploration_until_it_recovers)
{
    static const struct {
        const char *what;
        uint32_t in_flight0, lost0;
        double ewma0_us;
        uint32_t in_flight1;
        int above, below;
    } cases[] = {
        /* Frozen: its in-flight count grows, its estimate rises. */
        {"stalled", 3, 0, 3000, 0, 250, 1000},
        /* A hedge beat it: its stuck sub-request was cancelled, so its
         * in_flight is back to 0 while the healthy replica has one in
         * flight and the same estimate. The lost count keeps it the
         * dearer one (without it, it would win every distinct pair). */
        {"beaten", 0, 2, 100, 1, 250, 1000},
        /* It answered again (lost back to 0): the cheaper one once more. */
        {"recovered", 0, 0, 100, 1, 15000, 16001},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        setup(2, 1);
        reps[0].in_flight = cases[c].in_flight0;
        reps[0].lost = cases[c].lost0;
        reps[0].ewma_us = cases[c].ewma0_us;
        reps[1].in_flight = cases[c].in_flight1;
        int n0 = 0;
        for (int i = 0; i < 16000; i++)
            n0 += root_pick_replica(&r, &shard, 0, -1) == 0;
        cr_assert(n0 > cases[c].above && n0 < cases[c].below, "%s replica chosen %d of 16000",
                  cases[c].what, n0);
    }
}

static sgs_wire_hit hit(const char *id, double score)
{
    sgs_wire_hit h = {.score = score, .id = id, .id_len = (uint32_t)strlen(id),
                      .fields = "{\"title\":\"t\"}", .fields_len = 13};
    return h;
}

static json_t *merge(root_query *q, uint32_t n)
{
    sgs_buf b;
    sgs_buf_init(&b);
    root_gather_hits(q, n, &b);
    json_error_t je;
    json_t *j = json_loadb((const char *)b.data, b.len, 0, &je);
    cr_assert_not_null(j, "merged JSON: %s", je.text);
    sgs_buf_fini(&b);
    return j;
}

Test(gather, kway_merge_orders_by_score_then_id_and_skips_offset)
{
    root_query q;
    memset(&q, 0, sizeof q);
    sgs_arena_init(&q.arena, 4096);
    root_slot slots[3];
    memset(slots, 0, sizeof slots);
    sgs_wire_hit h0[] = {hit("b", 3.0), hit("d", 2.0), hit("f", 1.0)};
    sgs_wire_hit h1[] = {hit("a", 3.0), hit("ab", 2.0), hit("e", 0.5)};
    sgs_wire_hit h2[] = {hit("zzz", 9.0)};
    slots[0] = (root_slot){.status = ROOT_SLOT_OK, .resp = {.hits = h0, .n_hits = 3}};
    slots[1] = (root_slot){.status = ROOT_SLOT_OK, .resp = {.hits = h1, .n_hits = 3}};
    slots[2] = (root_slot){.status = ROOT_SLOT_FAILED, .resp = {.hits = h2, .n_hits = 1}};
    q.slots = slots;
    q.k = 10;
    json_t *j = merge(&q, 3);
    const char *want[] = {"a", "b", "ab", "d", "f", "e"};
    const int want_shard[] = {1, 0, 1, 0, 0, 1};
    cr_assert_eq(json_array_size(j), 6);
    for (size_t i = 0; i < 6; i++) {
        json_t *h = json_array_get(j, i);
        cr_assert_str_eq(json_string_value(json_object_get(h, "id")), want[i]);
        cr_assert_eq(json_integer_value(json_object_get(h, "shard")), want_shard[i]);
        cr_assert_str_eq(json_string_value(json_object_get(json_object_get(h, "fields"), "title")),
                         "t");
    }
    json_decref(j);

    /* offset 2, k 3: ranks 2..4. */
    q.offset = 2;
    q.k = 3;
    j = merge(&q, 3);
    cr_assert_eq(json_array_size(j), 3);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(j, 0), "id")), "ab");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(j, 2), "id")), "f");
    json_decref(j);

    /* Field filtering keeps only the named ones (none here). */
    const char *none[] = {"missing"};
    q.fields = none;
    q.n_fields = 1;
    q.offset = 0;
    j = merge(&q, 3);
    cr_assert_eq(json_object_size(json_object_get(json_array_get(j, 0), "fields")), 0);
    json_decref(j);
    sgs_arena_fini(&q.arena);
}

Test(gather, random_answers_merge_like_a_sort)
{
    unsigned seed = (unsigned)sgs_now_ns();
    printf("SGS_TEST_SEED=%u\n", seed);
    for (int round = 0; round < 200; round++) {
        root_query q;
        memset(&q, 0, sizeof q);
        sgs_arena_init(&q.arena, 4096);
        uint32_t n = 1 + (uint32_t)rand_r(&seed) % 8;
        root_slot slots[8];
        memset(slots, 0, sizeof slots);
        static char ids[8][20][24];
        static sgs_wire_hit hits[8][20];
        int n_all = 0;
        for (uint32_t s = 0; s < n; s++) {
            uint32_t m = (uint32_t)rand_r(&seed) % 20;
            double score = 100.0;
            for (uint32_t i = 0; i < m; i++) {
                score -= (double)(rand_r(&seed) % 3);
                snprintf(ids[s][i], sizeof ids[s][i], "%u-%02u", s, i);
                hits[s][i] = hit(ids[s][i], score);
                n_all++;
            }
            slots[s] = (root_slot){.status = ROOT_SLOT_OK, .resp = {.hits = hits[s], .n_hits = m}};
        }
        q.slots = slots;
        q.k = 1 + (uint32_t)rand_r(&seed) % 30;
        json_t *j = merge(&q, n);
        size_t want = (size_t)n_all < q.k ? (size_t)n_all : q.k;
        cr_assert_eq(json_array_size(j), want);
        for (size_t i = 1; i < json_array_size(j); i++) {
            double a = json_number_value(json_object_get(json_array_get(j, i - 1), "score"));
            double b = json_number_value(json_object_get(json_array_get(j, i), "score"));
            const char *ia = json_string_value(json_object_get(json_array_get(j, i - 1), "id"));
            const char *ib = json_string_value(json_object_get(json_array_get(j, i), "id"));
            cr_assert(a > b || (a == b && strcmp(ia, ib) < 0), "rank %zu: %g %s, %g %s", i, a,
                      ia, b, ib);
        }
        json_decref(j);
        sgs_arena_fini(&q.arena);
    }
}
