/*
 * xmalloc.c - allocation wrappers that abort with a message when memory runs
 * out. Nothing here returns NULL; callers never check.
 */
#include "common.h"

#include <sys/mman.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *
xmalloc(size_t size)
{
	void *p;

	if (size == 0)
		fatalx("xmalloc: zero size");
	if ((p = malloc(size)) == NULL)
		fatalx("xmalloc: allocating %zu bytes: out of memory", size);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p;

	if (n == 0 || size == 0)
		fatalx("xcalloc: zero size");
	if ((p = calloc(n, size)) == NULL)
		fatalx("xcalloc: allocating %zu * %zu bytes: out of memory",
		    n, size);
	return p;
}

void *
xrealloc(void *ptr, size_t size)
{
	return xreallocarray(ptr, 1, size);
}

void *
xreallocarray(void *ptr, size_t n, size_t size)
{
	void *p;

	if (n == 0 || size == 0)
		fatalx("xreallocarray: zero size");
	if (n > SIZE_MAX / size)
		fatalx("xreallocarray: %zu * %zu overflows", n, size);
	if ((p = realloc(ptr, n * size)) == NULL)
		fatalx("xreallocarray: allocating %zu * %zu bytes: out of memory",
		    n, size);
	return p;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = xmalloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

int
xasprintf(char **ret, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = xvasprintf(ret, fmt, ap);
	va_end(ap);
	return n;
}

int
xvasprintf(char **ret, const char *fmt, va_list ap)
{
	int n;

	n = vasprintf(ret, fmt, ap);
	if (n == -1 || *ret == NULL)
		fatalx("xvasprintf: out of memory");
	return n;
}

/*
 * Arenas of megabytes (a config loaded at its caps holds about 5 MB): each
 * fresh 4 KiB page costs a fault on first touch, 10 us on some VMs, so such
 * an arena asks for 2 MiB pages (MADV_HUGEPAGE; the kernel falls back to
 * small ones). size is rounded up to XHUGE_PAGE; free with xhuge_free and
 * the same size.
 */
void *
xhuge_alloc(size_t size)
{
	size_t want = xhuge_size(size), lead;
	char *p, *a;

	if (want == 0 || want > SIZE_MAX - XHUGE_PAGE)
		fatalx("xhuge_alloc: bad size %zu", size);
	p = mmap(NULL, want + XHUGE_PAGE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		fatalx("xhuge_alloc: allocating %zu bytes: %s", want,
		    strerror(errno));
	/* keep the 2 MiB-aligned part */
	a = (char *)(((uintptr_t)p + XHUGE_PAGE - 1) &
	    ~(uintptr_t)(XHUGE_PAGE - 1));
	lead = (size_t)(a - p);
	if (lead > 0)
		munmap(p, lead);
	munmap(a + want, XHUGE_PAGE - lead);
#ifdef MADV_HUGEPAGE
	(void)madvise(a, want, MADV_HUGEPAGE);	/* a hint; fine to fail */
#endif
	return a;
}

size_t
xhuge_size(size_t size)
{
	return (size + XHUGE_PAGE - 1) / XHUGE_PAGE * XHUGE_PAGE;
}

void
xhuge_free(void *p, size_t size)
{
	if (p != NULL)
		munmap(p, xhuge_size(size));
}
