/*
 * sshconfig_group.c - settings for many hosts from few `ssh -G` runs.
 *
 * `ssh -G` costs ~10 ms of CPU per host, several times what drover spends
 * on the connection itself. Hosts that the same Host blocks of the user's
 * ssh config match get the same settings, except where the host's own
 * name shows through (the `host` and `hostname` lines, and known_hosts
 * paths built with %h). So the config files are read here only to find
 * which Host lines match each host; hosts that match the same lines form
 * a group, `ssh -G` runs for the group's first and last host, and the
 * others get the first host's output with the name replaced. When the
 * replacement does not reproduce the last host's real output exactly, the
 * group falls back to one `ssh -G` per host.
 *
 * Also one `ssh -G` per host, always: a config with Match blocks (they can
 * test anything), CanonicalizeHostname, an Include whose path holds tokens
 * or variables, or a host name with upper-case letters. Every Host line
 * found counts, even one inside a conditional Include, which can only make
 * groups smaller, never wrong.
 */
#include "remote_int.h"

#include <ctype.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SCAN_MAX_DEPTH	16
#define SCAN_MAX_FILE	(1024 * 1024)

struct scan {
	char **hostlines;	/* the argument text of every Host line */
	size_t n;
	int give_up;
	char *why;
};

static void
scan_give_up(struct scan *sc, const char *file, int line, const char *what)
{
	if (sc->give_up)
		return;
	sc->give_up = 1;
	xasprintf(&sc->why, "%s line %d: %s", file, line, what);
}

static void scan_file(struct scan *, const char *path, const char *base,
    int depth);

static char *
scan_tilde(const char *p)
{
	const char *home = getenv("HOME");
	char *out;

	if (p[0] == '~' && p[1] == '/' && home != NULL) {
		xasprintf(&out, "%s%s", home, p + 1);
		return out;
	}
	return xstrdup(p);
}

static void
scan_include(struct scan *sc, const char *file, int line, char *args,
    const char *base, int depth)
{
	char *arg, *save = NULL, *path;
	glob_t g;
	size_t i;

	for (arg = strtok_r(args, " \t", &save); arg != NULL;
	    arg = strtok_r(NULL, " \t", &save)) {
		if (strpbrk(arg, "%$\"") != NULL) {
			scan_give_up(sc, file, line, "Include with tokens");
			return;
		}
		if (arg[0] == '/' || arg[0] == '~')
			path = scan_tilde(arg);
		else
			xasprintf(&path, "%s/%s", base, arg);
		memset(&g, 0, sizeof g);
		if (glob(path, 0, NULL, &g) == 0) {
			for (i = 0; i < g.gl_pathc; i++)
				scan_file(sc, g.gl_pathv[i], base, depth + 1);
		}
		globfree(&g);
		free(path);
	}
}

/* One file: "Keyword args" or "Keyword=args", keywords in any case. */
static void
scan_file(struct scan *sc, const char *path, const char *base, int depth)
{
	char *text, *line, *next, *kw, *args, *cause = NULL;
	struct buf b;
	size_t kwlen;
	int lineno = 0;

	if (sc->give_up)
		return;
	if (depth > SCAN_MAX_DEPTH) {
		scan_give_up(sc, path, 0, "Include nested too deep");
		return;
	}
	buf_init(&b);
	if (file_read_all(path, SCAN_MAX_FILE, &b, &cause) != 0) {
		free(cause);	/* ssh -G reports what matters */
		buf_free(&b);
		return;
	}
	buf_add(&b, "", 1);
	text = b.data;
	for (line = text; line != NULL && !sc->give_up; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		lineno++;
		kw = line + strspn(line, " \t\r");
		if (*kw == '\0' || *kw == '#')
			continue;
		kwlen = strcspn(kw, " \t=\r");
		args = kw + kwlen;
		args += strspn(args, " \t\r");
		if (*args == '=')
			args += 1 + strspn(args + 1, " \t\r");
		args[strcspn(args, "\r")] = '\0';
		if (kwlen == 4 && strncasecmp(kw, "host", 4) == 0) {
			sc->hostlines = xreallocarray(sc->hostlines, sc->n + 1,
			    sizeof *sc->hostlines);
			sc->hostlines[sc->n++] = xstrdup(args);
		} else if (kwlen == 5 && strncasecmp(kw, "match", 5) == 0)
			scan_give_up(sc, path, lineno, "Match block");
		else if (kwlen == 20 &&
		    strncasecmp(kw, "canonicalizehostname", 20) == 0 &&
		    strncasecmp(args, "no", 2) != 0)
			scan_give_up(sc, path, lineno, "CanonicalizeHostname");
		else if (kwlen == 7 && strncasecmp(kw, "include", 7) == 0)
			scan_include(sc, path, lineno, args, base, depth);
	}
	buf_free(&b);
}

/* ssh's glob: '*' any run, '?' one character. */
static int
glob_match(const char *s, const char *p, size_t plen)
{
	while (plen > 0) {
		if (*p == '*') {
			p++, plen--;
			if (plen == 0)
				return 1;
			for (; *s != '\0'; s++)
				if (glob_match(s, p, plen))
					return 1;
			return 0;
		}
		if (*s == '\0' || (*p != '?' && *p != *s))
			return 0;
		s++, p++, plen--;
	}
	return *s == '\0';
}

/* A Host line matches when a pattern does and no negated pattern does. */
int
sshconfig_host_line_matches(const char *host, const char *line)
{
	const char *p = line;
	size_t len;
	int neg, hit = 0;

	while (*p != '\0') {
		p += strspn(p, " \t,");
		if (*p == '\0')
			break;
		neg = *p == '!';
		if (neg)
			p++;
		len = strcspn(p, " \t,");
		if (glob_match(host, p, len)) {
			if (neg)
				return 0;
			hit = 1;
		}
		p += len;
	}
	return hit;
}

/* Replaces name with other where it stands alone (not inside a longer
 * name: no letter, digit or '.' before it, no letter or digit after). */
static void
subst_name(struct buf *out, const char *s, size_t len, const char *name,
    const char *other)
{
	size_t nl = strlen(name), i = 0;

	while (i < len) {
		if (i + nl <= len && memcmp(s + i, name, nl) == 0 &&
		    (i == 0 || !(isalnum((unsigned char)s[i - 1]) ||
		    s[i - 1] == '.')) &&
		    (i + nl == len || !isalnum((unsigned char)s[i + nl]))) {
			buf_add(out, other, strlen(other));
			i += nl;
			continue;
		}
		buf_add(out, s + i, 1);
		i++;
	}
}

/* The ssh -G output of `from` as it reads for `to`. */
char *
sshconfig_retarget(const char *text, size_t len, const char *from,
    const char *to, size_t *outlen)
{
	static const char *const named[] = { "host ", "hostname ",
	    "userknownhostsfile ", "globalknownhostsfile " };
	struct buf out;
	const char *p = text, *end = text + len, *nl;
	size_t i, ll;
	int sub;

	buf_init(&out);
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		ll = nl != NULL ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		sub = 0;
		for (i = 0; i < nitems(named); i++)
			if (strncmp(p, named[i], strlen(named[i])) == 0)
				sub = 1;
		if (sub)
			subst_name(&out, p, ll, from, to);
		else
			buf_add(&out, p, ll);
		p += ll;
	}
	*outlen = out.len;
	buf_add(&out, "", 1);
	return out.data;
}

static int
has_upper(const char *s)
{
	for (; *s != '\0'; s++)
		if (isupper((unsigned char)*s))
			return 1;
	return 0;
}

static int
resolve_one(const char *host, const char *text, size_t len,
    struct rhost_cfg *cfg, char **cause)
{
	memset(cfg, 0, sizeof *cfg);
	return sshconfig_parse(host, text, len, cfg, cause);
}

int
sshconfig_resolve_many(char *const *hosts, size_t n, struct rhost_cfg *cfgs,
    char **causes, struct sshconfig_stats *st)
{
	struct scan sc;
	const char *file = getenv("DROVER_SSH_CONFIG");
	char *path, **sig, *t;
	struct buf first, last;
	size_t i, j, k, tlen, *group;
	int failed = 0, first_ok, share;

	memset(&sc, 0, sizeof sc);
	if (st != NULL)
		memset(st, 0, sizeof *st);
	if (file != NULL && *file != '\0') {
		path = scan_tilde(file);
		scan_file(&sc, path, ".", 0);
		free(path);
	} else {
		path = scan_tilde("~/.ssh/config");
		t = scan_tilde("~/.ssh");
		scan_file(&sc, path, t, 0);
		free(path);
		free(t);
		scan_file(&sc, "/etc/ssh/ssh_config", "/etc/ssh", 0);
	}
	if (sc.give_up)
		log_info("ssh config: %s: one ssh -G per host", sc.why);

	/* Each host's signature: which Host lines match it. */
	sig = xcalloc(n, sizeof *sig);
	group = xcalloc(n, sizeof *group);
	for (i = 0; i < n; i++) {
		causes[i] = NULL;
		sig[i] = xmalloc(sc.n + 1);
		for (j = 0; j < sc.n; j++)
			sig[i][j] = sshconfig_host_line_matches(hosts[i],
			    sc.hostlines[j]) ? '1' : '0';
		sig[i][sc.n] = '\0';
		group[i] = i;
		if (sc.give_up || has_upper(hosts[i]))
			continue;
		for (k = 0; k < i; k++) {
			if (group[k] == k && !has_upper(hosts[k]) &&
			    strcmp(sig[k], sig[i]) == 0) {
				group[i] = k;
				break;
			}
		}
	}

	buf_init(&first);
	buf_init(&last);
	for (i = 0; i < n; i++) {
		if (group[i] != i)
			continue;
		/* The group's last member checks the retargeting. */
		for (k = i, j = i + 1; j < n; j++)
			if (group[j] == i)
				k = j;
		buf_reset(&first);
		if (st != NULL)
			st->ssh_g_runs++;
		first_ok = sshconfig_ssh_g(hosts[i], &first, &causes[i]) == 0;
		share = first_ok;
		if (first_ok && k != i) {
			buf_reset(&last);
			if (st != NULL)
				st->ssh_g_runs++;
			share = sshconfig_ssh_g(hosts[k], &last, &t) == 0;
			if (!share)
				free(t);
			else {
				t = sshconfig_retarget(first.data, first.len,
				    hosts[i], hosts[k], &tlen);
				share = tlen == last.len &&
				    memcmp(t, last.data, tlen) == 0;
				free(t);
			}
			if (!share) {
				log_info("ssh config: %s and %s match the "
				    "same Host lines but not the same "
				    "settings; one ssh -G each", hosts[i],
				    hosts[k]);
				if (st != NULL)
					st->fallbacks++;
			}
		}
		for (j = i; j < n; j++) {
			if (group[j] != i)
				continue;
			if (j == i && !first_ok) {
				memset(&cfgs[i], 0, sizeof cfgs[i]);
				failed++;
				continue;
			}
			if (j != i && !share) {
				if (st != NULL)
					st->ssh_g_runs++;
				if (sshconfig_resolve(hosts[j], &cfgs[j],
				    &causes[j]) != 0)
					failed++;
				continue;
			}
			t = sshconfig_retarget(first.data, first.len, hosts[i],
			    hosts[j], &tlen);
			if (resolve_one(hosts[j], t, tlen, &cfgs[j],
			    &causes[j]) != 0)
				failed++;
			free(t);
		}
	}
	buf_free(&first);
	buf_free(&last);
	for (i = 0; i < n; i++)
		free(sig[i]);
	free(sig);
	free(group);
	for (j = 0; j < sc.n; j++)
		free(sc.hostlines[j]);
	free(sc.hostlines);
	free(sc.why);
	return failed;
}
