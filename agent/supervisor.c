/*
 * supervisor.c - the detached process that owns one launch in a run
 * directory: it spawns each process of the core behind a shim, follows
 * every rank-N.log (inotify, with a slow poll as fallback), parses it into
 * events, appends those to the spool, samples device telemetry, takes stop
 * and signal commands from the ctl FIFO, and records every exit.
 *
 * It is not in the data path of training: if it dies, the shims keep the
 * core running and logging, and `drover-agent adopt` starts a new
 * supervisor that re-adopts them and resumes parsing where the spool ends.
 */
#include "agent_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define SV_TAIL_DELAY_MS	50
#define SV_POLL_MS		1000
#define SV_READY_TIMEOUT_MS	15000
#define SV_SEGMENT_MAX		(64 * 1024)

struct supervisor;

struct sv_rank {
	struct supervisor *sv;
	struct spec_proc *p;
	int state;		/* RANK_* */
	pid_t pid;		/* the shim, leader of the rank's group */
	uint64_t start_time;
	pid_t child_pid;
	long inner_pid;		/* inside a docker-exec container */
	int adopted;		/* not our child: watch /proc */
	int failed_spawn;
	char *log_path;
	char *exit_path;
	char name[160];		/* container/process name */
	int log_fd;
	uint64_t log_ino;
	uint64_t log_off;
	struct segmenter *seg;
	struct parser *parser;
};

struct supervisor {
	struct spec *spec;
	struct loop *loop;
	struct spool *spool;
	struct sv_rank *ranks;
	size_t nranks;
	int launch;
	int lock_fd;
	int report_fd;
	int ctl_fd;
	int ino_fd;
	int dir_wd;		/* the run directory's watch */
	int new_files;		/* a file appeared: check for rotations */
	struct buf ctl_in;
	struct telemetry *tel;
	json_t *secrets;
	int stopping;
	int settled;
	uint64_t kill_timer;
	uint64_t sync_timer;
	uint64_t tail_timer;
	int nrunning;
	int finished;
	pid_t helpers[64];	/* signal helpers (docker kill) to reap */
	size_t nhelpers;
	char *fail_reason;
};

static void sv_tail_all(struct supervisor *, int);

/* ---- events ----------------------------------------------------------- */

static void
sv_sync_cb(void *arg)
{
	struct supervisor *sv = arg;

	sv->sync_timer = 0;
	if (spool_pending(sv->spool) > 0)
		spool_retry(sv->spool);
	if (spool_sync_due(sv->spool) == 0)
		spool_sync(sv->spool);
	if (spool_sync_due(sv->spool) > 0 || spool_pending(sv->spool) > 0)
		sv->sync_timer = loop_timer_add(sv->loop, 200, sv_sync_cb, sv);
}

/* Appends ev (consumed) to the spool; state changes are synced at once. */
static void
sv_emit(struct supervisor *sv, json_t *ev, int sync_now)
{
	int due;

	spool_append(sv->spool, ev, sync_now);
	json_decref(ev);
	due = spool_sync_due(sv->spool);
	if (sv->sync_timer == 0 && (due >= 0 || spool_pending(sv->spool)))
		sv->sync_timer = loop_timer_add(sv->loop,
		    due > 0 ? (uint64_t)due : 200, sv_sync_cb, sv);
}

static void
sv_emit_run(struct supervisor *sv, const char *state, const char *reason)
{
	json_t *ev = json_pack("{s:s, s:s, s:s, s:i}", "type", "state",
	    "scope", "run", "state", state, "launch", sv->launch);

	if (reason != NULL)
		json_object_set_new(ev, "reason", json_string(reason));
	sv_emit(sv, ev, 1);
}

/* Replaces every occurrence of a secret's value in s. */
static char *
sv_redact(struct supervisor *sv, const char *s, size_t len)
{
	struct buf b;
	const char *name, *val, *hit;
	json_t *v;
	char *out;
	size_t vlen;

	out = xstrndup(s, len);
	if (sv->secrets == NULL)
		return out;
	json_object_foreach(sv->secrets, name, v) {
		val = json_string_value(v);
		vlen = strlen(val);
		if (vlen < 4)
			continue;	/* too short to tell from text */
		buf_init(&b);
		s = out;
		while ((hit = strstr(s, val)) != NULL) {
			buf_add(&b, s, (size_t)(hit - s));
			buf_addstr(&b, "[secret ");
			buf_addstr(&b, name);
			buf_addstr(&b, "]");
			s = hit + vlen;
		}
		if (s != out) {
			buf_addstr(&b, s);
			free(out);
			out = buf_steal(&b);
		}
		buf_free(&b);
	}
	return out;
}

static void
sv_parse_emit(const struct parse_event *pe, void *arg)
{
	struct sv_rank *r = arg;
	struct supervisor *sv = r->sv;
	json_t *ev;
	char *text;

	switch (pe->kind) {
	case PARSE_METRIC:
		if (!r->p->metrics)
			return;
		ev = metric_to_json(pe->metric);
		json_object_set_new(ev, "type", json_string("metric"));
		break;
	case PARSE_CKPT:
		ev = json_pack("{s:s, s:o}", "type", "ckpt", "path",
		    proto_string(pe->path, strlen(pe->path)));
		if (pe->ckpt_step >= 0)
			json_object_set_new(ev, "step",
			    json_integer(pe->ckpt_step));
		break;
	case PARSE_LOG:
		text = sv_redact(sv, pe->text, pe->text_len);
		ev = json_pack("{s:s, s:s, s:s, s:s}", "type", "log",
		    "level", pe->level, "what", pe->what, "stream", "output");
		json_object_set_new(ev, "line", proto_string(text,
		    strlen(text)));
		free(text);
		break;
	default:
		return;
	}
	json_object_set_new(ev, "rank", json_integer(r->p->rank));
	json_object_set_new(ev, "src", json_pack("[I, I, I, I]",
	    (json_int_t)r->log_ino, (json_int_t)pe->off,
	    (json_int_t)pe->resume_off, (json_int_t)pe->nth));
	sv_emit(sv, ev, 0);
}

/* ---- following rank logs ---------------------------------------------- */

static void
sv_segment(const char *seg, size_t len, char term, uint64_t off, void *arg)
{
	struct sv_rank *r = arg;
	size_t mlen = strlen(CONTAINER_PID_MARK);
	char num[32];
	json_t *ev;

	if (len > mlen && len - mlen < sizeof num &&
	    memcmp(seg, CONTAINER_PID_MARK, mlen) == 0) {
		memcpy(num, seg + mlen, len - mlen);
		num[len - mlen] = '\0';
		r->inner_pid = strtol(num, NULL, 10);
		ev = json_pack("{s:s, s:s, s:i, s:s, s:I}", "type", "state",
		    "scope", "proc", "rank", r->p->rank, "state", "running",
		    "inner_pid", (json_int_t)r->inner_pid);
		json_object_set_new(ev, "pid", json_integer(r->pid));
		json_object_set_new(ev, "start_time",
		    json_integer((json_int_t)r->start_time));
		json_object_set_new(ev, "child_pid", json_integer(r->child_pid));
		sv_emit(r->sv, ev, 1);
		return;
	}
	parser_feed(r->parser, seg, len, term, off, sv_parse_emit, r);
}

static int
sv_log_open(struct sv_rank *r, uint64_t off)
{
	struct stat st;

	if (r->log_fd != -1)
		close(r->log_fd);
	r->log_fd = open(r->log_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (r->log_fd == -1 || fstat(r->log_fd, &st) == -1) {
		log_warn("%s: %s", r->log_path, strerror(errno));
		return -1;
	}
	r->log_ino = (uint64_t)st.st_ino;
	/* Watch this file (this inode) for writes; a rotation makes a new
	 * one, seen through the directory watch, and reopened here. */
	if (r->sv->ino_fd != -1 &&
	    inotify_add_watch(r->sv->ino_fd, r->log_path, IN_MODIFY) == -1)
		log_warn("inotify on %s: %s", r->log_path, strerror(errno));
	if (off > (uint64_t)st.st_size)
		off = (uint64_t)st.st_size;
	r->log_off = off;
	lseek(r->log_fd, (off_t)off, SEEK_SET);
	segmenter_free(r->seg);
	r->seg = segmenter_new(SV_SEGMENT_MAX, off);
	return 0;
}

static void
sv_log_drain(struct sv_rank *r)
{
	char chunk[65536];
	ssize_t n;

	if (r->log_fd == -1)
		return;
	while ((n = read(r->log_fd, chunk, sizeof chunk)) > 0) {
		segmenter_feed(r->seg, chunk, (size_t)n, sv_segment, r);
		r->log_off += (uint64_t)n;
	}
}

/* Reads rank r's log to its end; with check, follows a rotation. */
static void
sv_tail(struct sv_rank *r, int check)
{
	struct stat st;
	int rotated;

	if (r->log_fd == -1) {
		if (sv_log_open(r, 0) == -1)
			return;
	}
	/* stat first: if the name moved on, the old file is complete. */
	rotated = check && stat(r->log_path, &st) == 0 &&
	    (uint64_t)st.st_ino != r->log_ino;
	sv_log_drain(r);
	if (rotated) {
		segmenter_flush(r->seg, sv_segment, r);
		if (sv_log_open(r, 0) == 0)
			sv_log_drain(r);
	}
}

static void
sv_tail_all(struct supervisor *sv, int check)
{
	size_t i;

	for (i = 0; i < sv->nranks; i++) {
		if (sv->ranks[i].state == RANK_RUNNING ||
		    sv->ranks[i].state == RANK_STARTING)
			sv_tail(&sv->ranks[i], check);
	}
}

static void
sv_tail_cb(void *arg)
{
	struct supervisor *sv = arg;

	sv->tail_timer = 0;
	sv_tail_all(sv, sv->new_files);
	sv->new_files = 0;
}

static void
sv_inotify_cb(int fd, short revents, void *arg)
{
	struct supervisor *sv = arg;
	char data[4096] __attribute__((aligned(8)));
	const struct inotify_event *ie;
	ssize_t n, off;

	while ((n = read(fd, data, sizeof data)) > 0) {
		for (off = 0; off < n; off += (ssize_t)sizeof *ie + ie->len) {
			ie = (const struct inotify_event *)(data + off);
			if (ie->wd == sv->dir_wd)
				sv->new_files = 1;
		}
	}
	/* Coalesce bursts of redraws into one pass. */
	if (sv->tail_timer == 0)
		sv->tail_timer = loop_timer_add(sv->loop, SV_TAIL_DELAY_MS,
		    sv_tail_cb, sv);
}

/* ---- exits ------------------------------------------------------------ */

static void sv_finish(struct supervisor *);

static int
sv_read_exit_file(struct sv_rank *r, int *code, int *sig)
{
	struct buf b;
	json_t *o;
	char *cause = NULL;
	int64_t v;
	int rc = -1;

	buf_init(&b);
	if (file_read_all(r->exit_path, 4096, &b, &cause) != 0) {
		free(cause);
		buf_free(&b);
		return -1;
	}
	o = json_loadb(b.data ? b.data : "", b.len, 0, NULL);
	buf_free(&b);
	if (o == NULL)
		return -1;
	if (proto_get_int(o, "launch", &v) == 0 && v == r->sv->launch) {
		*code = proto_get_int(o, "code", &v) == 0 ? (int)v : -1;
		*sig = proto_get_int(o, "signal", &v) == 0 ? (int)v : 0;
		rc = 0;
	}
	json_decref(o);
	return rc;
}

/* have_status: wait status of the shim is in status. */
static void
sv_rank_exited(struct sv_rank *r, int have_status, int status)
{
	struct supervisor *sv = r->sv;
	char reason[256];
	const char *class;
	json_t *ev;
	int code = -1, sig = 0;

	if (r->state == RANK_EXITED)
		return;
	sv_tail(r, 1);
	segmenter_flush(r->seg, sv_segment, r);
	parser_finish(r->parser, sv_parse_emit, r);
	if (sv_read_exit_file(r, &code, &sig) != 0) {
		if (have_status && WIFSIGNALED(status))
			sig = WTERMSIG(status);
		else if (have_status)
			code = WEXITSTATUS(status);
	}
	r->state = RANK_EXITED;
	sv->nrunning--;
	if (code == -1 && sig == 0) {
		class = "unknown";
		snprintf(reason, sizeof reason, "ended while no agent was "
		    "watching; its exit status was not recorded");
	} else
		class = exit_classify(code, sig, sv->stopping, reason,
		    sizeof reason);
	ev = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s}", "type", "state",
	    "scope", "proc", "rank", r->p->rank, "state", "exited",
	    "class", class, "reason", reason);
	json_object_set_new(ev, "code", code >= 0 ? json_integer(code) :
	    json_null());
	json_object_set_new(ev, "signal", sig ? json_integer(sig) :
	    json_null());
	json_object_set_new(ev, "pid", json_integer(r->pid));
	sv_emit(sv, ev, 1);
	log_info("rank %d: %s", r->p->rank, reason);
	if (sv->fail_reason == NULL && strcmp(class, "succeeded") != 0 &&
	    strcmp(class, "stopped") != 0)
		xasprintf(&sv->fail_reason, "rank %d %s", r->p->rank, reason);
	if (sv->nrunning == 0)
		sv_finish(sv);
}

/* A rank whose keeper never started still gets its end recorded. */
static void
sv_rank_never_started(struct sv_rank *r, const char *why)
{
	json_t *ev;

	r->state = RANK_EXITED;
	ev = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s}", "type", "state",
	    "scope", "proc", "rank", r->p->rank, "state", "exited", "class",
	    "failed", "reason", why);
	json_object_set_new(ev, "code", json_null());
	json_object_set_new(ev, "signal", json_null());
	sv_emit(r->sv, ev, 1);
}

static void
sv_reap(struct supervisor *sv)
{
	struct sv_rank *r;
	size_t i, k;
	int status;
	pid_t w;

	for (i = 0; i < sv->nranks; i++) {
		r = &sv->ranks[i];
		if (r->state == RANK_EXITED || r->pid <= 0)
			continue;
		if (r->adopted) {
			if (!proc_alive(r->pid, r->start_time))
				sv_rank_exited(r, 0, 0);
			continue;
		}
		w = waitpid(r->pid, &status, WNOHANG);
		if (w == r->pid)
			sv_rank_exited(r, 1, status);
	}
	for (k = 0; k < sv->nhelpers; ) {
		if (waitpid(sv->helpers[k], &status, WNOHANG) != 0) {
			sv->helpers[k] = sv->helpers[--sv->nhelpers];
			continue;
		}
		k++;
	}
}

static void
sv_sigchld(int sig, void *arg)
{
	sv_reap(arg);
}

static void
sv_poll_cb(void *arg)
{
	struct supervisor *sv = arg;

	/* Fallback for filesystems where inotify sees nothing (NFS). */
	sv_tail_all(sv, 1);
	sv_reap(sv);
	if (sv->nrunning > 0)
		loop_timer_add(sv->loop, SV_POLL_MS, sv_poll_cb, sv);
}

/* ---- signals to ranks ------------------------------------------------- */

static void
sv_spawn_helper(struct supervisor *sv, char **argv)
{
	pid_t pid;
	int fd;

	if (sv->nhelpers == nitems(sv->helpers))
		sv_reap(sv);
	if ((pid = fork()) == -1) {
		log_error("fork for %s: %s", argv[0], strerror(errno));
		return;
	}
	if (pid == 0) {
		if ((fd = open("/dev/null", O_RDWR)) != -1) {
			dup2(fd, 0);
			dup2(fd, 1);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	if (sv->nhelpers < nitems(sv->helpers))
		sv->helpers[sv->nhelpers++] = pid;
}

static void
sv_signal_rank(struct sv_rank *r, int sig)
{
	struct supervisor *sv = r->sv;
	char **argv = NULL, *cause = NULL;
	int local = 1;

	if (r->state == RANK_EXITED || r->pid <= 0)
		return;
	if (container_signal_argv(sv->spec->container, r->name, r->inner_pid,
	    sig, &argv, &cause) != 0) {
		log_warn("rank %d: %s", r->p->rank, cause);
		free(cause);
	} else if (argv != NULL) {
		sv_spawn_helper(sv, argv);
		strv_free(argv);
		/* The exec client must outlive a TERM to relay the exit. */
		local = sig == SIGKILL;
	}
	if (!local)
		return;
	/* Never signal a recycled pid: check it is still our shim. */
	if (!proc_alive(r->pid, r->start_time)) {
		log_info("rank %d: pid %ld is gone or no longer ours; not "
		    "signalling", r->p->rank, (long)r->pid);
		return;
	}
	if (kill(-r->pid, sig) == -1 && errno != ESRCH)
		log_warn("rank %d: kill(-%ld, %d): %s", r->p->rank,
		    (long)r->pid, sig, strerror(errno));
}

static void
sv_kill_cb(void *arg)
{
	struct supervisor *sv = arg;
	size_t i;

	sv->kill_timer = 0;
	for (i = 0; i < sv->nranks; i++)
		sv_signal_rank(&sv->ranks[i], SIGKILL);
}

static void
sv_stop(struct supervisor *sv, int grace_s, const char *why)
{
	char reason[256];
	size_t i;

	if (sv->nrunning == 0)
		return;
	if (!sv->stopping) {
		sv->stopping = 1;
		snprintf(reason, sizeof reason, "%s; SIGTERM now, SIGKILL "
		    "after %d s", why, grace_s);
		sv_emit_run(sv, "stopping", reason);
		for (i = 0; i < sv->nranks; i++)
			sv_signal_rank(&sv->ranks[i], SIGTERM);
	}
	loop_timer_cancel(sv->loop, sv->kill_timer);
	sv->kill_timer = loop_timer_add(sv->loop, (uint64_t)grace_s * 1000,
	    sv_kill_cb, sv);
}

/* ---- the ctl FIFO ----------------------------------------------------- */

static void
sv_command(const char *line, size_t len, void *arg)
{
	struct supervisor *sv = arg;
	struct proto_cmd cmd;
	char *cause = NULL;
	json_t *ev;
	size_t i;

	if (proto_cmd_parse(line, len, &cmd, &cause) != 0) {
		log_warn("ctl: %s", cause);
		free(cause);
		return;
	}
	if (cmd.kind == PROTO_CMD_STOP) {
		sv_stop(sv, cmd.grace_s, "stop requested");
		return;
	}
	ev = json_pack("{s:s, s:s, s:s}", "type", "state", "scope", "run",
	    "state", "signalled");
	json_object_set_new(ev, "signal",
	    json_string(proto_signal_name(cmd.sig)));
	json_object_set_new(ev, "launch", json_integer(sv->launch));
	sv_emit(sv, ev, 1);
	for (i = 0; i < sv->nranks; i++)
		sv_signal_rank(&sv->ranks[i], cmd.sig);
}

static void
sv_ctl_cb(int fd, short revents, void *arg)
{
	struct supervisor *sv = arg;
	char data[4096];
	ssize_t n;

	while ((n = read(fd, data, sizeof data)) > 0)
		buf_add(&sv->ctl_in, data, (size_t)n);
	if (buf_each_line(&sv->ctl_in, 65536, sv_command, sv))
		buf_reset(&sv->ctl_in);	/* garbage without newlines */
}

static int
sv_ctl_open(struct supervisor *sv, char **cause)
{
	char *path = rundir_path(sv->spec->run_dir, "ctl");
	struct stat st;

	if (lstat(path, &st) == 0 && !S_ISFIFO(st.st_mode))
		unlink(path);
	if (mkfifo(path, 0600) == -1 && errno != EEXIST) {
		xasprintf(cause, "mkfifo %s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	/* O_RDWR: we hold a writer ourselves, so we never see EOF. */
	sv->ctl_fd = open(path, O_RDWR | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (sv->ctl_fd == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	free(path);
	loop_add_fd(sv->loop, sv->ctl_fd, POLLIN, sv_ctl_cb, sv);
	return 0;
}

/* ---- spawning --------------------------------------------------------- */

static void
env_set(char ***envp, size_t *n, const char *kv, int replace)
{
	size_t i, klen = strcspn(kv, "=");

	for (i = 0; i < *n; i++) {
		if (strncmp((*envp)[i], kv, klen) == 0 &&
		    (*envp)[i][klen] == '=') {
			if (replace) {
				free((*envp)[i]);
				(*envp)[i] = xstrdup(kv);
			}
			return;
		}
	}
	*envp = xreallocarray(*envp, *n + 2, sizeof **envp);
	(*envp)[(*n)++] = xstrdup(kv);
	(*envp)[*n] = NULL;
}

static void
names_add(char ***names, size_t *n, const char *kv)
{
	size_t i, klen = strcspn(kv, "=");

	for (i = 0; i < *n; i++) {
		if (strlen((*names)[i]) == klen &&
		    strncmp((*names)[i], kv, klen) == 0)
			return;
	}
	*names = xreallocarray(*names, *n + 2, sizeof **names);
	(*names)[(*n)++] = xstrndup(kv, klen);
	(*names)[*n] = NULL;
}

/* The process environment and the names to forward into a container. */
static char **
sv_build_env(struct supervisor *sv, struct sv_rank *r, char ***namesp)
{
	struct spec *s = sv->spec;
	char **env = xcalloc(1, sizeof *env), **names, *kv;
	size_t n = 0, nn = 0, i;
	const char *name;
	json_t *v;

	names = xcalloc(1, sizeof *names);
	for (i = 0; environ[i] != NULL; i++)
		env_set(&env, &n, environ[i], 1);
	for (i = 0; s->env[i] != NULL; i++) {
		env_set(&env, &n, s->env[i], 1);
		names_add(&names, &nn, s->env[i]);
	}
	for (i = 0; r->p->env[i] != NULL; i++) {
		env_set(&env, &n, r->p->env[i], 1);
		names_add(&names, &nn, r->p->env[i]);
	}
	if (sv->secrets != NULL) {
		json_object_foreach(sv->secrets, name, v) {
			xasprintf(&kv, "%s=%s", name, json_string_value(v));
			env_set(&env, &n, kv, 1);
			names_add(&names, &nn, kv);
			free(kv);
		}
	}
	/* Python block-buffers a pipe; the user may still override. */
	env_set(&env, &n, "PYTHONUNBUFFERED=1", 0);
	names_add(&names, &nn, "PYTHONUNBUFFERED");
	xasprintf(&kv, "DROVER_RUN_DIR=%s", s->run_dir);
	env_set(&env, &n, kv, 1);
	free(kv);
	xasprintf(&kv, "DROVER_RANK=%d", r->p->rank);
	env_set(&env, &n, kv, 1);
	free(kv);
	names_add(&names, &nn, "DROVER_RUN_DIR");
	names_add(&names, &nn, "DROVER_RANK");
	*namesp = names;
	return env;
}

static int
sv_read_ready(int fd, char *line, size_t len)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	size_t off = 0;
	ssize_t n;
	uint64_t deadline = clock_mono_ms() + SV_READY_TIMEOUT_MS, now;

	while (off < len - 1) {
		now = clock_mono_ms();
		if (now >= deadline ||
		    poll(&pfd, 1, (int)(deadline - now)) == 0)
			return -1;
		n = read(fd, line + off, len - 1 - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
		if (memchr(line, '\n', off) != NULL)
			break;
	}
	line[off] = '\0';
	return off > 0 ? 0 : -1;
}

static int
sv_spawn(struct supervisor *sv, struct sv_rank *r, char **cause)
{
	struct spec *s = sv->spec;
	struct wrap_in w;
	char **env, **names, **wrapped = NULL, **sargv, line[256];
	char num[5][32];
	const char *cwd;
	size_t i, n;
	int ready[2], err = 0, rc = -1;
	long child;
	json_t *ev, *jargv;
	pid_t pid;

	/* The log exists before the shim so its position is known. */
	r->log_fd = open(r->log_path, O_RDONLY | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (r->log_fd == -1) {
		xasprintf(cause, "%s: %s", r->log_path, strerror(errno));
		return -1;
	}
	close(r->log_fd);
	r->log_fd = -1;
	{
		struct stat st;

		if (stat(r->log_path, &st) == -1 ||
		    sv_log_open(r, (uint64_t)st.st_size) == -1) {
			xasprintf(cause, "%s: cannot open", r->log_path);
			return -1;
		}
	}
	unlink(r->exit_path);
	jargv = json_array();
	for (i = 0; r->p->argv[i] != NULL; i++)
		json_array_append_new(jargv, proto_string(r->p->argv[i],
		    strlen(r->p->argv[i])));
	ev = json_pack("{s:s, s:s, s:i, s:i, s:s, s:o, s:[I, I]}", "type",
	    "state", "scope", "proc", "rank", r->p->rank, "local_rank",
	    r->p->local_rank, "state", "starting", "argv", jargv, "src",
	    (json_int_t)r->log_ino, (json_int_t)r->log_off);
	json_object_set_new(ev, "launch", json_integer(sv->launch));
	sv_emit(sv, ev, 1);
	r->state = RANK_STARTING;

	env = sv_build_env(sv, r, &names);
	cwd = r->p->cwd ? r->p->cwd : s->cwd;
	memset(&w, 0, sizeof w);
	w.container = s->container;
	w.argv = r->p->argv;
	w.shell = r->p->shell;
	w.env_names = names;
	w.cwd = cwd;
	w.run_dir = s->run_dir;
	w.name = r->name;
	w.devices = r->p->devices;
	w.ndevices = r->p->ndevices;
	if (container_wrap(&w, &wrapped, cause) != 0)
		goto out;

	if (pipe2(ready, O_CLOEXEC) == -1) {
		xasprintf(cause, "pipe: %s", strerror(errno));
		goto out;
	}
	for (n = 0; wrapped[n] != NULL; n++)
		;
	sargv = xcalloc(n + 10, sizeof *sargv);
	snprintf(num[0], sizeof num[0], "%d", ready[1]);
	snprintf(num[1], sizeof num[1], "%llu",
	    (unsigned long long)s->log_max_bytes);
	snprintf(num[2], sizeof num[2], "%d", s->log_keep);
	snprintf(num[3], sizeof num[3], "%d", sv->launch);
	sargv[0] = "drover-agent";
	sargv[1] = "shim";
	sargv[2] = num[0];
	sargv[3] = r->log_path;
	sargv[4] = num[1];
	sargv[5] = num[2];
	sargv[6] = r->exit_path;
	sargv[7] = num[3];
	sargv[8] = "--";
	for (i = 0; i < n; i++)
		sargv[9 + i] = wrapped[i];
	sargv[9 + n] = NULL;

	pid = fork();
	if (pid == -1) {
		xasprintf(cause, "fork: %s", strerror(errno));
		close(ready[0]);
		close(ready[1]);
		free(sargv);
		goto out;
	}
	if (pid == 0) {
		sigset_t none;
		int fd;

		setsid();
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		fcntl(ready[1], F_SETFD, 0);
		if ((fd = open("/dev/null", O_RDWR)) != -1) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (chdir(strcmp(json_string_value(json_object_get(
		    s->container, "runtime")), "none") == 0 && cwd != NULL ?
		    cwd : s->run_dir) == -1) {
			dprintf(ready[1], "err %d chdir %s\n", errno,
			    cwd ? cwd : s->run_dir);
			_exit(126);
		}
		execve("/proc/self/exe", sargv, env);
		dprintf(ready[1], "err %d exec /proc/self/exe\n", errno);
		_exit(126);
	}
	free(sargv);
	close(ready[1]);
	r->pid = pid;
	if (proc_start_time(pid, &r->start_time) != 0)
		r->start_time = 0;
	sv->nrunning++;
	if (sv_read_ready(ready[0], line, sizeof line) != 0) {
		xasprintf(cause, "no word from the process keeper in %d s",
		    SV_READY_TIMEOUT_MS / 1000);
		close(ready[0]);
		goto out;
	}
	close(ready[0]);
	if (sscanf(line, "ok %ld", &child) != 1) {
		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "err %d", &err) == 1 && err > 0)
			xasprintf(cause, "cannot start '%s': %s (%s)",
			    wrapped[0], strerror(err), line);
		else
			xasprintf(cause, "cannot start '%s': %s", wrapped[0],
			    line);
		r->failed_spawn = 1;
		goto out;
	}
	r->child_pid = (pid_t)child;
	r->state = RANK_RUNNING;
	ev = json_pack("{s:s, s:s, s:i, s:s, s:i, s:I, s:i}", "type", "state",
	    "scope", "proc", "rank", r->p->rank, "state", "running", "pid",
	    (int)r->pid, "start_time", (json_int_t)r->start_time, "child_pid",
	    (int)r->child_pid);
	sv_emit(sv, ev, 1);
	rc = 0;
out:
	strv_free(env);
	strv_free(names);
	strv_free(wrapped);
	return rc;
}

/* ---- adopting after a restart ----------------------------------------- */

/* Returns 1 when the rank ended while no agent watched. */
static int
sv_adopt_rank(struct supervisor *sv, struct sv_rank *r, struct spool_scan *sc)
{
	struct spool_rank *sr = spool_scan_rank(sc, r->p->rank);
	struct metric last;
	struct stat st;
	int have_last = 0;

	r->state = sr->state;
	r->pid = sr->pid;
	r->start_time = sr->start_time;
	r->child_pid = sr->child_pid;
	if (sr->state == RANK_EXITED || sr->state == RANK_NONE)
		return 0;
	sv->nrunning++;
	/* Resume parsing where the spool ends, in the same file if it is. */
	if (sr->has_src && stat(r->log_path, &st) == 0 &&
	    (uint64_t)st.st_ino == sr->src_ino)
		sv_log_open(r, sr->src_resume);
	else {
		sv_log_open(r, 0);
		if (sr->has_src)
			log_warn("rank %d: the log rotated while no agent "
			    "watched; parsing resumes at its current file",
			    r->p->rank);
	}
	if (sr->last_metric != NULL &&
	    metric_from_json(sr->last_metric, &last) == 0)
		have_last = 1;
	parser_resume(r->parser, have_last ? &last : NULL,
	    sr->has_src ? sr->src_off : 0, sr->has_src ? sr->src_nth : 0);
	r->adopted = 1;
	if (r->pid > 0 && proc_alive(r->pid, r->start_time)) {
		r->state = RANK_RUNNING;
		log_info("rank %d: adopted running pid %ld", r->p->rank,
		    (long)r->pid);
		return 0;
	}
	return 1;
}

/* ---- the run as a whole ----------------------------------------------- */

static void
sv_report(struct supervisor *sv, const char *fmt, ...)
{
	va_list ap;

	if (sv->report_fd == -1)
		return;
	va_start(ap, fmt);
	vdprintf(sv->report_fd, fmt, ap);
	va_end(ap);
	close(sv->report_fd);
	sv->report_fd = -1;
}

static void
sv_finish(struct supervisor *sv)
{
	const char *result;
	char *reason;

	if (sv->finished)
		return;
	sv->finished = 1;
	/* Once the final event is visible, nothing the agent ran is left. */
	telemetry_stop(sv->tel);
	sv->tel = NULL;
	if (sv->stopping)
		result = "stopped";
	else if (sv->fail_reason != NULL)
		result = "failed";
	else
		result = "succeeded";
	reason = sv->fail_reason ? xstrdup(sv->fail_reason) :
	    xstrdup(result);
	{
		json_t *ev = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s}",
		    "type", "state", "scope", "run", "state", "exited",
		    "launch", sv->launch, "result", result, "reason", reason);

		sv_emit(sv, ev, 1);
	}
	free(reason);
	if (!sv->settled && sv->fail_reason != NULL)
		sv_report(sv, "err the core exited at once: %s\n",
		    sv->fail_reason);
	else if (!sv->settled)
		sv_report(sv, "ok %ld %d %lld\n", (long)getpid(), sv->launch,
		    (long long)spool_last_seq(sv->spool));
	sv->settled = 1;
	loop_timer_cancel(sv->loop, sv->kill_timer);
	sv->kill_timer = 0;
	loop_stop(sv->loop);
}

static void
sv_settle_cb(void *arg)
{
	struct supervisor *sv = arg;

	if (sv->settled || sv->report_fd == -1)
		return;
	sv->settled = 1;
	if (sv->fail_reason != NULL) {
		/* Never leave a partial launch behind. */
		sv_report(sv, "err %s\n", sv->fail_reason);
		sv_stop(sv, 2, "a process failed at start");
		return;
	}
	sv_report(sv, "ok %ld %d %lld\n", (long)getpid(), sv->launch,
	    (long long)spool_last_seq(sv->spool));
}

static void
sv_quit(int sig, void *arg)
{
	struct supervisor *sv = arg;

	/* The agent going away never stops training: shims keep it. */
	log_info("signal %d: leaving the run to its keepers; `drover-agent "
	    "adopt %s` resumes watching", sig, sv->spec->run_dir);
	loop_stop(sv->loop);
}

static void
sv_telemetry(json_t *devices, const char *source, void *arg)
{
	struct supervisor *sv = arg;
	json_t *ev = json_pack("{s:s, s:s, s:o}", "type", "telemetry",
	    "source", source, "devices", devices);

	sv_emit(sv, ev, 0);
}

static void
sv_rank_name(struct supervisor *sv, struct sv_rank *r)
{
	char *p;

	snprintf(r->name, sizeof r->name, "drover-%s-%lld-%s-r%d",
	    sv->spec->task, (long long)sv->spec->attempt, sv->spec->host_id,
	    r->p->rank);
	for (p = r->name; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' ||
		    *p == '-'))
			*p = '-';
	}
}

int
supervisor_main(struct spec *spec, int lock_fd, int report_fd, int adopt,
    json_t *secrets, struct spool_scan *scan)
{
	struct supervisor sv;
	struct spool_scan sc = *scan;
	struct sv_rank *r;
	char *path, *cause = NULL, pidline[64];
	uint64_t st = 0;
	size_t i;
	int n;

	memset(&sv, 0, sizeof sv);
	sv.spec = spec;
	sv.lock_fd = lock_fd;
	sv.report_fd = report_fd;
	sv.ctl_fd = sv.ino_fd = sv.dir_wd = -1;
	sv.secrets = secrets;
	buf_init(&sv.ctl_in);
	sv.loop = loop_new();
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	loop_signal(sv.loop, SIGCHLD, sv_sigchld, &sv);
	loop_signal(sv.loop, SIGTERM, sv_quit, &sv);
	loop_signal(sv.loop, SIGINT, sv_quit, &sv);

	proc_start_time(getpid(), &st);
	n = snprintf(pidline, sizeof pidline, "%ld %llu\n", (long)getpid(),
	    (unsigned long long)st);
	path = rundir_path(spec->run_dir, "agent.pid");
	if (file_write_atomic(path, pidline, (size_t)n, 0600, &cause) != 0)
		goto fail;
	free(path);
	path = rundir_path(spec->run_dir, "events.jsonl");
	sv.spool = spool_open(path, &cause);
	if (sv.spool == NULL)
		goto fail;
	free(path);
	path = NULL;
	sv.launch = adopt ? sc.launches : sc.launches + 1;
	if (sv.launch < 1)
		sv.launch = 1;

	sv.nranks = spec->nprocs;
	sv.ranks = xcalloc(sv.nranks, sizeof *sv.ranks);
	for (i = 0; i < sv.nranks; i++) {
		r = &sv.ranks[i];
		r->sv = &sv;
		r->p = &spec->procs[i];
		r->log_fd = -1;
		xasprintf(&r->log_path, "%s/rank-%d.log", spec->run_dir,
		    r->p->rank);
		xasprintf(&r->exit_path, "%s/rank-%d.exit", spec->run_dir,
		    r->p->rank);
		sv_rank_name(&sv, r);
		r->parser = parser_new(spec->parser_format, spec->parser,
		    &cause);
		if (r->parser == NULL) {
			spool_scan_free(&sc);
			goto fail;
		}
	}
	if (sv_ctl_open(&sv, &cause) != 0) {
		spool_scan_free(&sc);
		goto fail;
	}
	sv.ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	/* The directory only for new files (rotation); writes are watched
	 * per log, so the spool's own writes never wake us. */
	if (sv.ino_fd != -1 && (sv.dir_wd = inotify_add_watch(sv.ino_fd,
	    spec->run_dir, IN_CREATE | IN_MOVED_TO)) != -1)
		loop_add_fd(sv.loop, sv.ino_fd, POLLIN, sv_inotify_cb, &sv);
	else {
		log_warn("inotify unavailable (%s); polling logs every %d ms",
		    strerror(errno), SV_POLL_MS);
		if (sv.ino_fd != -1)
			close(sv.ino_fd);
		sv.ino_fd = -1;
	}

	if (adopt) {
		log_info("adopting %s (launch %d, last seq %lld)",
		    spec->run_dir, sv.launch, (long long)sc.last_seq);
		sv_emit_run(&sv, "adopted", "a new agent took over the run");
		for (i = 0; i < sv.nranks; i++)
			sv.ranks[i].adopted = 0;
		for (i = 0; i < sv.nranks; i++) {
			if (sv_adopt_rank(&sv, &sv.ranks[i], &sc))
				sv.ranks[i].adopted = 2;
		}
		spool_scan_free(&sc);
		sv.settled = 1;
		sv_report(&sv, "ok %ld %d %lld\n", (long)getpid(), sv.launch,
		    (long long)spool_last_seq(sv.spool));
		/* Exits are recorded only now that every rank is counted. */
		for (i = 0; i < sv.nranks; i++) {
			if (sv.ranks[i].adopted == 2) {
				sv.ranks[i].adopted = 1;
				sv_rank_exited(&sv.ranks[i], 0, 0);
			}
		}
		/* Nothing left to watch (e.g. a crash before any spawn). */
		if (sv.nrunning == 0)
			sv_finish(&sv);
	} else {
		spool_scan_free(&sc);
		log_info("starting %s launch %d: %zu process(es)",
		    spec->run_dir, sv.launch, sv.nranks);
		sv_emit_run(&sv, "starting", NULL);
		for (i = 0; i < sv.nranks; i++) {
			if (sv_spawn(&sv, &sv.ranks[i], &cause) != 0) {
				char *msg;

				xasprintf(&msg, "rank %d: %s",
				    sv.ranks[i].p->rank, cause);
				if (sv.ranks[i].pid <= 0)
					sv_rank_never_started(&sv.ranks[i],
					    cause);
				free(cause);
				cause = NULL;
				log_error("%s", msg);
				sv_report(&sv, "err %s\n", msg);
				free(sv.fail_reason);
				sv.fail_reason = msg;
				sv.settled = 1;
				sv_stop(&sv, 2, "a process could not start");
				break;
			}
		}
		if (!sv.settled) {
			sv_emit_run(&sv, "running", NULL);
			loop_timer_add(sv.loop, (uint64_t)spec->settle_ms,
			    sv_settle_cb, &sv);
		}
		if (sv.nrunning == 0)
			sv_finish(&sv);
	}
	if (spec->telemetry_s > 0 && sv.nrunning > 0)
		sv.tel = telemetry_start(sv.loop, spec->telemetry_s,
		    sv_telemetry, &sv);
	loop_timer_add(sv.loop, SV_POLL_MS, sv_poll_cb, &sv);
	sv_reap(&sv);
	/* Every rank may have ended already (a spawn that failed with the
	 * others reaped above): loop_run would forget sv_finish's stop and
	 * keep a finished agent, and so its attach, waiting forever. */
	if (!sv.finished && (sv.nrunning > 0 || sv.stopping))
		loop_run(sv.loop);

	telemetry_stop(sv.tel);
	spool_close(sv.spool);
	for (i = 0; i < sv.nranks; i++) {
		r = &sv.ranks[i];
		if (r->log_fd != -1)
			close(r->log_fd);
		segmenter_free(r->seg);
		parser_free(r->parser);
		free(r->log_path);
		free(r->exit_path);
	}
	free(sv.ranks);
	free(sv.fail_reason);
	buf_free(&sv.ctl_in);
	if (sv.ctl_fd != -1)
		close(sv.ctl_fd);
	if (sv.ino_fd != -1)
		close(sv.ino_fd);
	loop_free(sv.loop);
	return 0;

fail:
	free(path);
	log_error("%s", cause);
	sv_report(&sv, "err %s\n", cause);
	free(cause);
	spool_close(sv.spool);
	loop_free(sv.loop);
	return 1;
}
