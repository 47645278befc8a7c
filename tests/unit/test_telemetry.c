/*
 * test_telemetry.c - the nvidia-smi and npu-smi parsers on fixtures
 * (tests/data/telemetry/, reconstructed from the tools' documented formats),
 * and the sampler for real, with fake nvidia-smi / npu-smi scripts first on
 * PATH (there is no GPU or NPU on the test machine).
 */
#include "test.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../agent/agent.h"

static json_t *
parse_file(const char *rel, json_t *(*fn)(const char *, size_t))
{
	struct buf b;
	char *cause = NULL;
	json_t *a;

	buf_init(&b);
	if (file_read_all(test_data(rel), 1 << 20, &b, &cause) != 0) {
		fprintf(stdout, "  %s\n", cause);
		free(cause);
		buf_free(&b);
		return NULL;
	}
	a = fn(b.data, b.len);
	buf_free(&b);
	return a;
}

static long long
geti(const json_t *a, size_t i, const char *key)
{
	const json_t *v = json_object_get(json_array_get(a, i), key);

	return json_is_integer(v) ? json_integer_value(v) : -999;
}

static double
getr(const json_t *a, size_t i, const char *key)
{
	const json_t *v = json_object_get(json_array_get(a, i), key);

	return json_is_real(v) ? json_real_value(v) : -999.0;
}

static const char *
gets_(const json_t *a, size_t i, const char *key)
{
	return json_string_value(json_object_get(json_array_get(a, i), key));
}

static int
has(const json_t *a, size_t i, const char *key)
{
	return json_object_get(json_array_get(a, i), key) != NULL;
}

TEST(telemetry_parse_nvidia_fixture)
{
	json_t *a = parse_file("telemetry/nvidia_8gpu.csv",
	    telemetry_parse_nvidia);
	char *s;

	REQUIRE(a != NULL);
	CHECK_INT(json_array_size(a), 8);
	CHECK_INT(geti(a, 0, "index"), 0);
	CHECK_STR(gets_(a, 0, "uuid"),
	    "GPU-5f2e7b1c-3d4a-8e9f-0a1b-2c3d4e5f6a7b");
	CHECK_INT(geti(a, 0, "util_pct"), 97);
	CHECK_INT(geti(a, 0, "mem_used_mb"), 30123);
	CHECK_INT(geti(a, 0, "mem_total_mb"), 81559);
	CHECK_INT(geti(a, 0, "temp_c"), 64);
	CHECK_DBL(getr(a, 0, "power_w"), 312.5, 1e-9);
	CHECK_INT(geti(a, 5, "index"), 5);
	CHECK_INT(geti(a, 5, "util_pct"), 0);
	CHECK_INT(geti(a, 5, "mem_used_mb"), 4);
	CHECK_DBL(getr(a, 5, "power_w"), 69.85, 1e-9);
	CHECK_INT(geti(a, 7, "index"), 7);
	/* The exact shape the protocol documents. */
	s = json_dumps(json_array_get(a, 0), JSON_COMPACT);
	CHECK_STR(s, "{\"index\":0,\"uuid\":\"GPU-5f2e7b1c-3d4a-8e9f-0a1b-"
	    "2c3d4e5f6a7b\",\"util_pct\":97,\"mem_used_mb\":30123,"
	    "\"mem_total_mb\":81559,\"temp_c\":64,\"power_w\":312.5}");
	free(s);
	json_decref(a);

	/* No trailing newline, CRLF: the same. */
	a = telemetry_parse_nvidia("3, GPU-a, 1, 2, 3, 4, 5.5\r", 26);
	REQUIRE(a != NULL && json_array_size(a) == 1);
	CHECK_INT(geti(a, 0, "index"), 3);
	CHECK_DBL(getr(a, 0, "power_w"), 5.5, 1e-9);
	json_decref(a);
}

TEST(telemetry_parse_nvidia_absent_fields)
{
	json_t *a = parse_file("telemetry/nvidia_na.csv",
	    telemetry_parse_nvidia);

	REQUIRE(a != NULL);
	/* The "Unable to determine the device handle" line is skipped. */
	CHECK_INT(json_array_size(a), 3);
	CHECK(!has(a, 0, "util_pct"));
	CHECK_INT(geti(a, 0, "mem_used_mb"), 1520);
	CHECK_DBL(getr(a, 0, "power_w"), 98.21, 1e-9);
	CHECK(!has(a, 1, "util_pct"));
	CHECK(!has(a, 1, "temp_c"));
	CHECK(!has(a, 1, "power_w"));
	CHECK_INT(geti(a, 1, "mem_used_mb"), 0);
	CHECK_INT(geti(a, 2, "index"), 2);
	CHECK(!has(a, 2, "uuid"));
	CHECK(!has(a, 2, "mem_used_mb"));
	CHECK(!has(a, 2, "mem_total_mb"));
	CHECK(!has(a, 2, "power_w"));
	CHECK_INT(geti(a, 2, "util_pct"), 12);
	CHECK_INT(geti(a, 2, "temp_c"), 41);
	json_decref(a);
}

TEST(telemetry_parse_garbage_is_null)
{
	static const char junk[] = "\x00\xff,,,,,,\n|||\n| 1 | 2 | 3 |\n";

	CHECK(parse_file("telemetry/nvidia_garbage.txt",
	    telemetry_parse_nvidia) == NULL);
	CHECK(parse_file("telemetry/npu_garbage.txt",
	    telemetry_parse_npu) == NULL);
	CHECK(telemetry_parse_nvidia("", 0) == NULL);
	CHECK(telemetry_parse_nvidia(NULL, 0) == NULL);
	CHECK(telemetry_parse_npu("", 0) == NULL);
	CHECK(telemetry_parse_npu(NULL, 0) == NULL);
	CHECK(telemetry_parse_nvidia(junk, sizeof junk - 1) == NULL);
	CHECK(telemetry_parse_npu(junk, sizeof junk - 1) == NULL);
	/* The parsers read only len bytes: no NUL is needed after them. */
	CHECK(telemetry_parse_nvidia("0, G, 1, 2, 3, 4, 5\n", 6) == NULL);
}

TEST(telemetry_parse_npu_910b)
{
	static const char two_rows[] =
	    "| 0     910B1  | OK  | 93.2  42  0 / 0 |\n"
	    "| 0  | 0000:C1:00.0 | 0  0 / 0  3374 / 65536 |\n";
	json_t *a = parse_file("telemetry/npu_910b_8.txt",
	    telemetry_parse_npu);
	size_t i;

	REQUIRE(a != NULL);
	/* 8 NPUs; the process table after them adds nothing. */
	CHECK_INT(json_array_size(a), 8);
	for (i = 0; i < json_array_size(a); i++) {
		CHECK_INT(geti(a, i, "index"), i);
		CHECK_INT(geti(a, i, "chip"), 0);
		CHECK_STR(gets_(a, i, "name"), "910B1");
		CHECK_INT(geti(a, i, "mem_total_mb"), 65536);
	}
	CHECK_STR(gets_(a, 0, "health"), "OK");
	CHECK_STR(gets_(a, 0, "bus_id"), "0000:C1:00.0");
	CHECK_INT(geti(a, 0, "util_pct"), 87);
	/* HBM, not the (empty) Memory column; "61842/ 65536" splits too. */
	CHECK_INT(geti(a, 0, "mem_used_mb"), 61842);
	CHECK_INT(geti(a, 0, "temp_c"), 52);
	CHECK_DBL(getr(a, 0, "power_w"), 356.4, 1e-9);
	CHECK_STR(gets_(a, 6, "health"), "Warning");
	CHECK_INT(geti(a, 6, "temp_c"), 58);
	CHECK_INT(geti(a, 7, "mem_used_mb"), 3374);
	CHECK_INT(geti(a, 7, "util_pct"), 86);
	json_decref(a);

	/* The brief's two rows, with single spaces. */
	a = telemetry_parse_npu(two_rows, sizeof two_rows - 1);
	REQUIRE(a != NULL && json_array_size(a) == 1);
	CHECK_INT(geti(a, 0, "util_pct"), 0);
	CHECK_INT(geti(a, 0, "mem_used_mb"), 3374);
	CHECK_INT(geti(a, 0, "temp_c"), 42);
	CHECK_DBL(getr(a, 0, "power_w"), 93.2, 1e-9);
	json_decref(a);
}

TEST(telemetry_parse_npu_two_chips_and_na)
{
	json_t *a = parse_file("telemetry/npu_310p_duo.txt",
	    telemetry_parse_npu);

	REQUIRE(a != NULL);
	/* One entry per chip; power "NA" is absent; Memory when no HBM. */
	CHECK_INT(json_array_size(a), 4);
	CHECK_INT(geti(a, 0, "index"), 1);
	CHECK_INT(geti(a, 0, "chip"), 0);
	CHECK_INT(geti(a, 1, "index"), 1);
	CHECK_INT(geti(a, 1, "chip"), 1);
	CHECK(!has(a, 0, "power_w"));
	CHECK_INT(geti(a, 0, "temp_c"), 53);
	CHECK_INT(geti(a, 0, "mem_used_mb"), 1615);
	CHECK_INT(geti(a, 0, "mem_total_mb"), 44280);
	CHECK_INT(geti(a, 1, "util_pct"), 12);
	CHECK_INT(geti(a, 1, "mem_used_mb"), 1374);
	CHECK_INT(geti(a, 2, "index"), 2);
	CHECK_STR(gets_(a, 2, "health"), "Alarm");
	CHECK(!has(a, 2, "temp_c"));
	CHECK(!has(a, 2, "util_pct"));
	CHECK(!has(a, 2, "mem_used_mb"));
	CHECK_INT(geti(a, 2, "mem_total_mb"), 44280);
	CHECK_INT(geti(a, 3, "index"), 2);
	CHECK_INT(geti(a, 3, "chip"), 1);
	json_decref(a);
}

/* ---- the sampler, for real -------------------------------------------- */

struct got {
	json_t *samples[8];
	char source[8][16];
	uint64_t at[8];
	int n;
};

static void
got_cb(json_t *devices, const char *source, void *arg)
{
	struct got *g = arg;

	if (g->n == (int)nitems(g->samples)) {
		json_decref(devices);
		return;
	}
	snprintf(g->source[g->n], sizeof g->source[g->n], "%s", source);
	g->at[g->n] = clock_mono_ms();
	g->samples[g->n++] = devices;
}

static void
got_free(struct got *g)
{
	int i;

	for (i = 0; i < g->n; i++)
		json_decref(g->samples[i]);
}

/* Runs the loop until n samples or the deadline; returns how many. */
static int
run_until(struct loop *l, struct got *g, int n, int ms)
{
	uint64_t end = clock_mono_ms() + (uint64_t)ms;

	while (g->n < n && clock_mono_ms() < end)
		loop_run_once(l, 50);
	return g->n;
}

static char *
tool_dir(void)
{
	char *dir;

	xasprintf(&dir, "%s/bin", test_tmpdir());
	mkdir(dir, 0755);
	return dir;
}

static void
write_tool(const char *dir, const char *name, const char *body)
{
	char *path, *cause = NULL, *text;

	xasprintf(&path, "%s/%s", dir, name);
	xasprintf(&text, "#!/bin/sh\n%s", body);
	if (file_write_atomic(path, text, strlen(text), 0755, &cause) != 0) {
		fprintf(stdout, "  %s\n", cause);
		free(cause);
	}
	free(text);
	free(path);
}

static long
read_pid(const char *dir, const char *name)
{
	char *path, *cause = NULL;
	struct buf b;
	long pid;

	xasprintf(&path, "%s/%s", dir, name);
	buf_init(&b);
	if (file_read_all(path, 4096, &b, &cause) != 0)
		free(cause);
	pid = strtol(buf_cstr(&b), NULL, 10);
	buf_free(&b);
	free(path);
	return pid;
}

/* Our child, reaped: waitpid finds nothing and /proc has no entry. */
static int
reaped(long pid)
{
	char path[64];

	snprintf(path, sizeof path, "/proc/%ld", pid);
	return pid > 1 && waitpid((pid_t)pid, NULL, WNOHANG) == -1 &&
	    errno == ECHILD && access(path, F_OK) == -1;
}

/* Every pid listed in DIR/NAME (one a line) was ours and is reaped. */
static int
all_reaped(const char *dir, const char *name)
{
	char *path, *cause = NULL, *p, *end;
	struct buf b;
	int n = 0, ok = 1;
	long pid;

	xasprintf(&path, "%s/%s", dir, name);
	buf_init(&b);
	if (file_read_all(path, 65536, &b, &cause) != 0) {
		free(cause);
		ok = 0;
	}
	for (p = (char *)buf_cstr(&b); ok; p = end) {
		pid = strtol(p, &end, 10);
		if (end == p)
			break;
		n++;
		if (!reaped(pid)) {
			fprintf(stdout, "  pid %ld is not reaped\n", pid);
			ok = 0;
		}
	}
	buf_free(&b);
	free(path);
	return ok && n > 0;
}

static char *
set_path(const char *dir)
{
	const char *old = getenv("PATH");
	char *saved = xstrdup(old != NULL ? old : "");

	setenv("PATH", dir, 1);
	return saved;
}

#define SAMPLE_A \
	"0, GPU-aaaa, 97, 30123, 81559, 64, 312.50\n" \
	"1, GPU-bbbb, 95, 30001, 81559, 61, 298.10\n"
#define SAMPLE_B \
	"0, GPU-aaaa, 40, 30200, 81559, 66, 250.00\n" \
	"1, GPU-bbbb, 41, 30100, 81559, 63, 240.25\n"

TEST(telemetry_nvidia_two_samples_and_stop)
{
	struct got g = { 0 };
	struct telemetry *t;
	struct loop *l;
	char *dir, *oldpath, *body, args[256], *cause = NULL;
	struct buf b;
	long pid;

	dir = tool_dir();
	/* Two samples with a pause (so a pause ends a sample), then it
	 * stays alive like the real "-l" loop. */
	xasprintf(&body, "echo $$ > '%s/pid'\n"
	    "printf '%%s\\n' \"$@\" > '%s/args'\n"
	    "printf '%s'\n/bin/sleep 0.8\nprintf '%s'\n"
	    "exec /bin/sleep 30\n", dir, dir, SAMPLE_A, SAMPLE_B);
	write_tool(dir, "nvidia-smi", body);
	free(body);
	write_tool(dir, "npu-smi", "exit 1\n");
	oldpath = set_path(dir);
	l = loop_new();
	t = telemetry_start(l, 2, got_cb, &g);
	setenv("PATH", oldpath, 1);
	REQUIRE(t != NULL);

	CHECK_INT(run_until(l, &g, 2, 5000), 2);
	REQUIRE(g.n == 2);
	CHECK_STR(g.source[0], "nvidia-smi");
	CHECK_STR(g.source[1], "nvidia-smi");
	CHECK_INT(json_array_size(g.samples[0]), 2);
	CHECK_INT(json_array_size(g.samples[1]), 2);
	CHECK_INT(geti(g.samples[0], 0, "util_pct"), 97);
	CHECK_INT(geti(g.samples[0], 1, "index"), 1);
	CHECK_INT(geti(g.samples[0], 1, "mem_used_mb"), 30001);
	CHECK_DBL(getr(g.samples[0], 0, "power_w"), 312.5, 1e-9);
	CHECK_INT(geti(g.samples[1], 0, "util_pct"), 40);
	CHECK_INT(geti(g.samples[1], 1, "temp_c"), 63);
	CHECK_DBL(getr(g.samples[1], 1, "power_w"), 240.25, 1e-9);
	/* The first sample came at the pause, not with the second. */
	CHECK(g.at[1] - g.at[0] >= 200);

	/* The query and the interval reached the tool. */
	snprintf(args, sizeof args, "%s/args", dir);
	buf_init(&b);
	CHECK(file_read_all(args, 4096, &b, &cause) == 0);
	CHECK_STR(buf_cstr(&b), "--query-gpu=index,uuid,utilization.gpu,"
	    "memory.used,memory.total,temperature.gpu,power.draw\n"
	    "--format=csv,noheader,nounits\n-l\n2\n");
	buf_free(&b);

	pid = read_pid(dir, "pid");
	CHECK(pid > 1 && kill((pid_t)pid, 0) == 0);
	telemetry_stop(t);
	CHECK(reaped(pid));
	/* Nothing is left in the loop: no more callbacks. */
	loop_run_once(l, 100);
	CHECK_INT(g.n, 2);
	loop_free(l);
	got_free(&g);
	free(oldpath);
	free(dir);
}

TEST(telemetry_nvidia_burst_splits_on_repeated_index)
{
	struct got g = { 0 };
	struct telemetry *t;
	struct loop *l;
	char *dir, *oldpath, *body;
	long pid;

	dir = tool_dir();
	/* Both samples in one write: only the indexes separate them. */
	xasprintf(&body, "echo $$ > '%s/pid'\nprintf '%s%s'\n"
	    "exec /bin/sleep 30\n", dir, SAMPLE_A, SAMPLE_B);
	write_tool(dir, "nvidia-smi", body);
	free(body);
	oldpath = set_path(dir);
	l = loop_new();
	t = telemetry_start(l, 1, got_cb, &g);
	setenv("PATH", oldpath, 1);
	REQUIRE(t != NULL);
	CHECK_INT(run_until(l, &g, 2, 5000), 2);
	REQUIRE(g.n == 2);
	CHECK_INT(json_array_size(g.samples[0]), 2);
	CHECK_INT(json_array_size(g.samples[1]), 2);
	CHECK_INT(geti(g.samples[0], 0, "util_pct"), 97);
	CHECK_INT(geti(g.samples[1], 0, "util_pct"), 40);
	/* The second, once the sample size is known, needs no pause. */
	CHECK(g.at[1] - g.at[0] < 400);
	pid = read_pid(dir, "pid");
	telemetry_stop(t);
	CHECK(reaped(pid));
	loop_free(l);
	got_free(&g);
	free(oldpath);
	free(dir);
}

TEST(telemetry_nvidia_respawns_after_exit)
{
	struct got g = { 0 };
	struct telemetry *t;
	struct loop *l;
	char *dir, *oldpath, *body;

	dir = tool_dir();
	/* Each run prints one sample and dies. */
	xasprintf(&body, "echo $$ >> '%s/runs'\nprintf '%s'\nexit 1\n", dir,
	    SAMPLE_A);
	write_tool(dir, "nvidia-smi", body);
	free(body);
	oldpath = set_path(dir);
	l = loop_new();
	t = telemetry_start(l, 1, got_cb, &g);
	setenv("PATH", oldpath, 1);
	REQUIRE(t != NULL);
	CHECK_INT(run_until(l, &g, 2, 6000), 2);
	REQUIRE(g.n == 2);
	/* A second run delivered the second sample, after a backoff. */
	CHECK(g.at[1] - g.at[0] >= 800);
	CHECK_INT(json_array_size(g.samples[1]), 2);
	telemetry_stop(t);
	/* Every run was reaped, by pid, and none is left running. */
	CHECK(all_reaped(dir, "runs"));
	loop_free(l);
	got_free(&g);
	free(oldpath);
	free(dir);
}

TEST(telemetry_npu_runs_every_interval)
{
	struct got g = { 0 };
	struct telemetry *t;
	struct loop *l;
	char *dir, *oldpath, *body;

	dir = tool_dir();
	xasprintf(&body, "echo $$ >> '%s/runs'\n"
	    "[ \"$1\" = info ] && [ $# -eq 1 ] || exit 2\n"
	    "exec /bin/cat '%s'\n", dir, test_data("telemetry/npu_910b_8.txt"));
	write_tool(dir, "npu-smi", body);
	free(body);
	oldpath = set_path(dir);
	l = loop_new();
	t = telemetry_start(l, 1, got_cb, &g);
	setenv("PATH", oldpath, 1);
	REQUIRE(t != NULL);
	CHECK_INT(run_until(l, &g, 2, 5000), 2);
	REQUIRE(g.n == 2);
	CHECK_STR(g.source[0], "npu-smi");
	CHECK_INT(json_array_size(g.samples[0]), 8);
	CHECK_INT(json_array_size(g.samples[1]), 8);
	CHECK_INT(geti(g.samples[1], 0, "mem_used_mb"), 61842);
	/* One run per interval, not back to back. */
	CHECK(g.at[1] - g.at[0] >= 800);
	telemetry_stop(t);
	CHECK(all_reaped(dir, "runs"));
	loop_free(l);
	got_free(&g);
	free(oldpath);
	free(dir);
}

TEST(telemetry_none_without_tools)
{
	struct loop *l = loop_new();
	struct got g = { 0 };
	char *dir = tool_dir(), *oldpath, *p, cwd[4096];

	/* Not executable, a directory, and relative PATH entries that would
	 * find an executable npu-smi from the current directory. */
	write_tool(dir, "npu-smi", "exit 0\n");
	xasprintf(&p, "%s/npu-smi", dir);
	CHECK(chmod(p, 0644) == 0);
	free(p);
	xasprintf(&p, "%s/nvidia-smi", dir);
	CHECK(mkdir(p, 0755) == 0);
	free(p);
	xasprintf(&p, "%s/rel", dir);
	CHECK(mkdir(p, 0755) == 0);
	write_tool(p, "npu-smi", "exit 0\n");
	free(p);
	xasprintf(&p, "%s::rel:.:rel/", dir);
	oldpath = set_path(p);
	free(p);
	REQUIRE(getcwd(cwd, sizeof cwd) != NULL);
	CHECK(chdir(dir) == 0);
	CHECK(telemetry_start(l, 1, got_cb, &g) == NULL);
	CHECK(chdir(cwd) == 0);
	setenv("PATH", oldpath, 1);
	telemetry_stop(NULL);
	loop_free(l);
	free(oldpath);
	free(dir);
}

struct stopper {
	struct telemetry *t;
	int n;
};

static void
stop_cb(json_t *devices, const char *source, void *arg)
{
	struct stopper *s = arg;

	json_decref(devices);
	s->n++;
	telemetry_stop(s->t);
}

TEST(telemetry_stop_inside_the_callback)
{
	struct stopper s = { NULL, 0 };
	struct loop *l;
	char *dir, *oldpath, *body;
	uint64_t end;
	long pid;

	dir = tool_dir();
	/* Two samples in one read: the stop comes between them. */
	xasprintf(&body, "echo $$ > '%s/pid'\nprintf '%s%s'\n"
	    "exec /bin/sleep 30\n", dir, SAMPLE_A, SAMPLE_B);
	write_tool(dir, "nvidia-smi", body);
	free(body);
	oldpath = set_path(dir);
	l = loop_new();
	s.t = telemetry_start(l, 1, stop_cb, &s);
	setenv("PATH", oldpath, 1);
	REQUIRE(s.t != NULL);
	end = clock_mono_ms() + 3000;
	while (s.n == 0 && clock_mono_ms() < end)
		loop_run_once(l, 50);
	CHECK_INT(s.n, 1);
	/* Nothing more arrives, and the child is gone. */
	end = clock_mono_ms() + 700;
	while (clock_mono_ms() < end)
		loop_run_once(l, 50);
	CHECK_INT(s.n, 1);
	pid = read_pid(dir, "pid");
	CHECK(reaped(pid));
	loop_free(l);
	free(oldpath);
	free(dir);
}
