/* Topology: which replicas serve which shard, from --shard flags, a
 * --topology JSON file or a StatefulSet --leaf-pattern. Their names are
 * looked up off the loop by root/resolve.c.
 *
 * Topology file: {"shards": [["http://h:p", ...], ...]} (index = shard) or
 * {"shards": [{"shard": 0, "replicas": ["http://h:p", ...]}, ...]}. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "root/root.h"

/* Splits "http://host:port[/]" into host and port. */
static int parse_url(const char *url, char **host, uint16_t *port, sgs_err *err)
{
    if (strncmp(url, "http://", 7) != 0)
        return sgs_err_set(err, SGS_EUSAGE, "replica URL '%s' must start with http://", url);
    const char *h = url + 7;
    const char *end = h + strcspn(h, "/");
    if (*end == '/' && end[1] != 0)
        return sgs_err_set(err, SGS_EUSAGE, "replica URL '%s' must not have a path", url);
    const char *colon = NULL;
    for (const char *p = h; p < end; p++)
        if (*p == ':')
            colon = p;
    long p = 80;
    if (colon) {
        char *e;
        p = strtol(colon + 1, &e, 10);
        if (e != end || p <= 0 || p > 65535)
            return sgs_err_set(err, SGS_EUSAGE, "replica URL '%s' has a bad port", url);
    } else
        colon = end;
    if (colon == h)
        return sgs_err_set(err, SGS_EUSAGE, "replica URL '%s' has no host", url);
    *host = sgs_xstrndup(h, (size_t)(colon - h));
    *port = (uint16_t)p;
    return 0;
}

static int add_replica(root_shard *s, const char *url, sgs_err *err)
{
    if (s->n_replicas >= ROOT_MAX_REPLICAS)
        return sgs_err_set(err, SGS_EUSAGE, "shard %u: more than %u replicas", s->id,
                           ROOT_MAX_REPLICAS);
    root_replica *rep = &s->replicas[s->n_replicas];
    memset(rep, 0, sizeof *rep);
    if (parse_url(url, &rep->host, &rep->port, err) != 0)
        return err->code;
    rep->url = sgs_xstrdup(url);
    size_t n = strlen(rep->host) + 8;
    rep->host_header = sgs_xmalloc(n);
    snprintf(rep->host_header, n, "%s:%u", rep->host, rep->port);
    rep->shard = s;
    rep->index = s->n_replicas++;
    return 0;
}

static void alloc_shards(root *r, uint32_t n)
{
    r->n_shards = n;
    r->shards = sgs_xcalloc(n, sizeof *r->shards);
    for (uint32_t i = 0; i < n; i++) {
        r->shards[i].id = i;
        r->shards[i].replicas = sgs_xcalloc(ROOT_MAX_REPLICAS, sizeof(root_replica));
    }
}

static int from_flags(root *r, sgs_err *err)
{
    const sgs_strlist *l = &r->cfg->shard_specs;
    uint32_t n = 0;
    for (size_t i = 0; i < l->n; i++) {
        long id = strtol(l->items[i], NULL, 10);
        if (id < 0 || id >= (long)ROOT_MAX_SHARDS)
            return sgs_err_set(err, SGS_EUSAGE, "--shard '%s': bad shard id", l->items[i]);
        if ((uint32_t)id + 1 > n)
            n = (uint32_t)id + 1;
    }
    alloc_shards(r, n);
    for (size_t i = 0; i < l->n; i++) {
        const char *spec = l->items[i];
        char *end;
        long id = strtol(spec, &end, 10);
        if (end == spec || *end != '=')
            return sgs_err_set(err, SGS_EUSAGE, "--shard '%s': want I=URL[,URL...]", spec);
        char *copy = sgs_xstrdup(end + 1);
        int rc = 0;
        for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok && rc == 0;
             tok = strtok_r(NULL, ",", &save))
            rc = add_replica(&r->shards[id], tok, err);
        free(copy);
        if (rc)
            return rc;
    }
    return 0;
}

static int from_file(root *r, sgs_err *err)
{
    json_error_t je;
    json_t *j = json_load_file(r->cfg->topology_file, 0, &je);
    int rc = 0;
    if (!j)
        return sgs_err_set(err, SGS_EUSAGE, "--topology %s: %s (line %d)", r->cfg->topology_file,
                           je.text, je.line);
    json_t *shards = json_object_get(j, "shards");
    if (!json_is_array(shards) || json_array_size(shards) == 0 ||
        json_array_size(shards) > ROOT_MAX_SHARDS) {
        rc = sgs_err_set(err, SGS_EUSAGE, "--topology %s: \"shards\" must be a non-empty array",
                         r->cfg->topology_file);
        goto out;
    }
    alloc_shards(r, (uint32_t)json_array_size(shards));
    for (size_t i = 0; i < json_array_size(shards) && rc == 0; i++) {
        json_t *e = json_array_get(shards, i);
        size_t id = i;
        json_t *list = e;
        if (json_is_object(e)) {
            json_t *sid = json_object_get(e, "shard");
            list = json_object_get(e, "replicas");
            if (!json_is_integer(sid) || json_integer_value(sid) < 0 ||
                (size_t)json_integer_value(sid) >= r->n_shards) {
                rc = sgs_err_set(err, SGS_EUSAGE, "--topology: shards[%zu].shard is bad", i);
                break;
            }
            id = (size_t)json_integer_value(sid);
        }
        if (!json_is_array(list)) {
            rc = sgs_err_set(err, SGS_EUSAGE, "--topology: shards[%zu] needs a replica list", i);
            break;
        }
        for (size_t k = 0; k < json_array_size(list) && rc == 0; k++) {
            const char *url = json_string_value(json_array_get(list, k));
            if (!url)
                rc = sgs_err_set(err, SGS_EUSAGE, "--topology: shards[%zu][%zu] is not a string",
                                 i, k);
            else
                rc = add_replica(&r->shards[id], url, err);
        }
    }
out:
    json_decref(j);
    return rc;
}

static int from_pattern(root *r, sgs_err *err)
{
    const root_config *cfg = r->cfg;
    if (cfg->shards <= 0 || cfg->replicas <= 0)
        return sgs_err_set(err, SGS_EUSAGE, "--leaf-pattern needs --shards and --replicas");
    const char *mark = strstr(cfg->leaf_pattern, "{ordinal}");
    if (!mark)
        return sgs_err_set(err, SGS_EUSAGE, "--leaf-pattern must contain {ordinal}");
    alloc_shards(r, (uint32_t)cfg->shards);
    for (int64_t rep = 0; rep < cfg->replicas; rep++)
        for (int64_t s = 0; s < cfg->shards; s++) {
            char url[512];
            snprintf(url, sizeof url, "%.*s%lld%s", (int)(mark - cfg->leaf_pattern),
                     cfg->leaf_pattern, (long long)(rep * cfg->shards + s), mark + 9);
            if (add_replica(&r->shards[s], url, err) != 0)
                return err->code;
        }
    return 0;
}

int root_topology_load(root *r, sgs_err *err)
{
    const root_config *cfg = r->cfg;
    int sources = (cfg->shard_specs.n > 0) + (cfg->topology_file != NULL) +
                  (cfg->leaf_pattern != NULL);
    if (sources != 1)
        return sgs_err_set(err, SGS_EUSAGE,
                           "give exactly one of --shard, --topology or --leaf-pattern");
    int rc = cfg->shard_specs.n ? from_flags(r, err)
             : cfg->topology_file ? from_file(r, err)
                                  : from_pattern(r, err);
    if (rc)
        return rc;
    for (uint32_t i = 0; i < r->n_shards; i++) {
        if (r->shards[i].n_replicas == 0)
            return sgs_err_set(err, SGS_EUSAGE, "shard %u has no replica", i);
        for (uint32_t j = 0; j < r->shards[i].n_replicas; j++) {
            root_replica *rep = &r->shards[i].replicas[j];
            snprintf(rep->last_error, sizeof rep->last_error, "not resolved yet");
            snprintf(rep->last_error_type, sizeof rep->last_error_type, "unresolved");
        }
    }
    return 0;
}

void root_topology_free(root *r)
{
    for (uint32_t i = 0; i < r->n_shards; i++) {
        for (uint32_t j = 0; j < r->shards[i].n_replicas; j++) {
            root_replica *rep = &r->shards[i].replicas[j];
            for (uint32_t k = 0; k < rep->n_stored_fields; k++)
                free(rep->stored_fields[k]);
            free(rep->stored_fields);
            free(rep->url);
            free(rep->host);
            free(rep->host_header);
        }
        free(r->shards[i].replicas);
    }
    free(r->shards);
    r->shards = NULL;
    r->n_shards = 0;
}
