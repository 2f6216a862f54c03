/* sgs-synth: a deterministic synthetic corpus generator for sgs-index.
 *
 * Writes N documents as JSON Lines:
 *     {"id":"d<n>","title":"<3-8 words>","body":"<the other words>"}
 *
 * Model:
 *  - Vocabulary: V distinct pseudo-words, made from the seed alone. Most are
 *    pronounceable lowercase ASCII words of 2-12 letters built from syllables;
 *    frequent ranks get shorter words, as in natural language. A few ranks
 *    (rare ones, never the top 1/64 of the vocabulary) hold fixed words with
 *    non-ASCII letters or digits ("café", "Ωmega", "日本", "x86", ...) so that
 *    UTF-8 handling and case folding are exercised. Every word fits in 15
 *    bytes.
 *  - Term choice: Zipf with exponent s over ranks 0..V-1 (P(r) ~ (r+1)^-s),
 *    drawn by exact inverse CDF: 64-bit thresholds floor(2^64 * CDF(r)) and a
 *    guide table indexed by the draw's top bits, so a draw costs O(1)
 *    expected and maps the uniform 64-bit value to the same rank a binary
 *    search would.
 *  - Document length: log-normal with the given mean and sigma, rounded,
 *    at least 1 and at most SYNTH_MAX_DOC_TOKENS. The title takes 3-8 words;
 *    the body takes the rest, and at least one word.
 *  - Text: the body is sentences of 4-20 words ending in ".", with a comma
 *    after about 5% of words; the first word of a sentence and of the title
 *    is capitalised, another ~3% of words are capitalised and ~0.3% written in
 *    capitals (ASCII letters only), to exercise case folding.
 *
 * Invariants:
 *  - Same flags (and same libm) give byte-identical output. Document n is
 *    generated from its own random stream seeded by (seed, n), so it is the
 *    same whatever --docs or --first are: `--first K --docs N` writes exactly
 *    lines K..K+N-1 of a run from 0, which lets shards be generated in
 *    parallel.
 *  - Output is valid JSON and valid UTF-8; no word needs JSON escaping.
 *  - At the end, one line on stderr gives docs, tokens (words, as the
 *    tokenizer counts them), bytes and seconds.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SYNTH_SLOT_BYTES 16 /* a word slot: up to 15 bytes, then its length */
#define SYNTH_MAX_WORD_BYTES 15
#define SYNTH_MAX_VOCAB 10000000u    /* 160 MB of slots plus tables */
#define SYNTH_MAX_DOC_TOKENS 1000000 /* keeps a line (< 16 bytes a word) under 16 MB */
#define SYNTH_OUT_BUF_BYTES (8u << 20)
#define SYNTH_TOKEN_ROOM 64 /* bytes a word and its punctuation may need, with memcpy slack */

/* ---- random numbers: splitmix64 for seeding, xoshiro256** for streams ---- */

typedef struct rng {
    uint64_t s[4];
} rng;

/* Advances *x and returns the next splitmix64 output. */
static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Seeds a stream from a key (distinct keys give unrelated streams). */
static void rng_seed(rng *r, uint64_t key)
{
    uint64_t x = key;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

/* Rotates x left by k (0 < k < 64) bits. */
static inline uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* The next 64 uniform bits of the stream (xoshiro256**). */
static inline uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return out;
}

/* A uniform integer in [0, n), n > 0 (multiply-shift; bias < n / 2^64). */
static inline uint32_t rng_below(rng *r, uint32_t n)
{
    return (uint32_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

/* A uniform double in (0, 1). */
static inline double rng_open01(rng *r) { return ((double)(rng_next(r) >> 11) + 0.5) * 0x1.0p-53; }

/* ---- flags ---- */

typedef enum { FLAG_U64, FLAG_DOUBLE, FLAG_STR, FLAG_HELP } flag_type;

typedef struct flag {
    const char *name; /* without the leading dashes */
    const char *env;  /* environment twin */
    flag_type type;
    const char *def; /* default as text; NULL: required (FLAG_U64) or unset (FLAG_STR) */
    const char *help;
    void *dest;
    double min, max; /* accepted range for numbers */
} flag;

typedef struct config {
    uint64_t n_docs;
    uint64_t first;
    uint64_t seed;
    uint64_t vocab;
    double mean_len;
    double len_sigma;
    double zipf_s;
    const char *out;
    bool help;
} config;

/* Parses text into the flag's destination; -1 with a message on stderr. */
static int flag_set(const flag *f, const char *text, const char *from)
{
    char *end = NULL;
    errno = 0;
    switch (f->type) {
    case FLAG_U64: {
        if (text[0] == '-' || text[0] == '\0')
            goto bad;
        unsigned long long v = strtoull(text, &end, 10);
        if (errno || *end != '\0' || (double)v < f->min || (double)v > f->max)
            goto bad;
        *(uint64_t *)f->dest = v;
        return 0;
    }
    case FLAG_DOUBLE: {
        double v = strtod(text, &end);
        if (errno || end == text || *end != '\0' || !(v >= f->min && v <= f->max))
            goto bad;
        *(double *)f->dest = v;
        return 0;
    }
    case FLAG_STR:
        *(const char **)f->dest = text;
        return 0;
    case FLAG_HELP:
        *(bool *)f->dest = true;
        return 0;
    }
bad:
    fprintf(stderr, "sgs-synth: %s: bad value '%s' for --%s (want %s in [%g, %g])\n", from, text,
            f->name, f->type == FLAG_U64 ? "an integer" : "a number", f->min, f->max);
    return -1;
}

/* Prints --help from the flag table. */
static void usage(FILE *out, const flag *flags, size_t n)
{
    fprintf(out, "usage: sgs-synth --docs N [flags]\n"
                 "Writes a deterministic synthetic corpus as JSON Lines "
                 "({\"id\",\"title\",\"body\"}).\n"
                 "A flag beats its environment variable, which beats the default.\n\n");
    for (size_t i = 0; i < n; i++) {
        const flag *f = &flags[i];
        char name[64];
        snprintf(name, sizeof name, "--%s%s", f->name, f->type == FLAG_HELP ? "" : " X");
        fprintf(out, "  %-18s %s", name, f->help);
        if (f->env)
            fprintf(out, " [env %s]", f->env);
        if (f->def)
            fprintf(out, " (default %s)", f->def);
        else if (f->type == FLAG_U64)
            fprintf(out, " (required)");
        fputc('\n', out);
    }
}

/* Defaults, then environment, then argv. -1 with a message on a bad flag. */
static int parse_flags(const flag *flags, size_t n, int argc, char **argv)
{
    for (size_t i = 0; i < n; i++) {
        if (flags[i].def && flag_set(&flags[i], flags[i].def, "default") < 0)
            return -1;
        const char *env = flags[i].env ? getenv(flags[i].env) : NULL;
        if (env && flag_set(&flags[i], env, flags[i].env) < 0)
            return -1;
    }
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(stderr, "sgs-synth: unexpected argument '%s' (see --help)\n", arg);
            return -1;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        const flag *f = NULL;
        for (size_t i = 0; i < n; i++)
            if (strlen(flags[i].name) == name_len && memcmp(flags[i].name, name, name_len) == 0)
                f = &flags[i];
        if (!f) {
            fprintf(stderr, "sgs-synth: unknown flag '%s' (see --help)\n", arg);
            return -1;
        }
        const char *value;
        if (f->type == FLAG_HELP)
            value = "";
        else if (eq)
            value = eq + 1;
        else if (a + 1 < argc)
            value = argv[++a];
        else {
            fprintf(stderr, "sgs-synth: --%s needs a value\n", f->name);
            return -1;
        }
        if (flag_set(f, value, "command line") < 0)
            return -1;
    }
    return 0;
}

/* ---- vocabulary ---- */

typedef struct vocab {
    uint32_t n;
    unsigned char *slots; /* n * SYNTH_SLOT_BYTES: word bytes, zero padding, length in byte 15 */
} vocab;

/* Syllable parts: a word is syllables of (onset) vowel (coda). Repeats in a
 * table make that part more likely. */
static const char *const ONSETS[] = {
    "b",  "c",  "d",  "f",  "g",  "h",  "j",  "k",  "l",  "m",  "n",  "p",  "r",
    "s",  "t",  "v",  "w",  "z",  "br", "ch", "cl", "cr", "dr", "fl", "fr", "gl",
    "gr", "pl", "pr", "sh", "sl", "st", "th", "tr", "qu", "sp", "sk", "y",
};
static const char *const VOWELS[] = {"a", "e",  "i",  "o",  "u",  "a",  "e", "o",
                                     "i", "ai", "ea", "ou", "ie", "oo", "y"};
static const char *const CODAS[] = {"",  "",  "",   "",   "n",  "r",  "s", "l",
                                    "t", "m", "nd", "st", "ck", "ng", "x", "rk"};
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Words with non-ASCII letters or digits, placed at rare ranks. Each holds a
 * byte outside a-z, so no generated word can equal one. */
static const char *const SPECIAL_WORDS[] = {
    "café",   "naïve",    "straße", "Ωmega",  "日本", "x86",    "résumé", "über",
    "façade", "ångström", "ipv6",   "москва", "東京", "ελλάδα", "mp3",    "2024",
};

/* Appends part (NUL-terminated) at w + len; returns its length. */
static int put_part(char *w, int len, const char *part)
{
    int n = (int)strlen(part);
    memcpy(w + len, part, (size_t)n);
    return n;
}

/* Picks a part from table (n entries) no longer than room bytes, or NULL
 * when a few draws find none. */
static const char *pick_part(rng *r, const char *const *table, size_t n, int room)
{
    for (int tries = 0; tries < 4; tries++) {
        const char *p = table[rng_below(r, (uint32_t)n)];
        if ((int)strlen(p) <= room)
            return p;
    }
    return NULL;
}

/* Builds one pronounceable lowercase word of exactly target (2-12) letters:
 * syllables of (onset) vowel (coda), each part written whole. */
static int make_word(rng *r, int target, char *w)
{
    int len = 0;
    bool first = true;
    while (len < target) {
        /* An onset leaves room for its vowel; a vowel-initial word is 30%. */
        if ((!first || rng_below(r, 10) < 7) && target - len >= 2) {
            const char *on = pick_part(r, ONSETS, N_OF(ONSETS), target - len - 1);
            if (on)
                len += put_part(w, len, on);
        }
        const char *vo = pick_part(r, VOWELS, N_OF(VOWELS), target - len);
        len += put_part(w, len, vo ? vo : "a");
        const char *co = pick_part(r, CODAS, N_OF(CODAS), target - len);
        if (co)
            len += put_part(w, len, co);
        first = false;
    }
    return len;
}

/* Hashes a whole 16-byte word slot (padding is zero, so equal words hash equal). */
static uint64_t slot_hash(const unsigned char *slot)
{
    uint64_t a, b;
    memcpy(&a, slot, 8);
    memcpy(&b, slot + 8, 8);
    uint64_t x = a * 0x9E3779B97F4A7C15ull ^ rotl64(b * 0xC2B2AE3D27D4EB4Full, 31);
    return splitmix64(&x);
}

/* Inserts slot i into the open-addressing set unless an equal word is there.
 * A set entry is (hash tag << 32 | (index + 1)), 0 when empty; the tag spares
 * most slot comparisons (cache misses). Returns true when inserted. */
static bool set_insert(uint64_t *set, uint64_t mask, const unsigned char *slots, uint32_t i)
{
    const unsigned char *w = slots + (size_t)i * SYNTH_SLOT_BYTES;
    uint64_t h = slot_hash(w);
    uint64_t tag = h >> 32 << 32;
    for (h &= mask;; h = (h + 1) & mask) {
        if (set[h] == 0) {
            set[h] = tag | ((uint64_t)i + 1);
            return true;
        }
        if ((set[h] & 0xffffffff00000000ull) != tag)
            continue;
        const unsigned char *other = slots + ((set[h] & 0xffffffffu) - 1) * SYNTH_SLOT_BYTES;
        if (memcmp(other, w, SYNTH_SLOT_BYTES) == 0)
            return false;
    }
}

/* The word length aimed at for a rank: frequent ranks get short words. */
static int target_length(rng *r, uint32_t rank, uint32_t n)
{
    double depth = n > 1 ? log1p((double)rank) / log((double)n) : 0.0;
    int len = 2 + (int)(7.0 * depth) + (int)rng_below(r, 4) - 1;
    if (rng_below(r, 16) == 0)
        len += 2;
    return len < 2 ? 2 : len > 12 ? 12 : len;
}

/* Fills v with n distinct words from seed. 0, or -1 with a message. */
static int vocab_build(vocab *v, uint32_t n, uint64_t seed)
{
    v->n = n;
    v->slots = calloc(n, SYNTH_SLOT_BYTES);
    uint64_t set_size = 1;
    while (set_size < 2ull * n)
        set_size <<= 1;
    uint64_t *set = calloc(set_size, sizeof *set);
    if (!v->slots || !set) {
        fprintf(stderr, "sgs-synth: out of memory for a vocabulary of %" PRIu32 " words\n", n);
        free(set);
        free(v->slots);
        v->slots = NULL;
        return -1;
    }

    /* Special words go at spread-out ranks past the first 1/64. */
    uint32_t n_special = n >= 1024 ? (uint32_t)N_OF(SPECIAL_WORDS) : 0;
    uint32_t special_base = n / 64, special_step = n_special ? (n - n / 64) / n_special : 0;

    rng r;
    rng_seed(&r, seed ^ 0x766F636162756C61ull); /* "vocabula" */
    uint32_t next_special = 0;
    for (uint32_t i = 0; i < n; i++) {
        unsigned char *slot = v->slots + (size_t)i * SYNTH_SLOT_BYTES;
        if (next_special < n_special && i == special_base + next_special * special_step) {
            const char *s = SPECIAL_WORDS[next_special++];
            size_t len = strlen(s);
            memcpy(slot, s, len);
            slot[SYNTH_SLOT_BYTES - 1] = (unsigned char)len;
            set_insert(set, set_size - 1, v->slots, i);
            continue;
        }
        int target = target_length(&r, i, n);
        for (int tries = 0;; tries++) {
            /* Short lengths run out of words: after a few collisions, go longer. */
            if (tries > 0 && tries % 8 == 0 && target < 12)
                target++;
            memset(slot, 0, SYNTH_SLOT_BYTES);
            int len = make_word(&r, target, (char *)slot);
            slot[SYNTH_SLOT_BYTES - 1] = (unsigned char)len;
            if (set_insert(set, set_size - 1, v->slots, i))
                break;
        }
    }
    free(set);
    return 0;
}

/* ---- Zipf sampler ---- */

typedef struct zipf {
    uint32_t n;
    int shift;       /* 64 - guide bits */
    uint64_t *cdf;   /* cdf[r] = floor(2^64 * P(rank <= r)); cdf[n-1] = UINT64_MAX */
    uint32_t *guide; /* guide[j] = first rank whose cdf exceeds j << shift */
} zipf;

/* Builds the tables for P(r) ~ (r+1)^-s over n ranks. 0, or -1 on OOM. */
static int zipf_build(zipf *z, uint32_t n, double s)
{
    int bits = 1;
    while ((1ull << bits) < n)
        bits++;
    z->n = n;
    z->shift = 64 - bits;
    z->cdf = malloc((size_t)n * sizeof *z->cdf);
    z->guide = malloc(((size_t)1 << bits) * sizeof *z->guide);
    if (!z->cdf || !z->guide) {
        fprintf(stderr, "sgs-synth: out of memory for the Zipf tables\n");
        free(z->cdf);
        free(z->guide);
        z->cdf = NULL;
        z->guide = NULL;
        return -1;
    }
    long double total = 0;
    for (uint32_t r = 0; r < n; r++)
        total += powl((long double)r + 1, -(long double)s);
    long double cum = 0;
    for (uint32_t r = 0; r < n; r++) {
        cum += powl((long double)r + 1, -(long double)s);
        long double t = cum / total * 18446744073709551616.0L;
        z->cdf[r] = t >= 18446744073709551615.0L ? UINT64_MAX : (uint64_t)t;
    }
    z->cdf[n - 1] = UINT64_MAX;
    uint32_t r = 0;
    for (uint64_t j = 0; j < (1ull << bits); j++) {
        uint64_t lo = j << z->shift;
        while (r < n - 1 && z->cdf[r] <= lo)
            r++;
        z->guide[j] = r;
    }
    return 0;
}

/* The rank for a uniform 64-bit u: the smallest r with u < cdf[r]. */
static inline uint32_t zipf_rank(const zipf *z, uint64_t u)
{
    uint32_t r = z->guide[u >> z->shift];
    while (r < z->n - 1 && u >= z->cdf[r])
        r++;
    return r;
}

/* ---- output ---- */

typedef struct out {
    int fd;
    char *buf;
    size_t len;
    uint64_t total;
    const char *name;
} out;

/* Writes out the buffer. 0, or -1 with a message naming the file. */
static int out_flush(out *o)
{
    size_t done = 0;
    while (done < o->len) {
        ssize_t w = write(o->fd, o->buf + done, o->len - done);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "sgs-synth: write %s: %s\n", o->name, strerror(errno));
            return -1;
        }
        done += (size_t)w;
    }
    o->total += o->len;
    o->len = 0;
    return 0;
}

/* Makes room for one word and its punctuation. */
static inline int out_room(out *o)
{
    if (o->len + SYNTH_TOKEN_ROOM > SYNTH_OUT_BUF_BYTES)
        return out_flush(o);
    return 0;
}

/* Appends n literal bytes; the caller made room. */
static inline void out_lit(out *o, const char *s, size_t n)
{
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

/* Appends v in decimal; the caller made room. */
static void out_u64(out *o, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        o->buf[o->len++] = tmp[--n];
}

/* How a word is cased. */
enum { CASE_AS_IS, CASE_CAPITAL, CASE_UPPER };

/* Appends the word of rank r; the caller made room (out_room). */
static inline void out_word(out *o, const vocab *v, uint32_t r, int how)
{
    const unsigned char *slot = v->slots + (size_t)r * SYNTH_SLOT_BYTES;
    size_t len = slot[SYNTH_SLOT_BYTES - 1];
    char *dst = o->buf + o->len;
    memcpy(dst, slot, SYNTH_SLOT_BYTES); /* fixed size: faster than len; room has slack */
    if (how == CASE_CAPITAL) {
        if (dst[0] >= 'a' && dst[0] <= 'z')
            dst[0] = (char)(dst[0] - 32);
    } else if (how == CASE_UPPER) {
        for (size_t i = 0; i < len; i++)
            if (dst[i] >= 'a' && dst[i] <= 'z')
                dst[i] = (char)(dst[i] - 32);
    }
    o->len += len;
}

/* ---- documents ---- */

typedef struct gen {
    const vocab *v;
    const zipf *z;
    uint64_t seed_key;
    double mu, sigma;
    uint64_t tokens;
} gen;

/* Casing for an ordinary word: ~3% capitalised, ~0.3% in capitals. */
static inline int random_case(uint64_t bits)
{
    uint32_t x = (uint32_t)(bits & 0xffff);
    return x < 197 ? CASE_UPPER : x < 197 + 1966 ? CASE_CAPITAL : CASE_AS_IS;
}

/* Writes document n. 0, or -1 on a write error. */
static int write_doc(gen *g, out *o, uint64_t n)
{
    rng r;
    rng_seed(&r, g->seed_key ^ (n * 0xD1B54A32D192ED03ull));

    double x =
        exp(g->mu + g->sigma * sqrt(-2.0 * log(rng_open01(&r))) * cos(2.0 * M_PI * rng_open01(&r)));
    uint32_t n_tokens = x < 1.0                    ? 1
                        : x > SYNTH_MAX_DOC_TOKENS ? SYNTH_MAX_DOC_TOKENS
                                                   : (uint32_t)lround(x);
    uint32_t n_title = 3 + rng_below(&r, 6);
    uint32_t n_body = n_tokens > n_title + 1 ? n_tokens - n_title : 1;
    g->tokens += n_title + n_body;

    if (out_room(o) < 0)
        return -1;
    out_lit(o, "{\"id\":\"d", 8);
    out_u64(o, n);
    out_lit(o, "\",\"title\":\"", 11);
    for (uint32_t i = 0; i < n_title; i++) {
        if (out_room(o) < 0)
            return -1;
        if (i)
            o->buf[o->len++] = ' ';
        uint32_t rank = zipf_rank(g->z, rng_next(&r));
        int how = i == 0 ? CASE_CAPITAL : random_case(rng_next(&r));
        out_word(o, g->v, rank, how);
    }
    out_lit(o, "\",\"body\":\"", 10);
    uint32_t left_in_sentence = 0;
    for (uint32_t i = 0; i < n_body; i++) {
        if (out_room(o) < 0)
            return -1;
        bool sentence_start = left_in_sentence == 0;
        if (sentence_start)
            left_in_sentence = 4 + rng_below(&r, 17);
        if (i)
            o->buf[o->len++] = ' ';
        uint32_t rank = zipf_rank(g->z, rng_next(&r));
        uint64_t bits = rng_next(&r);
        out_word(o, g->v, rank, sentence_start ? CASE_CAPITAL : random_case(bits));
        left_in_sentence--;
        if (left_in_sentence == 0 || i == n_body - 1)
            o->buf[o->len++] = '.';
        else if (((bits >> 16) & 0xffff) < 3277) /* ~5% */
            o->buf[o->len++] = ',';
    }
    out_lit(o, "\"}\n", 3);
    return 0;
}

/* Seconds on the monotonic clock. */
static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Parses flags, builds the vocabulary and Zipf tables, writes the documents
 * and prints the totals. Exit status: 0 written, 1 failed, 2 bad usage. */
int main(int argc, char **argv)
{
    config cfg = {.n_docs = UINT64_MAX}; /* past its accepted range: means "not given" */
    const flag flags[] = {
        {"docs", "SGS_SYNTH_DOCS", FLAG_U64, NULL, "number of documents to write", &cfg.n_docs, 0,
         1e15},
        {"first", "SGS_SYNTH_FIRST", FLAG_U64, "0",
         "number of the first document (writes lines first.. of a full run)", &cfg.first, 0, 1e15},
        {"seed", "SGS_SYNTH_SEED", FLAG_U64, "1", "random seed (vocabulary and documents)",
         &cfg.seed, 0, 0x1p64},
        {"vocab", "SGS_SYNTH_VOCAB", FLAG_U64, "200000", "distinct words", &cfg.vocab, 1,
         SYNTH_MAX_VOCAB},
        {"mean-len", "SGS_SYNTH_MEAN_LEN", FLAG_DOUBLE, "120", "mean words a document",
         &cfg.mean_len, 1, 100000},
        {"len-sigma", "SGS_SYNTH_LEN_SIGMA", FLAG_DOUBLE, "1.0",
         "sigma of the log-normal document length", &cfg.len_sigma, 0, 3},
        {"zipf-s", "SGS_SYNTH_ZIPF_S", FLAG_DOUBLE, "1.0", "Zipf exponent of word frequency",
         &cfg.zipf_s, 0, 10},
        {"out", "SGS_SYNTH_OUT", FLAG_STR, "-", "output file, - for stdout", &cfg.out, 0, 0},
        {"help", NULL, FLAG_HELP, NULL, "show this help", &cfg.help, 0, 0},
    };
    const size_t n_flags = N_OF(flags);
    if (parse_flags(flags, n_flags, argc, argv) < 0)
        return 2;
    if (cfg.help) {
        usage(stdout, flags, n_flags);
        return 0;
    }
    if (cfg.n_docs == UINT64_MAX) {
        fprintf(stderr, "sgs-synth: --docs is required (see --help)\n");
        return 2;
    }

    double t0 = now_seconds();
    int rc = 1;
    vocab v = {0};
    zipf z = {0};
    out o = {.fd = -1, .name = cfg.out};
    o.buf = malloc(SYNTH_OUT_BUF_BYTES);
    if (!o.buf) {
        fprintf(stderr, "sgs-synth: out of memory for the output buffer\n");
        goto fail;
    }
    if (strcmp(cfg.out, "-") == 0) {
        o.fd = STDOUT_FILENO;
        o.name = "stdout";
    } else {
        o.fd = open(cfg.out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (o.fd < 0) {
            fprintf(stderr, "sgs-synth: open %s: %s\n", cfg.out, strerror(errno));
            goto fail;
        }
    }
    if (vocab_build(&v, (uint32_t)cfg.vocab, cfg.seed) < 0 ||
        zipf_build(&z, (uint32_t)cfg.vocab, cfg.zipf_s) < 0)
        goto fail;

    /* Log-normal with mean m: mu = ln m - sigma^2 / 2. */
    gen g = {.v = &v,
             .z = &z,
             .seed_key = splitmix64(&(uint64_t){cfg.seed ^ 0x646F63756D656E74ull}),
             .mu = log(cfg.mean_len) - cfg.len_sigma * cfg.len_sigma / 2,
             .sigma = cfg.len_sigma};
    for (uint64_t n = cfg.first; n < cfg.first + cfg.n_docs; n++)
        if (write_doc(&g, &o, n) < 0)
            goto fail;
    if (out_flush(&o) < 0)
        goto fail;
    if (o.fd != STDOUT_FILENO) {
        int fd = o.fd;
        o.fd = -1;
        if (close(fd) < 0) {
            fprintf(stderr, "sgs-synth: close %s: %s\n", cfg.out, strerror(errno));
            goto fail;
        }
    }
    double secs = now_seconds() - t0;
    fprintf(stderr,
            "sgs-synth: docs=%" PRIu64 " tokens=%" PRIu64 " bytes=%" PRIu64 " seconds=%.2f"
            " (seed=%" PRIu64 " first=%" PRIu64 " vocab=%" PRIu64
            " mean_len=%g len_sigma=%g zipf_s=%g)\n",
            cfg.n_docs, g.tokens, o.total, secs, cfg.seed, cfg.first, cfg.vocab, cfg.mean_len,
            cfg.len_sigma, cfg.zipf_s);
    rc = 0;
fail:
    if (o.fd >= 0 && o.fd != STDOUT_FILENO)
        close(o.fd);
    free(z.guide);
    free(z.cdf);
    free(v.slots);
    free(o.buf);
    return rc;
}
