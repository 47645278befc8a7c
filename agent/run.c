/*
 * run.c - `drover-agent run SPEC.json` and `drover-agent adopt RUNDIR`: check
 * everything that can be checked before anything starts (the spec, the run
 * directory, its lock, leftovers of an earlier launch), then detach the
 * supervisor (setsid and a double fork, stdio away from the SSH channel)
 * and wait for its word: print the hello line and exit 0 once the core is
 * running, or print why not and exit 1.
 */
#include "agent_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define RUN_REPORT_TIMEOUT_MS (120 * 1000)
#define SECRETS_MAX (64 * 1024)

static void
run_json_error(const char *msg)
{
	json_t *o;
	char *line;

	o = json_pack("{s:s, s:o}", "type", "error", "msg",
	    proto_string(msg, strlen(msg)));
	line = proto_encode_line(o, NULL);
	fputs(line, stdout);
	free(line);
	json_decref(o);
}

static void
run_fail(const char *what, const char *msg)
{
	fprintf(stderr, "drover-agent: %s: %s\n", what, msg);
	run_json_error(msg);
}

/* {"NAME":"value",...} from stdin; the values never touch the disk. */
static json_t *
read_secrets(char **cause)
{
	struct buf b;
	char chunk[4096];
	json_error_t err;
	json_t *o, *v;
	const char *name;
	ssize_t n;
	size_t i;

	buf_init(&b);
	while ((n = read(0, chunk, sizeof chunk)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 || b.len + (size_t)n > SECRETS_MAX) {
			xasprintf(cause, "secrets on stdin: %s", n == -1 ?
			    strerror(errno) : "more than 64 KiB");
			buf_free(&b);
			return NULL;
		}
		buf_add(&b, chunk, (size_t)n);
	}
	o = json_loadb(b.data ? b.data : "", b.len, JSON_REJECT_DUPLICATES,
	    &err);
	/* Wipe the copy that held the values. */
	if (b.data != NULL)
		explicit_bzero(b.data, b.cap);
	buf_free(&b);
	if (!json_is_object(o)) {
		/* err.text may quote the input: never show it. */
		xasprintf(cause, "secrets on stdin: expected one JSON object "
		    "of NAME: \"value\" (line %d column %d)", err.line,
		    err.column);
		json_decref(o);
		return NULL;
	}
	json_object_foreach(o, name, v) {
		for (i = 0; name[i] != '\0'; i++) {
			if (!((name[i] >= 'A' && name[i] <= 'Z') ||
			    (name[i] >= 'a' && name[i] <= 'z') ||
			    name[i] == '_' || (i > 0 && name[i] >= '0' &&
			    name[i] <= '9')))
				break;
		}
		if (i == 0 || name[i] != '\0' || !json_is_string(v) ||
		    strlen(json_string_value(v)) != json_string_length(v)) {
			xasprintf(cause, "secrets on stdin: \"%s\" must be a "
			    "variable name with a string value", name);
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

static int
render_files(struct spec *s, char **cause)
{
	struct spec_file *f;
	char *path, *p;
	size_t i;

	for (i = 0; i < s->nfiles; i++) {
		f = &s->files[i];
		path = rundir_path(s->run_dir, f->path);
		/* Subdirectories inside the run directory. */
		for (p = path + strlen(s->run_dir) + 1; *p != '\0'; p++) {
			if (*p != '/')
				continue;
			*p = '\0';
			if (mkdir(path, 0700) == -1 && errno != EEXIST) {
				xasprintf(cause, "files[%zu]: mkdir %s: %s", i,
				    path, strerror(errno));
				free(path);
				return -1;
			}
			*p = '/';
		}
		if (file_write_atomic(path, f->content, f->len, f->mode,
		    cause) != 0) {
			free(path);
			return -1;
		}
		free(path);
	}
	return 0;
}

/* The run directory's spool, read once under the lock; the supervisor
 * inherits the result across the fork. No spool yet: empty when
 * missing_ok. */
static int
scan_run_dir(const char *run_dir, struct spool_scan *sc, int missing_ok,
    char **cause)
{
	char *path = rundir_path(run_dir, "events.jsonl");
	int rc = 0;

	memset(sc, 0, sizeof *sc);
	if (!missing_ok || access(path, F_OK) == 0)
		rc = spool_scan(path, sc, cause);
	free(path);
	return rc;
}

/* Refuses to start over processes of an earlier launch still running. */
static int
check_leftovers(const char *run_dir, const struct spool_scan *sc,
    char **cause)
{
	struct buf b;
	size_t i;
	int n = 0;

	buf_init(&b);
	for (i = 0; i < sc->nranks; i++) {
		const struct spool_rank *r = &sc->ranks[i];

		if (r->state == RANK_EXITED || r->pid <= 0 ||
		    !proc_alive(r->pid, r->start_time))
			continue;
		buf_printf(&b, "%srank %d pid %ld", n++ ? ", " : "", r->rank,
		    (long)r->pid);
	}
	if (n > 0) {
		xasprintf(cause, "processes of an earlier launch in %s are "
		    "still running (%s); stop them (attach, then "
		    "{\"cmd\":\"stop\"}) or `drover-agent adopt %s`", run_dir,
		    buf_cstr(&b), run_dir);
		buf_free(&b);
		return -1;
	}
	buf_free(&b);
	return 0;
}

static int
detach_and_wait(struct spec *s, int lock_fd, int adopt, json_t *secrets,
    struct spool_scan *sc)
{
	char report[2048], *path;
	struct pollfd pfd;
	pid_t pid, mid;
	long agent_pid;
	int rp[2], fd, status, launch;
	long long last_seq;
	size_t off = 0;
	ssize_t n;
	json_t *hello;
	char *line;
	uint64_t deadline;

	if (pipe2(rp, O_CLOEXEC) == -1) {
		run_fail(s->run_dir, strerror(errno));
		return 1;
	}
	fflush(stdout);
	fflush(stderr);
	if ((mid = fork()) == -1) {
		run_fail(s->run_dir, strerror(errno));
		return 1;
	}
	if (mid == 0) {
		close(rp[0]);
		setsid();
		if ((pid = fork()) != 0)
			_exit(pid == -1 ? 1 : 0);
		/* The supervisor: nothing of the SSH channel stays open. */
		if ((fd = open("/dev/null", O_RDWR)) != -1) {
			dup2(fd, 0);
			dup2(fd, 1);
			if (fd > 2)
				close(fd);
		}
		path = rundir_path(s->run_dir, "agent.log");
		fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
		free(path);
		if (fd != -1) {
			dup2(fd, 2);
			close(fd);
		}
		umask(077);
		log_init("drover-agent", LOG_INFO, 2);
		_exit(supervisor_main(s, lock_fd, rp[1], adopt, secrets, sc));
	}
	close(rp[1]);
	close(lock_fd);	/* the supervisor holds the lock now */
	waitpid(mid, &status, 0);

	pfd.fd = rp[0];
	pfd.events = POLLIN;
	deadline = clock_mono_ms() + RUN_REPORT_TIMEOUT_MS;
	while (off < sizeof report - 1) {
		uint64_t now = clock_mono_ms();

		if (now >= deadline || poll(&pfd, 1, (int)(deadline - now)) == 0) {
			run_fail(s->run_dir, "no word from the agent in 120 s "
			    "(see agent.log in the run directory)");
			return 1;
		}
		n = read(rp[0], report + off, sizeof report - 1 - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(rp[0]);
	report[off] = '\0';
	report[strcspn(report, "\n")] = '\0';
	if (sscanf(report, "ok %ld %d %lld", &agent_pid, &launch,
	    &last_seq) == 3) {
		hello = proto_hello_new(s->run_dir, last_seq);
		json_object_set_new(hello, "pid", json_integer(agent_pid));
		json_object_set_new(hello, "launch", json_integer(launch));
		line = proto_encode_line(hello, NULL);
		fputs(line, stdout);
		free(line);
		json_decref(hello);
		return 0;
	}
	if (strncmp(report, "err ", 4) == 0)
		run_fail(s->run_dir, report + 4);
	else
		run_fail(s->run_dir, "the agent exited before starting the "
		    "core (see agent.log in the run directory)");
	return 1;
}

int
cmd_run(int argc, char **argv)
{
	struct spec *s;
	struct spool_scan sc;
	struct buf errors;
	json_t *secrets = NULL;
	char *cause = NULL, *path;
	const char *parts[3], *spec_path = NULL;
	char attempt[32];
	int i, want_secrets = 0, lock_fd, rc;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--secrets-stdin") == 0)
			want_secrets = 1;
		else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, "drover-agent run: unknown option "
			    "'%s'\nusage: drover-agent run [--secrets-stdin] "
			    "SPEC.json\n", argv[i]);
			return 2;
		} else if (spec_path == NULL)
			spec_path = argv[i];
		else {
			fprintf(stderr, "drover-agent run: one spec only\n"
			    "usage: drover-agent run [--secrets-stdin] "
			    "SPEC.json\n");
			return 2;
		}
	}
	if (spec_path == NULL) {
		fprintf(stderr, "usage: drover-agent run [--secrets-stdin] "
		    "SPEC.json\n");
		return 2;
	}
	buf_init(&errors);
	if ((s = spec_load(spec_path, NULL, &errors)) == NULL) {
		fprintf(stderr, "drover-agent: %s: invalid job spec; nothing "
		    "was started:\n%s", spec_path, buf_cstr(&errors));
		run_json_error(buf_cstr(&errors));
		buf_free(&errors);
		return 1;
	}
	buf_free(&errors);
	if (want_secrets && (secrets = read_secrets(&cause)) == NULL)
		goto fail;
	snprintf(attempt, sizeof attempt, "%lld", (long long)s->attempt);
	parts[0] = s->task;
	parts[1] = attempt;
	parts[2] = s->host_id;
	if (rundir_create(s->base_dir, parts, 3, &cause) != 0 ||
	    rundir_check(s->run_dir, &cause) != 0 ||
	    rundir_lock(s->run_dir, &lock_fd, &cause) != 0)
		goto fail;
	if (scan_run_dir(s->run_dir, &sc, 1, &cause) != 0) {
		close(lock_fd);
		goto fail;
	}
	if (check_leftovers(s->run_dir, &sc, &cause) != 0) {
		spool_scan_free(&sc);
		close(lock_fd);
		goto fail;
	}
	path = rundir_path(s->run_dir, "spec.json");
	{
		char *text = json_dumps(s->root, JSON_INDENT(2) |
		    JSON_PRESERVE_ORDER);

		rc = file_write_atomic(path, text, strlen(text), 0600, &cause);
		free(text);
	}
	free(path);
	if (rc != 0 || render_files(s, &cause) != 0) {
		spool_scan_free(&sc);
		close(lock_fd);
		goto fail;
	}
	rc = detach_and_wait(s, lock_fd, 0, secrets, &sc);
	spool_scan_free(&sc);
	json_decref(secrets);
	spec_free(s);
	return rc;
fail:
	run_fail(s->run_dir ? s->run_dir : spec_path, cause);
	free(cause);
	json_decref(secrets);
	spec_free(s);
	return 1;
}

int
cmd_adopt(int argc, char **argv)
{
	struct spec *s;
	struct spool_scan sc;
	struct buf errors;
	char *cause = NULL, *path, *dir;
	int lock_fd, rc;

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: drover-agent adopt RUNDIR\n");
		return 2;
	}
	if ((dir = rundir_resolve(argv[1], &cause)) == NULL ||
	    rundir_lock(dir, &lock_fd, &cause) != 0) {
		run_fail(argv[1], cause);
		free(cause);
		free(dir);
		return 1;
	}
	if (scan_run_dir(dir, &sc, 0, &cause) != 0) {
		run_fail(dir, cause);
		goto fail;
	}
	if (strcmp(sc.run_state, "exited") == 0 || sc.launches == 0) {
		spool_scan_free(&sc);
		run_fail(dir, "the run has ended (or never started); nothing "
		    "to adopt");
		goto fail;
	}
	path = rundir_path(dir, "spec.json");
	buf_init(&errors);
	s = spec_load(path, dir, &errors);
	free(path);
	if (s == NULL) {
		run_fail(dir, buf_cstr(&errors));
		buf_free(&errors);
		spool_scan_free(&sc);
		goto fail;
	}
	buf_free(&errors);
	rc = detach_and_wait(s, lock_fd, 1, NULL, &sc);
	spool_scan_free(&sc);
	spec_free(s);
	free(dir);
	return rc;
fail:
	free(cause);
	close(lock_fd);
	free(dir);
	return 1;
}
