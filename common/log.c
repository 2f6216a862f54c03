/* JSON-lines logger. The program name and level are set once by main()
 * before threads start, and only read afterwards. */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"

static const char *log_prog = "sgs";
static sgs_log_level log_min = SGS_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void sgs_log_init(const char *prog, sgs_log_level min_level)
{
    log_prog = prog;
    log_min = min_level;
}

int sgs_log_level_parse(const char *name)
{
    for (int i = 0; i <= SGS_LOG_OFF; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

sgs_log_level sgs_log_min_level(void)
{
    return log_min;
}

void sgs_log_write(sgs_log_level level, const char *event, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40], secs[24];
    strftime(secs, sizeof secs, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when, sizeof when, "%s.%03dZ", secs, (int)(ts.tv_nsec / 1000000));

    sgs_buf b;
    sgs_buf_init(&b);
    sgs_buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"prog\":\"", when,
                   level_names[level < SGS_LOG_OFF ? level : SGS_LOG_ERROR]);
    sgs_buf_json_escape(&b, log_prog, strlen(log_prog));
    sgs_buf_append(&b, "\",\"event\":\"", 11);
    sgs_buf_json_escape(&b, event, strlen(event));
    sgs_buf_append(&b, "\",\"msg\":\"", 9);
    sgs_buf_json_escape(&b, msg, strlen(msg));
    sgs_buf_append(&b, "\"}\n", 3);
    ssize_t unused = write(STDERR_FILENO, b.data, b.len);
    (void)unused;
    sgs_buf_fini(&b);
}
