/*
 * hostrange.c - fuzzes host-range expressions: the input's first line is
 * added to a list, its second excluded from it, the rest added again.
 * ^FILE reads only the two lists this harness writes under
 * FZ_HR_DIR (any other ^ path is skipped, so the fuzzer never reads
 * /dev/stdin or the like). Properties: a failed add leaves the list as it
 * was and says why; names are non-empty, at most 255 bytes, unique
 * without regard to case; exclude never grows the list.
 */
#include "fuzz.h"

#include <strings.h>
#include <sys/stat.h>

#include "../../remote/remote.h"

#define FZ_HR_DIR	"/tmp/drover-fuzz-hostrange"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const struct {
		const char *name, *text;
	} files[] = {
		{ "a", "# rack a\nnode[1-3]\n^" FZ_HR_DIR "/b\n" },
		{ "b", "10.0.[1-2].[5-6]\n^" FZ_HR_DIR "/a\n" },
	};
	char path[256], tmp[256];
	size_t i;
	int fd;

	fuzz_quiet();
	mkdir(FZ_HR_DIR, 0755);
	for (i = 0; i < nitems(files); i++) {
		/* Written aside and renamed: runs in parallel may share it. */
		snprintf(path, sizeof path, "%s/%s", FZ_HR_DIR, files[i].name);
		snprintf(tmp, sizeof tmp, "%s.%ld", path, (long)getpid());
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd == -1 || write_full(fd, files[i].text,
		    strlen(files[i].text)) != 0 || rename(tmp, path) != 0)
			fatal("fuzz: cannot write %s", path);
		close(fd);
	}
	return 0;
}

/* ^ outside brackets only for our files. */
static int
fz_files_ok(const char *s)
{
	static const char dir[] = FZ_HR_DIR "/";

	while ((s = strchr(s, '^')) != NULL) {
		s++;
		if (strncmp(s, dir, sizeof dir - 1) != 0 ||
		    strstr(s, "..") != NULL)
			return 0;
	}
	return 1;
}

static void
fz_check_list(const struct hostlist *hl)
{
	size_t i, j, n = hostlist_count(hl), len;
	const char *h;

	for (i = 0; i < n; i++) {
		h = hostlist_get(hl, i);
		FUZZ_ASSERT(h != NULL);
		len = strlen(h);
		FUZZ_ASSERT(len > 0 && len <= 255);
		/* Quadratic: only for lists a fuzzer input makes quickly. */
		for (j = i + 1; n <= 64 && j < n; j++)
			FUZZ_ASSERT(strcasecmp(h, hostlist_get(hl, j)) != 0);
	}
}

static void
fz_add(struct hostlist *hl, const char *expr)
{
	size_t before = hostlist_count(hl);
	char *cause = NULL;

	if (!fz_files_ok(expr))
		return;
	if (hostlist_add(hl, expr, &cause) != 0) {
		FUZZ_ASSERT(cause != NULL && *cause != '\0');
		FUZZ_ASSERT(hostlist_count(hl) == before);
		free(cause);
	}
	fz_check_list(hl);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct hostlist *hl = hostlist_new();
	char *text = xstrndup((const char *)data, len), *lines[3], *nl;
	char *cause = NULL;
	size_t i, before;

	/* xstrndup stops at a NUL: the parser sees C strings. */
	lines[0] = text;
	for (i = 1; i < 3; i++) {
		lines[i] = "";
		if (lines[i - 1][0] != '\0' &&
		    (nl = strchr(lines[i - 1], '\n')) != NULL) {
			*nl = '\0';
			lines[i] = nl + 1;
		}
	}
	fz_add(hl, lines[0]);
	before = hostlist_count(hl);
	if (fz_files_ok(lines[1])) {
		if (hostlist_exclude(hl, lines[1], &cause) != 0) {
			FUZZ_ASSERT(cause != NULL);
			free(cause);
		}
		FUZZ_ASSERT(hostlist_count(hl) <= before);
		fz_check_list(hl);
	}
	fz_add(hl, lines[2]);
	hostlist_free(hl);
	free(text);
	return 0;
}
