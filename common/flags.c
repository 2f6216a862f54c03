/* Table-driven flag parsing. */
#include "common/flags.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

int sgs_parse_size(const char *text, uint64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || errno != 0 || v < 0)
        return SGS_EUSAGE;
    double mul = 1;
    switch (*end) {
    case 'k': case 'K': mul = 1024.0; end++; break;
    case 'm': case 'M': mul = 1024.0 * 1024; end++; break;
    case 'g': case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
    case 't': case 'T': mul = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: break;
    }
    if (*end == 'i' || *end == 'B' || *end == 'b')
        end++;
    if (*end == 'B')
        end++;
    if (*end != '\0' || v * mul > 1.8e19)
        return SGS_EUSAGE;
    *out = (uint64_t)(v * mul);
    return 0;
}

static int parse_bool(const char *text, bool *out)
{
    if (!strcmp(text, "true") || !strcmp(text, "1") || !strcmp(text, "yes")) {
        *out = true;
        return 0;
    }
    if (!strcmp(text, "false") || !strcmp(text, "0") || !strcmp(text, "no")) {
        *out = false;
        return 0;
    }
    return SGS_EUSAGE;
}

static void strlist_push(sgs_strlist *list, const char *s)
{
    list->items = sgs_xrealloc(list->items, (list->n + 1) * sizeof *list->items);
    list->items[list->n++] = s;
}

static int set_value(const sgs_flag *f, const char *text, const char *source, bool append,
                     sgs_err *err)
{
    switch (f->type) {
    case SGS_FLAG_STR:
        *(const char **)f->dest = text;
        return 0;
    case SGS_FLAG_STR_LIST: {
        sgs_strlist *list = f->dest;
        if (!append) {
            list->n = 0;
            /* Environment values are comma-separated; the pieces live in
             * the list's own storage until sgs_strlist_fini(). */
            free(list->storage);
            char *copy = list->storage = sgs_xstrdup(text);
            for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok;
                 tok = strtok_r(NULL, ",", &save))
                strlist_push(list, tok);
            return 0;
        }
        strlist_push(list, text);
        return 0;
    }
    case SGS_FLAG_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (end == text || *end != '\0' || errno != 0)
            return sgs_err_set(err, SGS_EUSAGE, "%s: --%s wants an integer, got '%s'", source,
                               f->name, text);
        if ((f->min != 0 || f->max != 0) && (v < f->min || v > f->max))
            return sgs_err_set(err, SGS_EUSAGE, "%s: --%s must be in [%lld, %lld], got %lld",
                               source, f->name, (long long)f->min, (long long)f->max, v);
        *(int64_t *)f->dest = v;
        return 0;
    }
    case SGS_FLAG_SIZE:
        if (sgs_parse_size(text, f->dest) != 0)
            return sgs_err_set(err, SGS_EUSAGE, "%s: --%s wants a size like 512M, got '%s'",
                               source, f->name, text);
        return 0;
    case SGS_FLAG_BOOL:
        if (parse_bool(text, f->dest) != 0)
            return sgs_err_set(err, SGS_EUSAGE, "%s: --%s wants true or false, got '%s'", source,
                               f->name, text);
        return 0;
    case SGS_FLAG_DOUBLE: {
        char *end;
        errno = 0;
        double v = strtod(text, &end);
        if (end == text || *end != '\0' || errno != 0)
            return sgs_err_set(err, SGS_EUSAGE, "%s: --%s wants a number, got '%s'", source,
                               f->name, text);
        *(double *)f->dest = v;
        return 0;
    }
    }
    return sgs_err_set(err, SGS_EINTERNAL, "flag --%s has an unknown type", f->name);
}

int sgs_flags_parse(const sgs_flag *flags, size_t n_flags, int argc, char **argv,
                    const char **positional, size_t max_positional, size_t *n_positional,
                    sgs_err *err)
{
    *n_positional = 0;
    for (size_t i = 0; i < n_flags; i++) {
        const sgs_flag *f = &flags[i];
        if (f->type == SGS_FLAG_STR_LIST)
            ((sgs_strlist *)f->dest)->n = 0;
        const char *env = f->env ? getenv(f->env) : NULL;
        int rc = 0;
        if (env != NULL && *env != '\0')
            rc = set_value(f, env, f->env, false, err);
        else if (f->def != NULL)
            rc = set_value(f, f->def, "default", false, err);
        if (rc != 0)
            return rc;
    }
    bool list_from_argv[64] = {false};
    bool flags_done = false;
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (flags_done || strncmp(arg, "--", 2) != 0) {
            if (*n_positional >= max_positional)
                return sgs_err_set(err, SGS_EUSAGE, "unexpected argument '%s'", arg);
            positional[(*n_positional)++] = arg;
            continue;
        }
        if (arg[2] == '\0') {
            flags_done = true;
            continue;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        if (name_len == 4 && !strncmp(name, "help", 4))
            return SGS_FLAGS_HELP;
        if (name_len == 7 && !strncmp(name, "version", 7))
            return SGS_FLAGS_VERSION;
        size_t i;
        for (i = 0; i < n_flags; i++)
            if (strlen(flags[i].name) == name_len && !strncmp(flags[i].name, name, name_len))
                break;
        if (i == n_flags)
            return sgs_err_set(err, SGS_EUSAGE, "unknown flag --%.*s (see --help)", (int)name_len,
                               name);
        const sgs_flag *f = &flags[i];
        const char *value;
        if (eq != NULL) {
            value = eq + 1;
        } else if (f->type == SGS_FLAG_BOOL) {
            value = "true";
        } else {
            if (a + 1 >= argc)
                return sgs_err_set(err, SGS_EUSAGE, "flag --%s needs a value", f->name);
            value = argv[++a];
        }
        bool append = false;
        if (f->type == SGS_FLAG_STR_LIST) {
            if (i < 64 && !list_from_argv[i]) {
                ((sgs_strlist *)f->dest)->n = 0;
                list_from_argv[i] = true;
            }
            append = true;
        }
        int rc = set_value(f, value, "command line", append, err);
        if (rc != 0)
            return rc;
    }
    return SGS_FLAGS_RUN;
}

void sgs_flags_usage(FILE *out, const char *synopsis, const sgs_flag *flags, size_t n_flags)
{
    static const char *const type_names[] = {"TEXT", "TEXT...", "N", "SIZE", "", "X"};
    fprintf(out, "%s\n\nFlags (flag beats environment beats default):\n", synopsis);
    for (size_t i = 0; i < n_flags; i++) {
        const sgs_flag *f = &flags[i];
        fprintf(out, "  --%s %s\n      %s\n", f->name, type_names[f->type], f->help);
        if (f->env)
            fprintf(out, "      env %s", f->env);
        if (f->def)
            fprintf(out, "%sdefault %s", f->env ? "; " : "      ", f->def);
        if (f->env || f->def)
            fputc('\n', out);
    }
    fprintf(out, "  --help\n      print this help\n  --version\n      print the version\n");
}

void sgs_strlist_fini(sgs_strlist *list)
{
    free(list->items);
    free(list->storage);
    list->items = NULL;
    list->storage = NULL;
    list->n = 0;
}

int sgs_flags_cli(const sgs_flag *flags, size_t n_flags, int argc, char **argv, const char *prog,
                  const char *synopsis, const char *version, const char **positional,
                  size_t max_positional, size_t *n_positional)
{
    sgs_err err = {0};
    int rc = sgs_flags_parse(flags, n_flags, argc, argv, positional, max_positional, n_positional,
                             &err);
    switch (rc) {
    case SGS_FLAGS_RUN:
        return -1;
    case SGS_FLAGS_HELP:
        sgs_flags_usage(stdout, synopsis, flags, n_flags);
        return 0;
    case SGS_FLAGS_VERSION:
        printf("%s %s\n", prog, version);
        return 0;
    default:
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        return 2;
    }
}
