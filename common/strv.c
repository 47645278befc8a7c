/*
 * strv.c - NULL-terminated vectors of strings (argv, envp, file lists),
 * owned: every string and the vector itself come from xmalloc.
 */
#include "common.h"

#include <stdlib.h>

size_t
strv_len(char *const *v)
{
	size_t n = 0;

	while (v != NULL && v[n] != NULL)
		n++;
	return n;
}

char **
strv_dup(char *const *v)
{
	size_t i, n = strv_len(v);
	char **out = xcalloc(n + 1, sizeof *out);

	for (i = 0; i < n; i++)
		out[i] = xstrdup(v[i]);
	return out;
}

void
strv_free(char **v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}
