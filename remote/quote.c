/*
 * quote.c - argv for a remote POSIX shell. The line goes through `sh -c` on
 * the host (sh, bash, dash, busybox ash, zsh in sh mode), which must split
 * it back into exactly the same arguments, byte for byte.
 *
 * Every byte but NUL survives single quotes, so an argument is written as
 * runs split at its single quotes: each quote becomes \' and each run is
 * single-quoted unless it is made only of characters that none of those
 * shells treats specially (quote_safe()), which keeps common lines readable:
 *	python3 train.py '--lr=1e-4' 'a b'\''s' it\'s ''
 * Shell reserved words (if, {, !, time ...) are always quoted, so any argv[0]
 * names a command.
 *
 * Not for csh, tcsh or fish as the login shell (sshd hands the line to it):
 * '!' and newlines inside single quotes mean something else there.
 */
#include "remote.h"

#include <stdlib.h>
#include <string.h>

/*
 * Characters that are literal in every shell named above, in any position
 * of a word: no globbing (* ? [ ]), tilde (~, and zsh's = expansion),
 * history (!, ^), comments (#), braces, or assignment (NAME=value as the
 * first word is not a command; bash also tilde-expands after '=').
 */
static int
quote_safe(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("_-+.,/:@%", c) != NULL;
}

/* Words a shell reads as syntax when they come first, bare (sh, bash,
 * zsh). */
static int
quote_reserved(const char *s)
{
	static const char *const words[] = {
		"!", "{", "}", "[[", "]]", "case", "coproc", "do", "done",
		"elif", "else", "end", "esac", "fi", "for", "foreach",
		"function", "if", "in", "nocorrect", "noglob", "repeat",
		"select", "then", "time", "until", "while",
	};
	size_t i;

	for (i = 0; i < nitems(words); i++) {
		if (strcmp(s, words[i]) == 0)
			return 1;
	}
	return 0;
}

/* Appends one run (no single quote in it), bare when that is safe. */
static void
quote_run(struct buf *b, const char *s, size_t len, int force)
{
	size_t i;

	for (i = 0; i < len && !force; i++) {
		if (!quote_safe((unsigned char)s[i]))
			force = 1;
	}
	if (force)
		buf_addch(b, '\'');
	buf_add(b, s, len);
	if (force)
		buf_addch(b, '\'');
}

/* One argument; reserved words are quoted wherever they are, so a word
 * quoted alone is also safe in command position. */
static void
quote_word(struct buf *b, const char *s)
{
	const char *q;

	if (*s == '\0') {
		buf_addstr(b, "''");
		return;
	}
	if (quote_reserved(s)) {
		quote_run(b, s, strlen(s), 1);
		return;
	}
	while ((q = strchr(s, '\'')) != NULL) {
		if (q > s)
			quote_run(b, s, (size_t)(q - s), 0);
		buf_addstr(b, "\\'");
		s = q + 1;
	}
	if (*s != '\0')
		quote_run(b, s, strlen(s), 0);
}

char *
remote_quote_arg(const char *s)
{
	struct buf b;

	buf_init(&b);
	quote_word(&b, s);
	return buf_steal(&b);
}

char *
remote_quote_argv(char *const *argv)
{
	struct buf b;
	size_t i;

	buf_init(&b);
	for (i = 0; argv != NULL && argv[i] != NULL; i++) {
		if (i > 0)
			buf_addch(&b, ' ');
		quote_word(&b, argv[i]);
	}
	return buf_steal(&b);
}
