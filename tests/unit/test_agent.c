/* test_agent.c - the spool, the spec checks, the run directory, exit classes. */
#include "test.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../agent/agent_int.h"

static char *
tpath(const char *name)
{
	char *p;

	xasprintf(&p, "%s/%s", test_tmpdir(), name);
	return p;
}

/* spool_append() borrows the event; these helpers hand one over. */
static void
append_ev(struct spool *sp, json_t *ev, int sync_now)
{
	spool_append(sp, ev, sync_now);
	json_decref(ev);
}

static void
append_raw(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);

	if (fd != -1) {
		CHECK(write_full(fd, s, strlen(s)) == 0);
		close(fd);
	}
}

TEST(spool_seq_continues_and_torn_tail_is_cut)
{
	char *path = tpath("events.jsonl"), *cause = NULL;
	struct spool *sp;
	struct spool_reader *r;
	struct buf line;
	int i, n;
	int64_t expect;

	sp = spool_open(path, &cause);
	REQUIRE(sp != NULL);
	CHECK_INT(spool_last_seq(sp), 0);
	for (i = 0; i < 5; i++)
		append_ev(sp, json_pack("{s:s, s:i}", "type", "metric",
		    "step", i), i == 4);
	CHECK_INT(spool_last_seq(sp), 5);
	spool_close(sp);
	/* A crash mid-write leaves half a line. */
	append_raw(path, "{\"seq\":6,\"t\":1,\"type\":\"met");
	sp = spool_open(path, &cause);
	REQUIRE(sp != NULL);
	CHECK_INT(spool_last_seq(sp), 5);
	append_ev(sp, json_pack("{s:s}", "type", "log"), 1);
	CHECK_INT(spool_last_seq(sp), 6);
	spool_close(sp);

	r = spool_reader_open(path, 1, &cause);
	REQUIRE(r != NULL);
	buf_init(&line);
	expect = 1;
	while ((n = spool_reader_next(r, &line)) == 1) {
		json_t *o = json_loadb(line.data, line.len, 0, NULL);

		CHECK(o != NULL);
		CHECK_INT(json_integer_value(json_object_get(o, "seq")),
		    expect);
		CHECK(json_object_get(o, "t") != NULL);
		expect++;
		json_decref(o);
	}
	CHECK_INT(n, 0);
	CHECK_INT(expect, 7);
	buf_free(&line);
	spool_reader_free(r);
	free(path);
}

TEST(spool_reader_bisects_to_from_seq_on_a_big_spool)
{
	char *path = tpath("events.jsonl"), *cause = NULL;
	struct spool *sp;
	struct spool_reader *r;
	struct buf line;
	json_t *o;
	int i;

	sp = spool_open(path, &cause);
	REQUIRE(sp != NULL);
	for (i = 0; i < 20000; i++)
		append_ev(sp, json_pack("{s:s, s:i, s:s}", "type",
		    "metric", "step", i, "pad", "xxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
		    0);
	spool_close(sp);
	r = spool_reader_open(path, 12345, &cause);
	REQUIRE(r != NULL);
	/* Bisection left the reader well past the start of the file. */
	CHECK(lseek(spool_reader_fd(r), 0, SEEK_CUR) > 100000);
	buf_init(&line);
	REQUIRE(spool_reader_next(r, &line) == 1);
	o = json_loadb(line.data, line.len, 0, NULL);
	CHECK_INT(json_integer_value(json_object_get(o, "seq")), 12345);
	json_decref(o);
	buf_free(&line);
	spool_reader_free(r);
	free(path);
}

TEST(spool_reader_holds_back_a_partial_line)
{
	char *path = tpath("events.jsonl"), *cause = NULL;
	struct spool_reader *r;
	struct buf line;

	append_raw(path, "{\"seq\":1,\"type\":\"hb\"}\n{\"seq\":2,\"ty");
	r = spool_reader_open(path, 1, &cause);
	REQUIRE(r != NULL);
	buf_init(&line);
	CHECK_INT(spool_reader_next(r, &line), 1);
	CHECK_INT(spool_reader_next(r, &line), 0);
	append_raw(path, "pe\":\"hb\"}\n");
	CHECK_INT(spool_reader_next(r, &line), 1);
	CHECK_STR(buf_cstr(&line), "{\"seq\":2,\"type\":\"hb\"}");
	buf_free(&line);
	spool_reader_free(r);
	free(path);
}

TEST(spool_scan_tracks_ranks_and_launches)
{
	char *path = tpath("events.jsonl"), *cause = NULL;
	struct spool_scan sc;
	struct spool_rank *r;

	append_raw(path,
	    "{\"seq\":1,\"type\":\"state\",\"scope\":\"run\",\"state\":\"starting\"}\n"
	    "{\"seq\":2,\"type\":\"state\",\"scope\":\"proc\",\"rank\":3,\"state\":\"running\",\"pid\":77,\"start_time\":5}\n"
	    "{\"seq\":3,\"type\":\"metric\",\"rank\":3,\"step\":9,\"src\":[11,400]}\n"
	    "garbage\n"
	    "{\"seq\":4,\"type\":\"state\",\"scope\":\"proc\",\"rank\":3,\"state\":\"exited\",\"signal\":9}\n"
	    "{\"seq\":5,\"type\":\"state\",\"scope\":\"run\",\"state\":\"exited\",\"result\":\"failed\"}\n");
	REQUIRE(spool_scan(path, &sc, &cause) == 0);
	CHECK_INT(sc.last_seq, 5);
	CHECK_INT(sc.launches, 1);
	CHECK_INT(sc.bad_lines, 1);
	CHECK_STR(sc.run_state, "exited");
	CHECK_STR(sc.result, "failed");
	r = spool_scan_rank(&sc, 3);
	CHECK_INT(r->state, RANK_EXITED);
	CHECK_INT(r->pid, 77);
	CHECK_INT(r->exit_signal, 9);
	CHECK_INT(r->src_off, 400);
	CHECK(r->last_metric != NULL);
	spool_scan_free(&sc);
	free(path);
}

static struct spec *
spec_from(const char *text, struct buf *errors)
{
	json_t *root = json_loads(text, 0, NULL);
	struct spec *s;

	if (root == NULL)
		return NULL;
	s = spec_parse(root, NULL, errors);
	json_decref(root);
	return s;
}

TEST(spec_errors_name_every_field)
{
	struct buf e;
	struct spec *s;
	const char *err;

	buf_init(&e);
	s = spec_from("{\"spec\":1,\"task\":\"../x\",\"attempt\":0,"
	    "\"host_id\":\"h1\",\"base_dir\":\"rel\",\"bogus\":1,"
	    "\"processes\":[{\"rank\":0,\"argv\":[]},{\"rank\":0,"
	    "\"argv\":[\"a\"],\"env\":{\"1BAD\":\"x\"}}],"
	    "\"log\":{\"max_bytes\":10}}", &e);
	CHECK(s == NULL);
	err = buf_cstr(&e);
	CHECK(strstr(err, "task: \"../x\"") != NULL);
	CHECK(strstr(err, "attempt: must be from 1") != NULL);
	CHECK(strstr(err, "base_dir: must be an absolute path") != NULL);
	CHECK(strstr(err, "unknown key \"bogus\"") != NULL);
	CHECK(strstr(err, "processes[0].argv: must be a non-empty") != NULL);
	CHECK(strstr(err, "processes[1].rank: rank 0 is also") != NULL);
	CHECK(strstr(err, "processes[1].env: \"1BAD\"") != NULL);
	CHECK(strstr(err, "log.max_bytes: must be from 4096") != NULL);
	buf_free(&e);
}

TEST(spec_valid_builds_run_dir_and_defaults)
{
	struct buf e;
	struct spec *s;

	buf_init(&e);
	s = spec_from("{\"spec\":1,\"task\":\"t\",\"attempt\":2,"
	    "\"host_id\":\"10.0.0.2\",\"base_dir\":\"/runs\","
	    "\"processes\":[{\"rank\":5,\"argv\":[\"python\",\"-c\",\"x\"],"
	    "\"env\":{\"A\":\"1\"}}]}", &e);
	if (s == NULL)
		printf("  errors: %s", buf_cstr(&e));
	REQUIRE(s != NULL);
	CHECK_STR(s->run_dir, "/runs/t/2/10.0.0.2");
	CHECK_INT(s->nprocs, 1);
	CHECK_INT(s->procs[0].rank, 5);
	CHECK_STR(s->procs[0].env[0], "A=1");
	CHECK_INT(s->procs[0].metrics, 1);
	CHECK_INT(s->log_keep, 2);
	CHECK_INT(s->telemetry_s, 5);
	CHECK_STR(json_string_value(json_object_get(s->container, "runtime")),
	    "none");
	spec_free(s);
	buf_free(&e);
}

TEST(rundir_refuses_symlinks_and_second_lock)
{
	char *base = tpath("runs"), *cause = NULL, *link, *target, *dir;
	const char *parts[] = { "task", "1", "h1" };
	int fd, fd2;

	REQUIRE(rundir_create(base, parts, 3, &cause) == 0);
	xasprintf(&dir, "%s/task/1/h1", base);
	CHECK(rundir_check(dir, &cause) == 0);
	REQUIRE(rundir_lock(dir, &fd, &cause) == 0);
	CHECK(rundir_lock(dir, &fd2, &cause) == -1);
	CHECK(cause != NULL && strstr(cause, "refusing a second") != NULL);
	free(cause);
	cause = NULL;
	close(fd);
	CHECK(rundir_lock(dir, &fd2, &cause) == 0);
	close(fd2);

	/* An attempt directory swapped for a symlink is refused. */
	target = tpath("elsewhere");
	CHECK(mkdir(target, 0700) == 0);
	xasprintf(&link, "%s/task/2", base);
	CHECK(symlink(target, link) == 0);
	parts[1] = "2";
	CHECK(rundir_create(base, parts, 3, &cause) == -1);
	CHECK(cause != NULL && strstr(cause, "symlink") != NULL);
	free(cause);
	free(link);
	free(target);
	free(dir);
	free(base);
}

TEST(rundir_refuses_a_component_owned_by_another_user)
{
	char *base = tpath("runs"), *cause = NULL, *task;
	const char *parts[] = { "task", "1", "h1" };

	if (geteuid() != 0) {
		printf("  (not root: cannot chown; skipped)\n");
		free(base);
		return;
	}
	CHECK(mkdir(base, 0755) == 0);
	xasprintf(&task, "%s/task", base);
	CHECK(mkdir(task, 0777) == 0);
	CHECK(chown(task, 65534, 65534) == 0);
	CHECK(rundir_create(base, parts, 3, &cause) == -1);
	CHECK(cause != NULL && strstr(cause, "owned by uid 65534") != NULL);
	free(cause);
	free(task);
	free(base);
}

TEST(exit_classes_cover_the_codes_users_meet)
{
	char r[256];

	CHECK_STR(exit_classify(0, 0, 0, r, sizeof r), "succeeded");
	CHECK_STR(exit_classify(1, 0, 0, r, sizeof r), "failed");
	CHECK_STR(exit_classify(2, 0, 0, r, sizeof r), "failed");
	CHECK_STR(exit_classify(125, 0, 0, r, sizeof r), "container");
	CHECK_STR(exit_classify(126, 0, 0, r, sizeof r), "container");
	CHECK_STR(exit_classify(127, 0, 0, r, sizeof r), "container");
	CHECK(strstr(r, "not found") != NULL);
	CHECK_STR(exit_classify(137, 0, 0, r, sizeof r), "killed");
	CHECK(strstr(r, "possible OOM") != NULL);
	CHECK_STR(exit_classify(-1, SIGKILL, 0, r, sizeof r), "killed");
	CHECK_STR(exit_classify(139, 0, 0, r, sizeof r), "crashed");
	CHECK_STR(exit_classify(-1, SIGSEGV, 0, r, sizeof r), "crashed");
	CHECK_STR(exit_classify(143, 0, 0, r, sizeof r), "terminated");
	CHECK_STR(exit_classify(-1, SIGTERM, 1, r, sizeof r), "stopped");
	CHECK_STR(exit_classify(1, 0, 1, r, sizeof r), "failed");
}
