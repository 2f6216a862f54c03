/* Closed-loop client of a Sphinx 2.2 searchd over SphinxQL (the MySQL
 * protocol, libmariadb), for the end-to-end peers scenario
 * (bench/scenarios/peers.py); the loop and report are closedloop.h's.
 *
 *   sphinx_e2e --target HOST:PORT[/INDEX] --queries FILE [closedloop flags]
 *
 * INDEX defaults to "dist". Queries are rewritten from sgsearch's simple
 * syntax to Sphinx's extended syntax ("a OR b" -> "a | b"; "a b" and "-c"
 * are the same) and run as
 *   SELECT id FROM INDEX WHERE MATCH('...') LIMIT 10 OPTION <options>
 * with <options> from $SPHINX_OPTIONS, by default
 * "ranker=bm25, max_matches=10": Sphinx's statistical BM25 (k1 = 1.2, no
 * document length normalisation), and each agent returning its ten best
 * only, as a sgsearch leaf does. The hit-based rankers (the default
 * proximity_bm25, wordcount, any expr(...) such as bm25f(1.2,0.75)) drop a
 * few matches of OR queries on an index built with hitless_words = all
 * (counted against sgsearch and Xapian); bm25 and none do not. --counts
 * reads total_found from SHOW META. A query unanswered after
 * $SPHINX_TIMEOUT_S seconds (default 10) is an error. */
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "closedloop.h"

typedef struct sphinx_conn {
    MYSQL *m;
    char index[64];
    char sql[4096];
} sphinx_conn;

static const char *options(void)
{
    const char *o = getenv("SPHINX_OPTIONS");
    return o && *o ? o : "ranker=bm25, max_matches=10";
}

/* Seconds a connect, send or answer may take: $SPHINX_TIMEOUT_S, default 10. */
static unsigned timeout_s(void)
{
    const char *t = getenv("SPHINX_TIMEOUT_S");
    int v = t ? atoi(t) : 0;
    return v > 0 ? (unsigned)v : 10;
}

static void *sphinx_open(const char *spec, int idx)
{
    (void)idx;
    char host[256];
    snprintf(host, sizeof host, "%s", spec);
    sphinx_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    snprintf(c->index, sizeof c->index, "dist");
    char *slash = strchr(host, '/');
    if (slash) {
        *slash = 0;
        snprintf(c->index, sizeof c->index, "%s", slash + 1);
    }
    char *colon = strrchr(host, ':');
    if (!colon) {
        fprintf(stderr, "sphinx_e2e: target %s is not HOST:PORT[/INDEX]\n", spec);
        free(c);
        return NULL;
    }
    *colon = 0;
    unsigned port = (unsigned)atoi(colon + 1);
    c->m = mysql_init(NULL);
    if (c->m) { /* a query that gets no answer fails (an error) instead of hanging */
        unsigned timeout = timeout_s();
        mysql_options(c->m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
        mysql_options(c->m, MYSQL_OPT_READ_TIMEOUT, &timeout);
        mysql_options(c->m, MYSQL_OPT_WRITE_TIMEOUT, &timeout);
    }
    if (!c->m || !mysql_real_connect(c->m, host, NULL, NULL, NULL, port, NULL, 0)) {
        fprintf(stderr, "sphinx_e2e: connect %s: %s\n", spec, c->m ? mysql_error(c->m) : "oom");
        if (c->m)
            mysql_close(c->m);
        free(c);
        return NULL;
    }
    return c;
}

static void sphinx_close(void *conn)
{
    sphinx_conn *c = conn;
    if (!c)
        return;
    mysql_close(c->m);
    free(c);
}

/* Writes the MATCH() text of a sgsearch query, escaped for a SQL string. */
static int rewrite(sphinx_conn *c, const char *q, char *out, size_t cap)
{
    char ext[1024];
    size_t len = 0;
    const char *p = q;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *w = p;
        while (*p && *p != ' ')
            p++;
        if (p == w)
            break;
        int is_or = p - w == 2 && !strncmp(w, "OR", 2);
        int n = snprintf(ext + len, sizeof ext - len, "%s%.*s", len ? " " : "", is_or ? 1 : (int)(p - w),
                         is_or ? "|" : w);
        if (n < 0 || (size_t)n >= sizeof ext - len)
            return -1;
        len += (size_t)n;
    }
    if (2 * len + 1 > cap)
        return -1;
    mysql_real_escape_string(c->m, out, ext, (unsigned long)len);
    return 0;
}

static long run_sql(sphinx_conn *c, const char *sql)
{
    if (mysql_real_query(c->m, sql, (unsigned long)strlen(sql))) {
        fprintf(stderr, "sphinx_e2e: %s: %s\n", sql, mysql_error(c->m));
        return -1;
    }
    MYSQL_RES *res = mysql_store_result(c->m);
    if (!res) {
        fprintf(stderr, "sphinx_e2e: %s: no result: %s\n", sql, mysql_error(c->m));
        return -1;
    }
    long rows = (long)mysql_num_rows(res);
    mysql_free_result(res);
    return rows;
}

static long sphinx_top10(void *conn, const char *q)
{
    sphinx_conn *c = conn;
    char match[2100];
    if (rewrite(c, q, match, sizeof match))
        return -1;
    snprintf(c->sql, sizeof c->sql, "SELECT id FROM %s WHERE MATCH('%s') LIMIT 10 OPTION %s",
             c->index, match, options());
    return run_sql(c, c->sql);
}

static long sphinx_count(void *conn, const char *q)
{
    sphinx_conn *c = conn;
    char match[2100];
    if (rewrite(c, q, match, sizeof match))
        return -1;
    snprintf(c->sql, sizeof c->sql, "SELECT id FROM %s WHERE MATCH('%s') LIMIT 1 OPTION %s",
             c->index, match, options());
    if (run_sql(c, c->sql) < 0 || mysql_real_query(c->m, "SHOW META", 9))
        return -1;
    MYSQL_RES *res = mysql_store_result(c->m);
    if (!res)
        return -1;
    long total = -1;
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res)))
        if (row[0] && row[1] && !strcmp(row[0], "total_found"))
            total = atol(row[1]);
    mysql_free_result(res);
    return total;
}

int main(int argc, char **argv)
{
    static const cl_peer peer = {"sphinx", sphinx_open, sphinx_top10, sphinx_count, sphinx_close};
    if (mysql_library_init(0, NULL, NULL)) {
        fprintf(stderr, "sphinx_e2e: mysql_library_init failed\n");
        return 1;
    }
    int rc = cl_main(argc, argv, &peer);
    mysql_library_end();
    return rc;
}
