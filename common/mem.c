/* Aborting allocation helpers. */
#include "common/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void out_of_memory(size_t size)
{
    fprintf(stderr, "{\"level\":\"fatal\",\"event\":\"out_of_memory\",\"bytes\":%zu}\n", size);
    abort();
}

void *sgs_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (p == NULL)
        out_of_memory(size);
    return p;
}

void *sgs_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        out_of_memory(n * size);
    return p;
}

void *sgs_xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (p == NULL)
        out_of_memory(size);
    return p;
}

char *sgs_xstrdup(const char *s)
{
    return sgs_xstrndup(s, strlen(s));
}

char *sgs_xstrndup(const char *s, size_t n)
{
    char *p = sgs_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}
