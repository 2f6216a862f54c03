/* Shard file reader: loads a shard file into memory of its own (or maps it),
 * checks it against shard_format.h and answers lookups from that copy.
 *
 * Invariants: after sgs_shard_open() succeeds, the header fields are sane, the
 * section table is well-formed (kinds in order, 8-aligned, inside the file,
 * not overlapping), and every section whose size the header determines
 * (TERM_ENTRIES, TERM_HASH, DOC_LENGTHS, EXT_ID_RANKS, both offset tables) has
 * exactly that size, with both offset tables starting at 0 and ending at
 * their bytes section's size. The lookups rely on those facts alone and
 * check every other bound they read through (slot values, term offsets,
 * per-document offsets), so no byte pattern makes them read outside the
 * copy. The decoder checks every bound before every read. Error messages
 * name the file first, then the section and the term, block, document or
 * field. */
#include "common/shard_reader.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/bm25.h"
#include "common/hash.h"
#include "common/mem.h"
#include "common/postings.h"
#include "common/tokenize.h"

#define TABLE_END (SGS_SHARD_HEADER_SIZE + SGS_SECTION_COUNT * SGS_SHARD_SECTION_ENTRY_SIZE)

/* Stored maxima may sit this far (relative) below a recomputed score and
 * still count as upper bounds: float rounding of the writer's double. */
#define SCORE_SLACK 1e-6

struct sgs_shard {
    char *path;
    const uint8_t *map; /* the loaded copy, or the file's mapping (SGS_SHARD_MAPPED) */
    size_t map_len;     /* bytes of map to munmap: size rounded up for a loaded copy */
    uint64_t size;
    uint64_t file_xxh3; /* XXH3-64 of the size bytes at map, when have_file_xxh3 */
    bool have_file_xxh3;
    sgs_shard_header header;
    sgs_section sections[SGS_SECTION_COUNT];

    /* Shortcuts into map, each inside the file as open checked. */
    const uint8_t *term_strings;
    uint64_t term_strings_size;
    const uint8_t *term_entries;
    const uint8_t *hash_slots;
    uint64_t hash_mask; /* n_slots - 1; n_slots a power of two >= 2 */
    const uint8_t *postings;
    uint64_t postings_size;
    const uint8_t *doc_lengths;
    uint8_t *len_codes; /* sgs_bm25_len_code of each doc length, built at open */
    double norm_floors[256]; /* sgs_bm25_norm of each code's floor, built at open */
    const uint8_t *ext_offsets;
    const uint8_t *ext_bytes;
    uint64_t ext_bytes_size;
    const uint8_t *ext_ranks;
    const uint8_t *stored_offsets;
    const uint8_t *stored_bytes;
    uint64_t stored_bytes_size;
};

const char *sgs_section_name(uint32_t kind)
{
    switch (kind) {
    case SGS_SECTION_TERM_STRINGS: return "term_strings";
    case SGS_SECTION_TERM_ENTRIES: return "term_entries";
    case SGS_SECTION_TERM_HASH: return "term_hash";
    case SGS_SECTION_POSTINGS: return "postings";
    case SGS_SECTION_DOC_LENGTHS: return "doc_lengths";
    case SGS_SECTION_EXT_ID_OFFSETS: return "ext_id_offsets";
    case SGS_SECTION_EXT_ID_BYTES: return "ext_id_bytes";
    case SGS_SECTION_STORED_OFFSETS: return "stored_offsets";
    case SGS_SECTION_STORED_BYTES: return "stored_bytes";
    case SGS_SECTION_EXT_ID_RANKS: return "ext_id_ranks";
    default: return "unknown";
    }
}

static float load_f32(const uint8_t *p)
{
    uint32_t v = sgs_load_u32(p);
    float f;
    memcpy(&f, &v, sizeof f);
    return f;
}

static double load_f64(const uint8_t *p)
{
    uint64_t v = sgs_load_u64(p);
    double d;
    memcpy(&d, &v, sizeof d);
    return d;
}

/* True when [off, off + len) lies inside [0, size), without overflow. */
static bool in_bounds(uint64_t off, uint64_t len, uint64_t size)
{
    return off <= size && len <= size - off;
}

static uint64_t div_ceil(uint64_t a, uint64_t b)
{
    return a / b + (a % b != 0);
}

/* Byte order (memcmp, a prefix before its extensions), of terms and of
 * external ids. */
static int bytes_cmp(const char *a, size_t na, const char *b, size_t nb)
{
    int c = memcmp(a, b, na < nb ? na : nb);
    if (c != 0)
        return c;
    return na < nb ? -1 : na > nb;
}

/* A printable rendering of a term for messages: at most 40 bytes, control
 * bytes and quotes replaced by '?'. */
static const char *printable(char out[48], const char *bytes, size_t len)
{
    if (bytes == NULL) {
        snprintf(out, 48, "<out of bounds>");
        return out;
    }
    size_t n = len < 40 ? len : 40;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)bytes[i];
        out[i] = (c < 0x20 || c == 0x7f || c == '\'') ? '?' : (char)c;
    }
    if (n < len) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
    return out;
}

/* ---- open: header, section table, section sizes ------------------------ */

static int check_header(sgs_shard *s, sgs_err *err)
{
    const uint8_t *h = s->map;
    sgs_shard_header *hd = &s->header;
    if (memcmp(h, SGS_SHARD_MAGIC, 8) != 0)
        return sgs_err_set(err, SGS_ECORRUPT, "%s: header: bad magic (not a shard file)", s->path);
    hd->version = sgs_load_u32(h + 8);
    if (hd->version != SGS_SHARD_VERSION)
        return sgs_err_set(err, SGS_EVERSION,
                           "%s: header: format version %u, this build reads version %u", s->path,
                           hd->version, SGS_SHARD_VERSION);
    if (sgs_load_u32(h + 12) != SGS_SHARD_HEADER_SIZE)
        return sgs_err_set(err, SGS_ECORRUPT, "%s: header: header size %u, expected %u", s->path,
                           sgs_load_u32(h + 12), SGS_SHARD_HEADER_SIZE);
    if (sgs_hash64(h, 120) != sgs_load_u64(h + 120))
        return sgs_err_set(err, SGS_ECORRUPT, "%s: header: checksum mismatch (offset 120)",
                           s->path);
    if (sgs_hash64(h + SGS_SHARD_HEADER_SIZE, TABLE_END - SGS_SHARD_HEADER_SIZE) !=
        sgs_load_u64(h + 104))
        return sgs_err_set(err, SGS_ECORRUPT, "%s: section table: checksum mismatch", s->path);

    hd->shard_id = sgs_load_u32(h + 16);
    hd->shard_count = sgs_load_u32(h + 20);
    hd->generation = sgs_load_u64(h + 24);
    hd->n_docs = sgs_load_u64(h + 32);
    hd->corpus_n_docs = sgs_load_u64(h + 40);
    hd->corpus_avg_len = load_f64(h + 48);
    hd->n_terms = sgs_load_u64(h + 56);
    hd->n_postings = sgs_load_u64(h + 64);
    hd->n_tokens = sgs_load_u64(h + 72);
    hd->tokenizer = sgs_load_u32(h + 80);
    hd->max_token_bytes = sgs_load_u32(h + 84);
    hd->bm25_k1 = load_f32(h + 88);
    hd->bm25_b = load_f32(h + 92);
    hd->dense_divisor = sgs_load_u32(h + 96);
    uint32_t n_sections = sgs_load_u32(h + 100);

    const char *bad = NULL;
    char sections_bad[64];
    if (hd->shard_count == 0)
        bad = "shard count is 0";
    else if (hd->shard_id >= hd->shard_count)
        bad = "shard id not below shard count";
    else if (hd->n_docs > hd->corpus_n_docs)
        bad = "n_docs exceeds corpus n_docs";
    else if (hd->n_docs > UINT32_MAX)
        bad = "n_docs exceeds the 32-bit doc id space";
    else if (hd->corpus_n_docs > 0 &&
             !(isfinite(hd->corpus_avg_len) && hd->corpus_avg_len > 0))
        bad = "corpus average length not a positive finite number";
    else if (hd->tokenizer != SGS_TOKENIZER_UNICODE_LN_SIMPLE_LOWER)
        bad = "unknown tokenizer id";
    else if (hd->max_token_bytes != SGS_TOKEN_MAX_BYTES)
        bad = "maximum token bytes is not 255";
    else if (hd->bm25_k1 != (float)SGS_BM25_K1 || hd->bm25_b != (float)SGS_BM25_B)
        bad = "BM25 parameters differ from this build's (k1 1.2, b 0.75)";
    else if (hd->dense_divisor != SGS_SHARD_DENSE_DIVISOR)
        bad = "dense divisor is not 32";
    else if (n_sections != SGS_SECTION_COUNT) {
        snprintf(sections_bad, sizeof sections_bad, "n_sections is %u, not %u", n_sections,
                 SGS_SECTION_COUNT);
        bad = sections_bad;
    }
    else if (sgs_load_u64(h + 112) != 0)
        bad = "reserved bytes at offset 112 are not zero";
    if (bad != NULL)
        return sgs_err_set(err, SGS_ECORRUPT, "%s: header: %s", s->path, bad);
    return 0;
}

static int check_section_table(sgs_shard *s, sgs_err *err)
{
    for (uint32_t i = 0; i < SGS_SECTION_COUNT; i++) {
        const uint8_t *e = s->map + SGS_SHARD_HEADER_SIZE + i * SGS_SHARD_SECTION_ENTRY_SIZE;
        sgs_section *sec = &s->sections[i];
        sec->kind = sgs_load_u32(e);
        sec->offset = sgs_load_u64(e + 8);
        sec->size = sgs_load_u64(e + 16);
        sec->xxh3 = sgs_load_u64(e + 24);
        uint64_t at = SGS_SHARD_HEADER_SIZE + i * SGS_SHARD_SECTION_ENTRY_SIZE;
        if (sec->kind != i + 1)
            return sgs_err_set(err, SGS_ECORRUPT,
                               "%s: section table: entry %u (offset %llu) has kind %u, expected %u",
                               s->path, i, (unsigned long long)at, sec->kind, i + 1);
        const char *name = sgs_section_name(sec->kind);
        if (sgs_load_u32(e + 4) != 0)
            return sgs_err_set(err, SGS_ECORRUPT, "%s: section table: section %s: flags not zero",
                               s->path, name);
        if (sec->offset % 8 != 0)
            return sgs_err_set(err, SGS_ECORRUPT,
                               "%s: section table: section %s: offset %llu not 8-byte aligned",
                               s->path, name, (unsigned long long)sec->offset);
        if (sec->offset < TABLE_END)
            return sgs_err_set(err, SGS_ECORRUPT,
                               "%s: section table: section %s: offset %llu inside the header or "
                               "section table",
                               s->path, name, (unsigned long long)sec->offset);
        if (!in_bounds(sec->offset, sec->size, s->size))
            return sgs_err_set(err, SGS_ECORRUPT,
                               "%s: section table: section %s: [%llu, +%llu) past the end of the "
                               "file (%llu bytes)",
                               s->path, name, (unsigned long long)sec->offset,
                               (unsigned long long)sec->size, (unsigned long long)s->size);
    }
    for (uint32_t i = 0; i < SGS_SECTION_COUNT; i++) {
        const sgs_section *a = &s->sections[i];
        for (uint32_t j = i + 1; j < SGS_SECTION_COUNT && a->size > 0; j++) {
            const sgs_section *b = &s->sections[j];
            if (b->size > 0 && a->offset < b->offset + b->size && b->offset < a->offset + a->size)
                return sgs_err_set(err, SGS_ECORRUPT,
                                   "%s: section table: sections %s and %s overlap", s->path,
                                   sgs_section_name(a->kind), sgs_section_name(b->kind));
        }
    }
    return 0;
}

/* The sizes the header fixes, and the ends of both offset tables: what the
 * lookups rely on. */
static int check_section_sizes(sgs_shard *s, sgs_err *err)
{
    const sgs_shard_header *h = &s->header;
    const sgs_section *sec = s->sections;
    const sgs_section *entries = &sec[SGS_SECTION_TERM_ENTRIES - 1];
    if (entries->size % SGS_SHARD_TERM_ENTRY_SIZE != 0 ||
        entries->size / SGS_SHARD_TERM_ENTRY_SIZE != h->n_terms)
        return sgs_err_set(err, SGS_ECORRUPT,
                           "%s: section term_entries: size %llu is not 48 * n_terms (%llu)",
                           s->path, (unsigned long long)entries->size,
                           (unsigned long long)h->n_terms);

    const sgs_section *hash = &sec[SGS_SECTION_TERM_HASH - 1];
    if (hash->size < 8)
        return sgs_err_set(err, SGS_ECORRUPT, "%s: section term_hash: size %llu has no slot count",
                           s->path, (unsigned long long)hash->size);
    uint64_t n_slots = sgs_load_u64(s->map + hash->offset);
    /* n_terms <= file size / 48, so 2 * n_terms cannot overflow. */
    if (n_slots < 2 || (n_slots & (n_slots - 1)) != 0 || n_slots < 2 * h->n_terms)
        return sgs_err_set(err, SGS_ECORRUPT,
                           "%s: section term_hash: n_slots %llu is not a power of two >= "
                           "max(2, 2 * n_terms)",
                           s->path, (unsigned long long)n_slots);
    if ((hash->size - 8) % 4 != 0 || (hash->size - 8) / 4 != n_slots)
        return sgs_err_set(err, SGS_ECORRUPT,
                           "%s: section term_hash: size %llu is not 8 + 4 * n_slots (%llu)",
                           s->path, (unsigned long long)hash->size, (unsigned long long)n_slots);

    const sgs_section *lengths = &sec[SGS_SECTION_DOC_LENGTHS - 1];
    if (lengths->size != 4 * h->n_docs)
        return sgs_err_set(err, SGS_ECORRUPT,
                           "%s: section doc_lengths: size %llu is not 4 * n_docs (%llu)", s->path,
                           (unsigned long long)lengths->size, (unsigned long long)h->n_docs);

    const sgs_section *ranks = &sec[SGS_SECTION_EXT_ID_RANKS - 1];
    if (ranks->size != 4 * h->n_docs)
        return sgs_err_set(err, SGS_ECORRUPT,
                           "%s: section ext_id_ranks: size %llu is not 4 * n_docs (%llu)", s->path,
                           (unsigned long long)ranks->size, (unsigned long long)h->n_docs);

    static const uint32_t offset_kinds[2] = {SGS_SECTION_EXT_ID_OFFSETS,
                                             SGS_SECTION_STORED_OFFSETS};
    for (int i = 0; i < 2; i++) {
        const sgs_section *offs = &sec[offset_kinds[i] - 1];
        const sgs_section *bytes = &sec[offset_kinds[i]]; /* the bytes section follows */
        const char *name = sgs_section_name(offs->kind);
        if (offs->size != 8 * (h->n_docs + 1))
            return sgs_err_set(err, SGS_ECORRUPT,
                               "%s: section %s: size %llu is not 8 * (n_docs + 1) (n_docs %llu)",
                               s->path, name, (unsigned long long)offs->size,
                               (unsigned long long)h->n_docs);
        const uint8_t *p = s->map + offs->offset;
        uint64_t first = sgs_load_u64(p), last = sgs_load_u64(p + 8 * h->n_docs);
        if (first != 0)
            return sgs_err_set(err, SGS_ECORRUPT, "%s: section %s: first offset %llu is not 0",
                               s->path, name, (unsigned long long)first);
        if (last != bytes->size)
            return sgs_err_set(err, SGS_ECORRUPT,
                               "%s: section %s: last offset %llu is not the size of %s (%llu)",
                               s->path, name, (unsigned long long)last,
                               sgs_section_name(bytes->kind), (unsigned long long)bytes->size);
    }

#define SECTION_AT(kind) (s->map + sec[(kind)-1].offset)
    s->term_strings = SECTION_AT(SGS_SECTION_TERM_STRINGS);
    s->term_strings_size = sec[SGS_SECTION_TERM_STRINGS - 1].size;
    s->term_entries = SECTION_AT(SGS_SECTION_TERM_ENTRIES);
    s->hash_slots = SECTION_AT(SGS_SECTION_TERM_HASH) + 8;
    s->hash_mask = n_slots - 1;
    s->postings = SECTION_AT(SGS_SECTION_POSTINGS);
    s->postings_size = sec[SGS_SECTION_POSTINGS - 1].size;
    s->doc_lengths = SECTION_AT(SGS_SECTION_DOC_LENGTHS);
    s->ext_offsets = SECTION_AT(SGS_SECTION_EXT_ID_OFFSETS);
    s->ext_bytes = SECTION_AT(SGS_SECTION_EXT_ID_BYTES);
    s->ext_bytes_size = sec[SGS_SECTION_EXT_ID_BYTES - 1].size;
    s->ext_ranks = SECTION_AT(SGS_SECTION_EXT_ID_RANKS);
    s->stored_offsets = SECTION_AT(SGS_SECTION_STORED_OFFSETS);
    s->stored_bytes = SECTION_AT(SGS_SECTION_STORED_BYTES);
    s->stored_bytes_size = sec[SGS_SECTION_STORED_BYTES - 1].size;
#undef SECTION_AT
    return 0;
}

/* Bytes read per read() call while loading: small enough that the file
 * checksum runs over each chunk while it is still in cache. */
#define LOAD_CHUNK (1u << 20)

/* Huge pages for the loaded copy (fewer TLB misses on posting reads). */
#define HUGE_PAGE (2u << 20)

/* Reads the file's s->size bytes into fresh anonymous memory, hashing them
 * on the way, then makes the copy read-only. 0 or the error, err set. */
static int load_file(sgs_shard *s, int fd, sgs_err *err)
{
    size_t cap = ((size_t)s->size + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    void *mem = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return sgs_err_set(err, SGS_ENOMEM, "%s: cannot allocate %zu bytes to load it: %s",
                           s->path, cap, strerror(errno));
    s->map = mem;
    s->map_len = cap;
    /* Advice only: a failure changes nothing but speed. */
    (void)madvise(mem, cap, MADV_HUGEPAGE);
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    XXH3_state_t *state = XXH3_createState();
    if (state == NULL)
        return sgs_err_set(err, SGS_ENOMEM, "XXH3_createState: out of memory");
    XXH3_64bits_reset(state);
    uint8_t *dst = mem;
    uint64_t done = 0;
    int rc = 0;
    while (done < s->size) {
        size_t want = s->size - done < LOAD_CHUNK ? (size_t)(s->size - done) : LOAD_CHUNK;
        ssize_t n = read(fd, dst + done, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = sgs_err_set(err, SGS_EIO, "read %s: %s", s->path, strerror(errno));
            goto out;
        }
        if (n == 0) {
            rc = sgs_err_set(err, SGS_ECORRUPT,
                             "%s: file shrank to %llu bytes while it was being read (was %llu)",
                             s->path, (unsigned long long)done, (unsigned long long)s->size);
            goto out;
        }
        XXH3_64bits_update(state, dst + done, (size_t)n);
        done += (uint64_t)n;
    }
    s->file_xxh3 = XXH3_64bits_digest(state);
    s->have_file_xxh3 = true;
    if (mprotect(mem, cap, PROT_READ) != 0)
        rc = sgs_err_set(err, SGS_EIO, "mprotect %s: %s", s->path, strerror(errno));
out:
    XXH3_freeState(state);
    return rc;
}

/* Maps the file itself (SGS_SHARD_MAPPED). 0 or the error, err set. */
static int map_file(sgs_shard *s, int fd, sgs_err *err)
{
    void *map = mmap(NULL, (size_t)s->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED)
        return sgs_err_set(err, SGS_EIO, "mmap %s: %s", s->path, strerror(errno));
    s->map = map;
    s->map_len = (size_t)s->size;
    /* Advice only: a failure changes nothing but speed. */
    (void)madvise(map, (size_t)s->size, MADV_WILLNEED);
    return 0;
}

sgs_shard *sgs_shard_open(const char *path, unsigned verify_flags, sgs_err *err)
{
    sgs_shard *s = sgs_xcalloc(1, sizeof *s);
    s->path = sgs_xstrdup(path);
    /* O_NONBLOCK: opening a FIFO put in the file's place fails below
     * instead of waiting for a writer. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        sgs_err_set(err, errno == ENOENT ? SGS_ENOTFOUND : SGS_EIO, "open %s: %s", path,
                    strerror(errno));
        goto fail;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        sgs_err_set(err, SGS_EIO, "fstat %s: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        sgs_err_set(err, SGS_EIO, "%s: not a regular file", path);
        goto fail;
    }
    s->size = (uint64_t)st.st_size;
    if (s->size < TABLE_END) {
        sgs_err_set(err, SGS_ECORRUPT,
                    "%s: header: file of %llu bytes is shorter than the header and section "
                    "table (%u bytes)",
                    path, (unsigned long long)s->size, TABLE_END);
        goto fail;
    }
    if (s->size > SIZE_MAX - HUGE_PAGE) {
        sgs_err_set(err, SGS_ELIMIT, "%s: %llu bytes do not fit the address space", path,
                    (unsigned long long)s->size);
        goto fail;
    }
    if ((verify_flags & SGS_SHARD_MAPPED) ? map_file(s, fd, err) != 0
                                          : load_file(s, fd, err) != 0)
        goto fail;
    close(fd);
    fd = -1;

    if (check_header(s, err) != 0 || check_section_table(s, err) != 0 ||
        check_section_sizes(s, err) != 0)
        goto fail;
    if ((verify_flags & SGS_SHARD_VERIFY_CHECKSUMS) && !s->have_file_xxh3) {
        s->file_xxh3 = sgs_hash64(s->map, (size_t)s->size);
        s->have_file_xxh3 = true;
    }
    if ((verify_flags & SGS_SHARD_VERIFY_CHECKSUMS) && sgs_shard_verify_checksums(s, err) != 0)
        goto fail;
    if ((verify_flags & SGS_SHARD_VERIFY_STRUCTURE) && sgs_shard_verify_structure(s, err) != 0)
        goto fail;
    s->len_codes = sgs_xmalloc((size_t)s->header.n_docs + 1);
    for (uint64_t d = 0; d < s->header.n_docs; d++)
        s->len_codes[d] = sgs_bm25_len_code(sgs_load_u32(s->doc_lengths + 4 * d));
    for (uint32_t c = 0; c < 256; c++)
        s->norm_floors[c] =
            sgs_bm25_norm(sgs_bm25_len_floor((uint8_t)c), s->header.corpus_avg_len);
    return s;
fail:
    if (fd >= 0)
        close(fd);
    sgs_shard_close(s);
    return NULL;
}

void sgs_shard_close(sgs_shard *s)
{
    if (s == NULL)
        return;
    if (s->map != NULL)
        munmap((void *)s->map, s->map_len);
    free(s->len_codes);
    free(s->path);
    free(s);
}

const sgs_shard_header *sgs_shard_header_get(const sgs_shard *s)
{
    return &s->header;
}

const sgs_section *sgs_shard_section_get(const sgs_shard *s, uint32_t kind)
{
    if (kind < 1 || kind > SGS_SECTION_COUNT)
        return NULL;
    return &s->sections[kind - 1];
}

const uint8_t *sgs_shard_section_bytes(const sgs_shard *s, uint32_t kind)
{
    if (kind < 1 || kind > SGS_SECTION_COUNT)
        return NULL;
    return s->map + s->sections[kind - 1].offset;
}

uint64_t sgs_shard_file_size(const sgs_shard *s)
{
    return s->size;
}

const char *sgs_shard_path(const sgs_shard *s)
{
    return s->path;
}

bool sgs_shard_file_xxh3(const sgs_shard *s, uint64_t *xxh3)
{
    if (s->have_file_xxh3)
        *xxh3 = s->file_xxh3;
    return s->have_file_xxh3;
}

/* ---- lookups ------------------------------------------------------------- */

void sgs_shard_term_entry(const sgs_shard *s, uint64_t index, sgs_term_entry *out)
{
    assert(index < s->header.n_terms);
    const uint8_t *p = s->term_entries + index * SGS_SHARD_TERM_ENTRY_SIZE;
    out->hash = sgs_load_u64(p);
    out->postings_offset = sgs_load_u64(p + 8);
    out->postings_size = sgs_load_u64(p + 16);
    out->term_offset = sgs_load_u32(p + 24);
    out->shard_df = sgs_load_u32(p + 28);
    out->global_df = sgs_load_u32(p + 32);
    out->max_score = load_f32(p + 36);
    out->term_len = p[40];
    out->encoding = p[41];
}

const char *sgs_shard_term_bytes(const sgs_shard *s, const sgs_term_entry *e)
{
    if (!in_bounds(e->term_offset, e->term_len, s->term_strings_size))
        return NULL;
    return (const char *)s->term_strings + e->term_offset;
}

int64_t sgs_shard_find_term(const sgs_shard *s, const char *term, size_t len)
{
    if (len == 0 || len > SGS_TOKEN_MAX_BYTES)
        return -1;
    uint64_t hash = sgs_hash64(term, len);
    uint64_t slot = hash & s->hash_mask;
    /* Bounded even when a hostile table has no empty slot. */
    for (uint64_t probes = 0; probes <= s->hash_mask; probes++) {
        uint32_t v = sgs_load_u32(s->hash_slots + 4 * slot);
        if (v == 0 || v > s->header.n_terms)
            return -1;
        const uint8_t *e = s->term_entries + (uint64_t)(v - 1) * SGS_SHARD_TERM_ENTRY_SIZE;
        if (sgs_load_u64(e) == hash && e[40] == len) {
            uint32_t off = sgs_load_u32(e + 24);
            if (in_bounds(off, len, s->term_strings_size) &&
                memcmp(s->term_strings + off, term, len) == 0)
                return (int64_t)(v - 1);
        }
        slot = (slot + 1) & s->hash_mask;
    }
    return -1;
}

void sgs_shard_prefetch_terms(const sgs_shard *s, const char *const *terms,
                              const uint32_t *lens, uint32_t n)
{
    enum { CHUNK = 16 };
    for (uint32_t at = 0; at < n; at += CHUNK) {
        uint32_t m = n - at < CHUNK ? n - at : CHUNK;
        uint64_t hash[CHUNK];
        const uint8_t *entry[CHUNK];
        for (uint32_t i = 0; i < m; i++) {
            uint32_t len = lens[at + i];
            hash[i] = len == 0 || len > SGS_TOKEN_MAX_BYTES ? 0 : sgs_hash64(terms[at + i], len);
            __builtin_prefetch(s->hash_slots + 4 * (hash[i] & s->hash_mask));
        }
        for (uint32_t i = 0; i < m; i++) {
            uint32_t v = sgs_load_u32(s->hash_slots + 4 * (hash[i] & s->hash_mask));
            entry[i] = v == 0 || v > s->header.n_terms
                           ? NULL
                           : s->term_entries + (uint64_t)(v - 1) * SGS_SHARD_TERM_ENTRY_SIZE;
            if (entry[i] != NULL)
                __builtin_prefetch(entry[i]);
        }
        for (uint32_t i = 0; i < m; i++) {
            const uint8_t *e = entry[i];
            if (e == NULL || sgs_load_u64(e) != hash[i])
                continue;
            uint32_t off = sgs_load_u32(e + 24);
            if (in_bounds(off, e[40], s->term_strings_size))
                __builtin_prefetch(s->term_strings + off);
            uint64_t p_off = sgs_load_u64(e + 8), p_size = sgs_load_u64(e + 16);
            if (in_bounds(p_off, p_size, s->postings_size)) {
                __builtin_prefetch(s->postings + p_off);
                /* A block list's first block data, past one skip entry per block. */
                uint64_t skip = (uint64_t)(sgs_load_u32(e + 28) + SGS_BLOCK_LEN - 1) /
                                SGS_BLOCK_LEN * SGS_SHARD_SKIP_ENTRY_SIZE;
                if (e[41] == SGS_POSTINGS_BLOCKS && skip < p_size)
                    __builtin_prefetch(s->postings + p_off + skip);
            }
        }
    }
}

const uint8_t *sgs_shard_term_postings_bytes(const sgs_shard *s, const sgs_term_entry *e)
{
    if (!in_bounds(e->postings_offset, e->postings_size, s->postings_size))
        return NULL;
    return s->postings + e->postings_offset;
}

uint32_t sgs_shard_doc_length(const sgs_shard *s, uint32_t doc)
{
    if (doc >= s->header.n_docs)
        return 0;
    return sgs_load_u32(s->doc_lengths + 4 * (uint64_t)doc);
}

const uint8_t *sgs_shard_len_codes(const sgs_shard *s)
{
    return s->len_codes;
}

const double *sgs_shard_norm_floors(const sgs_shard *s)
{
    return s->norm_floors;
}

/* Entry doc of an offsets table over a bytes section of bytes_size. */
static const char *slice(const sgs_shard *s, const uint8_t *offsets, const uint8_t *bytes,
                         uint64_t bytes_size, uint32_t doc, size_t *len)
{
    *len = 0;
    if (doc >= s->header.n_docs)
        return NULL;
    uint64_t start = sgs_load_u64(offsets + 8 * (uint64_t)doc);
    uint64_t end = sgs_load_u64(offsets + 8 * (uint64_t)doc + 8);
    if (start > end || end > bytes_size)
        return NULL;
    *len = (size_t)(end - start);
    return (const char *)bytes + start;
}

const char *sgs_shard_ext_id(const sgs_shard *s, uint32_t doc, size_t *len)
{
    return slice(s, s->ext_offsets, s->ext_bytes, s->ext_bytes_size, doc, len);
}

const uint8_t *sgs_shard_ext_id_ranks(const sgs_shard *s)
{
    return s->ext_ranks;
}

const char *sgs_shard_stored(const sgs_shard *s, uint32_t doc, size_t *len)
{
    return slice(s, s->stored_offsets, s->stored_bytes, s->stored_bytes_size, doc, len);
}

/* ---- checksums ----------------------------------------------------------- */

int sgs_shard_verify_checksums(const sgs_shard *s, sgs_err *err)
{
    for (uint32_t i = 0; i < SGS_SECTION_COUNT; i++) {
        const sgs_section *sec = &s->sections[i];
        if (sgs_hash64(s->map + sec->offset, (size_t)sec->size) != sec->xxh3)
            return sgs_err_set(err, SGS_ECORRUPT, "%s: section %s: checksum mismatch", s->path,
                               sgs_section_name(sec->kind));
    }
    return 0;
}

/* ---- postings ------------------------------------------------------------ */

/* What the decoder checks scores against; NULL when it only decodes. */
typedef struct score_check {
    double idf;
    double avg_len;
} score_check;

/* True unless score is within SCORE_SLACK of being <= bound (NaN bounds fail). */
static bool exceeds(double score, float bound)
{
    double b = (double)bound;
    return !(score <= b + fabs(b) * SCORE_SLACK);
}

/* The BM25 score of a posting, as the writer computes it. */
static double posting_score(const sgs_shard *s, const score_check *sc, uint32_t doc, uint32_t tf)
{
    return sgs_bm25_score(sc->idf, tf, sgs_bm25_norm(sgs_shard_doc_length(s, doc), sc->avg_len));
}

#define TERM_FAIL(...) term_fail(s, e, err, __VA_ARGS__)

static int term_fail(const sgs_shard *s, const sgs_term_entry *e, sgs_err *err, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));

static int term_fail(const sgs_shard *s, const sgs_term_entry *e, sgs_err *err, const char *fmt,
                     ...)
{
    char what[SGS_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    char name[48];
    printable(name, sgs_shard_term_bytes(s, e), e->term_len);
    return sgs_err_set(err, SGS_ECORRUPT, "%s: section postings: term '%s': %s", s->path, name,
                       what);
}

/* Postings in block b of a list of df postings. */
static uint32_t block_count(uint32_t df, uint64_t b, uint64_t n_blocks)
{
    return b + 1 < n_blocks ? SGS_BLOCK_LEN : df - (uint32_t)(b * SGS_BLOCK_LEN);
}

static int decode_blocks(const sgs_shard *s, const sgs_term_entry *e, const uint8_t *p,
                         uint32_t *docs, uint32_t *tfs, const score_check *sc, sgs_err *err)
{
    uint64_t n_blocks = div_ceil(e->shard_df, SGS_BLOCK_LEN);
    uint64_t skip_bytes = n_blocks * SGS_SHARD_SKIP_ENTRY_SIZE;
    if (e->postings_size < skip_bytes)
        return TERM_FAIL("size %llu too small for %llu skip entries",
                         (unsigned long long)e->postings_size, (unsigned long long)n_blocks);
    const uint8_t *data = p + skip_bytes;
    uint64_t data_size = e->postings_size - skip_bytes;
    uint64_t expected_off = 0;
    uint32_t prev = UINT32_MAX;
    uint32_t block_docs[SGS_BLOCK_LEN], block_tfs[SGS_BLOCK_LEN];
    for (uint64_t b = 0; b < n_blocks; b++) {
        const uint8_t *skip = p + b * SGS_SHARD_SKIP_ENTRY_SIZE;
        uint32_t last_doc = sgs_load_u32(skip);
        uint32_t off = sgs_load_u32(skip + 4);
        float block_max = load_f32(skip + 8);
        unsigned doc_bits = skip[12], tf_bits = skip[13];
        uint32_t count = (uint32_t)skip[14] + 1;
        uint32_t want = block_count(e->shard_df, b, n_blocks);
        unsigned long long bl = (unsigned long long)b;
        if (skip[15] != 0)
            return TERM_FAIL("block %llu: reserved skip byte not zero", bl);
        if (count != want)
            return TERM_FAIL("block %llu: count %u, expected %u", bl, count, want);
        if (doc_bits > 32 || tf_bits > 32)
            return TERM_FAIL("block %llu: bit widths %u/%u exceed 32", bl, doc_bits, tf_bits);
        if (off != expected_off)
            return TERM_FAIL("block %llu: data offset %u, expected %llu", bl, off,
                             (unsigned long long)expected_off);
        uint64_t len = sgs_packed_size(count, doc_bits) + sgs_packed_size(count, tf_bits);
        if (!in_bounds(off, len, data_size))
            return TERM_FAIL("block %llu: data [%u, +%llu) past the postings size", bl, off,
                             (unsigned long long)len);
        expected_off = off + len;
        sgs_block_decode(data + off, count, prev, doc_bits, tf_bits, block_docs, block_tfs);
        for (uint32_t i = 0; i < count; i++) {
            uint32_t doc = block_docs[i];
            if ((b > 0 || i > 0) && doc <= prev)
                return TERM_FAIL("block %llu: doc ids not increasing at posting %u", bl, i);
            if (doc >= s->header.n_docs)
                return TERM_FAIL("block %llu: doc id %u not below n_docs %llu", bl, doc,
                                 (unsigned long long)s->header.n_docs);
            if (block_tfs[i] == 0)
                return TERM_FAIL("block %llu: tf 0 at posting %u", bl, i);
            if (sc != NULL) {
                double score = posting_score(s, sc, doc, block_tfs[i]);
                if (exceeds(score, block_max))
                    return TERM_FAIL("block %llu: block max score %.9g below the score %.9g of "
                                     "doc %u",
                                     bl, (double)block_max, score, doc);
                if (exceeds(score, e->max_score))
                    return TERM_FAIL("max score %.9g below the score %.9g of doc %u",
                                     (double)e->max_score, score, doc);
            }
            prev = doc;
        }
        if (prev != last_doc)
            return TERM_FAIL("block %llu: last doc %u, skip entry says %u", bl, prev, last_doc);
        uint64_t base = b * SGS_BLOCK_LEN;
        memcpy(docs + base, block_docs, count * sizeof *docs);
        if (tfs != NULL)
            memcpy(tfs + base, block_tfs, count * sizeof *tfs);
    }
    if (expected_off != data_size)
        return TERM_FAIL("block data ends at %llu, postings size leaves %llu",
                         (unsigned long long)expected_off, (unsigned long long)data_size);
    return 0;
}

static int decode_bitset(const sgs_shard *s, const sgs_term_entry *e, const uint8_t *p,
                         uint32_t *docs, uint32_t *tfs, const score_check *sc, sgs_err *err)
{
    uint64_t n_docs = s->header.n_docs;
    uint64_t n_words = div_ceil(n_docs, 64);
    uint64_t n_ranks = div_ceil(n_words, SGS_SHARD_RANK_WORDS);
    uint64_t n_blocks = div_ceil(e->shard_df, SGS_BLOCK_LEN);
    uint64_t table_at = 8 * n_words + 4 * n_ranks;
    uint64_t data_at = table_at + SGS_SHARD_TF_ENTRY_SIZE * n_blocks;
    if (e->postings_size < data_at)
        return TERM_FAIL("size %llu too small for a bitset of %llu docs and %llu tf blocks",
                         (unsigned long long)e->postings_size, (unsigned long long)n_docs,
                         (unsigned long long)n_blocks);

    /* Doc ids from the bits, with the rank samples checked on the way. */
    uint64_t n_set = 0;
    for (uint64_t w = 0; w < n_words; w++) {
        if (w % SGS_SHARD_RANK_WORDS == 0) {
            uint32_t rank = sgs_load_u32(p + 8 * n_words + 4 * (w / SGS_SHARD_RANK_WORDS));
            if (rank != n_set)
                return TERM_FAIL("rank %llu is %u, expected %llu",
                                 (unsigned long long)(w / SGS_SHARD_RANK_WORDS), rank,
                                 (unsigned long long)n_set);
        }
        uint64_t word = sgs_load_u64(p + 8 * w);
        while (word != 0) {
            uint64_t doc = 64 * w + (uint64_t)__builtin_ctzll(word);
            word &= word - 1;
            if (doc >= n_docs)
                return TERM_FAIL("bit %llu set past n_docs %llu", (unsigned long long)doc,
                                 (unsigned long long)n_docs);
            if (n_set >= e->shard_df)
                return TERM_FAIL("bitset has more than shard_df %u bits set", e->shard_df);
            docs[n_set++] = (uint32_t)doc;
        }
    }
    if (n_set != e->shard_df)
        return TERM_FAIL("bitset has %llu bits set, shard_df is %u", (unsigned long long)n_set,
                         e->shard_df);

    const uint8_t *data = p + data_at;
    uint64_t data_size = e->postings_size - data_at;
    uint64_t expected_off = 0;
    uint32_t vals[SGS_BLOCK_LEN];
    for (uint64_t b = 0; b < n_blocks; b++) {
        const uint8_t *entry = p + table_at + b * SGS_SHARD_TF_ENTRY_SIZE;
        uint32_t off = sgs_load_u32(entry);
        unsigned bits = entry[4];
        uint32_t count = block_count(e->shard_df, b, n_blocks);
        unsigned long long bl = (unsigned long long)b;
        if (entry[5] != 0 || entry[6] != 0 || entry[7] != 0)
            return TERM_FAIL("tf block %llu: reserved bytes not zero", bl);
        if (bits > 32)
            return TERM_FAIL("tf block %llu: tf bits %u exceed 32", bl, bits);
        if (off != expected_off)
            return TERM_FAIL("tf block %llu: data offset %u, expected %llu", bl, off,
                             (unsigned long long)expected_off);
        uint64_t len = sgs_packed_size(count, bits);
        if (!in_bounds(off, len, data_size))
            return TERM_FAIL("tf block %llu: data [%u, +%llu) past the postings size", bl, off,
                             (unsigned long long)len);
        expected_off = off + len;
        sgs_unpack(data + off, count, bits, vals);
        uint64_t base = b * SGS_BLOCK_LEN;
        for (uint32_t i = 0; i < count; i++) {
            if (vals[i] == UINT32_MAX)
                return TERM_FAIL("tf block %llu: tf overflows at posting %u", bl, i);
            uint32_t tf = vals[i] + 1;
            if (sc != NULL) {
                uint32_t doc = docs[base + i];
                double score = posting_score(s, sc, doc, tf);
                if (exceeds(score, e->max_score))
                    return TERM_FAIL("max score %.9g below the score %.9g of doc %u",
                                     (double)e->max_score, score, doc);
            }
            if (tfs != NULL)
                tfs[base + i] = tf;
        }
    }
    if (expected_off != data_size)
        return TERM_FAIL("tf data ends at %llu, postings size leaves %llu",
                         (unsigned long long)expected_off, (unsigned long long)data_size);
    return 0;
}

/* Decodes the term's postings, checking everything the bytes could get
 * wrong; with sc, also that the stored maxima bound every score. */
static int decode_term(const sgs_shard *s, const sgs_term_entry *e, uint32_t *docs, uint32_t *tfs,
                       const score_check *sc, sgs_err *err)
{
    if (e->shard_df == 0 || e->shard_df > s->header.n_docs)
        return TERM_FAIL("shard_df %u not in 1 .. n_docs (%llu)", e->shard_df,
                         (unsigned long long)s->header.n_docs);
    const uint8_t *p = sgs_shard_term_postings_bytes(s, e);
    if (p == NULL)
        return TERM_FAIL("postings [%llu, +%llu) outside the section (%llu bytes)",
                         (unsigned long long)e->postings_offset,
                         (unsigned long long)e->postings_size,
                         (unsigned long long)s->postings_size);
    bool dense = sgs_shard_term_is_dense(e->shard_df, s->header.n_docs);
    if (e->encoding != (dense ? SGS_POSTINGS_BITSET : SGS_POSTINGS_BLOCKS))
        return TERM_FAIL("encoding %u, but shard_df %u in %llu docs calls for %s", e->encoding,
                         e->shard_df, (unsigned long long)s->header.n_docs,
                         dense ? "a bitset" : "blocks");
    if (e->postings_offset % (dense ? 8 : 4) != 0)
        return TERM_FAIL("postings offset %llu not %d-byte aligned",
                         (unsigned long long)e->postings_offset, dense ? 8 : 4);
    return dense ? decode_bitset(s, e, p, docs, tfs, sc, err)
                 : decode_blocks(s, e, p, docs, tfs, sc, err);
}

int sgs_shard_decode_postings(const sgs_shard *s, const sgs_term_entry *e, uint32_t *docs,
                              uint32_t *tfs, sgs_err *err)
{
    return decode_term(s, e, docs, tfs, NULL, err);
}

/* ---- structure ----------------------------------------------------------- */

static int check_terms(const sgs_shard *s, sgs_err *err)
{
    const sgs_shard_header *h = &s->header;
    uint64_t expected_offset = 0, sum_df = 0;
    sgs_term_entry prev = {0};
    const char *prev_bytes = NULL;
    for (uint64_t i = 0; i < h->n_terms; i++) {
        sgs_term_entry e;
        sgs_shard_term_entry(s, i, &e);
        const uint8_t *raw = s->term_entries + i * SGS_SHARD_TERM_ENTRY_SIZE;
        unsigned long long ti = (unsigned long long)i;
        char name[48];
        if (e.term_len == 0 || e.term_len > h->max_token_bytes)
            return sgs_err_set(err, SGS_ECORRUPT,
                               "%s: section term_entries: term %llu: length %u not in 1 .. %u",
                               s->path, ti, e.term_len, h->max_token_bytes);
        if (e.term_offset != expected_offset)
            return sgs_err_set(err, SGS_ECORRUPT,
                               "%s: section term_entries: term %llu: term offset %u, expected "
                               "%llu (strings are concatenated in order)",
                               s->path, ti, e.term_offset, (unsigned long long)expected_offset);
        const char *bytes = sgs_shard_term_bytes(s, &e);
        if (bytes == NULL)
            return sgs_err_set(err, SGS_ECORRUPT,
                               "%s: section term_strings: term %llu: [%u, +%u) past the section "
                               "(%llu bytes)",
                               s->path, ti, e.term_offset, e.term_len,
                               (unsigned long long)s->term_strings_size);
        expected_offset += e.term_len;
        printable(name, bytes, e.term_len);
        size_t bad_at;
        if (!sgs_utf8_check(bytes, e.term_len, &bad_at))
            return sgs_err_set(err, SGS_ECORRUPT,
                               "%s: section term_strings: term %llu '%s': not UTF-8 at byte %zu",
                               s->path, ti, name, bad_at);
        if (raw[42] | raw[43] | raw[44] | raw[45] | raw[46] | raw[47])
            return sgs_err_set(err, SGS_ECORRUPT,
                               "%s: section term_entries: term '%s': reserved bytes not zero",
                               s->path, name);
        if (e.encoding != SGS_POSTINGS_BLOCKS && e.encoding != SGS_POSTINGS_BITSET)
            return sgs_err_set(err, SGS_ECORRUPT,
                               "%s: section term_entries: term '%s': unknown encoding %u", s->path,
                               name, e.encoding);
        if (i > 0) {
            if (bytes_cmp(prev_bytes, prev.term_len, bytes, e.term_len) >= 0)
                return sgs_err_set(err, SGS_ECORRUPT,
                                   "%s: section term_entries: term %llu '%s': not strictly after "
                                   "the previous term",
                                   s->path, ti, name);
        }
        if (e.hash != sgs_hash64(bytes, e.term_len))
            return sgs_err_set(err, SGS_ECORRUPT,
                               "%s: section term_entries: term '%s': hash is not XXH3 of its "
                               "bytes",
                               s->path, name);
        if (e.shard_df == 0 || e.shard_df > h->n_docs)
            return sgs_err_set(err, SGS_ECORRUPT,
                               "%s: section term_entries: term '%s': shard_df %u not in 1 .. "
                               "n_docs (%llu)",
                               s->path, name, e.shard_df, (unsigned long long)h->n_docs);
        if (e.global_df < e.shard_df || e.global_df > h->corpus_n_docs)
            return sgs_err_set(err, SGS_ECORRUPT,
                               "%s: section term_entries: term '%s': global_df %u not in shard_df "
                               "(%u) .. corpus n_docs (%llu)",
                               s->path, name, e.global_df, e.shard_df,
                               (unsigned long long)h->corpus_n_docs);
        if (sgs_shard_find_term(s, bytes, e.term_len) != (int64_t)i)
            return sgs_err_set(err, SGS_ECORRUPT,
                               "%s: section term_hash: term '%s' is not found by its hash", s->path,
                               name);
        sum_df += e.shard_df;
        prev = e;
        prev_bytes = bytes;
    }
    if (expected_offset != s->term_strings_size)
        return sgs_err_set(err, SGS_ECORRUPT,
                           "%s: section term_strings: size %llu, but the terms take %llu bytes",
                           s->path, (unsigned long long)s->term_strings_size,
                           (unsigned long long)expected_offset);
    if (sum_df != h->n_postings)
        return sgs_err_set(err, SGS_ECORRUPT,
                           "%s: header: n_postings %llu, but the shard_df of the terms sum to %llu",
                           s->path, (unsigned long long)h->n_postings,
                           (unsigned long long)sum_df);
    /* Every term is found at its own slot; with exactly n_terms used slots,
     * slots and terms correspond one to one. */
    uint64_t used = 0;
    for (uint64_t slot = 0; slot <= s->hash_mask; slot++) {
        uint32_t v = sgs_load_u32(s->hash_slots + 4 * slot);
        if (v > h->n_terms)
            return sgs_err_set(err, SGS_ECORRUPT,
                               "%s: section term_hash: slot %llu holds %u, past n_terms (%llu)",
                               s->path, (unsigned long long)slot, v,
                               (unsigned long long)h->n_terms);
        used += v != 0;
    }
    if (used != h->n_terms)
        return sgs_err_set(err, SGS_ECORRUPT,
                           "%s: section term_hash: %llu slots used for %llu terms", s->path,
                           (unsigned long long)used, (unsigned long long)h->n_terms);
    return 0;
}

static int check_postings(const sgs_shard *s, sgs_err *err)
{
    const sgs_shard_header *h = &s->header;
    if (h->n_terms == 0)
        return 0;
    /* Every shard_df is checked against n_docs before decoding. */
    size_t cap = h->n_docs > 0 ? (size_t)h->n_docs : 1;
    uint32_t *docs = sgs_xmalloc(cap * sizeof *docs);
    uint32_t *tfs = sgs_xmalloc(cap * sizeof *tfs);
    int rc = 0;
    for (uint64_t i = 0; i < h->n_terms && rc == 0; i++) {
        sgs_term_entry e;
        sgs_shard_term_entry(s, i, &e);
        score_check sc = {sgs_bm25_idf(h->corpus_n_docs, e.global_df), h->corpus_avg_len};
        rc = decode_term(s, &e, docs, tfs, &sc, err);
    }
    free(docs);
    free(tfs);
    return rc;
}

/* EXT_ID_RANKS against the ids: a permutation of the docs under which the
 * ids strictly increase (which also proves them unique). The ids themselves
 * were checked by check_docs(). */
static int check_ranks(const sgs_shard *s, sgs_err *err)
{
    const sgs_shard_header *h = &s->header;
    uint32_t *by_rank = sgs_xmalloc(((size_t)h->n_docs + 1) * sizeof *by_rank);
    memset(by_rank, 0xff, (size_t)h->n_docs * sizeof *by_rank);
    int rc = 0;
    for (uint64_t d = 0; d < h->n_docs && rc == 0; d++) {
        uint32_t r = sgs_load_u32(s->ext_ranks + 4 * d);
        if (r >= h->n_docs)
            rc = sgs_err_set(err, SGS_ECORRUPT,
                             "%s: section ext_id_ranks: doc %llu: rank %u is not below n_docs",
                             s->path, (unsigned long long)d, r);
        else if (by_rank[r] != UINT32_MAX)
            rc = sgs_err_set(err, SGS_ECORRUPT,
                             "%s: section ext_id_ranks: doc %llu: rank %u is doc %u's as well",
                             s->path, (unsigned long long)d, r, by_rank[r]);
        else
            by_rank[r] = (uint32_t)d;
    }
    for (uint64_t r = 1; r < h->n_docs && rc == 0; r++) {
        uint32_t before = by_rank[r - 1], at = by_rank[r];
        size_t la, lb;
        const char *a = sgs_shard_ext_id(s, before, &la);
        const char *b = sgs_shard_ext_id(s, at, &lb);
        int c = bytes_cmp(a, la, b, lb);
        if (c == 0) {
            char name[48];
            rc = sgs_err_set(err, SGS_ECORRUPT,
                             "%s: section ext_id_bytes: doc %u: id '%s' repeats doc %u", s->path,
                             before > at ? before : at, printable(name, a, la),
                             before > at ? at : before);
        } else if (c > 0) {
            rc = sgs_err_set(err, SGS_ECORRUPT,
                             "%s: section ext_id_ranks: doc %u has rank %llu, but its id sorts "
                             "after that of doc %u, rank %llu",
                             s->path, before, (unsigned long long)(r - 1), at,
                             (unsigned long long)r);
        }
    }
    free(by_rank);
    return rc;
}

static int check_docs(const sgs_shard *s, sgs_err *err)
{
    const sgs_shard_header *h = &s->header;
    uint64_t n_tokens = 0;
    for (uint64_t d = 0; d < h->n_docs; d++) {
        uint32_t len = sgs_load_u32(s->doc_lengths + 4 * d);
        if (len == 0)
            return sgs_err_set(err, SGS_ECORRUPT, "%s: section doc_lengths: doc %llu: length 0",
                               s->path, (unsigned long long)d);
        n_tokens += len;
    }
    if (n_tokens != h->n_tokens)
        return sgs_err_set(err, SGS_ECORRUPT,
                           "%s: header: n_tokens %llu, but the document lengths sum to %llu",
                           s->path, (unsigned long long)h->n_tokens,
                           (unsigned long long)n_tokens);

    int rc = 0;
    for (uint64_t d = 0; d < h->n_docs && rc == 0; d++) {
        unsigned long long dl = (unsigned long long)d;
        size_t len, bad_at;
        const char *id = sgs_shard_ext_id(s, (uint32_t)d, &len);
        if (id == NULL) {
            rc = sgs_err_set(err, SGS_ECORRUPT,
                             "%s: section ext_id_offsets: doc %llu: offsets decrease or pass the "
                             "end of ext_id_bytes",
                             s->path, dl);
        } else if (len == 0) {
            rc = sgs_err_set(err, SGS_ECORRUPT, "%s: section ext_id_bytes: doc %llu: empty id",
                             s->path, dl);
        } else if (!sgs_utf8_check(id, len, &bad_at)) {
            rc = sgs_err_set(err, SGS_ECORRUPT,
                             "%s: section ext_id_bytes: doc %llu: id not UTF-8 at byte %zu",
                             s->path, dl, bad_at);
        }
        if (rc != 0)
            break;
        const char *stored = sgs_shard_stored(s, (uint32_t)d, &len);
        if (stored == NULL)
            rc = sgs_err_set(err, SGS_ECORRUPT,
                             "%s: section stored_offsets: doc %llu: offsets decrease or pass the "
                             "end of stored_bytes",
                             s->path, dl);
        else if (len < 2 || stored[0] != '{' || stored[len - 1] != '}')
            rc = sgs_err_set(err, SGS_ECORRUPT,
                             "%s: section stored_bytes: doc %llu: not a JSON object", s->path, dl);
        else if (!sgs_utf8_check(stored, len, &bad_at))
            rc = sgs_err_set(err, SGS_ECORRUPT,
                             "%s: section stored_bytes: doc %llu: not UTF-8 at byte %zu", s->path,
                             dl, bad_at);
    }
    return rc != 0 ? rc : check_ranks(s, err);
}

int sgs_shard_verify_structure(const sgs_shard *s, sgs_err *err)
{
    /* Header, table and sizes were checked by open; doc lengths before
     * postings, whose score checks read them. */
    if (check_docs(s, err) != 0 || check_terms(s, err) != 0 || check_postings(s, err) != 0)
        return SGS_ECORRUPT;
    return 0;
}
