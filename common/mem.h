/* Allocation helpers that abort with a message on out-of-memory.
 *
 * Input-given sizes must be capped by the caller before they reach these:
 * an abort here means the machine is out of memory, not that input was bad. */
#ifndef SGS_COMMON_MEM_H
#define SGS_COMMON_MEM_H

#include <stddef.h>

/* malloc that aborts with a message on failure; never returns NULL. */
void *sgs_xmalloc(size_t size);

/* calloc that aborts with a message on failure or overflow. */
void *sgs_xcalloc(size_t n, size_t size);

/* realloc that aborts with a message on failure. */
void *sgs_xrealloc(void *ptr, size_t size);

/* strdup that aborts with a message on failure. Free with free(). */
char *sgs_xstrdup(const char *s);

/* Copies n bytes into a new NUL-terminated string. Free with free(). */
char *sgs_xstrndup(const char *s, size_t n);

#endif
