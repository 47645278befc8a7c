/*
 * main.c - the unit test runner. Runs every registered test (or those whose
 * name contains argv[1]), each in a fresh temporary directory, and prints
 * "PASS name" / "FAIL name" lines, then exactly "N passed, N failed".
 */
#include "test.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../common/common.h"

struct test {
	const char *name;
	test_fn fn;
};

static struct test *tests;
static size_t ntests, captests;
static int cur_failed;
static char tmpdir[256];

void
test_register(const char *name, test_fn fn)
{
	if (ntests == captests) {
		captests = captests ? captests * 2 : 64;
		tests = realloc(tests, captests * sizeof *tests);
		if (tests == NULL)
			abort();
	}
	tests[ntests].name = name;
	tests[ntests++].fn = fn;
}

void
test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stdout, "  %s:%d: check failed: ", file, line);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	cur_failed = 1;
}

const char *
test_data(const char *rel)
{
	static char path[4096];
	const char *root = getenv("DROVER_SRC");

	snprintf(path, sizeof path, "%s/tests/data/%s", root ? root : ".", rel);
	return path;
}

const char *
test_tmpdir(void)
{
	return tmpdir;
}

static int
cmp_tests(const void *a, const void *b)
{
	return strcmp(((const struct test *)a)->name,
	    ((const struct test *)b)->name);
}

int
main(int argc, char **argv)
{
	size_t i, passed = 0, failed = 0;
	char cmd[512];
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	setvbuf(stdout, NULL, _IOLBF, 0);
	log_init("unit", LOG_ERROR, 2);
	qsort(tests, ntests, sizeof *tests, cmp_tests);
	for (i = 0; i < ntests; i++) {
		if (argc > 1 && strstr(tests[i].name, argv[1]) == NULL)
			continue;
		snprintf(tmpdir, sizeof tmpdir, "%s/drover-unit.XXXXXX", base);
		if (mkdtemp(tmpdir) == NULL) {
			fprintf(stdout, "mkdtemp %s: %s\n", tmpdir,
			    strerror(errno));
			return 1;
		}
		cur_failed = 0;
		tests[i].fn();
		printf("%s %s\n", cur_failed ? "FAIL" : "PASS", tests[i].name);
		if (cur_failed)
			failed++;
		else
			passed++;
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stdout, "warning: could not remove %s\n", tmpdir);
	}
	printf("%zu passed, %zu failed\n", passed, failed);
	return failed != 0;
}
