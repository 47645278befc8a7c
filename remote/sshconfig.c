/*
 * sshconfig.c - a host's effective SSH settings, taken from OpenSSH itself:
 * `ssh -G HOST` prints the configuration ssh would use for HOST after every
 * Host and Match block, without connecting, and this file keeps what
 * drover's transports need (struct rhost_cfg in remote.h). It does not read
 * ssh_config files itself and it never connects.
 *
 * needs_openssh is set, with the reason in why_openssh, when libssh2 1.10
 * cannot serve the host as configured: ProxyJump, ProxyCommand or
 * CertificateFile. Algorithm lists (rsa-sha2 only, ...) are not examined.
 *
 * Identity files get "~" expanded from $HOME (the password database when
 * $HOME is unset; "~user" from the database) and the tokens %% %d %h %i %L
 * %l %n %p %r %u, which ssh -G leaves as written; other tokens stay for ssh.
 * ssh -G prints UserKnownHostsFile and GlobalKnownHostsFile as one unquoted,
 * space-separated list, so a known_hosts path with a space in it cannot be
 * told apart and is split; IdentityFile lines are whole.
 *
 * Environment: DROVER_SSH names the ssh program (default "ssh");
 * DROVER_SSH_CONFIG, when set, is passed as `-F FILE`, so OpenSSH reads that
 * file instead of ~/.ssh/config and /etc/ssh/ssh_config (tests use it; the
 * OpenSSH transport honours both as well).
 */
#include "remote_int.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define SSHCONFIG_MAX_OUT	(256 * 1024)	/* ssh -G prints ~5 KB */
#define SSHCONFIG_MAX_ERR	(4 * 1024)
#define SSHCONFIG_TIMEOUT_MS	15000	/* Match exec runs commands */

struct strlist {
	char **v;
	size_t n;
};

static void
strlist_add(struct strlist *l, char *s)
{
	l->v = xreallocarray(l->v, l->n + 2, sizeof *l->v);
	l->v[l->n++] = s;
	l->v[l->n] = NULL;
}

static void
strlist_free(struct strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Takes the list's array; always a NULL-terminated array, maybe empty. */
static char **
strlist_steal(struct strlist *l)
{
	char **v = l->v;

	if (v == NULL) {
		v = xcalloc(1, sizeof *v);
	}
	l->v = NULL;
	l->n = 0;
	return v;
}

void
rhost_cfg_clear(struct rhost_cfg *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->name);
	free(cfg->hostname);
	free(cfg->user);
	strv_free(cfg->identity_files);
	free(cfg->proxy_jump);
	strv_free(cfg->known_hosts);
	free(cfg->why_openssh);
	memset(cfg, 0, sizeof *cfg);
}

static const char *
sshconfig_home(void)
{
	const char *home = getenv("HOME");
	struct passwd *pw;

	if (home != NULL && *home != '\0')
		return home;
	if ((pw = getpwuid(getuid())) != NULL)
		return pw->pw_dir;
	return NULL;
}

/* "~" and "~/x" from $HOME, "~user/x" from the password database. */
static char *
sshconfig_tilde(const char *path)
{
	const char *home, *rest;
	struct passwd *pw;
	char *user, *out;

	if (path[0] != '~')
		return xstrdup(path);
	if ((rest = strchr(path, '/')) == NULL)
		rest = path + strlen(path);
	if (rest == path + 1)
		home = sshconfig_home();
	else {
		user = xstrndup(path + 1, (size_t)(rest - path - 1));
		pw = getpwnam(user);
		free(user);
		home = pw != NULL ? pw->pw_dir : NULL;
	}
	if (home == NULL)
		return xstrdup(path);
	xasprintf(&out, "%s%s", home, rest);
	return out;
}

/* ssh's IdentityFile tokens that ssh -G leaves unexpanded. */
static char *
sshconfig_tokens(const char *path, const char *host,
    const struct rhost_cfg *cfg)
{
	struct buf b;
	struct passwd *pw;
	char local[HOST_NAME_MAX + 1];
	const char *s, *v;

	buf_init(&b);
	for (s = path; *s != '\0'; s++) {
		if (*s != '%' || s[1] == '\0') {
			buf_addch(&b, *s);
			continue;
		}
		s++;
		v = NULL;
		switch (*s) {
		case '%':
			buf_addch(&b, '%');
			continue;
		case 'd':
			v = sshconfig_home();
			break;
		case 'h':
			v = cfg->hostname;
			break;
		case 'i':
			buf_printf(&b, "%lu", (unsigned long)getuid());
			continue;
		case 'L':
		case 'l':
			if (gethostname(local, sizeof local) == -1)
				break;
			local[sizeof local - 1] = '\0';
			if (*s == 'L')
				local[strcspn(local, ".")] = '\0';
			v = local;
			break;
		case 'n':
			v = host;
			break;
		case 'p':
			buf_printf(&b, "%d", cfg->port);
			continue;
		case 'r':
			v = cfg->user;
			break;
		case 'u':
			if ((pw = getpwuid(getuid())) != NULL)
				v = pw->pw_name;
			break;
		}
		if (v != NULL)
			buf_addstr(&b, v);
		else {
			/* Unknown here: leave it for ssh. */
			buf_addch(&b, '%');
			buf_addch(&b, *s);
		}
	}
	return buf_steal(&b);
}

static void
sshconfig_split(struct strlist *l, const char *value)
{
	const char *s = value, *e;

	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0')
			break;
		e = s + strcspn(s, " \t");
		strlist_add(l, xstrndup(s, (size_t)(e - s)));
		s = e;
	}
}

static int
sshconfig_strict(const char *v, enum rhost_strict *out)
{
	if (strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0 ||
	    strcasecmp(v, "ask") == 0)
		*out = RS_YES;	/* drover never asks */
	else if (strcasecmp(v, "no") == 0 || strcasecmp(v, "off") == 0 ||
	    strcasecmp(v, "false") == 0)
		*out = RS_NO;
	else if (strcasecmp(v, "accept-new") == 0)
		*out = RS_ACCEPT_NEW;
	else
		return -1;
	return 0;
}

static int
sshconfig_number(const char *v, long min, long max, long *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < min || n > max)
		return -1;
	*out = n;
	return 0;
}

static void
sshconfig_why(struct buf *why, const char *option, const char *value,
    const char *lacks)
{
	if (why->len > 0)
		buf_addstr(why, "; ");
	buf_printf(why, "%s %s: libssh2 1.10 has no %s", option, value, lacks);
}

int
sshconfig_parse(const char *host, const char *text, size_t len,
    struct rhost_cfg *cfg, char **cause)
{
	struct strlist ids = { NULL, 0 }, user_kh = { NULL, 0 };
	struct strlist global_kh = { NULL, 0 }, expanded = { NULL, 0 };
	struct buf why;
	const char *p = text, *end = text + len, *nl, *sp;
	char *line = NULL, *value, *s;
	int have_hostname = 0, lineno = 0, rc = -1;
	size_t i, n;
	long num;

	memset(cfg, 0, sizeof *cfg);
	buf_init(&why);
	cfg->name = xstrdup(host);
	cfg->port = 22;
	cfg->strict = RS_YES;
	cfg->transport = RT_AUTO;
	if (memchr(text, '\0', len) != NULL) {
		xasprintf(cause, "%s: ssh -G printed a NUL byte; is DROVER_SSH "
		    "an OpenSSH client?", host);
		goto out;
	}

	while (p < end) {
		lineno++;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		n = (size_t)(nl - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		free(line);
		line = xstrndup(p, n);
		p = nl < end ? nl + 1 : end;
		if ((sp = strchr(line, ' ')) == NULL)
			continue;	/* no value: nothing drover uses */
		line[sp - line] = '\0';
		value = line + (sp - line) + 1;
		for (s = line; *s != '\0'; s++)
			*s = (char)tolower((unsigned char)*s);

		if (strcmp(line, "hostname") == 0) {
			free(cfg->hostname);
			cfg->hostname = xstrdup(value);
			have_hostname = 1;
		} else if (strcmp(line, "user") == 0) {
			free(cfg->user);
			cfg->user = xstrdup(value);
		} else if (strcmp(line, "port") == 0) {
			if (sshconfig_number(value, 1, 65535, &num) == -1) {
				xasprintf(cause, "%s: ssh -G line %d: port "
				    "\"%s\" is not a number from 1 to 65535; "
				    "fix Port in your ssh config", host,
				    lineno, value);
				goto out;
			}
			cfg->port = (int)num;
		} else if (strcmp(line, "identityfile") == 0) {
			strlist_add(&ids, xstrdup(value));
		} else if (strcmp(line, "certificatefile") == 0) {
			sshconfig_why(&why, "CertificateFile", value,
			    "certificates");
		} else if (strcmp(line, "proxyjump") == 0) {
			if (strcasecmp(value, "none") != 0) {
				free(cfg->proxy_jump);
				cfg->proxy_jump = xstrdup(value);
				sshconfig_why(&why, "ProxyJump", value,
				    "ProxyJump");
			}
		} else if (strcmp(line, "proxycommand") == 0) {
			if (strcasecmp(value, "none") != 0)
				sshconfig_why(&why, "ProxyCommand", value,
				    "ProxyCommand");
		} else if (strcmp(line, "userknownhostsfile") == 0) {
			sshconfig_split(&user_kh, value);
		} else if (strcmp(line, "globalknownhostsfile") == 0) {
			sshconfig_split(&global_kh, value);
		} else if (strcmp(line, "stricthostkeychecking") == 0) {
			/* Fail closed on a value this version does not know. */
			if (sshconfig_strict(value, &cfg->strict) == -1)
				cfg->strict = RS_YES;
		} else if (strcmp(line, "connecttimeout") == 0) {
			if (strcasecmp(value, "none") == 0)
				cfg->connect_timeout_s = 0;
			else if (sshconfig_number(value, 0, INT_MAX,
			    &num) == 0)
				cfg->connect_timeout_s = (int)num;
			else {
				xasprintf(cause, "%s: ssh -G line %d: "
				    "connecttimeout \"%s\" is not a number of "
				    "seconds; fix ConnectTimeout in your ssh "
				    "config", host, lineno, value);
				goto out;
			}
		}
	}
	if (!have_hostname) {
		xasprintf(cause, "%s: ssh -G printed no hostname line; is "
		    "DROVER_SSH an OpenSSH client?", host);
		goto out;
	}

	/* Tokens need user, hostname and port, wherever their lines were. */
	for (i = 0; i < ids.n; i++) {
		s = sshconfig_tilde(ids.v[i]);
		strlist_add(&expanded, sshconfig_tokens(s, host, cfg));
		free(s);
	}
	cfg->identity_files = strlist_steal(&expanded);
	for (i = 0; i < global_kh.n; i++)
		strlist_add(&user_kh, xstrdup(global_kh.v[i]));
	for (i = 0; i < user_kh.n; i++) {
		s = sshconfig_tilde(user_kh.v[i]);
		free(user_kh.v[i]);
		user_kh.v[i] = s;
	}
	cfg->known_hosts = strlist_steal(&user_kh);
	if (why.len > 0) {
		cfg->needs_openssh = 1;
		cfg->why_openssh = buf_steal(&why);
	}
	rc = 0;

out:
	free(line);
	strlist_free(&ids);
	strlist_free(&user_kh);
	strlist_free(&global_kh);
	strlist_free(&expanded);
	buf_free(&why);
	if (rc != 0)
		rhost_cfg_clear(cfg);
	return rc;
}

/* ssh's stderr for a message: lines joined with "; ", bounded. */
static char *
sshconfig_err_text(struct buf *err)
{
	struct buf b;
	const char *s, *e;
	size_t n;

	buf_init(&b);
	s = buf_cstr(err);
	while (*s != '\0') {
		e = s + strcspn(s, "\n");
		n = (size_t)(e - s);
		while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == ' '))
			n--;
		if (n > 0) {
			if (b.len > 0)
				buf_addstr(&b, "; ");
			buf_add(&b, s, n);
		}
		s = *e == '\n' ? e + 1 : e;
	}
	if (b.len == 0)
		buf_addstr(&b, "no message");
	return buf_steal(&b);
}

int
sshconfig_host_ok(const char *host, char **cause)
{
	const unsigned char *s;

	if (host == NULL || *host == '\0') {
		xasprintf(cause, "empty host name; give a host name or "
		    "address");
		return -1;
	}
	if (*host == '-') {
		xasprintf(cause, "host name \"%s\" begins with '-'; ssh would "
		    "read it as an option", host);
		return -1;
	}
	for (s = (const unsigned char *)host; *s != '\0'; s++) {
		if (*s <= ' ' || *s == 0x7f) {
			xasprintf(cause, "host name \"%s\" holds a space or "
			    "control character; fix the host list", host);
			return -1;
		}
	}
	return 0;
}

/* Reads fd into b until EOF; more than max is an overflow (returns 1). */
static int
sshconfig_drain(int *fdp, struct buf *b, size_t max, int keep_going)
{
	char data[8192];
	ssize_t n;

	for (;;) {
		n = read(*fdp, data, sizeof data);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return 0;
		if (n <= 0) {
			close(*fdp);
			*fdp = -1;
			return 0;
		}
		if (b->len + (size_t)n > max) {
			if (!keep_going)
				return 1;
			n = (ssize_t)(max - b->len);	/* drop the rest */
		}
		buf_add(b, data, (size_t)n);
	}
}

int
sshconfig_ssh_g(const char *host, struct buf *out, char **cause)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t sa;
	struct pollfd pfd[2];
	struct buf err;
	const char *ssh, *file;
	char *argv[8], *text = NULL;
	char opt_f[] = "-F", opt_g[] = "-G", dashes[] = "--";
	int po[2] = { -1, -1 }, pe[2] = { -1, -1 }, status, error, rc = -1;
	int i, n, overflow = 0, timed_out = 0;
	uint64_t deadline;
	pid_t pid = -1;

	buf_init(&err);
	if (sshconfig_host_ok(host, cause) == -1)
		return -1;
	if ((ssh = getenv("DROVER_SSH")) == NULL || *ssh == '\0')
		ssh = "ssh";
	n = 0;
	argv[n++] = (char *)ssh;
	if ((file = getenv("DROVER_SSH_CONFIG")) != NULL && *file != '\0') {
		argv[n++] = opt_f;
		argv[n++] = (char *)file;
	}
	argv[n++] = opt_g;
	argv[n++] = dashes;
	argv[n++] = (char *)host;
	argv[n] = NULL;

	if (pipe2(po, O_CLOEXEC) == -1 || pipe2(pe, O_CLOEXEC) == -1) {
		xasprintf(cause, "%s: cannot run ssh -G: pipe: %s", host,
		    strerror(errno));
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, po[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	rproc_spawnattr(&sa);
	error = posix_spawnp(&pid, ssh, &fa, &sa, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&sa);
	close(po[1]);
	close(pe[1]);
	po[1] = pe[1] = -1;
	if (error != 0) {
		pid = -1;
		xasprintf(cause, "%s: cannot run %s: %s; install the OpenSSH "
		    "client or set DROVER_SSH", host, ssh, strerror(error));
		goto out;
	}
	fd_set_nonblock(po[0]);
	fd_set_nonblock(pe[0]);

	/* Blocking, but bounded: ssh -G takes ~15 ms and never connects. */
	deadline = clock_mono_ms() + SSHCONFIG_TIMEOUT_MS;
	while (po[0] != -1 || pe[0] != -1) {
		uint64_t now = clock_mono_ms();

		if (now >= deadline) {
			timed_out = 1;
			break;
		}
		pfd[0].fd = po[0];
		pfd[1].fd = pe[0];
		pfd[0].events = pfd[1].events = POLLIN;
		if (poll(pfd, 2, (int)(deadline - now)) == -1 &&
		    errno != EINTR) {
			xasprintf(cause, "%s: ssh -G: poll: %s", host,
			    strerror(errno));
			goto out;
		}
		if (po[0] != -1 && pfd[0].revents != 0 &&
		    sshconfig_drain(&po[0], out, SSHCONFIG_MAX_OUT, 0)) {
			overflow = 1;
			break;
		}
		if (pe[0] != -1 && pfd[1].revents != 0)
			sshconfig_drain(&pe[0], &err, SSHCONFIG_MAX_ERR, 1);
	}
	if (timed_out || overflow) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		pid = -1;
		if (timed_out)
			xasprintf(cause, "%s: ssh -G did not finish in %d s; "
			    "check Match exec lines in your ssh config", host,
			    SSHCONFIG_TIMEOUT_MS / 1000);
		else
			xasprintf(cause, "%s: ssh -G printed more than %d "
			    "bytes; is DROVER_SSH an OpenSSH client?", host,
			    SSHCONFIG_MAX_OUT);
		goto out;
	}
	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR) {
			xasprintf(cause, "%s: ssh -G: waitpid: %s", host,
			    strerror(errno));
			pid = -1;
			goto out;
		}
	}
	pid = -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		text = sshconfig_err_text(&err);
		if (WIFEXITED(status))
			xasprintf(cause, "%s: ssh -G failed with exit status "
			    "%d: %s; fix your ssh config", host,
			    WEXITSTATUS(status), text);
		else
			xasprintf(cause, "%s: ssh -G was killed by signal %d: "
			    "%s", host, WTERMSIG(status), text);
		goto out;
	}
	rc = 0;

out:
	if (pid != -1) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	for (i = 0; i < 2; i++) {
		if (po[i] != -1)
			close(po[i]);
		if (pe[i] != -1)
			close(pe[i]);
	}
	free(text);
	buf_free(&err);
	return rc;
}

int
sshconfig_resolve(const char *host, struct rhost_cfg *cfg, char **cause)
{
	struct buf out;
	int rc;

	memset(cfg, 0, sizeof *cfg);
	buf_init(&out);
	rc = sshconfig_ssh_g(host, &out, cause);
	if (rc == 0)
		rc = sshconfig_parse(host, out.data != NULL ? out.data : "",
		    out.len, cfg, cause);
	buf_free(&out);
	return rc;
}
