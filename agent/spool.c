/*
 * spool.c - events.jsonl, the agent's lossless record of a run: one JSON
 * object per line, seq 1, 2, 3 ... never skipped or reused, also across a
 * restart (the writer recovers the last seq and cuts a torn last line).
 * One writer (the supervisor), any number of readers (attach, status).
 *
 * Durability: every line is written at once (readers see it); fsync happens
 * on state changes and at most every 200 ms otherwise. A failed write (disk
 * full) is cut back to the last whole line, and the event waits in memory,
 * seq unassigned, until spool_retry() succeeds.
 */
#include "agent_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SPOOL_SYNC_MS 200

struct spool {
	char *path;
	int fd;
	int64_t seq;
	off_t size;		/* end of the last whole line */
	uint64_t dirty_since;	/* mono ms of the first unsynced write, 0 */
	json_t *queue;		/* events waiting after a write error */
	int sync_queued;
};

/* Offset of the last '\n' before offset `before`, or -1 when none. */
static off_t
prev_newline(int fd, off_t before)
{
	char data[8192], *p;
	off_t start;
	ssize_t n;

	while (before > 0) {
		start = before > (off_t)sizeof data ?
		    before - (off_t)sizeof data : 0;
		n = pread(fd, data, (size_t)(before - start), start);
		if (n != before - start)
			return -1;
		if ((p = memrchr(data, '\n', (size_t)n)) != NULL)
			return start + (p - data);
		before = start;
	}
	return -1;
}

/* The JSON object of the whole line ending just before `end` ('\n' at
 * end - 1); *lstartp gets its start. NULL when unreadable. */
static json_t *
line_before(int fd, off_t end, off_t *lstartp)
{
	off_t nl = prev_newline(fd, end - 1);
	off_t lstart = nl == -1 ? 0 : nl + 1;
	size_t len = (size_t)(end - 1 - lstart);
	json_t *o = NULL;
	char *line;

	*lstartp = lstart;
	if (len > PROTO_MAX_LINE)
		return NULL;
	line = xmalloc(len + 1);
	if (pread(fd, line, len, lstart) == (ssize_t)len)
		o = json_loadb(line, len, 0, NULL);
	free(line);
	return o;
}

json_t *
spool_peek_last(const char *path)
{
	struct stat st;
	off_t nl, lstart;
	json_t *o = NULL;
	int fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return NULL;
	if (fstat(fd, &st) == 0 && (nl = prev_newline(fd, st.st_size)) != -1)
		o = line_before(fd, nl + 1, &lstart);
	close(fd);
	return o;
}

/* Finds the last whole line's seq, after cutting a torn tail. */
static int
spool_recover(struct spool *sp, char **cause)
{
	struct stat st;
	off_t end, lstart, nl;
	json_t *o;

	if (fstat(sp->fd, &st) == -1) {
		xasprintf(cause, "%s: %s", sp->path, strerror(errno));
		return -1;
	}
	nl = prev_newline(sp->fd, st.st_size);
	end = nl == -1 ? 0 : nl + 1;
	if (end != st.st_size) {
		log_warn("%s: cut a torn last line of %lld bytes", sp->path,
		    (long long)(st.st_size - end));
		if (ftruncate(sp->fd, end) == -1) {
			xasprintf(cause, "truncating %s: %s", sp->path,
			    strerror(errno));
			return -1;
		}
	}
	sp->size = end;
	sp->seq = 0;
	/* Walk whole lines backwards until one carries a seq. */
	while (end > 0) {
		o = line_before(sp->fd, end, &lstart);
		if (json_is_integer(json_object_get(o, "seq")))
			sp->seq = json_integer_value(json_object_get(o, "seq"));
		json_decref(o);
		if (sp->seq > 0)
			return 0;
		log_warn("%s: skipping an unreadable line at offset %lld",
		    sp->path, (long long)lstart);
		end = lstart;
	}
	return 0;
}

struct spool *
spool_open(const char *path, char **cause)
{
	struct spool *sp = xcalloc(1, sizeof *sp);

	sp->path = xstrdup(path);
	sp->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (sp->fd == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		free(sp->path);
		free(sp);
		return NULL;
	}
	if (spool_recover(sp, cause) != 0) {
		spool_close(sp);
		return NULL;
	}
	sp->queue = json_array();
	return sp;
}

void
spool_close(struct spool *sp)
{
	if (sp == NULL)
		return;
	if (sp->dirty_since != 0)
		spool_sync(sp);
	close(sp->fd);
	json_decref(sp->queue);
	free(sp->path);
	free(sp);
}

int64_t
spool_last_seq(const struct spool *sp)
{
	return sp->seq;
}

static int
spool_write_one(struct spool *sp, json_t *ev)
{
	char *line;
	size_t len;
	int saved;

	json_object_set_new(ev, "seq", json_integer(sp->seq + 1));
	line = proto_encode_line(ev, &len);
	if (write_full(sp->fd, line, len) == -1) {
		saved = errno;
		free(line);
		/* Never leave a torn line behind. */
		if (ftruncate(sp->fd, sp->size) == -1)
			log_error("%s: cannot cut a failed write: %s",
			    sp->path, strerror(errno));
		json_object_del(ev, "seq");
		errno = saved;
		return -1;
	}
	free(line);
	sp->seq++;
	sp->size += (off_t)len;
	if (sp->dirty_since == 0)
		sp->dirty_since = clock_mono_ms();
	return 0;
}

int
spool_retry(struct spool *sp)
{
	json_t *ev;

	while (json_array_size(sp->queue) > 0) {
		ev = json_array_get(sp->queue, 0);
		if (spool_write_one(sp, ev) != 0)
			return -1;
		json_array_remove(sp->queue, 0);
	}
	if (sp->sync_queued) {
		sp->sync_queued = 0;
		spool_sync(sp);
	}
	return 0;
}

int
spool_append(struct spool *sp, json_t *ev, int sync_now)
{
	json_t *copy;

	/* Key order: seq, t, type first, for people reading the file. */
	copy = json_object();
	json_object_set_new(copy, "seq", json_null());
	json_object_set_new(copy, "t", json_integer(clock_wall_ms()));
	if (json_object_get(ev, "type") != NULL)
		json_object_set(copy, "type", json_object_get(ev, "type"));
	json_object_update(copy, ev);
	if (json_array_size(sp->queue) > 0 || spool_write_one(sp, copy) != 0) {
		if (json_array_size(sp->queue) == 0)
			log_error("%s: write failed (%s); holding events in "
			    "memory until it succeeds", sp->path,
			    strerror(errno));
		json_object_del(copy, "seq");
		json_array_append_new(sp->queue, copy);
		sp->sync_queued |= sync_now;
		return -1;
	}
	json_decref(copy);
	if (sync_now)
		spool_sync(sp);
	return 0;
}

void
spool_sync(struct spool *sp)
{
	if (fdatasync(sp->fd) == -1)
		log_error("%s: fdatasync: %s", sp->path, strerror(errno));
	sp->dirty_since = 0;
}

int
spool_sync_due(const struct spool *sp)
{
	uint64_t now;

	if (sp->dirty_since == 0)
		return -1;
	now = clock_mono_ms();
	if (now >= sp->dirty_since + SPOOL_SYNC_MS)
		return 0;
	return (int)(sp->dirty_since + SPOOL_SYNC_MS - now);
}

int
spool_pending(const struct spool *sp)
{
	return (int)json_array_size(sp->queue);
}

/* ---- reader ----------------------------------------------------------- */

struct spool_reader {
	int fd;
	struct buf in;		/* bytes read, not yet returned */
	int64_t from;
};

/* seq of the first whole line that starts at or after off, or -1. */
static int64_t
seq_at(int fd, off_t off, off_t *line_off)
{
	char data[8192], *nl, *line;
	ssize_t n;
	json_t *o;
	int64_t seq = -1;
	off_t pos = off;

	if (off > 0) {
		/* Skip the rest of the line we landed in. */
		for (;;) {
			n = pread(fd, data, sizeof data, pos);
			if (n <= 0)
				return -1;
			if ((nl = memchr(data, '\n', (size_t)n)) != NULL) {
				pos += nl - data + 1;
				break;
			}
			pos += n;
		}
	}
	n = pread(fd, data, sizeof data - 1, pos);
	if (n <= 0)
		return -1;
	data[n] = '\0';
	line = data;
	if ((nl = memchr(line, '\n', (size_t)n)) == NULL)
		return -1;
	*nl = '\0';
	/* "seq" is the first key the writer puts; a cheap parse is enough. */
	o = json_loads(line, 0, NULL);
	if (o != NULL && json_is_integer(json_object_get(o, "seq")))
		seq = json_integer_value(json_object_get(o, "seq"));
	json_decref(o);
	*line_off = pos;
	return seq;
}

struct spool_reader *
spool_reader_open(const char *path, int64_t from_seq, char **cause)
{
	struct spool_reader *r;
	struct stat st;
	off_t lo = 0, hi, mid, loff;
	int64_t s;
	int fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	/* seq grows with the offset: bisect to near from_seq. */
	hi = st.st_size;
	while (from_seq > 1 && hi - lo > 65536) {
		mid = lo + (hi - lo) / 2;
		s = seq_at(fd, mid, &loff);
		if (s == -1 || s >= from_seq)
			hi = mid;
		else
			lo = loff;
	}
	if (lseek(fd, lo, SEEK_SET) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	r = xcalloc(1, sizeof *r);
	r->fd = fd;
	r->from = from_seq;
	buf_init(&r->in);
	return r;
}

void
spool_reader_free(struct spool_reader *r)
{
	if (r == NULL)
		return;
	close(r->fd);
	buf_free(&r->in);
	free(r);
}

int
spool_reader_fd(const struct spool_reader *r)
{
	return r->fd;
}

/* Cheap seq extraction: the writer always writes {"seq":N,... first. */
static int64_t
line_seq(const char *p, size_t len)
{
	int64_t v = 0;
	size_t i = 7;

	if (len < 9 || memcmp(p, "{\"seq\":", 7) != 0)
		return -1;
	if (p[i] < '0' || p[i] > '9')
		return -1;
	while (i < len && p[i] >= '0' && p[i] <= '9' && v < INT64_MAX / 10)
		v = v * 10 + (p[i++] - '0');
	return v;
}

int
spool_reader_next(struct spool_reader *r, struct buf *line)
{
	char chunk[65536], *nl;
	ssize_t n;
	size_t len;
	int64_t s;

	for (;;) {
		nl = r->in.len ? memchr(r->in.data, '\n', r->in.len) : NULL;
		if (nl != NULL) {
			len = (size_t)(nl - r->in.data);
			s = line_seq(r->in.data, len);
			if (s == -1 || s >= r->from) {
				buf_reset(line);
				buf_add(line, r->in.data, len);
				buf_drain(&r->in, len + 1);
				return 1;
			}
			buf_drain(&r->in, len + 1);
			continue;
		}
		n = read(r->fd, chunk, sizeof chunk);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0)
			return 0;	/* a partial line stays buffered */
		buf_add(&r->in, chunk, (size_t)n);
	}
}

/* ---- scan: what a whole spool says ------------------------------------ */

struct spool_rank *
spool_scan_rank(struct spool_scan *sc, int rank)
{
	size_t i;

	for (i = 0; i < sc->nranks; i++) {
		if (sc->ranks[i].rank == rank)
			return &sc->ranks[i];
	}
	sc->ranks = xreallocarray(sc->ranks, sc->nranks + 1,
	    sizeof *sc->ranks);
	memset(&sc->ranks[sc->nranks], 0, sizeof *sc->ranks);
	sc->ranks[sc->nranks].rank = rank;
	sc->ranks[sc->nranks].exit_code = -1;
	return &sc->ranks[sc->nranks++];
}

static void
scan_event(struct spool_scan *sc, json_t *o)
{
	const char *type = proto_get_string(o, "type");
	const char *scope, *state;
	struct spool_rank *r;
	json_t *src;
	int64_t v, rank;

	if (type == NULL)
		return;
	if (proto_get_int(o, "rank", &rank) != 0)
		rank = -1;
	if (strcmp(type, "state") == 0) {
		scope = proto_get_string(o, "scope");
		state = proto_get_string(o, "state");
		if (scope == NULL || state == NULL)
			return;
		if (strcmp(scope, "run") == 0) {
			snprintf(sc->run_state, sizeof sc->run_state, "%s",
			    state);
			if (strcmp(state, "starting") == 0) {
				sc->launches++;
				sc->result[0] = '\0';
			}
			if (proto_get_string(o, "result") != NULL)
				snprintf(sc->result, sizeof sc->result, "%s",
				    proto_get_string(o, "result"));
			return;
		}
		if (rank < 0)
			return;
		r = spool_scan_rank(sc, (int)rank);
		if (strcmp(state, "starting") == 0) {
			r->state = RANK_STARTING;
			r->pid = r->child_pid = 0;
			r->exit_code = -1;
			r->exit_signal = 0;
			r->has_src = 0;
			json_decref(r->last_metric);
			r->last_metric = NULL;
		} else if (strcmp(state, "running") == 0) {
			r->state = RANK_RUNNING;
			if (proto_get_int(o, "pid", &v) == 0)
				r->pid = (pid_t)v;
			if (proto_get_int(o, "start_time", &v) == 0)
				r->start_time = (uint64_t)v;
			if (proto_get_int(o, "child_pid", &v) == 0)
				r->child_pid = (pid_t)v;
		} else if (strcmp(state, "exited") == 0) {
			r->state = RANK_EXITED;
			if (proto_get_int(o, "code", &v) == 0)
				r->exit_code = (int)v;
			if (proto_get_int(o, "signal", &v) == 0)
				r->exit_signal = (int)v;
		}
		return;
	}
	if (rank < 0)
		return;
	r = spool_scan_rank(sc, (int)rank);
	if (strcmp(type, "metric") == 0) {
		json_decref(r->last_metric);
		r->last_metric = json_incref(o);
	}
	/* src: [inode, offset, resume offset, place among the events at the
	 * offset]. A process's `starting` has only [inode, offset]: where its
	 * launch starts reading, nothing there spooled yet. An agent before
	 * the place was written gave three: everything at the offset. */
	src = json_object_get(o, "src");
	if (json_is_array(src) && json_array_size(src) >= 2) {
		r->src_ino = (uint64_t)json_integer_value(
		    json_array_get(src, 0));
		r->src_off = (uint64_t)json_integer_value(
		    json_array_get(src, 1));
		r->src_resume = json_array_size(src) >= 3 ?
		    (uint64_t)json_integer_value(json_array_get(src, 2)) :
		    r->src_off;
		if (r->src_resume > r->src_off)
			r->src_resume = r->src_off;
		if (json_array_size(src) == 2)
			r->src_nth = -1;
		else if (json_array_size(src) == 3 ||
		    json_integer_value(json_array_get(src, 3)) < 0)
			r->src_nth = INT64_MAX;
		else
			r->src_nth = json_integer_value(json_array_get(src, 3));
		r->has_src = 1;
	}
}

int
spool_scan(const char *path, struct spool_scan *sc, char **cause)
{
	struct spool_reader *r;
	struct buf line;
	json_t *o;
	int64_t s;
	int n;

	memset(sc, 0, sizeof *sc);
	if ((r = spool_reader_open(path, 1, cause)) == NULL)
		return -1;
	buf_init(&line);
	while ((n = spool_reader_next(r, &line)) == 1) {
		o = json_loadb(line.data ? line.data : "", line.len, 0, NULL);
		if (o == NULL) {
			sc->bad_lines++;
			continue;
		}
		if (proto_get_int(o, "seq", &s) == 0)
			sc->last_seq = s;
		scan_event(sc, o);
		json_decref(o);
	}
	buf_free(&line);
	spool_reader_free(r);
	if (n == -1) {
		xasprintf(cause, "reading %s failed", path);
		spool_scan_free(sc);
		return -1;
	}
	return 0;
}

void
spool_scan_free(struct spool_scan *sc)
{
	size_t i;

	for (i = 0; i < sc->nranks; i++)
		json_decref(sc->ranks[i].last_metric);
	free(sc->ranks);
	memset(sc, 0, sizeof *sc);
}
