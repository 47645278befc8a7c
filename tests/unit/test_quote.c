/* test_quote.c - remote_quote_argv() as a round-trip property: real shells
 * (dash, bash, bash --posix in a UTF-8 locale; busybox sh and zsh in sh mode
 * when installed) parse the line back into the same bytes, for thousands of
 * random and hostile argvs, many per shell invocation. */
#include "test.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../remote/remote.h"

#define Q_NARGV		3000
#define Q_MAXARGS	8
#define Q_CHUNK		(96 * 1024)	/* under Linux's 128 KiB per argument */

/* The path of prog in $PATH, or NULL. Caller frees. */
static char *
which(const char *prog)
{
	const char *path = getenv("PATH");
	char *copy, *dir, *save = NULL, *p = NULL;

	if (path == NULL)
		path = "/usr/bin:/bin";
	copy = xstrdup(path);
	for (dir = strtok_r(copy, ":", &save); dir != NULL;
	    dir = strtok_r(NULL, ":", &save)) {
		xasprintf(&p, "%s/%s", dir, prog);
		if (access(p, X_OK) == 0)
			break;
		free(p);
		p = NULL;
	}
	free(copy);
	return p;
}

static int
have(const char *prog)
{
	char *p = which(prog);

	free(p);
	return p != NULL;
}

/* Runs argv with stdout into out; LC_ALL=locale and PATH=path when set.
 * Returns the exit status, or -1. */
static int
run_capture(char *const *argv, const char *locale, const char *path,
    struct buf *out)
{
	char chunk[65536];
	ssize_t n;
	pid_t pid;
	int fds[2], status, devnull;

	if (pipe(fds) == -1)
		return -1;
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		devnull = open("/dev/null", O_RDONLY);
		dup2(devnull, 0);
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		if (locale != NULL)
			setenv("LC_ALL", locale, 1);
		if (path != NULL)
			setenv("PATH", path, 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	while ((n = read(fds[0], chunk, sizeof chunk)) > 0)
		buf_add(out, chunk, (size_t)n);
	close(fds[0]);
	if (waitpid(pid, &status, 0) == -1)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static unsigned long long q_state = 0x9e3779b97f4a7c15ULL;

static unsigned
rnd(unsigned n)
{
	q_state ^= q_state << 13;
	q_state ^= q_state >> 7;
	q_state ^= q_state << 17;
	return (unsigned)(q_state % n);
}

/* One argument: random bytes, shell metacharacters, or hostile words. */
static char *
random_arg(void)
{
	static const char *const words[] = {
		"'", "''", "'\\''", "\"", "\\", "$(id)", "`id`", "${HOME}",
		"$HOME", "$1", "$@", "~", "~root", "~/x", "-n", "-e", "--",
		"-", "!", "!!", "!$", "*", "?", "[a]", "{a,b}", "a=b", "=x",
		"#c", "x#", ";", "&", "&&", "|", "||", ">", "<", "<<EOF",
		"\n", "\t", " ", "\r\n", "\x01", "\x7f", "\xff\xfe",
		"\xc3\xbc", "\xe6\x97\xa5\xe6\x9c\xac", "\xed\xa0\x80",
		"\xf0\x9f\x92\xa5", "%s", "%", "\\0", "\\n", "if", "then", "{",
		"}", "[[", "time", "^", "a b", "it's",
	};
	static const char meta[] = "'\"\\$`;&|<>(){}[]*?!~#=% \t\n-^,.:@+";
	struct buf b;
	unsigned i, n, mode = rnd(4);

	buf_init(&b);
	n = rnd(6) == 0 ? 0 : rnd(12) + 1;
	for (i = 0; i < n; i++) {
		switch (mode) {
		case 0:
			buf_addch(&b, (char)(rnd(255) + 1));
			break;
		case 1:
			buf_addch(&b, meta[rnd(sizeof meta - 1)]);
			break;
		case 2:
			buf_addstr(&b, words[rnd(nitems(words))]);
			i += 2;
			break;
		default:
			buf_addch(&b, (char)("abcXYZ019_./-"[rnd(13)]));
			break;
		}
	}
	return buf_steal(&b);
}

struct qcase {
	char *args[Q_MAXARGS + 3];	/* printf FORMAT args... NULL */
	size_t nargs;
	char *line;
	size_t exp_off;			/* where its output starts */
};

/* The first case whose output differs, for the message. */
static void
report(const struct qcase *cases, size_t n, const struct buf *exp,
    const struct buf *got, const char *shell)
{
	size_t off = 0, i, j;
	struct buf h;

	while (off < exp->len && off < got->len &&
	    exp->data[off] == got->data[off])
		off++;
	for (i = 0; i + 1 < n && cases[i + 1].exp_off <= off; i++)
		;
	buf_init(&h);
	for (j = 2; j < cases[i].nargs; j++) {
		const unsigned char *p = (unsigned char *)cases[i].args[j];

		buf_addstr(&h, " [");
		for (; *p != '\0'; p++)
			buf_printf(&h, "%02x", *p);
		buf_addch(&h, ']');
	}
	test_fail(__FILE__, __LINE__, "%s: output differs at byte %zu (case "
	    "%zu, args%s); line: %s", shell, off, i, buf_cstr(&h),
	    cases[i].line);
	buf_free(&h);
}

TEST(quote_readable_and_exact)
{
	char *argv[] = { "python3", "train.py", "--lr=1e-4", "a b", "it's",
	    "", "/data/x_1.bin", "--out", "~/ckpt", NULL };
	char *none[] = { NULL };
	char *s;

	s = remote_quote_argv(argv);
	CHECK_STR(s, "python3 train.py '--lr=1e-4' 'a b' it\\'s '' "
	    "/data/x_1.bin --out '~/ckpt'");
	free(s);
	s = remote_quote_argv(none);
	CHECK_STR(s, "");
	free(s);
	s = remote_quote_argv(NULL);
	CHECK_STR(s, "");
	free(s);
	s = remote_quote_arg("");
	CHECK_STR(s, "''");
	free(s);
	s = remote_quote_arg("'");
	CHECK_STR(s, "\\'");
	free(s);
	s = remote_quote_arg("a b'c$d");
	CHECK_STR(s, "'a b'\\''c$d'");
	free(s);
	s = remote_quote_arg("if");
	CHECK_STR(s, "'if'");
	free(s);
}

/* Runs the script through one shell: PREFIX -c SCRIPT. */
static void
run_chunk(struct buf *script, char *const *prefix, const char *shell,
    const char *locale, struct buf *got)
{
	char *argv[8];
	size_t np;
	int rc;

	for (np = 0; prefix[np] != NULL; np++)
		argv[np] = prefix[np];
	argv[np] = "-c";
	argv[np + 1] = (char *)buf_cstr(script);
	argv[np + 2] = NULL;
	if ((rc = run_capture(argv, locale, NULL, got)) != 0)
		test_fail(__FILE__, __LINE__, "%s exited %d", shell, rc);
	buf_reset(script);
}

/* Runs every case through one shell, many per invocation, and compares
 * all the output with what the arguments were. */
static void
round_trip(struct qcase *cases, size_t n, const struct buf *exp,
    const char *shell, char *const *prefix, const char *locale)
{
	struct buf script, got;
	size_t i, len;

	buf_init(&got);
	buf_init(&script);
	for (i = 0; i < n; i++) {
		len = strlen(cases[i].line) + 1;
		if (script.len > 0 && script.len + len > Q_CHUNK)
			run_chunk(&script, prefix, shell, locale, &got);
		buf_add(&script, cases[i].line, len - 1);
		buf_addch(&script, '\n');
	}
	if (script.len > 0)
		run_chunk(&script, prefix, shell, locale, &got);
	if (got.len != exp->len || memcmp(got.data, exp->data, got.len) != 0)
		report(cases, n, exp, &got, shell);
	buf_free(&script);
	buf_free(&got);
}

TEST(quote_round_trips_through_real_shells)
{
	static char *dash[] = { "dash", NULL }, *bash[] = { "bash", NULL };
	static char *bposix[] = { "bash", "--posix", NULL };
	static char *busybox[] = { "busybox", "sh", NULL };
	static char *zsh[] = { "zsh", "--emulate", "sh", NULL };
	struct qcase *cases = xcalloc(Q_NARGV, sizeof *cases);
	struct buf exp;
	size_t i, j, k;

	REQUIRE(have("dash") && have("bash"));
	buf_init(&exp);
	for (i = 0; i < Q_NARGV; i++) {
		cases[i].args[0] = xstrdup("printf");
		cases[i].args[1] = xstrdup("%s\\0");
		cases[i].nargs = 2 + 1 + rnd(Q_MAXARGS);
		for (j = 2; j < cases[i].nargs; j++)
			cases[i].args[j] = random_arg();
		cases[i].line = remote_quote_argv(cases[i].args);
		cases[i].exp_off = exp.len;
		for (j = 2; j < cases[i].nargs; j++)
			buf_add(&exp, cases[i].args[j],
			    strlen(cases[i].args[j]) + 1);
	}
	/* The property is not vacuous: hostile bytes were generated. */
	for (i = k = 0; i < Q_NARGV; i++)
		k += strpbrk(cases[i].line, "'\n$`\\") != NULL;
	CHECK(k > Q_NARGV / 2);

	round_trip(cases, Q_NARGV, &exp, "dash", dash, "C");
	round_trip(cases, Q_NARGV, &exp, "bash", bash, "C.UTF-8");
	round_trip(cases, Q_NARGV, &exp, "bash --posix", bposix, "C.UTF-8");
	if (have("busybox"))
		round_trip(cases, Q_NARGV, &exp, "busybox sh", busybox, "C");
	if (have("zsh"))
		round_trip(cases, Q_NARGV, &exp, "zsh --emulate sh", zsh,
		    "C.UTF-8");

	for (i = 0; i < Q_NARGV; i++) {
		for (j = 0; j < cases[i].nargs; j++)
			free(cases[i].args[j]);
		free(cases[i].line);
	}
	free(cases);
	buf_free(&exp);
}

/* argv[0] in command position: reserved words and assignments still name
 * a program (one in a private PATH that prints its arguments). */
TEST(quote_first_word_is_always_a_command)
{
	static const char *const names[] = {
		"if", "then", "{", "!", "time", "do", "[[", "function", "case",
		"while", "x=y", "~", "#c",
	};
	static char *shells[][2] = { { "dash", "-c" }, { "bash", "-c" },
	    { "zsh", "-c" } };
	char *dir, *prog, *link, *line, *argv[4], *cmd[5], *sh;
	struct buf out;
	size_t i, s;
	FILE *f;

	xasprintf(&dir, "%s/bin", test_tmpdir());
	REQUIRE(mkdir(dir, 0700) == 0);
	xasprintf(&prog, "%s/argdump", dir);
	REQUIRE((f = fopen(prog, "w")) != NULL);
	fputs("#!/bin/sh\nprintf '%s\\0' \"$@\"\n", f);
	fclose(f);
	REQUIRE(chmod(prog, 0755) == 0);
	REQUIRE(have("dash") && have("bash"));
	for (i = 0; i < nitems(names); i++) {
		xasprintf(&link, "%s/%s", dir, names[i]);
		CHECK(symlink(prog, link) == 0);
		free(link);
		argv[0] = (char *)names[i];
		argv[1] = "a b";
		argv[2] = "";
		argv[3] = NULL;
		line = remote_quote_argv(argv);
		for (s = 0; s < nitems(shells); s++) {
			if ((sh = which(shells[s][0])) == NULL)
				continue;
			cmd[0] = sh;
			cmd[1] = shells[s][1];
			cmd[2] = line;
			cmd[3] = NULL;
			buf_init(&out);
			if (run_capture(cmd, "C", dir, &out) != 0 ||
			    out.len != 5 || memcmp(out.data, "a b\0\0", 5) != 0)
				test_fail(__FILE__, __LINE__, "%s -c %s did "
				    "not run the program %s", shells[s][0],
				    line, names[i]);
			buf_free(&out);
			free(sh);
		}
		free(line);
	}
	free(prog);
	free(dir);
}
