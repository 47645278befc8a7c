/* test_common.c - buffers, the poll loop, file helpers, the wire protocol. */
#include "test.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../common/common.h"

#define DECODE(s) proto_decode_line((s), strlen(s), &cause)
#define CMD(s) proto_cmd_parse((s), strlen(s), &c, &cause)

TEST(buf_grows_and_drains)
{
	struct buf b;
	int i;

	buf_init(&b);
	for (i = 0; i < 1000; i++)
		buf_printf(&b, "%d,", i);
	CHECK(strncmp(buf_cstr(&b), "0,1,2,", 6) == 0);
	CHECK_INT(b.len, 3890);
	buf_drain(&b, 4);
	CHECK(strncmp(buf_cstr(&b), "2,3,", 4) == 0);
	buf_drain(&b, b.len + 10);
	CHECK_INT(b.len, 0);
	CHECK_STR(buf_cstr(&b), "");
	buf_free(&b);
	buf_free(&b);
}

/* The mapping of /proc/self/smaps that starts at p: its end, and its
 * THPeligible flag (-1 when absent). 0 when there is none. */
static uintptr_t
smaps_mapping(const void *p, int *thp)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	uintptr_t lo, hi, end = 0;
	int in = 0, v;

	*thp = -1;
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL) {
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &lo, &hi) == 2 &&
		    line[strspn(line, "0123456789abcdef")] == '-') {
			in = lo == (uintptr_t)p;
			if (in)
				end = hi;
		} else if (in && sscanf(line, "THPeligible: %d", &v) == 1)
			*thp = v;
	}
	fclose(f);
	return end;
}

TEST(xhuge_alloc_is_aligned_zeroed_and_exact)
{
	char *p, *q, mode[128] = "";
	size_t i;
	uintptr_t end;
	int thp, fd;
	ssize_t r;

	CHECK_INT(xhuge_size(1), XHUGE_PAGE);
	CHECK_INT(xhuge_size(XHUGE_PAGE), XHUGE_PAGE);
	CHECK_INT(xhuge_size(5 * 1024 * 1024), 3 * XHUGE_PAGE);
	p = xhuge_alloc(5 * 1024 * 1024);
	CHECK(((uintptr_t)p & (XHUGE_PAGE - 1)) == 0);
	for (i = 0; i < 3 * XHUGE_PAGE; i += 4096)
		if (p[i] != 0 || p[i + 4095] != 0)
			break;
	CHECK_INT(i, 3 * XHUGE_PAGE);
	memset(p, 0x5a, 3 * XHUGE_PAGE);
	/* exactly the rounded size is mapped: the slack was given back */
	end = smaps_mapping(p, &thp);
	CHECK(end == (uintptr_t)p + 3 * XHUGE_PAGE);
	if ((fd = open("/sys/kernel/mm/transparent_hugepage/enabled",
	    O_RDONLY)) != -1) {
		r = read(fd, mode, sizeof mode - 1);
		close(fd);
		if (r > 0 && strstr(mode, "[never]") == NULL)
			CHECK_INT(thp, 1);	/* the hint was taken */
	}
	q = xhuge_alloc(100);
	CHECK(q != p && ((uintptr_t)q & (XHUGE_PAGE - 1)) == 0);
	xhuge_free(p, 5 * 1024 * 1024);
	CHECK(smaps_mapping(p, &thp) == 0);
	CHECK(smaps_mapping(q, &thp) == (uintptr_t)q + XHUGE_PAGE);
	xhuge_free(q, 100);
	xhuge_free(NULL, 100);
}

struct loop_probe {
	struct loop *l;
	int order[8];
	int n;
	int fd_hits;
	int sig_hits;
};

static void
probe_timer(void *arg)
{
	struct loop_probe *p = arg;

	p->order[p->n] = p->n;
	p->n++;
	if (p->n == 3)
		loop_stop(p->l);
}

static void
probe_timer_never(void *arg)
{
	struct loop_probe *p = arg;

	p->order[p->n++] = 99;
}

TEST(loop_timers_fire_in_order_and_cancel)
{
	struct loop_probe p = { 0 };
	uint64_t id;

	p.l = loop_new();
	loop_timer_add(p.l, 30, probe_timer, &p);
	id = loop_timer_add(p.l, 10, probe_timer_never, &p);
	loop_timer_add(p.l, 20, probe_timer, &p);
	loop_timer_add(p.l, 5, probe_timer, &p);
	loop_timer_cancel(p.l, id);
	loop_run(p.l);
	CHECK_INT(p.n, 3);
	CHECK_INT(p.order[0], 0);
	CHECK_INT(p.order[2], 2);
	loop_free(p.l);
}

TEST(loop_timer_id_survives_heap_reordering)
{
	struct loop_probe p = { 0 };
	uint64_t late, early;

	p.l = loop_new();
	late = loop_timer_add(p.l, 60000, probe_timer_never, &p);
	/* The earlier timer moves up past the late one in the heap. */
	early = loop_timer_add(p.l, 1, probe_timer_never, &p);
	CHECK(late != early);
	loop_timer_cancel(p.l, early);
	loop_run_once(p.l, 20);
	CHECK_INT(p.n, 0);	/* the cancelled early timer never fired */
	loop_timer_cancel(p.l, late);
	loop_free(p.l);
}

static void
probe_read(int fd, short revents, void *arg)
{
	struct loop_probe *p = arg;
	char c;

	if (revents & POLLIN) {
		if (read(fd, &c, 1) == 1)
			p->fd_hits++;
		loop_del_fd(p->l, fd);
	}
}

static void
probe_sig(int sig, void *arg)
{
	struct loop_probe *p = arg;

	if (sig == SIGUSR1)
		p->sig_hits++;
	loop_stop(p->l);
}

TEST(loop_fds_and_signals)
{
	struct loop_probe p = { 0 };
	int fds[2];

	REQUIRE(pipe(fds) == 0);
	p.l = loop_new();
	loop_add_fd(p.l, fds[0], POLLIN, probe_read, &p);
	loop_signal(p.l, SIGUSR1, probe_sig, &p);
	CHECK(write(fds[1], "x", 1) == 1);
	loop_run_once(p.l, 1000);
	CHECK_INT(p.fd_hits, 1);
	kill(getpid(), SIGUSR1);
	loop_run(p.l);
	CHECK_INT(p.sig_hits, 1);
	/* The removed fd is not dispatched again. */
	CHECK(write(fds[1], "y", 1) == 1);
	loop_run_once(p.l, 10);
	CHECK_INT(p.fd_hits, 1);
	loop_free(p.l);
	close(fds[0]);
	close(fds[1]);
}

TEST(file_atomic_write_and_bounded_read)
{
	char path[512], *cause = NULL;
	struct buf b;

	snprintf(path, sizeof path, "%s/f", test_tmpdir());
	REQUIRE(file_write_atomic(path, "hello", 5, 0600, &cause) == 0);
	buf_init(&b);
	CHECK(file_read_all(path, 100, &b, &cause) == 0);
	CHECK_STR(buf_cstr(&b), "hello");
	buf_reset(&b);
	CHECK(file_read_all(path, 3, &b, &cause) == -1);
	CHECK(cause != NULL && strstr(cause, "larger than 3") != NULL);
	free(cause);
	buf_free(&b);
}

TEST(proc_identity_survives_pid_checks)
{
	uint64_t st;
	pid_t pid;
	int status;

	REQUIRE(proc_start_time(getpid(), &st) == 0);
	CHECK(proc_alive(getpid(), st));
	CHECK(!proc_alive(getpid(), st + 1));
	pid = fork();
	if (pid == 0)
		_exit(0);
	REQUIRE(proc_start_time(pid, &st) == 0 || 1);
	waitpid(pid, &status, 0);
	CHECK(!proc_alive(pid, st));
}

TEST(proto_decode_rejects_bad_lines_and_keeps_going)
{
	char *cause = NULL, deep[200];
	json_t *o;
	int i;

	o = DECODE("{\"type\":\"metric\",\"seq\":3}");
	REQUIRE(o != NULL);
	CHECK_INT(proto_type_of(o), PROTO_METRIC);
	json_decref(o);

	CHECK(DECODE("not json") == NULL);
	CHECK(cause != NULL && strstr(cause, "not JSON") != NULL);
	free(cause);
	cause = NULL;
	CHECK(DECODE("[1,2]") == NULL);
	free(cause);
	cause = NULL;
	CHECK(DECODE("{\"seq\":1}") == NULL);
	CHECK(strstr(cause, "type") != NULL);
	free(cause);
	cause = NULL;
	for (i = 0; i < 100; i++)
		deep[i] = '[';
	for (i = 100; i < 200; i++)
		deep[i] = ']';
	CHECK(proto_decode_line(deep, sizeof deep, &cause) == NULL);
	CHECK(strstr(cause, "nesting") != NULL);
	free(cause);
	cause = NULL;
	/* Brackets inside strings do not count as nesting. */
	{
		const char *s = "{\"type\":\"log\",\"line\":\"[[[[[[[[[[[["
		    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}";

		o = proto_decode_line(s, strlen(s), &cause);
		CHECK(o != NULL);
	}
	json_decref(o);
	/* Unknown types decode; readers ignore them. */
	o = DECODE("{\"type\":\"future\",\"x\":1}");
	REQUIRE(o != NULL);
	CHECK_INT(proto_type_of(o), PROTO_UNKNOWN);
	json_decref(o);
}

TEST(proto_nonfinite_numbers_roundtrip)
{
	json_t *o = json_object();
	double v = 0;
	char *line;
	size_t n;
	char *cause = NULL;
	json_t *back;

	json_object_set_new(o, "type", json_string("metric"));
	proto_set_number(o, "loss", NAN);
	proto_set_number(o, "lr", 1e-5);
	proto_set_number(o, "x", -INFINITY);
	line = proto_encode_line(o, &n);
	CHECK(line[n - 1] == '\n');
	CHECK(strstr(line, "\"loss\":\"nan\"") != NULL);
	back = proto_decode_line(line, n - 1, &cause);
	REQUIRE(back != NULL);
	CHECK(proto_get_number(back, "loss", &v) == 0 && isnan(v));
	CHECK(proto_get_number(back, "lr", &v) == 0);
	CHECK_DBL(v, 1e-5, 1e-18);
	CHECK(proto_get_number(back, "x", &v) == 0 && isinf(v) && v < 0);
	free(line);
	json_decref(o);
	json_decref(back);
}

TEST(proto_commands_validated)
{
	struct proto_cmd c;
	char *cause = NULL, *s;

	CHECK(CMD("{\"cmd\":\"stop\",\"grace_s\":5}") == 0);
	CHECK_INT(c.kind, PROTO_CMD_STOP);
	CHECK_INT(c.grace_s, 5);
	CHECK(CMD("{\"cmd\":\"signal\",\"sig\":\"SIGUSR1\"}") == 0);
	CHECK_INT(c.sig, SIGUSR1);
	s = proto_cmd_encode(&c);
	CHECK_STR(s, "{\"cmd\":\"signal\",\"sig\":\"USR1\"}\n");
	free(s);
	CHECK(CMD("{\"cmd\":\"signal\",\"sig\":\"NOPE\"}") == -1);
	free(cause);
	cause = NULL;
	CHECK(CMD("{\"cmd\":\"stop\",\"grace_s\":-1}") == -1);
	free(cause);
	cause = NULL;
	CHECK(CMD("{\"cmd\":\"reboot\"}") == -1);
	CHECK(strstr(cause, "unknown command") != NULL);
	free(cause);
}

/* ---- a stream of protocol lines as the engine reads an agent --------------- */

struct pstream {
	int decoded, rejected;
	int64_t seqs[8];
	char types[8][16];
};

/* What tui/engine.c's att_line does first: decode or count. */
static void
pstream_line(const char *p, size_t n, void *arg)
{
	struct pstream *ps = arg;
	char *cause = NULL;
	json_t *o;

	if ((o = proto_decode_line(p, n, &cause)) == NULL) {
		ps->rejected++;
		free(cause);
		return;
	}
	if (ps->decoded < 8) {
		snprintf(ps->types[ps->decoded], sizeof ps->types[0], "%s",
		    proto_get_string(o, "type"));
		if (proto_get_int(o, "seq", &ps->seqs[ps->decoded]) != 0)
			ps->seqs[ps->decoded] = -1;
	}
	ps->decoded++;
	json_decref(o);
}

/*
 * Lines over PROTO_MAX_LINE, nested deeper than PROTO_MAX_DEPTH, not JSON:
 * each refused on its own, and the good line after them still decoded, in
 * any chunking. The engine splits with linesplit_feed(PROTO_MAX_LINE) and
 * decodes with proto_decode_line (tui/engine.c att_data/att_line). A
 * dropped line's tail is not a line: here 3 MiB of blanks end with an
 * object that must not be taken.
 */
TEST(proto_stream_bad_lines_refused_one_by_one)
{
	static const size_t chunks[] = { 0, 65536, 4093, 1 };
	struct linesplit ls;
	struct pstream ps;
	struct buf s;
	size_t i, k, n, dropped;
	int d;

	buf_init(&s);
	buf_addstr(&s, "{\"type\":\"hb\"}\n");
	/* over the cap: a log line of 2 MiB */
	buf_addstr(&s, "{\"type\":\"log\",\"text\":\"");
	for (i = 0; i < 2 * 1024 * 1024; i++)
		buf_addch(&s, 'x');
	buf_addstr(&s, "\"}\n");
	/* over the cap, with a tail that is a line by itself */
	for (i = 0; i < 3 * 1024 * 1024; i++)
		buf_addch(&s, ' ');
	buf_addstr(&s, "{\"type\":\"metric\",\"seq\":666}\n");
	/* exactly one byte over the cap */
	buf_addstr(&s, "{\"type\":\"log\",\"text\":\"");
	for (i = 0; i < PROTO_MAX_LINE - 23 + 1; i++)
		buf_addch(&s, 'y');
	buf_addstr(&s, "\"}\n");
	/* deeper than the cap (33 levels), then at the cap (32) */
	buf_addstr(&s, "{\"type\":\"x\",\"a\":");
	for (d = 0; d < PROTO_MAX_DEPTH; d++)
		buf_addch(&s, '[');
	for (d = 0; d < PROTO_MAX_DEPTH; d++)
		buf_addch(&s, ']');
	buf_addstr(&s, "}\n{\"type\":\"deep\",\"a\":");
	for (d = 0; d < PROTO_MAX_DEPTH - 1; d++)
		buf_addch(&s, '[');
	for (d = 0; d < PROTO_MAX_DEPTH - 1; d++)
		buf_addch(&s, ']');
	buf_addstr(&s, "}\nnot json\n{\"no\":\"type\"}\n");
	buf_addstr(&s, "{\"type\":\"metric\",\"seq\":1}\n");

	for (k = 0; k < nitems(chunks); k++) {
		memset(&ls, 0, sizeof ls);
		memset(&ps, 0, sizeof ps);
		dropped = 0;
		for (i = 0; i < s.len; i += n) {
			n = chunks[k] == 0 ? s.len : chunks[k];
			/* a byte at a time only around the small lines */
			if (n == 1 && s.data[i] != '{' && s.data[i] != '\n' &&
			    i > 64 && i + 4096 < s.len)
				n = 4096;
			if (n > s.len - i)
				n = s.len - i;
			dropped += linesplit_feed(&ls, PROTO_MAX_LINE,
			    s.data + i, n, pstream_line, &ps);
		}
		CHECK_INT(dropped, 3);
		CHECK_INT(ps.rejected, 3);	/* too deep, not JSON, no type */
		REQUIRE(ps.decoded == 3);
		CHECK_STR(ps.types[0], "hb");
		CHECK_STR(ps.types[1], "deep");
		CHECK_STR(ps.types[2], "metric");
		CHECK_INT(ps.seqs[2], 1);
		CHECK_INT(ls.b.len, 0);
		linesplit_free(&ls);
	}
	buf_free(&s);
}

/* A line of exactly max bytes is a line; one more byte is dropped, and
 * the stream goes on after its newline whatever the chunking. */
TEST(linesplit_cap_is_exact)
{
	struct pstream ps;
	struct linesplit ls;
	const char *in = "{\"type\":\"a\"}\n{\"type\":\"bb\"}\n{\"type\":\"c\"}\n";
	size_t cut, len = strlen(in);

	for (cut = 0; cut <= len; cut++) {
		memset(&ls, 0, sizeof ls);
		memset(&ps, 0, sizeof ps);
		/* max 12: the first and last (12 bytes) are lines, the
		 * second (13) is dropped */
		CHECK_INT(linesplit_feed(&ls, 12, in, cut, pstream_line, &ps) +
		    linesplit_feed(&ls, 12, in + cut, len - cut, pstream_line,
		    &ps), 1);
		CHECK_INT(ps.decoded, 2);
		CHECK_STR(ps.types[0], "a");
		CHECK_STR(ps.types[1], "c");
		linesplit_free(&ls);
	}
}
