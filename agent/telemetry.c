/*
 * telemetry.c - device telemetry for the agent: parsers for nvidia-smi's CSV
 * query output and npu-smi's "info" table, and a sampler that runs whichever
 * of the two is on PATH from the agent's poll loop and hands each sample to
 * a callback as a JSON array of devices (docs/protocol.md, "telemetry").
 *
 * nvidia-smi runs once, as a long-lived "-l INTERVAL" child whose lines are
 * grouped into samples; npu-smi has no loop mode and runs once per interval.
 * Only the children started here are waited for, each by its pid: the agent
 * reaps its own children elsewhere. This file does not spool or send
 * anything; the callback does.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NV_QUERY "--query-gpu=index,uuid,utilization.gpu,memory.used," \
	"memory.total,temperature.gpu,power.draw"
#define NV_FORMAT "--format=csv,noheader,nounits"
#define NV_FIELDS 7

#define TEL_QUIET_MS		500	/* a pause this long ends a sample */
#define TEL_LINE_MAX		4096	/* nvidia-smi lines are ~80 bytes */
#define TEL_OUTPUT_MAX		(1024 * 1024)	/* npu-smi info is ~10 KiB */
#define TEL_BACKOFF_MIN_MS	1000
#define TEL_BACKOFF_MAX_MS	60000
#define TEL_REAP_POLL_MS	50
#define TEL_REAP_KILL_TRIES	40	/* SIGKILL after 2 s past EOF */

enum tel_source { TEL_NVIDIA, TEL_NPU };

struct telemetry {
	struct loop *loop;
	int interval_s;
	telemetry_cb cb;
	void *arg;
	enum tel_source src;
	char *path;

	pid_t pid;		/* the running child, -1 when none */
	int fd;			/* its stdout, -1 when closed */
	uint64_t started;	/* clock_mono_ms() at spawn */
	int reap_tries;

	struct buf in;		/* nvidia: partial line; npu: all output */
	int dropping;		/* nvidia: skipping an over-long line */
	json_t *pending;	/* nvidia: devices of the sample being read */
	long long last_index;	/* nvidia: index of the last pending device */
	size_t sample_size;	/* nvidia: size of the largest whole sample */
	unsigned backoff_ms;

	uint64_t quiet_timer;
	uint64_t watch_timer;
	uint64_t reap_timer;
	uint64_t next_timer;	/* nvidia: respawn; npu: next run */

	int busy;		/* inside a loop callback */
	int dead;		/* stopped; freed when busy drops to 0 */
};

static void tel_spawn(struct telemetry *);
static void tel_child_done(struct telemetry *);

/* ---- parsing ---------------------------------------------------------- */

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void
trim(const char **p, size_t *len)
{
	while (*len > 0 && is_space(**p)) {
		(*p)++;
		(*len)--;
	}
	while (*len > 0 && is_space((*p)[*len - 1]))
		(*len)--;
}

/* A finite number filling the whole field; "[N/A]", "NA", "-" are not. */
static int
parse_num(const char *p, size_t len, double *out)
{
	char tmp[64], *end;
	double d;

	if (len == 0 || len >= sizeof tmp)
		return -1;
	memcpy(tmp, p, len);
	tmp[len] = '\0';
	if (!(tmp[0] == '-' || tmp[0] == '+' || tmp[0] == '.' ||
	    (tmp[0] >= '0' && tmp[0] <= '9')))
		return -1;
	errno = 0;
	d = strtod(tmp, &end);
	if (end == tmp || *end != '\0' || errno != 0 || !isfinite(d) ||
	    fabs(d) > 1e15)
		return -1;
	*out = d;
	return 0;
}

static int
parse_int(const char *p, size_t len, long long *out)
{
	double d;

	if (parse_num(p, len, &d) != 0 || d != floor(d))
		return -1;
	*out = (long long)d;
	return 0;
}

static void
set_int(json_t *o, const char *key, const char *p, size_t len)
{
	double d;

	if (parse_num(p, len, &d) == 0)
		json_object_set_new(o, key,
		    json_integer((json_int_t)llround(d)));
}

static void
set_real(json_t *o, const char *key, const char *p, size_t len)
{
	double d;

	if (parse_num(p, len, &d) == 0)
		json_object_set_new(o, key, json_real(d));
}

/* A printable field that is not nvidia-smi's "[N/A]"-style placeholder. */
static void
set_str(json_t *o, const char *key, const char *p, size_t len)
{
	size_t i;

	if (len == 0 || p[0] == '[' || (len == 3 && memcmp(p, "N/A", 3) == 0))
		return;
	for (i = 0; i < len; i++) {
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return;
	}
	json_object_set_new(o, key, json_stringn(p, len));
}

/* One line of the CSV query: 7 fields, the index required. */
static json_t *
nvidia_parse_line(const char *line, size_t len)
{
	static const char *const keys[NV_FIELDS] = { "index", "uuid",
	    "util_pct", "mem_used_mb", "mem_total_mb", "temp_c", "power_w" };
	const char *f[NV_FIELDS], *p, *end = line + len;
	size_t fl[NV_FIELDS], n = 0;
	long long index;
	json_t *o;

	for (p = line; n < NV_FIELDS; n++) {
		f[n] = p;
		while (p < end && *p != ',')
			p++;
		fl[n] = p - f[n];
		trim(&f[n], &fl[n]);
		if (p == end) {
			n++;
			break;
		}
		p++;
	}
	if (n != NV_FIELDS || p != end)
		return NULL;
	if (parse_int(f[0], fl[0], &index) != 0 || index < 0)
		return NULL;
	o = json_object();
	json_object_set_new(o, keys[0], json_integer(index));
	set_str(o, keys[1], f[1], fl[1]);
	set_int(o, keys[2], f[2], fl[2]);
	set_int(o, keys[3], f[3], fl[3]);
	set_int(o, keys[4], f[4], fl[4]);
	set_int(o, keys[5], f[5], fl[5]);
	set_real(o, keys[6], f[6], fl[6]);
	return o;
}

json_t *
telemetry_parse_nvidia(const char *csv, size_t len)
{
	const char *p, *end, *nl;
	json_t *a, *o;

	if (csv == NULL)
		return NULL;
	a = json_array();
	for (p = csv, end = csv + len; p < end;) {
		if ((nl = memchr(p, '\n', end - p)) == NULL)
			nl = end;
		if ((o = nvidia_parse_line(p, nl - p)) != NULL)
			json_array_append_new(a, o);
		p = nl + 1;
	}
	if (json_array_size(a) == 0) {
		json_decref(a);
		return NULL;
	}
	return a;
}

struct tok {
	const char *p;
	size_t len;
};

/* Splits on blanks; '/' is a token of its own ("3374 / 65536", "0/0"). */
static size_t
tokenize(const char *p, size_t len, struct tok *t, size_t max)
{
	const char *end = p + len;
	size_t n = 0;

	while (p < end && n < max) {
		if (is_space(*p)) {
			p++;
			continue;
		}
		t[n].p = p;
		if (*p == '/')
			p++;
		else {
			while (p < end && !is_space(*p) && *p != '/')
				p++;
		}
		t[n].len = p - t[n].p;
		n++;
	}
	return n;
}

static int
tok_is(const struct tok *t, const char *s)
{
	return t->len == strlen(s) && memcmp(t->p, s, t->len) == 0;
}

static int
all_alpha(const char *p, size_t len)
{
	size_t i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++) {
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' &&
		    p[i] <= 'Z')))
			return 0;
	}
	return 1;
}

/* A PCI address: hex digits, ':' and one '.', e.g. 0000:C1:00.0. */
static int
is_bus_id(const char *p, size_t len)
{
	size_t i, colons = 0, dots = 0;

	for (i = 0; i < len; i++) {
		if (p[i] == ':')
			colons++;
		else if (p[i] == '.')
			dots++;
		else if (!((p[i] >= '0' && p[i] <= '9') ||
		    (p[i] >= 'a' && p[i] <= 'f') ||
		    (p[i] >= 'A' && p[i] <= 'F')))
			return 0;
	}
	return colons >= 1 && dots == 1;
}

/* The cells of "| a | b | c |": how many, or 0 if not a row of at most
 * max cells. */
static size_t
split_cells(const char *line, size_t len, struct tok *c, size_t max)
{
	const char *p = line, *end, *s;
	size_t n = 0;

	trim(&p, &len);
	end = p + len;
	if (len < 2 || *p != '|' || end[-1] != '|')
		return 0;
	for (p++; p < end; p++) {
		s = p;
		while (*p != '|')
			p++;
		if (n == max)
			return 0;
		c[n].p = s;
		c[n].len = p - s;
		trim(&c[n].p, &c[n].len);
		n++;
	}
	return n;
}

struct npu_cur {
	int valid;
	long long id;
	struct tok name;
	struct tok health;
	struct tok power;
	struct tok temp;
};

/* "| 0     910B1 | OK | 93.2  42  0 / 0 |": the NPU's own row. */
static int
npu_row(const struct tok *c, struct npu_cur *cur)
{
	struct tok t[8], v[8];
	long long id;
	size_t n, nv;

	n = tokenize(c[0].p, c[0].len, t, nitems(t));
	if (n != 2 || parse_int(t[0].p, t[0].len, &id) != 0 || id < 0)
		return 0;
	if (!all_alpha(c[1].p, c[1].len))
		return 0;
	nv = tokenize(c[2].p, c[2].len, v, nitems(v));
	if (nv < 2)
		return 0;
	cur->id = id;
	cur->name = t[1];
	cur->health = c[1];
	cur->power = v[0];
	cur->temp = v[1];
	cur->valid = 1;
	return 1;
}

/* "| 0 | 0000:C1:00.0 | 0  0 / 0  3374 / 65536 |": one chip of the NPU. */
static json_t *
npu_chip_row(const struct tok *c, const struct npu_cur *cur)
{
	struct tok t[4], v[16], *mem = NULL;
	long long chip;
	size_t n, i;
	json_t *o;

	n = tokenize(c[0].p, c[0].len, t, nitems(t));
	if (n < 1 || n > 2 || parse_int(t[0].p, t[0].len, &chip) != 0 ||
	    chip < 0)
		return NULL;
	if (!is_bus_id(c[1].p, c[1].len))
		return NULL;
	n = tokenize(c[2].p, c[2].len, v, nitems(v));
	if (n < 1)
		return NULL;
	/* After AICore: "used / total" pairs, Memory then HBM (if any). */
	for (i = 1; i + 2 < n; i++) {
		if (tok_is(&v[i + 1], "/")) {
			mem = &v[i];
			i += 2;
		}
	}
	o = json_object();
	json_object_set_new(o, "index", json_integer(cur->id));
	json_object_set_new(o, "chip", json_integer(chip));
	set_str(o, "name", cur->name.p, cur->name.len);
	set_str(o, "bus_id", c[1].p, c[1].len);
	set_str(o, "health", cur->health.p, cur->health.len);
	set_int(o, "util_pct", v[0].p, v[0].len);
	if (mem != NULL) {
		set_int(o, "mem_used_mb", mem[0].p, mem[0].len);
		set_int(o, "mem_total_mb", mem[2].p, mem[2].len);
	}
	set_int(o, "temp_c", cur->temp.p, cur->temp.len);
	set_real(o, "power_w", cur->power.p, cur->power.len);
	return o;
}

json_t *
telemetry_parse_npu(const char *text, size_t len)
{
	const char *p, *end, *nl;
	struct npu_cur cur;
	struct tok c[4];
	json_t *a, *o;
	size_t n;

	if (text == NULL)
		return NULL;
	a = json_array();
	memset(&cur, 0, sizeof cur);
	for (p = text, end = text + len; p < end;) {
		if ((nl = memchr(p, '\n', end - p)) == NULL)
			nl = end;
		/* The process table follows the devices: stop there. */
		if (memmem(p, nl - p, "Process id", 10) != NULL)
			break;
		n = split_cells(p, nl - p, c, nitems(c));
		if (n == 3 && !npu_row(c, &cur) && cur.valid &&
		    (o = npu_chip_row(c, &cur)) != NULL)
			json_array_append_new(a, o);
		p = nl + 1;
	}
	if (json_array_size(a) == 0) {
		json_decref(a);
		return NULL;
	}
	return a;
}

/* ---- sampling --------------------------------------------------------- */

/* A plain PATH walk; relative and empty entries are skipped. */
static char *
find_in_path(const char *name)
{
	const char *path = getenv("PATH"), *p, *e;
	struct stat sb;
	char *full;

	if (path == NULL)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path;; p = e + 1) {
		e = strchrnul(p, ':');
		if (e > p && *p == '/') {
			xasprintf(&full, "%.*s/%s", (int)(e - p), p, name);
			if (stat(full, &sb) == 0 && S_ISREG(sb.st_mode) &&
			    access(full, X_OK) == 0)
				return full;
			free(full);
		}
		if (*e == '\0')
			return NULL;
	}
}

static void
tel_leave(struct telemetry *t)
{
	if (--t->busy == 0 && t->dead)
		free(t);
}

static void
tel_deliver(struct telemetry *t, json_t *devices)
{
	t->cb(devices, t->src == TEL_NVIDIA ? "nvidia-smi" : "npu-smi",
	    t->arg);
}

/*
 * nvidia: hands the pending sample over (if any) and starts another. whole
 * says the sample was ended by the next one starting, so its size can be
 * trusted; a flush after a pause may have cut a slow sample short.
 */
static void
tel_flush(struct telemetry *t, int whole)
{
	json_t *a = t->pending;

	loop_timer_cancel(t->loop, t->quiet_timer);
	t->quiet_timer = 0;
	if (json_array_size(a) == 0)
		return;
	if (whole && json_array_size(a) > t->sample_size)
		t->sample_size = json_array_size(a);
	t->backoff_ms = TEL_BACKOFF_MIN_MS;
	t->pending = json_array();
	tel_deliver(t, a);
}

static void
tel_quiet(void *arg)
{
	struct telemetry *t = arg;

	t->busy++;
	t->quiet_timer = 0;
	tel_flush(t, 0);
	tel_leave(t);
}

/*
 * nvidia-smi prints the GPUs of a sample in index order, so an index not
 * above the last one starts the next sample. Once the size of a whole sample
 * is known, a sample that reaches it is complete at once; otherwise a pause
 * ends it.
 */
static void
tel_line(struct telemetry *t, const char *line, size_t len)
{
	long long index;
	json_t *o;

	if ((o = nvidia_parse_line(line, len)) == NULL)
		return;
	index = json_integer_value(json_object_get(o, "index"));
	if (json_array_size(t->pending) > 0 && index <= t->last_index) {
		tel_flush(t, 1);
		if (t->dead) {
			json_decref(o);
			return;
		}
	}
	json_array_append_new(t->pending, o);
	t->last_index = index;
	if (t->sample_size > 0 &&
	    json_array_size(t->pending) >= t->sample_size) {
		tel_flush(t, 0);
		return;
	}
	loop_timer_cancel(t->loop, t->quiet_timer);
	t->quiet_timer = loop_timer_add(t->loop, TEL_QUIET_MS, tel_quiet, t);
}

/* nvidia: complete lines go to tel_line; an over-long line is dropped. */
static void
tel_lines(struct telemetry *t)
{
	char *nl;
	size_t n;

	while (!t->dead && (nl = memchr(t->in.data, '\n', t->in.len)) != NULL) {
		n = nl - t->in.data;
		if (!t->dropping)
			tel_line(t, t->in.data, n);
		t->dropping = 0;
		if (t->dead)
			return;
		buf_drain(&t->in, n + 1);
	}
	if (t->in.len > TEL_LINE_MAX) {
		buf_reset(&t->in);
		t->dropping = 1;
	}
}

static void
tel_close_fd(struct telemetry *t)
{
	if (t->fd == -1)
		return;
	loop_del_fd(t->loop, t->fd);
	close(t->fd);
	t->fd = -1;
}

static void
tel_reap(void *arg)
{
	struct telemetry *t = arg;
	int status = 0;
	pid_t r;

	t->busy++;
	t->reap_timer = 0;
	r = waitpid(t->pid, &status, WNOHANG);
	if (r == 0 && ++t->reap_tries >= TEL_REAP_KILL_TRIES)
		kill(t->pid, SIGKILL);
	if (r == 0)
		t->reap_timer = loop_timer_add(t->loop, TEL_REAP_POLL_MS,
		    tel_reap, t);
	else {
		/* Reaped, or gone already (ECHILD): either way not ours. */
		if (r == t->pid && t->src == TEL_NVIDIA) {
			if (WIFSIGNALED(status))
				log_warn("telemetry: %s killed by signal %d; "
				    "restarting in %u ms", t->path,
				    WTERMSIG(status), t->backoff_ms);
			else
				log_warn("telemetry: %s exited with status "
				    "%d; restarting in %u ms", t->path,
				    WEXITSTATUS(status), t->backoff_ms);
		}
		t->pid = -1;
		tel_child_done(t);
	}
	tel_leave(t);
}

/* The child's output ended (EOF, error, or it was killed as hung). */
static void
tel_eof(struct telemetry *t)
{
	tel_close_fd(t);
	loop_timer_cancel(t->loop, t->watch_timer);
	t->watch_timer = 0;
	if (t->src == TEL_NVIDIA) {
		tel_flush(t, 0);
		if (t->dead)
			return;
	}
	t->reap_tries = 0;
	loop_timer_cancel(t->loop, t->reap_timer);
	t->reap_timer = 0;
	tel_reap(t);
}

static void
tel_watchdog(void *arg)
{
	struct telemetry *t = arg;

	t->busy++;
	t->watch_timer = 0;
	log_warn("telemetry: %s silent or stuck for too long; killing it",
	    t->path);
	if (t->pid != -1)
		kill(t->pid, SIGKILL);
	tel_eof(t);
	tel_leave(t);
}

/* How long a child may go without output (nvidia) or run (npu). */
static uint64_t
tel_watch_ms(const struct telemetry *t)
{
	return (uint64_t)t->interval_s * 3000 + 10000;
}

static void
tel_read(int fd, short revents, void *arg)
{
	struct telemetry *t = arg;
	char chunk[4096];
	ssize_t r;

	t->busy++;
	for (;;) {
		r = read(fd, chunk, sizeof chunk);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (r <= 0) {
			tel_eof(t);
			break;
		}
		if (t->src == TEL_NPU) {
			if (t->in.len + (size_t)r <= TEL_OUTPUT_MAX)
				buf_add(&t->in, chunk, (size_t)r);
			continue;
		}
		buf_add(&t->in, chunk, (size_t)r);
		loop_timer_cancel(t->loop, t->watch_timer);
		t->watch_timer = loop_timer_add(t->loop, tel_watch_ms(t),
		    tel_watchdog, t);
		tel_lines(t);
		if (t->dead)
			break;
	}
	tel_leave(t);
}

static void
tel_respawn(void *arg)
{
	struct telemetry *t = arg;

	t->busy++;
	t->next_timer = 0;
	tel_spawn(t);
	tel_leave(t);
}

static void
tel_tick(void *arg)
{
	struct telemetry *t = arg;

	t->busy++;
	t->next_timer = loop_timer_add(t->loop, (uint64_t)t->interval_s * 1000,
	    tel_tick, t);
	/* The previous run is still going; its watchdog will end it. */
	if (t->pid == -1)
		tel_spawn(t);
	tel_leave(t);
}

/* After the child was reaped: deliver (npu) or respawn later (nvidia). */
static void
tel_child_done(struct telemetry *t)
{
	json_t *a;

	if (t->src == TEL_NPU) {
		a = telemetry_parse_npu(t->in.data, t->in.len);
		buf_reset(&t->in);
		if (a != NULL)
			tel_deliver(t, a);
		return;
	}
	buf_reset(&t->in);
	t->dropping = 0;
	t->next_timer = loop_timer_add(t->loop, t->backoff_ms, tel_respawn, t);
	t->backoff_ms = t->backoff_ms * 2 > TEL_BACKOFF_MAX_MS ?
	    TEL_BACKOFF_MAX_MS : t->backoff_ms * 2;
}

static void
tel_spawn(struct telemetry *t)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t sa;
	sigset_t none, dfl;
	char interval[16], *argv[8];
	int p[2], err;

	snprintf(interval, sizeof interval, "%d", t->interval_s);
	if (t->src == TEL_NVIDIA) {
		argv[0] = "nvidia-smi";
		argv[1] = NV_QUERY;
		argv[2] = NV_FORMAT;
		argv[3] = "-l";
		argv[4] = interval;
		argv[5] = NULL;
	} else {
		argv[0] = "npu-smi";
		argv[1] = "info";
		argv[2] = NULL;
	}
	if (pipe2(p, O_CLOEXEC) == -1) {
		log_warn("telemetry: pipe: %s", strerror(errno));
		goto retry;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
#if defined(__GLIBC__) && defined(__GLIBC_PREREQ)
#if __GLIBC_PREREQ(2, 34)
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
#endif
	posix_spawnattr_init(&sa);
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGHUP);
	sigaddset(&dfl, SIGQUIT);
	sigaddset(&dfl, SIGCHLD);
	posix_spawnattr_setsigmask(&sa, &none);
	posix_spawnattr_setsigdefault(&sa, &dfl);
	posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF);
	err = posix_spawn(&t->pid, t->path, &fa, &sa, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&sa);
	close(p[1]);
	if (err != 0) {
		t->pid = -1;
		close(p[0]);
		log_warn("telemetry: %s: %s", t->path, strerror(err));
		goto retry;
	}
	t->fd = p[0];
	fd_set_nonblock(t->fd);
	t->started = clock_mono_ms();
	loop_add_fd(t->loop, t->fd, POLLIN, tel_read, t);
	t->watch_timer = loop_timer_add(t->loop, tel_watch_ms(t),
	    tel_watchdog, t);
	return;

retry:
	/* npu: the next tick retries; nvidia: back off. */
	if (t->src == TEL_NVIDIA) {
		t->next_timer = loop_timer_add(t->loop, t->backoff_ms,
		    tel_respawn, t);
		t->backoff_ms = t->backoff_ms * 2 > TEL_BACKOFF_MAX_MS ?
		    TEL_BACKOFF_MAX_MS : t->backoff_ms * 2;
	}
}

struct telemetry *
telemetry_start(struct loop *loop, int interval_s, telemetry_cb cb,
    void *arg)
{
	struct telemetry *t;
	enum tel_source src;
	char *path;

	if ((path = find_in_path("nvidia-smi")) != NULL)
		src = TEL_NVIDIA;
	else if ((path = find_in_path("npu-smi")) != NULL)
		src = TEL_NPU;
	else
		return NULL;
	t = xcalloc(1, sizeof *t);
	t->loop = loop;
	t->interval_s = interval_s < 1 ? 1 : interval_s;
	t->cb = cb;
	t->arg = arg;
	t->src = src;
	t->path = path;
	t->pid = -1;
	t->fd = -1;
	buf_init(&t->in);
	t->pending = json_array();
	t->backoff_ms = TEL_BACKOFF_MIN_MS;
	log_info("telemetry: sampling %s every %d s", path, t->interval_s);
	if (src == TEL_NVIDIA)
		tel_spawn(t);
	else {
		t->busy++;
		tel_tick(t);
		tel_leave(t);
	}
	return t;
}

void
telemetry_stop(struct telemetry *t)
{
	struct timespec ts = { 0, 5 * 1000 * 1000 };
	int i;

	if (t == NULL || t->dead)
		return;
	loop_timer_cancel(t->loop, t->quiet_timer);
	loop_timer_cancel(t->loop, t->watch_timer);
	loop_timer_cancel(t->loop, t->reap_timer);
	loop_timer_cancel(t->loop, t->next_timer);
	t->quiet_timer = t->watch_timer = t->reap_timer = t->next_timer = 0;
	tel_close_fd(t);
	if (t->pid != -1) {
		/* Nothing to save in a sampler: kill, and wait up to 2 s. */
		kill(t->pid, SIGKILL);
		for (i = 0; i < 400; i++) {
			if (waitpid(t->pid, NULL, WNOHANG) != 0)
				break;
			nanosleep(&ts, NULL);
		}
		if (i == 400)
			log_warn("telemetry: %s (pid %ld) did not exit",
			    t->path, (long)t->pid);
		t->pid = -1;
	}
	json_decref(t->pending);
	t->pending = NULL;
	buf_free(&t->in);
	free(t->path);
	t->path = NULL;
	t->dead = 1;
	if (t->busy == 0)
		free(t);
}
