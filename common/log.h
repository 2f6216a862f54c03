/* JSON-lines logging to stderr.
 *
 * sgs_log(level, event, fmt, ...) writes one line
 * {"ts":"...","level":"info","prog":"sgs-leaf","event":"...","msg":"..."}
 * The level is tested before anything is formatted, so a disabled level
 * costs one comparison. Lines are written with a single write(2), so lines
 * from several threads never interleave. */
#ifndef SGS_COMMON_LOG_H
#define SGS_COMMON_LOG_H

typedef enum sgs_log_level {
    SGS_LOG_DEBUG = 0,
    SGS_LOG_INFO = 1,
    SGS_LOG_WARN = 2,
    SGS_LOG_ERROR = 3,
    SGS_LOG_OFF = 4,
} sgs_log_level;

/* Sets the program name and the lowest level written. Call once from main(). */
void sgs_log_init(const char *prog, sgs_log_level min_level);

/* Parses "debug|info|warn|error|off"; -1 when unknown. */
int sgs_log_level_parse(const char *name);

/* The lowest level currently written. */
sgs_log_level sgs_log_min_level(void);

/* Formats and writes one log line; use the sgs_log macro instead. */
void sgs_log_write(sgs_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define sgs_log(level, event, ...)                          \
    do {                                                    \
        if ((level) >= sgs_log_min_level())                 \
            sgs_log_write((level), (event), __VA_ARGS__);   \
    } while (0)

#endif
