/*
 * test_plan.c - the planner (tui/plan.c, plan_show.c, cfgexpand.c) on
 * configs built by hand (the loader is not used): the exact argv, env,
 * ranks, devices, metrics flags and rendered files of every launcher on 2-
 * and 3-host clusters, resume, rendezvous, placeholders, hostile argument
 * bytes, the checks and their messages, that the agent accepts every spec
 * it is given, and what `drover plan` shows (secrets masked).
 */
#include "test.h"

#include <stdlib.h>

#include "../../agent/agent_int.h"
#include "../../tui/plan.h"

#define TASK_FILE "tasks/sdxl.yaml"

/* ---- a config built by hand ------------------------------------------ */

static struct cfg_mark
mark(int line, int col)
{
	struct cfg_mark m = { TASK_FILE, line, col };

	return m;
}

static void
set(char **field, const char *value)
{
	free(*field);
	*field = value != NULL ? xstrdup(value) : NULL;
}

static char **
strv(const char *const *v)
{
	return strv_dup((char *const *)v);
}

static void
env_add(struct cfg_env *e, const char *key, const char *value, int line)
{
	e->v = xreallocarray(e->v, e->n + 1, sizeof *e->v);
	e->v[e->n].key = xstrdup(key);
	e->v[e->n].value = xstrdup(value);
	e->v[e->n].mark = mark(line, 5);
	e->n++;
}

static void
env_clear(struct cfg_env *e)
{
	size_t i;

	for (i = 0; i < e->n; i++) {
		free(e->v[i].key);
		free(e->v[i].value);
	}
	free(e->v);
	e->v = NULL;
	e->n = 0;
}

static void
set_hosts(struct config *c, const char *const *hosts)
{
	strv_free(c->cluster.hosts);
	c->cluster.hosts = strv(hosts);
	c->cluster.nhosts = strv_len(c->cluster.hosts);
}

static void
set_command(struct cfg_stage *st, const char *const *cmd)
{
	strv_free(st->command);
	st->command = strv(cmd);
}

static json_t *
J(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, 0, &err);

	if (j == NULL)
		fprintf(stdout, "  bad test JSON: %s: %s\n", text, err.text);
	return j;
}

/*
 * Two hosts 10.0.0.2 and 10.0.0.3, 8 devices each, base_dir /runs, task
 * sdxl, one stage "main", command `python train.py`, env
 * HCCL_CONNECT_TIMEOUT=7200 (line 20), parser mindone, metrics_rank 0.
 */
static struct config *
tcfg_new(enum cfg_launcher_type type)
{
	static const char *const hosts[] = { "10.0.0.2", "10.0.0.3", NULL };
	static const char *const cmd[] = { "python", "train.py", NULL };
	struct config *c = xcalloc(1, sizeof *c);
	struct cfg_stage *st;

	c->path = xstrdup(TASK_FILE);
	set_hosts(c, hosts);
	c->cluster.hosts_mark = mark(3, 10);
	c->cluster.devices_per_host = 8;
	c->cluster.base_dir = xstrdup("/runs");
	c->cluster.container_mark = mark(8, 3);
	c->cluster.telemetry_interval_s = 5;
	c->cluster.log_max_bytes = 67108864;
	c->cluster.log_keep = 2;
	c->task = xstrdup("sdxl");
	c->nstages = 1;
	c->stages = xcalloc(2, sizeof *c->stages);
	st = &c->stages[0];
	st->name = xstrdup("main");
	st->mark = mark(11, 3);
	set_command(st, cmd);
	st->command_mark = mark(12, 12);
	st->launcher.type = type;
	st->launcher.mark = mark(30, 3);
	st->parser = json_pack("{s:s}", "format", "mindone");
	st->metrics_rank = 0;
	env_add(&st->env, "HCCL_CONNECT_TIMEOUT", "7200", 20);
	st->resume_args = xcalloc(1, sizeof *st->resume_args);
	st->stop_grace_s = 30;
	return c;
}

static void
tcfg_free(struct config *c)
{
	size_t i;

	free(c->path);
	strv_free(c->cluster.hosts);
	free(c->cluster.base_dir);
	json_decref(c->cluster.container);
	free(c->task);
	free(c->dataset);
	free(c->checkpoint_dir);
	for (i = 0; i < 2; i++) {
		struct cfg_stage *st = &c->stages[i];

		free(st->name);
		strv_free(st->command);
		free(st->cwd);
		free(st->launcher.program);
		free(st->launcher.master_addr);
		free(st->launcher.rdzv);
		json_decref(st->launcher.accelerate_config);
		free(st->launcher.rank_table_dir);
		free(st->launcher.rank_table_pattern);
		json_decref(st->parser);
		env_clear(&st->env);
		strv_free(st->resume_args);
	}
	free(c->stages);
	free(c);
}

/* ---- helpers ------------------------------------------------------------ */

static struct plan *
build(const struct config *c, size_t stage, const struct plan_opts *o)
{
	struct plan_opts def = { .attempt = 1 };
	char *cause = NULL;
	struct plan *p = plan_build(c, stage, o != NULL ? o : &def, &cause);

	if (p == NULL) {
		fprintf(stdout, "  plan_build: %s\n", cause);
		free(cause);
	}
	return p;
}

/* The cause of a plan that must fail (caller frees). */
static char *
build_fails(const struct config *c, const struct plan_opts *o)
{
	struct plan_opts def = { .attempt = 1 };
	char *cause = NULL;
	struct plan *p = plan_build(c, 0, o != NULL ? o : &def, &cause);

	if (p != NULL) {
		fprintf(stdout, "  plan_build succeeded, expected a failure\n");
		plan_free(p);
		return xstrdup("");
	}
	return cause;
}

static json_t *
proc(const struct plan *p, size_t host, size_t i)
{
	return json_array_get(json_object_get(p->hosts[host].spec,
	    "processes"), i);
}

static const char *
jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static long long
jint(const json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static void
check_argv(const char *file, int line, const json_t *got,
    const char *const *want)
{
	size_t i, nw = 0, ng = json_array_size(got);
	int same;

	while (want[nw] != NULL)
		nw++;
	same = ng == nw;
	for (i = 0; same && i < nw; i++)
		same = json_string_value(json_array_get(got, i)) != NULL &&
		    strcmp(json_string_value(json_array_get(got, i)),
		    want[i]) == 0;
	if (same)
		return;
	test_fail(file, line, "argv differs (got %zu, want %zu elements)", ng,
	    nw);
	for (i = 0; i < ng || i < nw; i++)
		fprintf(stdout, "    [%zu] got  %s\n    [%zu] want %s\n", i,
		    i < ng ? json_string_value(json_array_get(got, i)) :
		    "(end)", i, i < nw ? want[i] : "(end)");
}
#define CHECK_ARGV(got, ...) do {					\
	static const char *const want_[] = { __VA_ARGS__, NULL };	\
	check_argv(__FILE__, __LINE__, (got), want_);			\
} while (0)

static void
check_json(const char *file, int line, const json_t *got, const char *want)
{
	json_t *w = J(want);

	if (w == NULL || !json_equal((json_t *)got, w)) {
		char *g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);

		test_fail(file, line, "JSON differs:\n    got  %s\n    want %s",
		    g != NULL ? g : "(null)", want);
		free(g);
	}
	json_decref(w);
}
#define CHECK_JSON(got, want) check_json(__FILE__, __LINE__, (got), (want))

/* The agent itself accepts the spec (a copy: spec_parse adds defaults). */
static void
check_agent_accepts(const char *file, int line, const json_t *spec)
{
	json_t *copy = json_deep_copy(spec);
	struct buf errors;
	struct spec *s;

	buf_init(&errors);
	s = spec_parse(copy, NULL, &errors);
	if (s == NULL)
		test_fail(file, line, "the agent refuses the spec: %s",
		    buf_cstr(&errors));
	spec_free(s);
	json_decref(copy);
	buf_free(&errors);
}
#define CHECK_AGENT_ACCEPTS(spec) check_agent_accepts(__FILE__, __LINE__, spec)

static void
check_contains(const char *file, int line, const char *hay, const char *n)
{
	if (hay == NULL || strstr(hay, n) == NULL)
		test_fail(file, line, "text does not contain \"%s\":\n%s", n,
		    hay != NULL ? hay : "(null)");
}
#define CHECK_CONTAINS(h, n) check_contains(__FILE__, __LINE__, (h), (n))

static const char *
rank_table_dir(void)
{
	static char dir[4096];

	snprintf(dir, sizeof dir, "%s", test_data("ranktables"));
	return dir;
}

/* ---- plain --------------------------------------------------------------- */

/* A recorded task's id goes into spec.task and so the run directory: two
 * tasks of one name never share one (they did: the second task's hosts
 * attached to the first one's spools). */
TEST(plan_task_id_in_run_directory)
{
	static const char *const cmd[] = { "python", "train.py", "--out",
	    "${run_dir}/out", NULL };
	struct config *c = tcfg_new(LAUNCHER_PLAIN);
	struct plan_opts o = { .attempt = 2, .task_id = 7 };
	struct plan *p;

	set_command(&c->stages[0], cmd);
	p = build(c, 0, &o);
	REQUIRE(p != NULL);
	CHECK_STR(p->run_task, "sdxl-7");
	CHECK_STR(p->hosts[1].run_dir, "/runs/sdxl-7/2/10.0.0.3");
	CHECK_STR(json_string_value(json_object_get(p->hosts[1].spec,
	    "task")), "sdxl-7");
	CHECK_ARGV(json_object_get(proc(p, 1, 0), "argv"), "python",
	    "train.py", "--out", "/runs/sdxl-7/2/10.0.0.3/out");
	plan_free(p);
	tcfg_free(c);
}

TEST(plan_plain_one_process_per_host_exact_spec)
{
	static const char *const cmd[] = { "python", "train.py", "--out",
	    "${run_dir}/out", "--node", "${node_rank}/${nnodes}", NULL };
	struct config *c = tcfg_new(LAUNCHER_PLAIN);
	struct plan *p;

	set_command(&c->stages[0], cmd);
	p = build(c, 0, NULL);
	REQUIRE(p != NULL);
	CHECK_STR(p->launcher, "plain");
	CHECK_INT(p->world_size, 2);
	CHECK_INT(p->nprocs_per_host, 1);
	CHECK_STR(p->master_addr, "10.0.0.2");
	CHECK_INT(p->master_port, 29500);
	CHECK_INT(p->nhosts, 2);
	CHECK_STR(p->hosts[1].host, "10.0.0.3");
	CHECK_INT(p->hosts[1].node_rank, 1);
	CHECK_INT(p->hosts[1].rank_first, 1);
	CHECK_INT(p->hosts[1].nprocs, 1);
	CHECK_STR(p->hosts[1].run_dir, "/runs/sdxl/1/10.0.0.3");
	CHECK(p->rank_table == NULL);
	CHECK_JSON(p->hosts[1].spec, "{\"spec\":1,\"task\":\"sdxl\","
	    "\"attempt\":1,\"host_id\":\"10.0.0.3\",\"node_rank\":1,"
	    "\"base_dir\":\"/runs\",\"parser\":{\"format\":\"mindone\"},"
	    "\"env\":{\"HCCL_CONNECT_TIMEOUT\":\"7200\"},\"processes\":[{"
	    "\"rank\":1,\"local_rank\":0,\"devices\":[0,1,2,3,4,5,6,7],"
	    "\"metrics\":true,\"argv\":[\"python\",\"train.py\",\"--out\","
	    "\"/runs/sdxl/1/10.0.0.3/out\",\"--node\",\"1/2\"]}],"
	    "\"log\":{\"max_bytes\":67108864,\"keep\":2},"
	    "\"telemetry\":{\"interval_s\":5},\"stop_grace_s\":30}");
	CHECK_ARGV(json_object_get(proc(p, 0, 0), "argv"), "python",
	    "train.py", "--out", "/runs/sdxl/1/10.0.0.2/out", "--node", "0/2");
	plan_free(p);
	tcfg_free(c);
}

TEST(plan_plain_per_device_ranks_env_devices_metrics)
{
	static const char *const cmd[] = { "python", "train.py", "--rank",
	    "${rank}", "--local", "${local_rank}", NULL };
	struct config *c = tcfg_new(LAUNCHER_PLAIN);
	struct plan *p;
	char want[16];
	int i;

	c->cluster.devices_per_host = 4;
	c->stages[0].launcher.procs_per_host = 4;
	set_command(&c->stages[0], cmd);
	env_add(&c->stages[0].env, "WORLD", "${world_size}", 21);
	env_add(&c->stages[0].env, "MY_RANK", "${rank}", 22);
	p = build(c, 0, NULL);
	REQUIRE(p != NULL);
	CHECK_INT(p->world_size, 8);
	CHECK_INT(p->hosts[1].rank_first, 4);
	CHECK_INT(p->hosts[1].nprocs, 4);
	/* What is the same everywhere is in the spec, the rest per process. */
	CHECK_JSON(json_object_get(p->hosts[1].spec, "env"),
	    "{\"HCCL_CONNECT_TIMEOUT\":\"7200\",\"WORLD\":\"8\"}");
	for (i = 0; i < 4; i++) {
		json_t *pr = proc(p, 1, (size_t)i);

		CHECK_INT(jint(pr, "rank"), 4 + i);
		CHECK_INT(jint(pr, "local_rank"), i);
		snprintf(want, sizeof want, "[%d]", i);
		CHECK_JSON(json_object_get(pr, "devices"), want);
		CHECK(json_is_true(json_object_get(pr, "metrics")) == (i == 0));
		snprintf(want, sizeof want, "%d", 4 + i);
		CHECK_STR(jstr(json_object_get(pr, "env"), "MY_RANK"), want);
		CHECK_INT(json_object_size(json_object_get(pr, "env")), 1);
	}
	CHECK_ARGV(json_object_get(proc(p, 1, 2), "argv"), "python",
	    "train.py", "--rank", "6", "--local", "2");
	plan_free(p);

	/* metrics_rank -1: every process's metrics count. */
	c->stages[0].metrics_rank = -1;
	p = build(c, 0, NULL);
	REQUIRE(p != NULL);
	for (i = 0; i < 4; i++)
		CHECK(json_is_true(json_object_get(proc(p, 0, (size_t)i),
		    "metrics")));
	plan_free(p);

	/* Fewer processes than devices: each gets all of them. */
	c->stages[0].metrics_rank = 1;
	c->stages[0].launcher.procs_per_host = 2;
	p = build(c, 0, NULL);
	REQUIRE(p != NULL);
	CHECK_JSON(json_object_get(proc(p, 0, 1), "devices"), "[0,1,2,3]");
	CHECK(json_is_false(json_object_get(proc(p, 0, 0), "metrics")));
	CHECK(json_is_true(json_object_get(proc(p, 0, 1), "metrics")));
	plan_free(p);
	tcfg_free(c);
}

/* ---- torchrun ------------------------------------------------------------ */

TEST(plan_torchrun_static_argv)
{
	static const char *const cmd[] = { "python3", "-u", "train.py", "--lr",
	    "1e-4", NULL };
	struct config *c = tcfg_new(LAUNCHER_TORCHRUN);
	struct plan *p;
	json_t *pr;

	set_command(&c->stages[0], cmd);
	p = build(c, 0, NULL);
	REQUIRE(p != NULL);
	CHECK_INT(p->world_size, 16);
	CHECK_INT(p->hosts[1].rank_first, 8);
	CHECK_INT(p->hosts[1].nprocs, 8);
	CHECK_INT(json_array_size(json_object_get(p->hosts[1].spec,
	    "processes")), 1);
	pr = proc(p, 1, 0);
	CHECK_INT(jint(pr, "rank"), 8);
	CHECK_INT(jint(pr, "local_rank"), 0);
	CHECK_JSON(json_object_get(pr, "devices"), "[0,1,2,3,4,5,6,7]");
	CHECK(json_is_true(json_object_get(pr, "metrics")));
	CHECK(json_object_get(pr, "env") == NULL);
	CHECK_ARGV(json_object_get(pr, "argv"), "torchrun", "--nnodes", "2",
	    "--node_rank", "1", "--nproc_per_node", "8", "--master_addr",
	    "10.0.0.2", "--master_port", "29500", "train.py", "--lr", "1e-4");
	CHECK_JSON(json_object_get(p->hosts[1].spec, "env"),
	    "{\"HCCL_CONNECT_TIMEOUT\":\"7200\"}");
	plan_free(p);

	/* program, master, port and procs_per_host from the launcher. */
	set(&c->stages[0].launcher.program, "/opt/conda/bin/torchrun");
	set(&c->stages[0].launcher.master_addr, "10.1.1.1");
	c->stages[0].launcher.master_port = 12345;
	c->stages[0].launcher.procs_per_host = 4;
	p = build(c, 0, NULL);
	REQUIRE(p != NULL);
	CHECK_INT(p->world_size, 8);
	CHECK_INT(jint(proc(p, 1, 0), "rank"), 4);
	CHECK_ARGV(json_object_get(proc(p, 0, 0), "argv"),
	    "/opt/conda/bin/torchrun", "--nnodes", "2", "--node_rank", "0",
	    "--nproc_per_node", "4", "--master_addr", "10.1.1.1",
	    "--master_port", "12345", "train.py", "--lr", "1e-4");
	plan_free(p);
	tcfg_free(c);
}

TEST(plan_torchrun_rdzv_c10d)
{
	static const char *const cmd[] = { "python", "train.py", NULL };
	struct plan_opts o = { .attempt = 3 };
	struct config *c = tcfg_new(LAUNCHER_TORCHRUN);
	struct plan *p;
	char *cause;

	set_command(&c->stages[0], cmd);
	set(&c->stages[0].launcher.rdzv, "c10d");
	p = build(c, 0, &o);
	REQUIRE(p != NULL);
	CHECK_ARGV(json_object_get(proc(p, 1, 0), "argv"), "torchrun",
	    "--nnodes", "2", "--nproc_per_node", "8", "--rdzv_backend", "c10d",
	    "--rdzv_endpoint", "10.0.0.2:29500", "--rdzv_id", "sdxl-3",
	    "train.py");
	CHECK_STR(p->hosts[1].run_dir, "/runs/sdxl/3/10.0.0.3");
	plan_free(p);

	set(&c->stages[0].launcher.master_addr, "fd00::1");
	p = build(c, 0, &o);
	REQUIRE(p != NULL);
	CHECK_STR(json_string_value(json_array_get(json_object_get(proc(p, 0,
	    0), "argv"), 8)), "[fd00::1]:29500");
	plan_free(p);

	set(&c->stages[0].launcher.rdzv, "etcd");
	cause = build_fails(c, &o);
	CHECK_STR(cause, "tasks/sdxl.yaml:30:3: launcher.rdzv: \"etcd\" is not "
	    "known; use c10d, or leave it out for a static rendezvous");
	free(cause);
	tcfg_free(c);
}

TEST(plan_script_launchers_python_handling)
{
	static const char *const mod[] = { "python3.10", "-u", "-m",
	    "pkg.train", "--x", NULL };
	static const char *const opt[] = { "python", "-O", "train.py", NULL };
	static const char *const dup[] = { "torchrun", "--nnodes", "2",
	    "train.py", NULL };
	static const char *const noscript[] = { "python", "-u", NULL };
	static const char *const script[] = { "./train.sh", "a", NULL };
	struct config *c = tcfg_new(LAUNCHER_TORCHRUN);
	struct plan *p;
	char *cause;

	set_command(&c->stages[0], mod);
	p = build(c, 0, NULL);
	REQUIRE(p != NULL);
	CHECK_ARGV(json_object_get(proc(p, 0, 0), "argv"), "torchrun",
	    "--nnodes", "2", "--node_rank", "0", "--nproc_per_node", "8",
	    "--master_addr", "10.0.0.2", "--master_port", "29500", "-m",
	    "pkg.train", "--x");
	plan_free(p);

	/* Not a python command: passed on whole. */
	set_command(&c->stages[0], script);
	p = build(c, 0, NULL);
	REQUIRE(p != NULL);
	CHECK_STR(json_string_value(json_array_get(json_object_get(proc(p, 0,
	    0), "argv"), 11)), "./train.sh");
	plan_free(p);

	set_command(&c->stages[0], opt);
	cause = build_fails(c, NULL);
	CHECK_STR(cause, "tasks/sdxl.yaml:12:12: command: python option -O "
	    "cannot be passed through torchrun, which starts python itself; "
	    "remove it");
	free(cause);

	set_command(&c->stages[0], dup);
	cause = build_fails(c, NULL);
	CHECK_STR(cause, "tasks/sdxl.yaml:12:12: command: starts with "
	    "torchrun, which the torchrun launcher adds itself; give only the "
	    "script and its arguments (python train.py ...)");
	free(cause);

	set_command(&c->stages[0], noscript);
	cause = build_fails(c, NULL);
	CHECK_STR(cause, "tasks/sdxl.yaml:12:12: command: no script after "
	    "python");
	free(cause);

	/* msrun has no -m. */
	c->stages[0].launcher.type = LAUNCHER_MSRUN;
	set_command(&c->stages[0], mod);
	cause = build_fails(c, NULL);
	CHECK_STR(cause, "tasks/sdxl.yaml:12:12: command: python option -m "
	    "cannot be passed through msrun, which starts python itself; "
	    "remove it and give the script's path");
	free(cause);

	/* shell: true only with plain and hccl. */
	{
		static const char *const line[] = { "python train.py", NULL };

		c->stages[0].launcher.type = LAUNCHER_ACCELERATE;
		c->stages[0].shell = 1;
		set_command(&c->stages[0], line);
		cause = build_fails(c, NULL);
		CHECK_STR(cause, "tasks/sdxl.yaml:12:12: command: shell: true "
		    "works with the plain and hccl launchers only; accelerate "
		    "needs the script and its arguments as a list");
		free(cause);
	}
	tcfg_free(c);
}

/* ---- accelerate --------------------------------------------------------- */

TEST(plan_accelerate_argv_and_rendered_config)
{
	static const char *const cmd[] = { "python",
	    "train_dreambooth_lora_sana.py", "--resolution", "1024", NULL };
	struct config *c = tcfg_new(LAUNCHER_ACCELERATE);
	struct plan *p;
	json_t *files, *want, *got;
	json_error_t err;
	const char *text;

	set_command(&c->stages[0], cmd);
	p = build(c, 0, NULL);
	REQUIRE(p != NULL);
	CHECK_ARGV(json_object_get(proc(p, 1, 0), "argv"), "accelerate",
	    "launch", "--num_machines", "2", "--machine_rank", "1",
	    "--num_processes", "16", "--main_process_ip", "10.0.0.2",
	    "--main_process_port", "29500", "train_dreambooth_lora_sana.py",
	    "--resolution", "1024");
	CHECK_INT(jint(proc(p, 1, 0), "rank"), 8);
	CHECK(json_object_get(p->hosts[1].spec, "files") == NULL);
	plan_free(p);

	/* With the user's config (DeepSpeed): a rendered file per host. */
	c->stages[0].launcher.accelerate_config = J("{\"compute_environment\":"
	    "\"LOCAL_MACHINE\",\"distributed_type\":\"DEEPSPEED\","
	    "\"deepspeed_config\":{\"zero_stage\":2,"
	    "\"gradient_accumulation_steps\":1},\"mixed_precision\":\"bf16\","
	    "\"num_processes\":4,\"machine_rank\":0}");
	p = build(c, 0, NULL);
	REQUIRE(p != NULL);
	CHECK_ARGV(json_object_get(proc(p, 1, 0), "argv"), "accelerate",
	    "launch", "--num_machines", "2", "--machine_rank", "1",
	    "--num_processes", "16", "--main_process_ip", "10.0.0.2",
	    "--main_process_port", "29500", "--config_file",
	    "/runs/sdxl/1/10.0.0.3/accelerate_config.yaml",
	    "train_dreambooth_lora_sana.py", "--resolution", "1024");
	files = json_object_get(p->hosts[1].spec, "files");
	REQUIRE(json_array_size(files) == 1);
	CHECK_STR(jstr(json_array_get(files, 0), "path"),
	    "accelerate_config.yaml");
	CHECK_STR(jstr(json_array_get(files, 0), "mode"), "0644");
	text = jstr(json_array_get(files, 0), "content");
	REQUIRE(text != NULL);
	/* Block-style JSON (YAML readers take it), the user's keys first. */
	{
		static const char head[] = "{\n  \"compute_environment\": "
		    "\"LOCAL_MACHINE\",\n  \"distributed_type\": \"DEEPSPEED\",\n";

		CHECK(strncmp(text, head, strlen(head)) == 0);
	}
	CHECK(text[strlen(text) - 1] == '\n');
	got = json_loads(text, 0, &err);
	want = json_load_file(test_data("plan/accelerate_deepspeed_node1.json"),
	    0, &err);
	REQUIRE(got != NULL && want != NULL);
	CHECK(json_equal(got, want));
	json_decref(got);
	/* Host 0's says machine_rank 0. */
	got = json_loads(jstr(json_array_get(json_object_get(p->hosts[0].spec,
	    "files"), 0), "content"), 0, &err);
	REQUIRE(got != NULL);
	CHECK_INT(jint(got, "machine_rank"), 0);
	json_object_set_new(want, "machine_rank", json_integer(0));
	CHECK(json_equal(got, want));
	json_decref(got);
	json_decref(want);
	plan_free(p);

	/* A multinode launcher other than standard is refused. */
	json_object_set_new(json_object_get(c->stages[0].launcher.
	    accelerate_config, "deepspeed_config"),
	    "deepspeed_multinode_launcher", json_string("pdsh"));
	{
		char *cause = build_fails(c, NULL);

		CHECK_STR(cause, "tasks/sdxl.yaml:30:3: launcher."
		    "accelerate_config: deepspeed_config."
		    "deepspeed_multinode_launcher is \"pdsh\"; drover starts "
		    "accelerate on every host itself, so it must be "
		    "\"standard\" (or left out)");
		free(cause);
	}
	tcfg_free(c);
}

/* ---- hccl ------------------------------------------------------------------ */

static struct config *
hccl_cfg(void)
{
	static const char *const cmd[] = { "python", "train.py", "--config",
	    "configs/training/sd_xl_base_finetune_910b.yaml", "--data_path",
	    "${dataset}", "--save_path", "runs/${task}/${host}", NULL };
	struct config *c = tcfg_new(LAUNCHER_HCCL);

	set_command(&c->stages[0], cmd);
	set(&c->dataset, "/data/pokemon");
	set(&c->cluster.base_dir, "~/drover-runs");
	set(&c->stages[0].cwd, "~/mindone/examples/stable_diffusion_xl");
	c->cluster.container = J("{\"runtime\":\"docker-exec\","
	    "\"name\":\"mindspore1212\"}");
	set(&c->stages[0].launcher.rank_table_dir, rank_table_dir());
	return c;
}

TEST(plan_hccl_tables_from_dir_exact_spec)
{
	static const char *const homes[] = { "/home/ml", "/home/ml/", NULL };
	struct plan_opts o = { .attempt = 1, .host_homes = homes };
	struct config *c = hccl_cfg();
	struct plan *p;
	json_t *want, *spec, *files, *table;
	json_error_t err;
	size_t k;

	p = build(c, 0, &o);
	REQUIRE(p != NULL);
	CHECK_INT(p->world_size, 16);
	want = json_load_file(test_data("ranktables/merged_2x8_v1.0.json"), 0,
	    &err);
	REQUIRE(want != NULL);
	CHECK(json_equal(p->rank_table, want));
	for (k = 0; k < 2; k++) {
		files = json_object_get(p->hosts[k].spec, "files");
		REQUIRE(json_array_size(files) == 1);
		CHECK_STR(jstr(json_array_get(files, 0), "path"),
		    "rank_table.json");
		CHECK_STR(jstr(json_array_get(files, 0), "mode"), "0644");
		table = json_loads(jstr(json_array_get(files, 0), "content"),
		    0, &err);
		CHECK(table != NULL && json_equal(table, want));
		json_decref(table);
		CHECK_AGENT_ACCEPTS(p->hosts[k].spec);
	}
	json_decref(want);

	/* Host 1's whole spec against the hand-written one. */
	spec = json_deep_copy(p->hosts[1].spec);
	json_object_del(spec, "files");
	want = json_load_file(test_data("plan/hccl_node1_spec.json"), 0, &err);
	REQUIRE(want != NULL);
	CHECK(json_equal(spec, want));
	if (!json_equal(spec, want)) {
		char *g = json_dumps(spec, JSON_INDENT(1));

		fprintf(stdout, "  got:\n%s\n", g);
		free(g);
	}
	json_decref(want);
	json_decref(spec);
	CHECK_STR(jstr(json_object_get(p->hosts[0].spec, "env"),
	    "RANK_TABLE_FILE"), "/home/ml/drover-runs/sdxl/1/10.0.0.2/"
	    "rank_table.json");
	plan_free(p);

	/* procs_per_host 4 against 8-device tables: both hosts named. */
	c->stages[0].launcher.procs_per_host = 4;
	{
		char *cause = build_fails(c, &o), want1[8192];

		snprintf(want1, sizeof want1, "tasks/sdxl.yaml:30:3: 10.0.0.2: "
		    "%s/hccl_8p_01234567_10.0.0.2.json: has 8 devices, but 4 "
		    "processes run on each host (launcher.procs_per_host); use "
		    "the host's 4-device table or change "
		    "launcher.procs_per_host\n", rank_table_dir());
		CHECK(strncmp(cause, want1, strlen(want1)) == 0);
		if (strncmp(cause, want1, strlen(want1)) != 0)
			fprintf(stdout, "  got: %s\n", cause);
		CHECK(strstr(cause, "tasks/sdxl.yaml:30:3: 10.0.0.3: ") !=
		    NULL);
		free(cause);
	}
	/* A missing file names the host and the path. */
	c->stages[0].launcher.procs_per_host = 0;
	set(&c->stages[0].launcher.rank_table_pattern, "hccl_{host}.json");
	{
		char *cause = build_fails(c, &o), want1[8192];

		snprintf(want1, sizeof want1, "tasks/sdxl.yaml:30:3: 10.0.0.2: "
		    "rank table: %s/hccl_10.0.0.2.json: No such file or "
		    "directory (set launcher.rank_table_dir / "
		    "rank_table_pattern, or leave rank_table_dir out to read it "
		    "from the host)\n", rank_table_dir());
		CHECK(strncmp(cause, want1, strlen(want1)) == 0);
		if (strncmp(cause, want1, strlen(want1)) != 0)
			fprintf(stdout, "  got: %s\n", cause);
		free(cause);
	}
	tcfg_free(c);
}

/* A 4-NPU table on devices 4-7 ("hccl_4p_4567_..."). */
static json_t *
table_4567(const char *server, int ip_base)
{
	json_t *devs = json_array();
	char ip[32], id[8];
	int i;

	for (i = 4; i < 8; i++) {
		snprintf(ip, sizeof ip, "192.98.%d.%d", ip_base, i);
		snprintf(id, sizeof id, "%d", i);
		json_array_append_new(devs, json_pack("{s:s, s:s, s:s}",
		    "device_id", id, "device_ip", ip, "rank_id", id));
	}
	return json_pack("{s:s, s:s, s:s, s:[{s:s, s:s, s:o}]}", "version",
	    "1.0", "server_count", "1", "status", "completed", "server_list",
	    "server_id", server, "host_nic_ip", "reserve", "device", devs);
}

TEST(plan_hccl_tables_from_hosts)
{
	json_t *tables[2];
	struct plan_opts o = { .attempt = 1, .host_tables = tables };
	struct config *c = hccl_cfg();
	struct plan *p;
	json_t *pr;
	char *cause;
	int i;

	set(&c->stages[0].launcher.rank_table_dir, NULL);
	c->stages[0].launcher.procs_per_host = 4;
	tables[0] = table_4567("10.0.0.2", 10);
	tables[1] = table_4567("10.0.0.3", 11);
	p = build(c, 0, &o);
	REQUIRE(p != NULL);
	CHECK_INT(p->world_size, 8);
	CHECK_JSON(json_object_get(p->hosts[1].spec, "env"),
	    "{\"HCCL_CONNECT_TIMEOUT\":\"7200\",\"RANK_SIZE\":\"8\","
	    "\"DEVICE_NUM\":\"4\",\"RANK_TABLE_FILE\":"
	    "\"~/drover-runs/sdxl/1/10.0.0.3/rank_table.json\"}");
	/* DEVICE_ID is the table's device for that rank. */
	for (i = 0; i < 4; i++) {
		char want[64];

		pr = proc(p, 1, (size_t)i);
		snprintf(want, sizeof want, "{\"DEVICE_ID\":\"%d\","
		    "\"RANK_ID\":\"%d\"}", 4 + i, 4 + i);
		CHECK_JSON(json_object_get(pr, "env"), want);
		snprintf(want, sizeof want, "[%d]", 4 + i);
		CHECK_JSON(json_object_get(pr, "devices"), want);
	}
	CHECK_STR(jstr(json_array_get(json_object_get(json_array_get(
	    json_object_get(p->rank_table, "server_list"), 1), "device"), 3),
	    "rank_id"), "7");
	/* Homes unknown: base_dir and cwd stay as written. */
	CHECK_STR(jstr(p->hosts[0].spec, "base_dir"), "~/drover-runs");
	CHECK_STR(jstr(p->hosts[0].spec, "cwd"),
	    "~/mindone/examples/stable_diffusion_xl");
	plan_free(p);

	json_decref(tables[1]);
	tables[1] = NULL;
	cause = build_fails(c, &o);
	CHECK_STR(cause, "tasks/sdxl.yaml:30:3: 10.0.0.3: no rank table (read "
	    "from the host failed)");
	free(cause);
	o.host_tables = NULL;
	cause = build_fails(c, &o);
	CHECK_STR(cause, "tasks/sdxl.yaml:30:3: 10.0.0.2: no rank table (read "
	    "from the host failed)\ntasks/sdxl.yaml:30:3: 10.0.0.3: no rank "
	    "table (read from the host failed)");
	free(cause);

	/* Versions differ: the merge names both servers. */
	o.host_tables = tables;
	tables[1] = table_4567("10.0.0.3", 11);
	json_object_set_new(tables[1], "version", json_string("1.2"));
	cause = build_fails(c, &o);
	CHECK_STR(cause, "tasks/sdxl.yaml:30:3: merging the hosts' rank "
	    "tables: rank tables of different versions: server 10.0.0.2's is "
	    "1.0, server 10.0.0.3's is 1.2; every host's table must have the "
	    "same version");
	free(cause);
	json_decref(tables[0]);
	json_decref(tables[1]);
	tcfg_free(c);
}

/* ---- msrun, mpirun --------------------------------------------------------- */

TEST(plan_msrun_argv)
{
	static const char *const cmd[] = { "python", "train.py", "--config",
	    "x.yaml", NULL };
	struct config *c = tcfg_new(LAUNCHER_MSRUN);
	struct plan *p;

	set_command(&c->stages[0], cmd);
	p = build(c, 0, NULL);
	REQUIRE(p != NULL);
	CHECK_INT(p->master_port, 8118);
	CHECK_ARGV(json_object_get(proc(p, 1, 0), "argv"), "msrun",
	    "--worker_num", "16", "--local_worker_num", "8", "--master_addr",
	    "10.0.0.2", "--master_port", "8118", "--node_rank", "1",
	    "--log_dir", "/runs/sdxl/1/10.0.0.3/msrun_log", "--join", "True",
	    "train.py", "--config", "x.yaml");
	CHECK_INT(jint(proc(p, 1, 0), "rank"), 8);
	CHECK(json_is_true(json_object_get(proc(p, 1, 0), "metrics")));
	plan_free(p);
	tcfg_free(c);
}

TEST(plan_mpirun_three_hosts)
{
	static const char *const hosts[] = { "10.0.0.2", "10.0.0.3",
	    "10.0.0.4", NULL };
	struct config *c = tcfg_new(LAUNCHER_MPIRUN);
	struct plan *p;
	json_t *files;

	set_hosts(c, hosts);
	p = build(c, 0, NULL);
	REQUIRE(p != NULL);
	CHECK_INT(p->world_size, 24);
	REQUIRE(p->hosts[0].spec != NULL);
	CHECK_ARGV(json_object_get(proc(p, 0, 0), "argv"), "mpirun",
	    "--hostfile", "/runs/sdxl/1/10.0.0.2/hostfile", "-np", "24",
	    "python", "train.py");
	CHECK_INT(jint(proc(p, 0, 0), "rank"), 0);
	files = json_object_get(p->hosts[0].spec, "files");
	REQUIRE(json_array_size(files) == 1);
	CHECK_STR(jstr(json_array_get(files, 0), "path"), "hostfile");
	CHECK_STR(jstr(json_array_get(files, 0), "content"),
	    "10.0.0.2 slots=8\n10.0.0.3 slots=8\n10.0.0.4 slots=8\n");
	CHECK(p->hosts[1].spec == NULL);
	CHECK(p->hosts[2].spec == NULL);
	CHECK_STR(p->hosts[2].note, "started by mpirun from node 0");
	CHECK(p->hosts[0].note == NULL);
	CHECK_INT(p->hosts[2].rank_first, 16);
	CHECK_INT(p->hosts[2].nprocs, 8);
	CHECK_STR(p->hosts[2].run_dir, "/runs/sdxl/1/10.0.0.4");
	CHECK_AGENT_ACCEPTS(p->hosts[0].spec);
	plan_free(p);

	c->stages[0].launcher.slots_per_host = 2;
	p = build(c, 0, NULL);
	REQUIRE(p != NULL);
	CHECK_STR(jstr(json_array_get(json_object_get(p->hosts[0].spec,
	    "files"), 0), "content"),
	    "10.0.0.2 slots=2\n10.0.0.3 slots=2\n10.0.0.4 slots=2\n");
	plan_free(p);
	tcfg_free(c);
}

/* ---- resume, placeholders, stages ---------------------------------------- */

TEST(plan_resume_appends_resume_args)
{
	static const char *const resume[] = { "--resume_from_checkpoint",
	    "latest", "--ckpt", "${checkpoint_dir}/${attempt}", NULL };
	static const char *const line[] = { "python train.py > out.txt", NULL };
	struct plan_opts o = { .attempt = 2, .resume = 1 };
	struct config *c = tcfg_new(LAUNCHER_PLAIN);
	struct plan *p;

	strv_free(c->stages[0].resume_args);
	c->stages[0].resume_args = strv(resume);
	set(&c->checkpoint_dir, "/ckpt");
	p = build(c, 0, &o);
	REQUIRE(p != NULL);
	CHECK_ARGV(json_object_get(proc(p, 0, 0), "argv"), "python",
	    "train.py", "--resume_from_checkpoint", "latest", "--ckpt",
	    "/ckpt/2");
	plan_free(p);

	o.resume = 0;
	p = build(c, 0, &o);
	REQUIRE(p != NULL);
	CHECK_ARGV(json_object_get(proc(p, 0, 0), "argv"), "python",
	    "train.py");
	plan_free(p);

	/* torchrun: after the script's own arguments. */
	o.resume = 1;
	c->stages[0].launcher.type = LAUNCHER_TORCHRUN;
	p = build(c, 0, &o);
	REQUIRE(p != NULL);
	CHECK_ARGV(json_object_get(proc(p, 1, 0), "argv"), "torchrun",
	    "--nnodes", "2", "--node_rank", "1", "--nproc_per_node", "8",
	    "--master_addr", "10.0.0.2", "--master_port", "29500", "train.py",
	    "--resume_from_checkpoint", "latest", "--ckpt", "/ckpt/2");
	plan_free(p);

	/* shell: true: appended to the line, quoted for sh. */
	c->stages[0].launcher.type = LAUNCHER_PLAIN;
	c->stages[0].shell = 1;
	set_command(&c->stages[0], line);
	free(c->stages[0].resume_args[3]);
	c->stages[0].resume_args[3] = xstrdup("my ckpt's dir");
	p = build(c, 0, &o);
	REQUIRE(p != NULL);
	CHECK_ARGV(json_object_get(proc(p, 0, 0), "argv"),
	    "python train.py > out.txt --resume_from_checkpoint latest --ckpt "
	    "'my ckpt'\\''s dir'");
	CHECK(json_is_true(json_object_get(proc(p, 0, 0), "shell")));
	CHECK_AGENT_ACCEPTS(p->hosts[0].spec);
	plan_free(p);
	tcfg_free(c);
}

TEST(plan_placeholders_every_name)
{
	static const char *const cmd[] = { "echo", "${task}|${stage}|"
	    "${attempt}|${host}|${node_rank}|${nnodes}|${rank}|${local_rank}|"
	    "${world_size}|${run_dir}|${dataset}|${checkpoint_dir}|"
	    "${master_addr}|${master_port}", "$${rank} $$ a$b ${rank}$${x}",
	    NULL };
	struct plan_opts o = { .attempt = 2 };
	struct config *c = tcfg_new(LAUNCHER_PLAIN);
	struct plan *p;

	set_command(&c->stages[0], cmd);
	set(&c->dataset, "/data");
	set(&c->checkpoint_dir, "/ckpt");
	set(&c->stages[0].cwd, "${run_dir}/work");
	env_add(&c->stages[0].env, "OUT", "${checkpoint_dir}/${host}", 23);
	p = build(c, 0, &o);
	REQUIRE(p != NULL);
	CHECK_ARGV(json_object_get(proc(p, 1, 0), "argv"), "echo",
	    "sdxl|main|2|10.0.0.3|1|2|1|0|2|/runs/sdxl/2/10.0.0.3|/data|/ckpt|"
	    "10.0.0.2|29500", "${rank} $$ a$b 1${x}");
	CHECK_STR(jstr(p->hosts[1].spec, "cwd"), "/runs/sdxl/2/10.0.0.3/work");
	CHECK_STR(jstr(json_object_get(p->hosts[1].spec, "env"), "OUT"),
	    "/ckpt/10.0.0.3");
	plan_free(p);

	/* A second stage: its own run directory name and ${stage}. */
	c->nstages = 2;
	c->stages[1].name = xstrdup("cache");
	set_command(&c->stages[1], cmd);
	c->stages[1].launcher.type = LAUNCHER_PLAIN;
	c->stages[1].metrics_rank = 0;
	c->stages[1].stop_grace_s = 30;
	c->stages[1].resume_args = xcalloc(1, sizeof(char *));
	p = build(c, 1, &o);
	REQUIRE(p != NULL);
	CHECK_STR(p->run_task, "sdxl.cache");
	CHECK_STR(jstr(p->hosts[0].spec, "task"), "sdxl.cache");
	CHECK_STR(p->hosts[0].run_dir, "/runs/sdxl.cache/2/10.0.0.2");
	CHECK_ARGV(json_object_get(proc(p, 0, 0), "argv"), "echo",
	    "sdxl|cache|2|10.0.0.2|0|2|0|0|2|/runs/sdxl.cache/2/10.0.0.2|/data|"
	    "/ckpt|10.0.0.2|29500", "${rank} $$ a$b 0${x}");
	plan_free(p);
	/* Stage "main" of a task with two stages is TASK.main too. */
	p = build(c, 0, &o);
	REQUIRE(p != NULL);
	CHECK_STR(p->run_task, "sdxl.main");
	plan_free(p);
	tcfg_free(c);
}

TEST(plan_placeholder_errors)
{
	static const char *const unknown[] = { "python", "${HOME}/x", NULL };
	static const char *const noval[] = { "python", "train.py",
	    "${dataset}", NULL };
	static const char *const open[] = { "python", "${rank", NULL };
	struct config *c = tcfg_new(LAUNCHER_PLAIN);
	char *cause;

	set_command(&c->stages[0], unknown);
	cause = build_fails(c, NULL);
	CHECK_STR(cause, "tasks/sdxl.yaml:12:12: command[1]: unknown "
	    "placeholder ${HOME}; the placeholders are ${task} ${stage} "
	    "${attempt} ${host} ${node_rank} ${nnodes} ${rank} ${local_rank} "
	    "${world_size} ${run_dir} ${dataset} ${checkpoint_dir} "
	    "${master_addr} ${master_port} (write $${HOME} for a literal "
	    "${HOME})");
	free(cause);

	set_command(&c->stages[0], noval);
	cause = build_fails(c, NULL);
	CHECK_STR(cause, "tasks/sdxl.yaml:12:12: command[2]: ${dataset} has no "
	    "value: task.dataset is not set");
	free(cause);

	set_command(&c->stages[0], open);
	cause = build_fails(c, NULL);
	CHECK_STR(cause, "tasks/sdxl.yaml:12:12: command[1]: \"${\" at byte 0 "
	    "has no closing \"}\" (write $${ for a literal ${)");
	free(cause);

	/* In an env value: the env entry's own mark. */
	set_command(&c->stages[0], noval + 2);
	set(&c->dataset, "/d");
	env_add(&c->stages[0].env, "X", "${checkpoint_dir}", 24);
	cause = build_fails(c, NULL);
	CHECK_STR(cause, "tasks/sdxl.yaml:24:5: env.X: ${checkpoint_dir} has "
	    "no value: task.checkpoint_dir is not set");
	free(cause);
	tcfg_free(c);
}

TEST(plan_cfg_expand_and_marks)
{
	char *out = NULL, *cause = NULL, buf[64];
	struct cfg_mark m = { "a.yaml", 3, 7 }, d = { NULL, 0, 0 };
	struct cfg_mark f = { "a.yaml", 0, 0 };

	CHECK(cfg_expand("", NULL, NULL, &out, &cause) == 0);
	CHECK_STR(out, "");
	free(out);
	CHECK(cfg_expand("$$$${x}$", NULL, NULL, &out, &cause) == 0);
	CHECK_STR(out, "$$${x}$");
	free(out);
	cfg_mark_format(&m, buf, sizeof buf);
	CHECK_STR(buf, "a.yaml:3:7");
	cfg_mark_format(&d, buf, sizeof buf);
	CHECK_STR(buf, "(default or --set)");
	cfg_mark_format(&f, buf, sizeof buf);
	CHECK_STR(buf, "a.yaml");
}

TEST(plan_hostile_arguments_arrive_byte_exact)
{
	static const char *const cmd[] = { "python", "train.py",
	    "it's \"quoted\"", "$(rm -rf /)", "$HOME", "`id`", "a;b|c&d",
	    "line1\nline2\r\n", "\xc3\xbcn\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9 "
	    "\xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac", "--x=a b", "-", "",
	    "\\", "$$", "*?[a]", "~", "$${literal}", "\t", NULL };
	static const char *const homes[] = { "/home/u", "/home/u", NULL };
	struct plan_opts o = { .attempt = 1, .host_homes = homes };
	struct config *c = tcfg_new(LAUNCHER_PLAIN);
	struct plan *p;
	struct buf errors;
	struct spec *s;
	json_t *argv, *copy;
	size_t i, n = 0;

	set_command(&c->stages[0], cmd);
	env_add(&c->stages[0].env, "WEIRD", "a 'b' \"c\" $(d) `e`\nf", 25);
	p = build(c, 0, &o);
	REQUIRE(p != NULL);
	argv = json_object_get(proc(p, 1, 0), "argv");
	while (cmd[n] != NULL)
		n++;
	REQUIRE(json_array_size(argv) == n);
	for (i = 0; i < n; i++) {
		const char *want = strcmp(cmd[i], "$${literal}") == 0 ?
		    "${literal}" : cmd[i];

		CHECK_INT(json_string_length(json_array_get(argv, i)),
		    strlen(want));
		CHECK_STR(json_string_value(json_array_get(argv, i)), want);
	}
	CHECK_STR(jstr(json_object_get(p->hosts[1].spec, "env"), "WEIRD"),
	    "a 'b' \"c\" $(d) `e`\nf");
	/* And the agent reads back exactly the same bytes. */
	copy = json_deep_copy(p->hosts[1].spec);
	buf_init(&errors);
	s = spec_parse(copy, NULL, &errors);
	if (s == NULL)
		fprintf(stdout, "  %s\n", buf_cstr(&errors));
	REQUIRE(s != NULL);
	REQUIRE(s->nprocs == 1);
	for (i = 0; i < n; i++)
		CHECK_STR(s->procs[0].argv[i], json_string_value(
		    json_array_get(argv, i)));
	CHECK(s->procs[0].argv[n] == NULL);
	spec_free(s);
	json_decref(copy);
	buf_free(&errors);
	plan_free(p);
	tcfg_free(c);
}

/* ---- checks ---------------------------------------------------------------- */

TEST(plan_refuses_what_the_agent_would)
{
	static const char *const bad[] = { "10.0.0.2", "bad/host", "..",
	    NULL };
	struct config *c = tcfg_new(LAUNCHER_PLAIN);
	char *cause;

	set_hosts(c, bad);
	cause = build_fails(c, NULL);
	CHECK_STR(cause, "tasks/sdxl.yaml:3:10: bad/host: not usable as a host "
	    "id (the run directory's name): it must be 1-128 characters of "
	    "A-Z a-z 0-9 _ . - : @ +\ntasks/sdxl.yaml:3:10: ..: not usable as "
	    "a host id (the run directory's name): it must be 1-128 "
	    "characters of A-Z a-z 0-9 _ . - : @ +");
	free(cause);
	{
		static const char *const good[] = { "gpu07", "user@n1:22",
		    NULL };

		set_hosts(c, good);
	}

	set(&c->cluster.base_dir, "runs");
	cause = build_fails(c, NULL);
	CHECK_STR(cause, "tasks/sdxl.yaml: gpu07: cluster.base_dir \"runs\" is "
	    "not an absolute path (the agent would refuse it); use /... or "
	    "~/...\ntasks/sdxl.yaml: user@n1:22: cluster.base_dir \"runs\" is "
	    "not an absolute path (the agent would refuse it); use /... or "
	    "~/...");
	free(cause);
	set(&c->cluster.base_dir, "/runs");

	env_add(&c->stages[0].env, "BAD-NAME", "x", 21);
	env_add(&c->stages[0].env, "9LIVES", "x", 22);
	cause = build_fails(c, NULL);
	CHECK_STR(cause, "tasks/sdxl.yaml:21:5: env: \"BAD-NAME\" is not a "
	    "valid variable name (letters, digits and _, not starting with a "
	    "digit)\ntasks/sdxl.yaml:22:5: env: \"9LIVES\" is not a valid "
	    "variable name (letters, digits and _, not starting with a "
	    "digit)");
	free(cause);
	env_clear(&c->stages[0].env);

	c->cluster.container = J("{\"runtime\":\"docker-exec\"}");
	cause = build_fails(c, NULL);
	CHECK(strncmp(cause, "tasks/sdxl.yaml:8:3: cluster.container: ", 40) ==
	    0);
	CHECK(strstr(cause, "name") != NULL);
	free(cause);
	json_decref(c->cluster.container);
	c->cluster.container = NULL;

	json_object_set_new(c->stages[0].parser, "format", json_string("xx"));
	cause = build_fails(c, NULL);
	CHECK_STR(cause, "tasks/sdxl.yaml:11:3: parser.format: must be one of "
	    "mindone, mindspore, kohya, diffusers, jsonl, regex, auto");
	free(cause);
	json_object_set_new(c->stages[0].parser, "format",
	    json_string("mindone"));

	c->cluster.devices_per_host = 0;
	c->stages[0].launcher.type = LAUNCHER_TORCHRUN;
	cause = build_fails(c, NULL);
	CHECK_STR(cause, "tasks/sdxl.yaml:30:3: torchrun launcher: 0 processes "
	    "per host; set launcher.procs_per_host or cluster.devices_per_host "
	    "(1 to 4096)");
	free(cause);
	tcfg_free(c);
}

TEST(plan_home_expansion)
{
	static const char *const homes[] = { "/home/a", "/home/b/", NULL };
	static const char *const nohome[] = { "/home/a", NULL, NULL };
	struct plan_opts o = { .attempt = 1, .host_homes = homes };
	struct config *c = tcfg_new(LAUNCHER_PLAIN);
	struct plan *p;
	char *cause;

	set(&c->cluster.base_dir, "~/runs");
	set(&c->stages[0].cwd, "~/mindone");
	p = build(c, 0, &o);
	REQUIRE(p != NULL);
	CHECK_STR(jstr(p->hosts[0].spec, "base_dir"), "/home/a/runs");
	CHECK_STR(jstr(p->hosts[1].spec, "base_dir"), "/home/b/runs");
	CHECK_STR(p->hosts[1].run_dir, "/home/b/runs/sdxl/1/10.0.0.3");
	CHECK_STR(jstr(p->hosts[1].spec, "cwd"), "/home/b/mindone");
	CHECK_AGENT_ACCEPTS(p->hosts[0].spec);
	CHECK_AGENT_ACCEPTS(p->hosts[1].spec);
	plan_free(p);

	o.host_homes = nohome;
	p = build(c, 0, &o);
	REQUIRE(p != NULL);
	CHECK_STR(jstr(p->hosts[0].spec, "base_dir"), "/home/a/runs");
	CHECK_STR(jstr(p->hosts[1].spec, "base_dir"), "~/runs");
	CHECK_STR(p->hosts[1].run_dir, "~/runs/sdxl/1/10.0.0.3");
	plan_free(p);

	set(&c->cluster.base_dir, "~");
	o.host_homes = homes;
	p = build(c, 0, &o);
	REQUIRE(p != NULL);
	CHECK_STR(jstr(p->hosts[1].spec, "base_dir"), "/home/b");
	plan_free(p);

	set(&c->cluster.base_dir, "~bob/runs");
	cause = build_fails(c, &o);
	CHECK(strncmp(cause, "tasks/sdxl.yaml: 10.0.0.2: cluster.base_dir "
	    "\"~bob/runs\" is not an absolute path", 77) == 0);
	free(cause);
	set(&c->cluster.base_dir, "/runs");
	set(&c->stages[0].cwd, "work");
	cause = build_fails(c, &o);
	CHECK(strncmp(cause, "tasks/sdxl.yaml:11:3: 10.0.0.2: cwd \"work\" is "
	    "not an absolute path (the agent would refuse it); use /... or "
	    "~/...", 105) == 0);
	free(cause);
	tcfg_free(c);
}

TEST(plan_every_launcher_spec_is_accepted_by_the_agent)
{
	static const char *const homes[] = { "/home/u", "/home/u", NULL };
	static const enum cfg_launcher_type types[] = { LAUNCHER_PLAIN,
	    LAUNCHER_TORCHRUN, LAUNCHER_ACCELERATE, LAUNCHER_HCCL,
	    LAUNCHER_MSRUN, LAUNCHER_MPIRUN };
	struct plan_opts o = { .attempt = 4, .resume = 1, .host_homes = homes };
	struct config *c;
	struct plan *p;
	size_t t, k;

	for (t = 0; t < nitems(types); t++) {
		c = hccl_cfg();
		c->stages[0].launcher.type = types[t];
		c->stages[0].launcher.procs_per_host =
		    types[t] == LAUNCHER_PLAIN ? 8 : 0;
		if (types[t] == LAUNCHER_ACCELERATE)
			c->stages[0].launcher.accelerate_config =
			    J("{\"mixed_precision\":\"fp16\"}");
		env_add(&c->stages[0].env, "R", "${rank}", 26);
		p = build(c, 0, &o);
		CHECK(p != NULL);
		for (k = 0; p != NULL && k < p->nhosts; k++) {
			if (p->hosts[k].spec != NULL)
				CHECK_AGENT_ACCEPTS(p->hosts[k].spec);
		}
		plan_free(p);
		tcfg_free(c);
	}
}

/* ---- what drover plan shows ------------------------------------------------ */

TEST(plan_format_text_masks_secrets)
{
	static char *secrets[] = { "HF_TOKEN", "WANDB_API_KEY", NULL };
	struct plan_opts o = { .attempt = 1, .secret_names = secrets };
	struct config *c = tcfg_new(LAUNCHER_PLAIN);
	struct plan *p;
	char *text, *dump;
	json_t *j;
	size_t k;

	/* A token pasted into the config under a secret's name. */
	env_add(&c->stages[0].env, "HF_TOKEN", "hf_CANARY_0123456789", 22);
	p = build(c, 0, &o);
	REQUIRE(p != NULL);
	for (k = 0; k < p->nhosts; k++) {
		dump = json_dumps(p->hosts[k].spec, JSON_COMPACT);
		CHECK(strstr(dump, "hf_CANARY") == NULL);
		free(dump);
	}
	text = plan_format_text(p, &o);
	CHECK(strstr(text, "hf_CANARY") == NULL);
	CHECK_CONTAINS(text, "HF_TOKEN=********");
	CHECK_CONTAINS(text, "WANDB_API_KEY=********");
	CHECK_CONTAINS(text, "secrets (sent to the agent on stdin, never "
	    "written): HF_TOKEN=******** WANDB_API_KEY=********\n");
	free(text);
	j = plan_to_json(p, &o);
	dump = json_dumps(j, JSON_COMPACT);
	CHECK(strstr(dump, "hf_CANARY") == NULL);
	CHECK_CONTAINS(dump, "\"secrets\":[\"HF_TOKEN=********\","
	    "\"WANDB_API_KEY=********\"]");
	free(dump);
	json_decref(j);
	plan_free(p);

	/* Without the names, the value is an ordinary env value. */
	o.secret_names = NULL;
	p = build(c, 0, &o);
	REQUIRE(p != NULL);
	CHECK_STR(jstr(json_object_get(p->hosts[0].spec, "env"), "HF_TOKEN"),
	    "hf_CANARY_0123456789");
	plan_free(p);
	tcfg_free(c);
}

TEST(plan_format_text_hccl_and_mpirun)
{
	static const char *const homes[] = { "/home/ml", "/home/ml",
	    "/home/ml", NULL };
	static const char *const hosts[] = { "10.0.0.2", "10.0.0.3",
	    "10.0.0.4", NULL };
	static const char *const cmd[] = { "python", "train.py", "--name",
	    "a b", NULL };
	struct plan_opts o = { .attempt = 1, .host_homes = homes };
	struct config *c = hccl_cfg();
	struct plan *p;
	char *text, want[256];
	size_t tlen;

	p = build(c, 0, &o);
	REQUIRE(p != NULL);
	text = plan_format_text(p, &o);
	CHECK_CONTAINS(text, "task sdxl, stage main (run directory name sdxl), "
	    "attempt 1\nlauncher hccl: 2 hosts x 8 = world size 16, master "
	    "10.0.0.2:29500\n");
	CHECK_CONTAINS(text, "\n== 10.0.0.3  node 1  ranks 8-15  run dir "
	    "/home/ml/drover-runs/sdxl/1/10.0.0.3\n   cwd: /home/ml/mindone/"
	    "examples/stable_diffusion_xl\n   container: {\"runtime\":"
	    "\"docker-exec\",\"name\":\"mindspore1212\"}\n   parser: "
	    "{\"format\":\"mindone\"}\n   env (all processes):\n"
	    "     HCCL_CONNECT_TIMEOUT=7200\n     RANK_SIZE=16\n"
	    "     DEVICE_NUM=8\n     RANK_TABLE_FILE=/home/ml/drover-runs/sdxl/"
	    "1/10.0.0.3/rank_table.json\n   rank 8  local 0  devices 0  "
	    "metrics\n     env: DEVICE_ID=0 RANK_ID=8\n     argv: python "
	    "train.py --config configs/training/sd_xl_base_finetune_910b.yaml "
	    "--data_path /data/pokemon --save_path runs/sdxl/10.0.0.3\n"
	    "   rank 9  local 1  devices 1\n");
	/* The table is shown once, then referred to. */
	tlen = strlen(jstr(json_array_get(json_object_get(p->hosts[0].spec,
	    "files"), 0), "content"));
	snprintf(want, sizeof want, "   file rank_table.json (mode 0644, %zu "
	    "bytes):\n     | {\n     |   \"version\": \"1.0\",\n", tlen);
	CHECK_CONTAINS(text, want);
	snprintf(want, sizeof want, "   file rank_table.json (mode 0644, %zu "
	    "bytes): same as on 10.0.0.2\n", tlen);
	CHECK_CONTAINS(text, want);
	free(text);
	plan_free(p);

	/* mpirun: the other hosts say who starts them. */
	c->stages[0].launcher.type = LAUNCHER_MPIRUN;
	set_hosts(c, hosts);
	set_command(&c->stages[0], cmd);
	p = build(c, 0, &o);
	REQUIRE(p != NULL);
	text = plan_format_text(p, &o);
	CHECK_CONTAINS(text, "     argv: mpirun --hostfile /home/ml/drover-runs/"
	    "sdxl/1/10.0.0.2/hostfile -np 24 python train.py --name 'a b'\n"
	    "   file hostfile (mode 0644, 51 bytes):\n     | 10.0.0.2 slots=8\n"
	    "     | 10.0.0.3 slots=8\n     | 10.0.0.4 slots=8\n");
	CHECK_CONTAINS(text, "\n== 10.0.0.4  node 2  ranks 16-23  run dir "
	    "/home/ml/drover-runs/sdxl/1/10.0.0.4\n   started by mpirun from "
	    "node 0\n");
	free(text);
	plan_free(p);
	tcfg_free(c);
}

TEST(plan_to_json_structure)
{
	static const char *const hosts[] = { "10.0.0.2", "10.0.0.3",
	    "10.0.0.4", NULL };
	struct config *c = hccl_cfg();
	struct plan *p;
	json_t *j, *h;

	set(&c->stages[0].launcher.rank_table_dir, NULL);
	c->stages[0].launcher.type = LAUNCHER_MPIRUN;
	set_hosts(c, hosts);
	p = build(c, 0, NULL);
	REQUIRE(p != NULL);
	j = plan_to_json(p, NULL);
	CHECK_STR(jstr(j, "task"), "sdxl");
	CHECK_STR(jstr(j, "stage"), "main");
	CHECK_STR(jstr(j, "run_task"), "sdxl");
	CHECK_STR(jstr(j, "launcher"), "mpirun");
	CHECK_INT(jint(j, "attempt"), 1);
	CHECK_INT(jint(j, "world_size"), 24);
	CHECK_INT(jint(j, "procs_per_host"), 8);
	CHECK_STR(jstr(j, "master_addr"), "10.0.0.2");
	CHECK_INT(jint(j, "master_port"), 29500);
	CHECK_JSON(json_object_get(j, "secrets"), "[]");
	CHECK(json_object_get(j, "rank_table") == NULL);
	REQUIRE(json_array_size(json_object_get(j, "hosts")) == 3);
	h = json_array_get(json_object_get(j, "hosts"), 0);
	CHECK_STR(jstr(h, "host"), "10.0.0.2");
	CHECK(json_equal(json_object_get(h, "spec"), p->hosts[0].spec));
	CHECK(json_object_get(h, "note") == NULL);
	h = json_array_get(json_object_get(j, "hosts"), 2);
	CHECK_INT(jint(h, "node_rank"), 2);
	CHECK_INT(jint(h, "rank_first"), 16);
	CHECK_INT(jint(h, "nprocs"), 8);
	CHECK_STR(jstr(h, "run_dir"), "~/drover-runs/sdxl/1/10.0.0.4");
	CHECK(json_is_null(json_object_get(h, "spec")));
	CHECK_STR(jstr(h, "note"), "started by mpirun from node 0");
	json_decref(j);
	plan_free(p);

	/* hccl: the merged table is in the document. */
	c->stages[0].launcher.type = LAUNCHER_HCCL;
	set(&c->stages[0].launcher.rank_table_dir, rank_table_dir());
	{
		static const char *const two[] = { "10.0.0.2", "10.0.0.3",
		    NULL };

		set_hosts(c, two);
	}
	p = build(c, 0, NULL);
	REQUIRE(p != NULL);
	j = plan_to_json(p, NULL);
	CHECK(json_equal(json_object_get(j, "rank_table"), p->rank_table));
	CHECK_STR(jstr(json_object_get(json_array_get(json_object_get(j,
	    "hosts"), 1), "spec"), "host_id"), "10.0.0.3");
	json_decref(j);
	plan_free(p);
	tcfg_free(c);
}
