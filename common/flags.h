/* Command-line flags with environment twins, declared once per program as a
 * table. The table drives parsing, validation and --help.
 *
 * Precedence: a flag on the command line beats its environment variable,
 * which beats the table default. Flags are `--name value` or `--name=value`;
 * a bool flag alone means true. `--` ends flags; every other argument that
 * does not start with `--` is positional (a lone `-` is positional). */
#ifndef SGS_COMMON_FLAGS_H
#define SGS_COMMON_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/err.h"

typedef enum sgs_flag_type {
    SGS_FLAG_STR,      /* dest: char ** (points into argv, env or the table) */
    SGS_FLAG_STR_LIST, /* dest: sgs_strlist *; repeatable; env value is comma-separated */
    SGS_FLAG_INT,      /* dest: int64_t *; checked against [min, max] */
    SGS_FLAG_SIZE,     /* dest: uint64_t *; accepts K, M, G suffixes (binary) */
    SGS_FLAG_BOOL,     /* dest: bool *; true|false|1|0|yes|no */
    SGS_FLAG_DOUBLE,   /* dest: double * */
} sgs_flag_type;

/* A list of strings collected from a repeatable flag. Owned by the caller;
 * free with sgs_strlist_fini(). Strings from argv are borrowed; pieces split
 * from an environment value live in storage, which the list owns. */
typedef struct sgs_strlist {
    const char **items;
    size_t n;
    char *storage; /* private: the split copy of an environment value, or NULL */
} sgs_strlist;

typedef struct sgs_flag {
    const char *name; /* without the leading dashes */
    const char *env;  /* environment twin, or NULL */
    sgs_flag_type type;
    const char *def;  /* default as text, or NULL for none */
    const char *help;
    void *dest;
    int64_t min, max; /* SGS_FLAG_INT bounds; both 0 means unbounded */
} sgs_flag;

enum { SGS_FLAGS_RUN = 0, SGS_FLAGS_HELP = 1, SGS_FLAGS_VERSION = 2 };

/* Applies defaults, environment, then argv (argv[0] is skipped). Positional
 * arguments are stored in order into positional (caller array of capacity
 * max_positional) and counted in *n_positional. Returns SGS_FLAGS_RUN,
 * SGS_FLAGS_HELP or SGS_FLAGS_VERSION, or a negative SGS_E* with err set
 * naming the flag or variable. */
int sgs_flags_parse(const sgs_flag *flags, size_t n_flags, int argc, char **argv,
                    const char **positional, size_t max_positional, size_t *n_positional,
                    sgs_err *err);

/* sgs_flags_parse plus the outcomes every program handles alike: --help
 * prints usage to stdout, --version prints "prog version", a bad flag prints
 * "prog: reason" to stderr. Returns -1 when the program should go on, else
 * the exit status (0 after help or version, 2 after a usage error). */
int sgs_flags_cli(const sgs_flag *flags, size_t n_flags, int argc, char **argv, const char *prog,
                  const char *synopsis, const char *version, const char **positional,
                  size_t max_positional, size_t *n_positional);

/* Prints usage: the synopsis, then each flag with its env twin, default and help. */
void sgs_flags_usage(FILE *out, const char *synopsis, const sgs_flag *flags, size_t n_flags);

/* Parses a size with an optional K, M, G or T suffix (powers of 1024). */
int sgs_parse_size(const char *text, uint64_t *out);

/* Frees the list's array and its own storage (not borrowed argv strings). */
void sgs_strlist_fini(sgs_strlist *list);

#endif
