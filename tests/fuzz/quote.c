/*
 * quote.c - remote argv quoting as a round-trip property: the input, cut
 * at NUL bytes, is an argv; remote_quote_argv() makes the shell line; a
 * reference splitter for exactly the subset the quoter emits (words
 * separated by one space; each word a run of bare characters that no
 * POSIX shell treats specially, '...' with no ' inside, and \') must give
 * the same argv back, byte for byte; and the first word must never be a
 * bare shell reserved word. Nothing is spawned per input.
 *
 * With DROVER_FUZZ_SH set (a shell command line: "/bin/sh", "bash",
 * "busybox sh", "zsh --emulate sh"), each input also goes through that
 * shell: `SHELL -c "printf '%s\0' LINE"` must print the argv back. The
 * replay test (tests/regress/fuzz_replay.sh) does this over the corpus;
 * it costs a process per input, so the fuzzing runs leave it unset.
 */
#include "fuzz.h"

#include <sys/wait.h>

#include "../../remote/remote.h"

#define FZ_MAX_ARGS 64

static char *fz_shell[8];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *sh = getenv("DROVER_FUZZ_SH");
	char *copy, *w, *save = NULL;
	size_t n = 0;

	fuzz_quiet();
	if (sh == NULL || *sh == '\0')
		return 0;
	copy = xstrdup(sh);
	for (w = strtok_r(copy, " ", &save); w != NULL && n < 6;
	    w = strtok_r(NULL, " ", &save))
		fz_shell[n++] = w;
	fz_shell[n] = NULL;
	return 0;
}

/* What no shell named in remote/quote.c treats specially anywhere. */
static int
fz_bare(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' &&
	    strchr("_-+.,/:@%", c) != NULL);
}

static int
fz_reserved(const char *s, size_t len)
{
	static const char *const words[] = {
		"!", "{", "}", "[[", "]]", "case", "coproc", "do", "done",
		"elif", "else", "end", "esac", "fi", "for", "foreach",
		"function", "if", "in", "nocorrect", "noglob", "repeat",
		"select", "then", "time", "until", "while",
	};
	size_t i;

	for (i = 0; i < nitems(words); i++) {
		if (strlen(words[i]) == len && memcmp(s, words[i], len) == 0)
			return 1;
	}
	return 0;
}

/*
 * Splits line into words as sh would for the subset the quoter uses;
 * aborts on anything outside that subset (it would be a quoting bug).
 * Words go into out[] as NUL-separated bytes; returns their number.
 */
static size_t
fz_split(const char *line, struct buf *out, size_t *starts)
{
	const char *p = line, *q, *bare_start;
	size_t n = 0;
	int bare_only;

	if (*p == '\0')
		return 0;
	for (;;) {
		FUZZ_ASSERT(n < FZ_MAX_ARGS);
		starts[n++] = out->len;
		bare_only = 1;
		bare_start = p;
		FUZZ_ASSERT(*p != '\0' && *p != ' ');
		while (*p != '\0' && *p != ' ') {
			if (*p == '\'') {
				bare_only = 0;
				q = strchr(p + 1, '\'');
				FUZZ_ASSERT(q != NULL);
				buf_add(out, p + 1, (size_t)(q - p - 1));
				p = q + 1;
			} else if (*p == '\\') {
				bare_only = 0;
				FUZZ_ASSERT(p[1] == '\'');
				buf_addch(out, '\'');
				p += 2;
			} else {
				FUZZ_ASSERT(fz_bare((unsigned char)*p));
				buf_addch(out, *p++);
			}
		}
		/* A bare reserved word would be syntax in command position. */
		if (bare_only)
			FUZZ_ASSERT(!fz_reserved(bare_start,
			    (size_t)(p - bare_start)));
		buf_addch(out, '\0');
		if (*p == '\0')
			return n;
		p++;	/* exactly one space between words */
	}
}

/* The line through a real shell: printf '%s\0' LINE. */
static void
fz_through_shell(const char *line, const struct buf *want)
{
	char *cmd, *argv[12], chunk[4096];
	struct buf got;
	int fds[2], st;
	size_t i;
	ssize_t n;
	pid_t pid;

	xasprintf(&cmd, "printf '%%s\\0' %s", line);
	for (i = 0; fz_shell[i] != NULL; i++)
		argv[i] = fz_shell[i];
	argv[i++] = "-c";
	argv[i++] = cmd;
	argv[i] = NULL;
	if (pipe(fds) != 0)
		fatal("fuzz: pipe");
	if ((pid = fork()) == -1)
		fatal("fuzz: fork");
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	buf_init(&got);
	while ((n = read(fds[0], chunk, sizeof chunk)) > 0)
		buf_add(&got, chunk, (size_t)n);
	close(fds[0]);
	waitpid(pid, &st, 0);
	if (got.len != want->len || memcmp(got.data, want->data, got.len))
		fprintf(stderr, "%s gave %zu bytes for %zu: %s\n", fz_shell[0],
		    got.len, want->len, line);
	FUZZ_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	FUZZ_ASSERT(got.len == want->len &&
	    memcmp(got.data, want->data, got.len) == 0);
	buf_free(&got);
	free(cmd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char *argv[FZ_MAX_ARGS + 1], *text, *line, *one;
	size_t n = 0, off = 0, k, starts[FZ_MAX_ARGS];
	struct buf words, want, joined;

	/* NUL-terminated copy: pieces between NULs are the arguments. */
	text = xmalloc(len + 1);
	memcpy(text, data, len);
	text[len] = '\0';
	while (off < len && n < FZ_MAX_ARGS) {
		argv[n++] = text + off;
		off += strlen(text + off) + 1;
	}
	argv[n] = NULL;

	line = remote_quote_argv(argv);
	buf_init(&words);
	buf_init(&want);
	buf_init(&joined);
	FUZZ_ASSERT(fz_split(line, &words, starts) == n);
	for (k = 0; k < n; k++) {
		FUZZ_ASSERT(strcmp(words.data + starts[k], argv[k]) == 0);
		buf_add(&want, argv[k], strlen(argv[k]) + 1);
		/* One argument alone quotes the same way. */
		one = remote_quote_arg(argv[k]);
		if (k > 0)
			buf_addch(&joined, ' ');
		buf_addstr(&joined, one);
		free(one);
	}
	FUZZ_ASSERT(strcmp(buf_cstr(&joined), line) == 0);
	if (fz_shell[0] != NULL && n > 0)
		fz_through_shell(line, &want);
	buf_free(&joined);
	buf_free(&want);
	buf_free(&words);
	free(line);
	free(text);
	return 0;
}
