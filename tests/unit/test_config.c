/*
 * test_config.c - the YAML config loader: every good fixture in
 * tests/data/configs/good checked field by field (one per launcher, a
 * layered cluster, stages, --set), every broken one in
 * tests/data/configs/bad against the exact lines its "# expect:" comments
 * give, the secrets file mode check, and hostile YAML (deep nesting, alias
 * bombs, a million keys, invalid UTF-8, NUL) refused quickly, with the
 * time each took printed.
 *
 * In a bad fixture: "# expect: LINE:COL: MESSAGE" is an error in that file;
 * "# expect-at: TEXT" is a whole line (errors in other files, --set), with
 * {dir} standing for the bad folder; "# set: PATH=VALUE" is an override.
 */
#include "test.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../common/common.h"
#include "../../tui/config.h"
#include "../../tui/cfgwalk.h"
#include "../../tui/yamltree.h"

/* Hostile input must be refused in well under this (the real figures are
 * printed: about 1 ms for the deep cases, under 10 ms at the caps). A
 * sanitizer build is 5-10x slower, so it gets more room. */
#if defined(__SANITIZE_ADDRESS__)
#define HOSTILE_MAX_MS	1000.0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HOSTILE_MAX_MS	1000.0
#endif
#endif
#ifndef HOSTILE_MAX_MS
#define HOSTILE_MAX_MS	100.0
#endif
/* Memory the loader may take for hostile input, peak over what the
 * process held before (the real figures are printed: under 20 MB). */
#define HOSTILE_MAX_MB	(HOSTILE_MAX_MS > 100.0 ? 128.0 : 64.0)

/* Starts a peak-memory measurement: resets the process's high-water mark
 * (Linux 4.0+) and returns the resident kB now, or -1 when it cannot. */
static long
peak_start(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY);

	if (fd == -1)
		return -1;
	if (write(fd, "5", 1) != 1) {
		close(fd);
		return -1;
	}
	close(fd);
	return proc_status_kb("VmRSS:");
}

/* MB the peak rose above start; -1 when not measured. */
static double
peak_mb(long start)
{
	long hwm = proc_status_kb("VmHWM:");

	if (start < 0 || hwm < 0)
		return -1;
	return hwm > start ? (double)(hwm - start) / 1024.0 : 0.0;
}

/* tests/data/configs/REL, loaded; prints the cause when it fails. */
static struct config *
load(const char *rel, const struct cfg_override *ovr, size_t n)
{
	char path[4096], *cause = NULL;
	struct config *cfg;

	snprintf(path, sizeof path, "%s", test_data(rel));
	cfg = config_load(path, ovr, n, &cause);
	if (cfg == NULL)
		fprintf(stdout, "  %s: %s\n", rel, cause ? cause : "(no cause)");
	free(cause);
	return cfg;
}

static char *
jdump(const json_t *j)
{
	return j != NULL ? json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT) :
	    xstrdup("(null)");
}

#define CHECK_JSON(j, want) do {					\
	char *s_ = jdump(j);						\
	CHECK_STR(s_, want);						\
	free(s_);							\
} while (0)

/* argv joined with '|' */
static char *
joinv(char *const *v)
{
	struct buf b;
	size_t i;

	buf_init(&b);
	for (i = 0; v != NULL && v[i] != NULL; i++)
		buf_printf(&b, "%s%s", i ? "|" : "", v[i]);
	return buf_steal(&b);
}

#define CHECK_ARGV(v, want) do {					\
	char *s_ = joinv(v);						\
	CHECK_STR(s_, want);						\
	free(s_);							\
} while (0)

/* "K=V K=V" */
static char *
joinenv(const struct cfg_env *e)
{
	struct buf b;
	size_t i;

	buf_init(&b);
	for (i = 0; i < e->n; i++)
		buf_printf(&b, "%s%s=%s", i ? " " : "", e->v[i].key,
		    e->v[i].value);
	return buf_steal(&b);
}

#define CHECK_ENV(e, want) do {						\
	char *s_ = joinenv(e);						\
	CHECK_STR(s_, want);						\
	free(s_);							\
} while (0)

/* The file part of a mark, relative to tests/data/configs/. */
static const char *
mark_rel(const struct cfg_mark *m)
{
	const char *base = test_data("configs/");
	size_t n = strlen(base);

	if (m->file == NULL)
		return "(null)";
	return strncmp(m->file, base, n) == 0 ? m->file + n : m->file;
}

#define CHECK_MARK(m, file, l, c) do {					\
	CHECK_STR(mark_rel(&(m)), file);				\
	CHECK_INT((m).line, l);						\
	CHECK_INT((m).col, c);						\
} while (0)

/* ---- good configs ---------------------------------------------------------- */

TEST(config_good_plain_every_cluster_key)
{
	struct config *cfg = load("configs/good/plain.yaml", NULL, 0);
	struct cfg_cluster *c;
	struct cfg_stage *st;

	REQUIRE(cfg != NULL);
	c = &cfg->cluster;
	CHECK_STR(cfg->path, test_data("configs/good/plain.yaml"));
	CHECK_INT(cfg->nfiles, 1);
	CHECK_STR(cfg->files[0], cfg->path);
	CHECK(cfg->text != NULL && strncmp(cfg->text, "# Plain launcher",
	    16) == 0);
	CHECK_ARGV(c->hosts, "192.168.203.2|192.168.203.5|192.168.203.6");
	CHECK_INT(c->nhosts, 3);
	CHECK_MARK(c->hosts_mark, "good/plain.yaml", 3, 14);
	CHECK_STR(c->user, "ml");
	CHECK_INT(c->port, 2222);
	CHECK_STR(c->transport, "openssh");
	CHECK_INT(c->accept_new, 1);
	CHECK_INT(c->fanout, 8);
	CHECK_INT(c->connect_timeout_s, 20);
	CHECK_INT(c->devices_per_host, 8);
	CHECK_STR(c->base_dir, "/data/runs");
	CHECK_STR(c->agent_dir, "~/bin/drover");
	CHECK_JSON(c->container, "{\"name\":\"mindspore1212\","
	    "\"runtime\":\"docker-exec\",\"user\":\"1000\"}");
	CHECK_MARK(c->container_mark, "good/plain.yaml", 16, 5);
	/* Values as written: 7200 and 0.50 stay "7200" and "0.50". */
	CHECK_ENV(&c->env, "HCCL_CONNECT_TIMEOUT=7200 GLOG_v=2 RATIO=0.50");
	CHECK_INT(c->telemetry_interval_s, 0);
	CHECK_INT(c->log_max_bytes, 1048576);
	CHECK_INT(c->log_keep, 5);

	CHECK_STR(cfg->task, "sdxl-ft");
	CHECK_STR(cfg->dataset, "/data/pokemon");
	CHECK_STR(cfg->checkpoint_dir, "/ckpt/sdxl");
	CHECK(cfg->secrets_file == NULL);
	CHECK_INT(cfg->restart_max, 1);
	CHECK_INT(cfg->restart_backoff_s, 0);
	REQUIRE(cfg->nstages == 1);
	st = &cfg->stages[0];
	CHECK_STR(st->name, "main");
	CHECK_MARK(st->mark, "good/plain.yaml", 26, 3);
	/* Placeholders are stored unexpanded, $${ included. */
	CHECK_ARGV(st->command, "python|train.py|--data_path|${dataset}|"
	    "--save_path|${checkpoint_dir}/${rank}|--note|$${HOME} stays");
	CHECK_MARK(st->command_mark, "good/plain.yaml", 29, 12);
	CHECK_INT(st->shell, 0);
	CHECK_STR(st->cwd, "/home/ml/mindone/examples/stable_diffusion_xl");
	CHECK_INT(st->launcher.type, LAUNCHER_PLAIN);
	CHECK_INT(st->launcher.procs_per_host, 8);
	CHECK_INT(st->launcher.master_port, 6000);
	CHECK(st->launcher.program == NULL);
	CHECK_MARK(st->launcher.mark, "good/plain.yaml", 33, 5);
	CHECK_JSON(st->parser, "{\"format\":\"mindone\"}");
	CHECK_INT(st->metrics_rank, -1);
	/* cluster env, then task env: GLOG_v keeps its place, task wins. */
	CHECK_ENV(&st->env, "HCCL_CONNECT_TIMEOUT=7200 GLOG_v=3 RATIO=0.50 "
	    "DEVICE_NUM=8");
	CHECK_MARK(st->env.v[1].mark, "good/plain.yaml", 40, 13);
	CHECK_ARGV(st->resume_args, "--resume|True");
	CHECK_DBL(st->stall.factor, 5.5, 1e-12);
	CHECK_INT(st->stall.floor_s, 120);
	CHECK_INT(st->stall.compile_grace_s, 3600);
	CHECK_INT(st->stop_grace_s, 60);
	config_free(cfg);
}

TEST(config_good_defaults)
{
	struct config *cfg = load("configs/good/mpirun.yaml", NULL, 0);
	struct cfg_cluster *c;
	struct cfg_stage *st;

	REQUIRE(cfg != NULL);
	c = &cfg->cluster;
	CHECK(c->user == NULL);
	CHECK_INT(c->port, 0);
	CHECK_STR(c->transport, "auto");
	CHECK_INT(c->accept_new, 0);
	CHECK_INT(c->fanout, 32);
	CHECK_INT(c->connect_timeout_s, 10);
	CHECK_INT(c->devices_per_host, 1);
	CHECK_STR(c->base_dir, "~/drover-runs");
	CHECK_STR(c->agent_dir, "~/.drover/bin");
	CHECK(c->container == NULL);
	CHECK_INT(c->env.n, 0);
	CHECK_INT(c->telemetry_interval_s, 5);
	CHECK_INT(c->log_max_bytes, 67108864);
	CHECK_INT(c->log_keep, 2);
	CHECK(cfg->dataset == NULL && cfg->checkpoint_dir == NULL);
	CHECK_INT(cfg->restart_max, 3);
	CHECK_INT(cfg->restart_backoff_s, 30);
	REQUIRE(cfg->nstages == 1);
	st = &cfg->stages[0];
	CHECK(st->cwd == NULL);
	CHECK_ARGV(st->resume_args, "");
	CHECK(st->resume_args != NULL && st->resume_args[0] == NULL);
	CHECK_DBL(st->stall.factor, 10, 0);
	CHECK_INT(st->stall.floor_s, 600);
	CHECK_INT(st->stall.compile_grace_s, 1800);
	CHECK_INT(st->stop_grace_s, 30);
	/* mpirun.yaml itself */
	CHECK_ARGV(c->hosts, "cpu1|cpu2");
	CHECK_ARGV(st->command, "./bench");
	CHECK_INT(st->launcher.type, LAUNCHER_MPIRUN);
	CHECK_INT(st->launcher.procs_per_host, 4);
	CHECK_INT(st->launcher.slots_per_host, 8);
	CHECK_JSON(st->parser, "{\"format\":\"jsonl\"}");
	CHECK_INT(st->metrics_rank, 3);
	config_free(cfg);
}

TEST(config_good_torchrun_shell_command_byte_for_byte)
{
	struct config *cfg = load("configs/good/torchrun.yaml", NULL, 0);
	struct cfg_stage *st;

	REQUIRE(cfg != NULL);
	CHECK_ARGV(cfg->cluster.hosts, "gpu01|gpu03");
	CHECK_JSON(cfg->cluster.container, "{\"accelerator\":\"nvidia\","
	    "\"devices\":[0,1],\"extra_args\":[\"--shm-size=64g\"],"
	    "\"image\":\"nvcr.io/nvidia/pytorch:24.05-py3\","
	    "\"mounts\":[\"/data:/data:ro\",{\"ro\":false,\"src\":\"/ckpt\"}],"
	    "\"runtime\":\"docker-run\"}");
	REQUIRE(cfg->nstages == 1);
	st = &cfg->stages[0];
	CHECK_INT(st->shell, 1);
	REQUIRE(st->command != NULL && st->command[0] != NULL);
	CHECK_STR(st->command[0], "python sdxl_train.py --out '${run_dir}/o' "
	    "$(hostname) `id -u` \"q\" \xc3\xa9\n");
	CHECK(st->command[1] == NULL);
	CHECK_INT(st->launcher.type, LAUNCHER_TORCHRUN);
	CHECK_STR(st->launcher.program, "/opt/conda/bin/torchrun");
	CHECK_STR(st->launcher.master_addr, "gpu01");
	CHECK_INT(st->launcher.master_port, 29501);
	CHECK_INT(st->launcher.procs_per_host, 2);
	CHECK_STR(st->launcher.rdzv, "c10d");
	CHECK_JSON(st->parser, "{\"bar_desc\":\"steps\",\"format\":\"kohya\","
	    "\"mirror\":\"all\"}");
	config_free(cfg);
}

TEST(config_good_accelerate_cluster_file_and_config_file)
{
	struct config *cfg = load("configs/good/accelerate.yaml", NULL, 0);
	struct cfg_stage *st;

	REQUIRE(cfg != NULL);
	/* task file, the cluster file, its include, the accelerate file */
	REQUIRE(cfg->nfiles == 4);
	CHECK_STR(mark_rel(&(struct cfg_mark){ cfg->files[1], 0, 0 }),
	    "good/clusters/gpu.yaml");
	CHECK_STR(mark_rel(&(struct cfg_mark){ cfg->files[2], 0, 0 }),
	    "good/clusters/base.yaml");
	CHECK_STR(mark_rel(&(struct cfg_mark){ cfg->files[3], 0, 0 }),
	    "good/accelerate_ds.yaml");
	/* hosts, port and container from base.yaml; user and env replaced */
	CHECK_ARGV(cfg->cluster.hosts, "node1|node2|node3");
	CHECK_MARK(cfg->cluster.hosts_mark, "good/clusters/base.yaml", 2, 8);
	CHECK_STR(cfg->cluster.user, "gpu-user");
	CHECK_INT(cfg->cluster.port, 22);
	CHECK_ENV(&cfg->cluster.env, "C=three");
	CHECK_MARK(cfg->cluster.env.v[0].mark, "good/clusters/gpu.yaml", 6, 6);
	CHECK_JSON(cfg->cluster.container,
	    "{\"mounts\":[\"/data\"],\"runtime\":\"bwrap\"}");
	st = &cfg->stages[0];
	/* Plain numbers in a command list are taken as written. */
	CHECK_ARGV(st->command, "train_dreambooth_lora_sana.py|--resolution|"
	    "1024|--lr|1e-4|--instance_prompt=a photo of sks dog");
	CHECK_INT(st->launcher.type, LAUNCHER_ACCELERATE);
	REQUIRE(st->launcher.accelerate_config_text != NULL);
	CHECK(strncmp(st->launcher.accelerate_config_text,
	    "compute_environment: LOCAL_MACHINE\n", 35) == 0);
	/* The file's keys, the inline ones winning; 'no' stays a string. */
	CHECK_JSON(st->launcher.accelerate_config,
	    "{\"compute_environment\":\"LOCAL_MACHINE\",\"deepspeed_config\":"
	    "{\"deepspeed_multinode_launcher\":\"standard\",\"zero_stage\":2},"
	    "\"distributed_type\":\"DEEPSPEED\",\"downcast_bf16\":\"no\","
	    "\"machine_rank\":0,\"main_process_ip\":null,"
	    "\"mixed_precision\":\"bf16\",\"num_machines\":2,"
	    "\"num_processes\":16,\"same_network\":false,\"use_cpu\":false}");
	CHECK_JSON(st->parser, "{\"format\":\"diffusers\"}");
	config_free(cfg);
}

TEST(config_good_layered_include_and_host_file)
{
	struct config *cfg = load("configs/good/layered.yaml", NULL, 0);

	REQUIRE(cfg != NULL);
	/* ^hosts.txt is read relative to layered.yaml, not the cwd. */
	CHECK_ARGV(cfg->cluster.hosts, "h1|h2|h5|h9");
	CHECK_MARK(cfg->cluster.hosts_mark, "good/layered.yaml", 4, 10);
	CHECK_STR(cfg->cluster.user, "gpu-user");
	CHECK_INT(cfg->cluster.port, 22);
	CHECK_INT(cfg->cluster.devices_per_host, 4);
	CHECK_ENV(&cfg->cluster.env, "C=three");
	CHECK_INT(cfg->nfiles, 3);
	CHECK_ENV(&cfg->stages[0].env, "C=three");
	CHECK_ARGV(cfg->stages[0].command, "true");
	config_free(cfg);
}

TEST(config_good_hccl_rank_table_dir_absolute)
{
	struct config *cfg = load("configs/good/hccl.yaml", NULL, 0);
	char *want;

	REQUIRE(cfg != NULL);
	CHECK_ARGV(cfg->cluster.hosts, "10.0.0.2|10.0.0.3");
	CHECK_INT(cfg->stages[0].launcher.type, LAUNCHER_HCCL);
	REQUIRE(cfg->stages[0].launcher.rank_table_dir != NULL);
	CHECK(cfg->stages[0].launcher.rank_table_dir[0] == '/');
	xasprintf(&want, "%s", test_data("configs/good/rank_tables"));
	if (want[0] == '/')
		CHECK_STR(cfg->stages[0].launcher.rank_table_dir, want);
	free(want);
	CHECK_STR(cfg->stages[0].launcher.rank_table_pattern,
	    "hccl_8p_01234567_{host}.json");
	CHECK_INT(cfg->stages[0].launcher.rank_table_version_hint, 0);
	config_free(cfg);
}

TEST(config_good_msrun_regex_parser)
{
	struct config *cfg = load("configs/good/msrun.yaml", NULL, 0);
	struct cfg_stage *st;

	REQUIRE(cfg != NULL);
	st = &cfg->stages[0];
	CHECK_INT(st->launcher.type, LAUNCHER_MSRUN);
	CHECK_STR(st->launcher.program, "/usr/local/bin/msrun");
	CHECK_INT(st->launcher.master_port, 8119);
	CHECK_JSON(st->parser, "{\"format\":\"regex\",\"mirror\":\"none\","
	    "\"patterns\":[{\"fields\":[\"step\",\"loss\"],"
	    "\"regex\":\"step ([0-9]+) loss ([0-9.]+)\"}]}");
	config_free(cfg);
}

TEST(config_good_stages_inherit_and_override)
{
	struct config *cfg = load("configs/good/stages.yaml", NULL, 0);
	struct cfg_stage *s;

	REQUIRE(cfg != NULL);
	REQUIRE(cfg->nstages == 4);
	s = cfg->stages;
	CHECK_STR(s[0].name, "cache");
	CHECK_STR(s[1].name, "train");
	CHECK_STR(s[2].name, "merge");
	CHECK_STR(s[3].name, "infer");
	CHECK_MARK(s[1].mark, "good/stages.yaml", 23, 7);

	CHECK_ARGV(s[0].command, "python|train.py|--task|cache|--cache_path|"
	    "./cache_data");
	CHECK_MARK(s[0].command_mark, "good/stages.yaml", 22, 16);
	/* train sets nothing: all from the task */
	CHECK_ARGV(s[1].command, "python|train.py|--data_path|${dataset}");
	CHECK_MARK(s[1].command_mark, "good/stages.yaml", 11, 12);
	CHECK_INT(s[1].launcher.type, LAUNCHER_HCCL);
	CHECK_STR(s[1].launcher.rank_table_pattern,
	    "hccl_8p_01234567_{host}.json");
	CHECK_JSON(s[1].parser, "{\"format\":\"mindone\"}");
	CHECK_ARGV(s[1].resume_args, "--resume_from=latest");
	CHECK_DBL(s[1].stall.factor, 3, 0);
	CHECK_INT(s[1].stall.floor_s, 900);
	CHECK_INT(s[1].stall.compile_grace_s, 2400);
	CHECK_INT(s[1].stop_grace_s, 30);
	CHECK_ENV(&s[1].env, "HCCL_CONNECT_TIMEOUT=7200 ORDER=task "
	    "TASK_ONLY=yes");

	/* merge: shell string, plain launcher, own env on top */
	CHECK_INT(s[2].shell, 1);
	CHECK_ARGV(s[2].command, "python tools/weight_merge/merge_weight.py > "
	    "merged.txt");
	CHECK_INT(s[2].launcher.type, LAUNCHER_PLAIN);
	CHECK(s[2].launcher.rank_table_pattern == NULL);
	CHECK_JSON(s[2].parser, "{\"format\":\"auto\"}");
	CHECK_ENV(&s[2].env, "HCCL_CONNECT_TIMEOUT=7200 ORDER=stage "
	    "TASK_ONLY=yes MERGE=1");
	CHECK_MARK(s[2].env.v[1].mark, "good/stages.yaml", 28, 20);
	CHECK_INT(s[2].metrics_rank, 0);
	CHECK_STR(s[2].cwd, "${run_dir}/merge");
	CHECK_ARGV(s[2].resume_args, "");
	CHECK_INT(s[2].stop_grace_s, 5);

	/* infer: stall's floor_s replaced, factor kept from the task */
	CHECK_DBL(s[3].stall.factor, 3, 0);
	CHECK_INT(s[3].stall.floor_s, 60);
	CHECK_INT(s[3].stall.compile_grace_s, 0);
	CHECK_INT(s[3].shell, 0);
	CHECK_STR(cfg->dataset, "/data/ds");
	config_free(cfg);
}

TEST(config_set_overrides_replace_and_create)
{
	static const struct cfg_override ovr[] = {
		{ "task.launcher.master_port", "29999", NULL },
		{ "cluster.hosts", "[a, \"b\"]", NULL },
		{ "task.env.HF_HOME", "/x", NULL },
		{ "cluster.user", "\"007\"", NULL },
		{ "task.name", "renamed", NULL },
		{ "task.command", "[python, \"${rank}\"]", NULL },
	};
	struct config *cfg = load("configs/good/torchrun.yaml", ovr,
	    nitems(ovr));
	struct cfg_stage *st;

	REQUIRE(cfg != NULL);
	REQUIRE(cfg->nsets == nitems(ovr));
	CHECK_STR(cfg->sets[2], "--set task.env.HF_HOME=/x");
	CHECK_STR(cfg->task, "renamed");
	/* exclude: [gpu02] still applies, and matches nothing now */
	CHECK_ARGV(cfg->cluster.hosts, "a|b");
	CHECK_STR(cfg->cluster.hosts_mark.file, cfg->sets[1]);
	CHECK_INT(cfg->cluster.hosts_mark.line, 1);
	CHECK_INT(cfg->cluster.hosts_mark.col, 21);
	CHECK_STR(cfg->cluster.user, "007");
	st = &cfg->stages[0];
	CHECK_INT(st->launcher.master_port, 29999);
	CHECK_STR(st->launcher.program, "/opt/conda/bin/torchrun");
	CHECK_ENV(&st->env, "HF_HOME=/x");
	CHECK_STR(st->env.v[0].mark.file, cfg->sets[2]);
	CHECK_INT(st->env.v[0].mark.line, 1);
	CHECK_INT(st->env.v[0].mark.col, 24);
	CHECK_INT(st->shell, 0);
	CHECK_ARGV(st->command, "python|${rank}");
	config_free(cfg);
}

TEST(config_set_cluster_file_before_layering)
{
	static const struct cfg_override ovr[] = {
		{ "cluster", "", NULL },
		{ "cluster.user", "late", NULL },
	};
	struct cfg_override o[2];
	struct config *cfg;
	char *gpu;

	/* --set cluster=FILE is relative to the working directory. */
	memcpy(o, ovr, sizeof o);
	gpu = xstrdup(test_data("configs/good/clusters/gpu.yaml"));
	o[0].value = gpu;
	cfg = load("configs/good/torchrun.yaml", o, 2);
	free(gpu);
	REQUIRE(cfg != NULL);
	CHECK_ARGV(cfg->cluster.hosts, "node1|node2|node3");
	CHECK_STR(cfg->cluster.user, "late");
	CHECK_INT(cfg->nfiles, 3);
	config_free(cfg);
}

/* ---- broken configs -------------------------------------------------------- */

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* s with every {dir} replaced. Caller frees. */
static char *
subst_dir(const char *s, const char *dir)
{
	struct buf b;
	const char *p;

	buf_init(&b);
	while ((p = strstr(s, "{dir}")) != NULL) {
		buf_add(&b, s, (size_t)(p - s));
		buf_addstr(&b, dir);
		s = p + 5;
	}
	buf_addstr(&b, s);
	return buf_steal(&b);
}

/* Loads one bad fixture; 1 when its errors are exactly the expected. */
static int
check_bad(const char *dir, const char *name)
{
	char path[8192], *text, *line, *save = NULL, *cause = NULL, *want;
	char **expect = NULL, *eq, *sets_store[8];
	struct cfg_override sets[8];
	struct config *cfg;
	size_t nexpect = 0, nsets = 0, i, nlines, hits;
	const char *p, *q;
	struct buf b;
	int ok = 1;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	buf_init(&b);
	if (file_read_all(path, 1 << 20, &b, &cause) != 0) {
		fprintf(stdout, "  %s\n", cause);
		free(cause);
		return 0;
	}
	text = buf_steal(&b);
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		want = NULL;
		if (strncmp(line, "# expect: ", 10) == 0) {
			xasprintf(&want, "%s:%s", path, line + 10);
			eq = subst_dir(want, dir);
			free(want);
			want = eq;
		} else if (strncmp(line, "# expect-at: ", 13) == 0)
			want = subst_dir(line + 13, dir);
		else if (strncmp(line, "# set: ", 7) == 0 && nsets < 8 &&
		    (eq = strchr(line + 7, '=')) != NULL) {
			sets_store[nsets] = xstrndup(line + 7,
			    (size_t)(eq - line - 7));
			sets[nsets].path = sets_store[nsets];
			sets[nsets].dir = NULL;
			sets[nsets++].value = eq + 1;
		}
		if (want != NULL) {
			expect = xreallocarray(expect, nexpect + 1,
			    sizeof *expect);
			expect[nexpect++] = want;
		}
	}
	if (nexpect == 0) {
		fprintf(stdout, "  %s: no \"# expect:\" line\n", name);
		ok = 0;
		goto out;
	}
	cfg = config_load(path, sets, nsets, &cause);
	if (cfg != NULL || cause == NULL) {
		fprintf(stdout, "  %s: loaded without an error\n", name);
		config_free(cfg);
		ok = 0;
		goto out;
	}
	nlines = 1;
	for (p = cause; *p != '\0'; p++)
		nlines += *p == '\n';
	for (i = 0; i < nexpect; i++) {
		hits = 0;
		for (p = cause; p != NULL; p = q != NULL ? q + 1 : NULL) {
			q = strchr(p, '\n');
			if ((q != NULL ? (size_t)(q - p) : strlen(p)) ==
			    strlen(expect[i]) && strncmp(p, expect[i],
			    strlen(expect[i])) == 0)
				hits++;
		}
		if (hits != 1) {
			fprintf(stdout, "  %s: expected once (seen %zu "
			    "times):\n    %s\n", name, hits, expect[i]);
			ok = 0;
		}
	}
	if (nlines != nexpect) {
		fprintf(stdout, "  %s: %zu error lines for %zu expected\n",
		    name, nlines, nexpect);
		ok = 0;
	}
	if (!ok)
		fprintf(stdout, "  got:\n%s\n", cause);
out:
	for (i = 0; i < nexpect; i++)
		free(expect[i]);
	free(expect);
	for (i = 0; i < nsets; i++)
		free(sets_store[i]);
	free(cause);
	free(text);
	return ok;
}

TEST(config_bad_fixtures_exact_errors)
{
	char dir[4096], **names = NULL;
	size_t n = 0, i, bad = 0, len;
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof dir, "%s", test_data("configs/bad"));
	REQUIRE((d = opendir(dir)) != NULL);
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len > 5 && strcmp(de->d_name + len - 5, ".yaml") == 0) {
			names = xreallocarray(names, n + 1, sizeof *names);
			names[n++] = xstrdup(de->d_name);
		}
	}
	closedir(d);
	qsort(names, n, sizeof *names, cmp_str);
	for (i = 0; i < n; i++) {
		if (!check_bad(dir, names[i])) {
			test_fail(__FILE__, __LINE__, "bad/%s", names[i]);
			bad++;
		}
		free(names[i]);
	}
	free(names);
	fprintf(stdout, "  %zu broken configs, %zu with other errors than "
	    "expected\n", n, bad);
	CHECK(n >= 35);
}

/* A file of its own in the test's temporary folder. */
static char *
tfile(const char *name, const char *text, mode_t mode)
{
	char *p;
	int fd;

	xasprintf(&p, "%s/%s", test_tmpdir(), name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0) {
		write_full(fd, text, strlen(text));
		close(fd);
	}
	chmod(p, mode);
	return p;
}

TEST(config_secrets_file_mode)
{
	char *cfgp, *sec, *cause = NULL, *want;
	struct config *cfg;

	cfgp = tfile("task.yaml", "cluster: {hosts: node1}\n"
	    "task:\n"
	    "  name: t\n"
	    "  command: [python]\n"
	    "  secrets_file: secrets.env\n", 0644);
	sec = tfile("secrets.env", "HF_TOKEN=abc\n", 0644);

	cfg = config_load(cfgp, NULL, 0, &cause);
	CHECK(cfg == NULL);
	xasprintf(&want, "%s:5:17: task.secrets_file: \"%s\" has mode 0644; "
	    "it must be 0600 or stricter (chmod 600 %s)", cfgp, sec, sec);
	CHECK_STR(cause, want);
	free(want);
	free(cause);
	cause = NULL;

	chmod(sec, 0400);
	cfg = config_load(cfgp, NULL, 0, &cause);
	REQUIRE(cfg != NULL);
	CHECK(cause == NULL);
	CHECK_STR(cfg->secrets_file, sec);
	config_free(cfg);

	unlink(sec);
	cfg = config_load(cfgp, NULL, 0, &cause);
	CHECK(cfg == NULL);
	xasprintf(&want, "%s:5:17: task.secrets_file: cannot use \"%s\": No "
	    "such file or directory", cfgp, sec);
	CHECK_STR(cause, want);
	free(want);
	free(cause);
	free(cfgp);
	free(sec);
}

TEST(config_checkpoint_placeholder_needs_checkpoint_dir)
{
	char *cfgp, *cause = NULL, *want;
	struct config *cfg;

	cfgp = tfile("task.yaml", "cluster: {hosts: node1}\n"
	    "task:\n"
	    "  name: t\n"
	    "  command: [python, \"$${checkpoint_dir} is literal\"]\n"
	    "  resume_args: [--resume, \"${checkpoint_dir}/last\"]\n", 0644);
	cfg = config_load(cfgp, NULL, 0, &cause);
	CHECK(cfg == NULL);
	xasprintf(&want, "%s:5:27: task.resume_args[1]: ${checkpoint_dir} is "
	    "used but task.checkpoint_dir is not set", cfgp);
	CHECK_STR(cause, want);
	free(want);
	free(cause);
	free(cfgp);
}

TEST(config_errors_are_capped)
{
	struct buf b;
	char *cfgp, *cause = NULL;
	const char *last;
	struct config *cfg;
	int i;

	buf_init(&b);
	buf_addstr(&b, "cluster:\n  hosts: node1\n");
	for (i = 0; i < 150; i++)
		buf_printf(&b, "  bogus_%d: 1\n", i);
	buf_addstr(&b, "task: {name: t, command: [x]}\n");
	cfgp = tfile("many.yaml", buf_cstr(&b), 0644);
	buf_free(&b);
	cfg = config_load(cfgp, NULL, 0, &cause);
	CHECK(cfg == NULL);
	REQUIRE(cause != NULL);
	last = strrchr(cause, '\n');
	REQUIRE(last != NULL);
	CHECK_STR(last + 1, "(50 more errors not shown)");
	free(cause);
	free(cfgp);
}

TEST(config_suggest_did_you_mean)
{
	static const char *const keys[] = { "command", "connect_timeout_s",
	    "hosts", "env", NULL };

	CHECK_STR(cfgwalk_suggest("comand", keys), "command");
	CHECK_STR(cfgwalk_suggest("commnad", keys), "command");
	CHECK_STR(cfgwalk_suggest("host", keys), "hosts");
	CHECK_STR(cfgwalk_suggest("connect_timeout", keys),
	    "connect_timeout_s");
	CHECK_STR(cfgwalk_suggest("envs", keys), "env");
	CHECK(cfgwalk_suggest("zzzzzz", keys) == NULL);
	CHECK(cfgwalk_suggest("", keys) == NULL);
}

/* ---- the YAML tree ----------------------------------------------------------- */

static struct ynode *
ystr(struct yamltree *t, const char *text, char **cause)
{
	struct ynode *root = NULL;

	*cause = NULL;
	if (yamltree_load_string(t, text, strlen(text), "t.yaml", 0, &root,
	    cause) != 0)
		return NULL;
	return root;
}

TEST(yamltree_scalar_types_and_marks)
{
	struct yamltree *t = yamltree_new();
	struct ynode *r, *v;
	char *cause, *d;

	r = ystr(t, "a: 8\nb: \"8\"\nc: ~\nd:\ne: null\nf: true\n"
	    "g: False\nh: 1.5e3\ni: .inf\nj: yes\nk: 0x10\nl: 'x'\n"
	    "m: |\n  lit\n  eral\nn: -7\no: 99999999999999999999\n", &cause);
	REQUIRE(r != NULL);
	CHECK_INT(r->kind, YNODE_MAPPING);
	CHECK_INT(r->n, 15);
	v = yamltree_map_get(r, "a", NULL);
	CHECK_INT(v->type, YS_INT);
	CHECK_INT(v->integer, 8);
	CHECK_INT(v->mark.line, 1);
	CHECK_INT(v->mark.col, 4);
	v = yamltree_map_get(r, "b", NULL);
	CHECK_INT(v->type, YS_STRING);
	CHECK_INT(v->quoted, 1);
	CHECK_STR(v->text, "8");
	CHECK_INT(v->mark.line, 2);
	CHECK_INT(yamltree_map_get(r, "c", NULL)->type, YS_NULL);
	CHECK_INT(yamltree_map_get(r, "d", NULL)->type, YS_NULL);
	CHECK_INT(yamltree_map_get(r, "e", NULL)->type, YS_NULL);
	v = yamltree_map_get(r, "f", NULL);
	CHECK(v->type == YS_BOOL && v->boolean == 1);
	v = yamltree_map_get(r, "g", NULL);
	CHECK(v->type == YS_BOOL && v->boolean == 0);
	v = yamltree_map_get(r, "h", NULL);
	CHECK_INT(v->type, YS_FLOAT);
	CHECK_DBL(v->number, 1500, 0);
	v = yamltree_map_get(r, "i", NULL);
	CHECK(v->type == YS_FLOAT && isinf(v->number));
	/* YAML 1.1 booleans and hex are strings here. */
	CHECK_INT(yamltree_map_get(r, "j", NULL)->type, YS_STRING);
	CHECK_INT(yamltree_map_get(r, "k", NULL)->type, YS_STRING);
	CHECK_INT(yamltree_map_get(r, "l", NULL)->quoted, 1);
	v = yamltree_map_get(r, "m", NULL);
	CHECK_STR(v->text, "lit\neral\n");
	CHECK_INT(v->type, YS_STRING);
	CHECK_INT(yamltree_map_get(r, "n", NULL)->integer, -7);
	CHECK_INT(yamltree_map_get(r, "o", NULL)->type, YS_FLOAT);

	d = yamltree_describe(yamltree_map_get(r, "a", NULL));
	CHECK_STR(d, "8");
	free(d);
	d = yamltree_describe(yamltree_map_get(r, "b", NULL));
	CHECK_STR(d, "\"8\"");
	free(d);
	d = yamltree_describe(yamltree_map_get(r, "d", NULL));
	CHECK_STR(d, "an empty value");
	free(d);
	d = yamltree_describe(yamltree_map_get(r, "e", NULL));
	CHECK_STR(d, "null");
	free(d);
	d = yamltree_describe(r);
	CHECK_STR(d, "a mapping");
	free(d);
	yamltree_free(t);
}

TEST(yamltree_empty_and_comment_only)
{
	struct yamltree *t = yamltree_new();
	char *cause;

	CHECK(ystr(t, "", &cause) == NULL);
	CHECK(cause == NULL);
	CHECK(ystr(t, "# nothing\n\n", &cause) == NULL);
	CHECK(cause == NULL);
	yamltree_free(t);
}

TEST(yamltree_duplicate_keys_all_reported)
{
	struct yamltree *t = yamltree_new();
	char *cause;

	CHECK(ystr(t, "a:\n  x: 1\n  y: 2\n  x: 3\n  \"x\": 4\nb: 1\n",
	    &cause) == NULL);
	CHECK_STR(cause, "t.yaml:4:3: a.x: duplicate key (first at "
	    "t.yaml:2:3); each key may appear once in a mapping\n"
	    "t.yaml:5:3: a.x: duplicate key (first at t.yaml:2:3); each key "
	    "may appear once in a mapping");
	free(cause);
	yamltree_free(t);
}

TEST(yamltree_set_value_columns)
{
	struct yamltree *t = yamltree_new();
	struct ynode *r = NULL;
	char *cause = NULL;

	/* "--set a.b=[1, x" : the value starts at column 11 */
	CHECK(yamltree_load_string(t, "[1, x", 5, "--set a.b=[1, x", 10, &r,
	    &cause) != 0);
	CHECK_STR(cause, "--set a.b=[1, x:1:16: did not find expected ',' or "
	    "']' while parsing a flow sequence");
	free(cause);
	cause = NULL;
	CHECK(yamltree_load_string(t, "[1, x]", 6, "--set a.b=[1, x]", 10, &r,
	    &cause) == 0);
	REQUIRE(r != NULL && r->kind == YNODE_SEQUENCE && r->n == 2);
	CHECK_INT(r->mark.col, 11);
	CHECK_INT(r->items[1]->mark.col, 15);
	yamltree_free(t);
}

/* ---- hostile input ----------------------------------------------------------- */

static void
check_ms(const char *what, double ms)
{
	if (ms >= HOSTILE_MAX_MS)
		test_fail(__FILE__, __LINE__, "%s took %.1f ms (limit %.0f)",
		    what, ms, HOSTILE_MAX_MS);
}

/* Loads text (as a file when path is set); checks the first line of the
 * cause and the time taken. */
static void
hostile(const char *what, const char *text, size_t len, const char *want)
{
	struct yamltree *t = yamltree_new();
	struct ynode *root = NULL;
	char *cause = NULL, *nl, *p;
	double t0, ms, mb;
	long rss0;
	int fd, rc;

	xasprintf(&p, "%s/hostile.yaml", test_tmpdir());
	if ((fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0) {
		write_full(fd, text, len);
		close(fd);
	}
	rss0 = peak_start();
	t0 = (1e3 * clock_mono_s());
	rc = yamltree_load_file(t, p, "hostile.yaml", &root, NULL, &cause);
	ms = (1e3 * clock_mono_s()) - t0;
	mb = peak_mb(rss0);
	fprintf(stdout, "  %-44s %8.3f ms %7.1f MB peak\n", what, ms, mb);
	CHECK(rc != 0);
	CHECK(root == NULL);
	if (cause != NULL && (nl = strchr(cause, '\n')) != NULL)
		*nl = '\0';
	CHECK_STR(cause, want);
	check_ms(what, ms);
	if (mb < 0)
		test_fail(__FILE__, __LINE__, "%s: peak memory not measured "
		    "(/proc/self/clear_refs)", what);
	else if (mb >= HOSTILE_MAX_MB)
		test_fail(__FILE__, __LINE__, "%s took %.1f MB (limit %.0f)",
		    what, mb, HOSTILE_MAX_MB);
	free(cause);
	free(p);
	yamltree_free(t);
}

static char *
repeat(const char *unit, size_t n, const char *tail, size_t *lenp)
{
	struct buf b;
	size_t i;

	buf_init(&b);
	for (i = 0; i < n; i++)
		buf_addstr(&b, unit);
	buf_addstr(&b, tail);
	*lenp = b.len;
	return buf_steal(&b);
}

TEST(yamltree_hostile_deep_nesting)
{
	size_t len;
	char *s;

	s = repeat("[", 100000, "", &len);
	hostile("100000 x '[' (flow lists)", s, len, "hostile.yaml:1:65: "
	    "nesting deeper than 64 levels; a config this deep is not "
	    "supported");
	free(s);
	s = repeat("{a: ", 100000, "", &len);
	hostile("100000 x '{a: ' (flow mappings)", s, len, "hostile.yaml:1:"
	    "257: nesting deeper than 64 levels; a config this deep is not "
	    "supported");
	free(s);
	s = repeat("- ", 100000, "x\n", &len);
	hostile("100000 x '- ' (block lists)", s, len, "hostile.yaml:1:129: "
	    "nesting deeper than 64 levels; a config this deep is not "
	    "supported");
	free(s);
}

TEST(yamltree_hostile_alias_bomb)
{
	struct buf b;
	int i, j;

	buf_init(&b);
	buf_addstr(&b, "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
	for (i = 1; i < 10; i++) {
		buf_printf(&b, "%c: &%c [", 'a' + i, 'a' + i);
		for (j = 0; j < 9; j++)
			buf_printf(&b, "%s*%c", j ? "," : "", 'a' + i - 1);
		buf_addstr(&b, "]\n");
	}
	hostile("alias bomb (10 levels x 9)", b.data, b.len, "hostile.yaml:1:"
	    "4: anchors and aliases are not supported (found anchor &a); "
	    "write the value out");
	/* An alias alone is refused too. */
	hostile("alias without anchor", "x: *a\n", 6, "hostile.yaml:1:4: "
	    "anchors and aliases are not supported (found alias *a); write "
	    "the value out");
	buf_free(&b);
}

TEST(yamltree_hostile_size_and_node_count)
{
	struct buf b;
	int i;

	/* 10^6 keys: over 1 MiB, refused before it is read */
	buf_init(&b);
	for (i = 0; i < 1000000; i++)
		buf_printf(&b, "k%d: 0\n", i);
	hostile("10^6 keys (9.9 MB)", b.data, b.len, "hostile.yaml:1:1: "
	    "larger than 1048576 bytes (1 MiB); a config this large is not "
	    "supported");
	/* under 1 MiB, but more than 32768 nodes */
	buf_reset(&b);
	buf_addch(&b, '[');
	for (i = 0; i < 400000; i++)
		buf_addstr(&b, "0,");
	buf_addstr(&b, "0]\n");
	hostile("400001-item list (0.8 MB)", b.data, b.len,
	    "hostile.yaml:1:65536: more than 32768 nodes (values, keys, "
	    "lists and mappings); a config this large is not supported");
	buf_reset(&b);
	for (i = 0; i < 60000; i++)
		buf_printf(&b, "k%d: 0\n", i);
	hostile("60000 keys (120000 nodes, 0.6 MB)", b.data, b.len,
	    "hostile.yaml:16384:9: more than 32768 nodes (values, keys, "
	    "lists and mappings); a config this large is not supported");
	/* a million keys under 1 MiB: a flow mapping of one-letter keys */
	buf_reset(&b);
	buf_addch(&b, '{');
	for (i = 0; i < 500000; i++)
		buf_addstr(&b, "a,");
	buf_addstr(&b, "a}\n");
	hostile("500001 keys in a flow mapping (1 MB)", b.data, b.len,
	    "hostile.yaml:1:32769: more than 32768 nodes (values, keys, "
	    "lists and mappings); a config this large is not supported");
	buf_free(&b);
}

TEST(yamltree_big_mapping_duplicate_found_fast)
{
	struct yamltree *t = yamltree_new();
	struct ynode *root = NULL;
	struct buf b;
	char *cause = NULL;
	double t0, ms;
	int i;

	buf_init(&b);
	for (i = 0; i < 15999; i++)
		buf_printf(&b, "k%d: 0\n", i);
	buf_addstr(&b, "k17: 1\n");
	t0 = (1e3 * clock_mono_s());
	CHECK(yamltree_load_string(t, b.data, b.len, "big.yaml", 0, &root,
	    &cause) != 0);
	ms = (1e3 * clock_mono_s()) - t0;
	fprintf(stdout, "  %-44s %8.3f ms\n", "16000 keys, one repeated", ms);
	CHECK_STR(cause, "big.yaml:16000:1: k17: duplicate key (first at "
	    "big.yaml:18:1); each key may appear once in a mapping");
	CHECK(ms < HOSTILE_MAX_MS);
	free(cause);
	buf_free(&b);
	yamltree_free(t);
}

/* The most the caps let through is still cheap: files just under them
 * load, each within the hostile-input bound. */
static void
biggest(const char *what, const struct buf *b)
{
	struct yamltree *t = yamltree_new();
	struct ynode *root = NULL;
	char *cause = NULL;
	double t0, ms;

	CHECK(b->len <= YAMLTREE_MAX_BYTES);
	t0 = (1e3 * clock_mono_s());
	CHECK(yamltree_load_string(t, b->data, b->len, "big.yaml", 0, &root,
	    &cause) == 0);
	ms = (1e3 * clock_mono_s()) - t0;
	fprintf(stdout, "  %-44s %8.3f ms\n", what, ms);
	CHECK(root != NULL);
	check_ms(what, ms);
	free(cause);
	yamltree_free(t);
}

/* head, then 'x' up to a file of exactly the byte cap, ending in '\n' */
static void
to_the_cap(struct buf *b, const char *head)
{
	buf_reset(b);
	buf_addstr(b, head);
	while (b->len < YAMLTREE_MAX_BYTES - 1)
		buf_addch(b, 'x');
	buf_addch(b, '\n');
}

TEST(yamltree_largest_accepted_is_cheap)
{
	struct buf b;
	int i;

	buf_init(&b);
	to_the_cap(&b, "a: ");
	biggest("1 MiB plain scalar", &b);
	to_the_cap(&b, "a: 1\n#");
	biggest("1 MiB comment", &b);
	buf_reset(&b);
	for (i = 0; i < YAMLTREE_MAX_NODES / 2 - 1; i++)
		buf_printf(&b, "k%d: 0\n", i);
	biggest("16383 keys (32767 nodes, the cap)", &b);
	buf_free(&b);
}

TEST(yamltree_hostile_bytes)
{
	static const char nul[] = "a: 1\nb: x\0y\n";
	static const char badutf[] = "a: 1\nb: \"caf\xc3\"\n";
	static const char overlong[] = "a: \xc0\xaf\n";
	static const char surrogate[] = "a: \xed\xa0\x80\n";

	hostile("NUL byte", nul, sizeof nul - 1, "hostile.yaml:2:5: a NUL byte "
	    "(offset 9); a config must be UTF-8 text");
	hostile("truncated UTF-8", badutf, sizeof badutf - 1,
	    "hostile.yaml:2:8: invalid UTF-8 (byte 0xc3 at offset 12); a "
	    "config must be UTF-8 text");
	hostile("overlong UTF-8", overlong, sizeof overlong - 1,
	    "hostile.yaml:1:4: invalid UTF-8 (byte 0xc0 at offset 3); a "
	    "config must be UTF-8 text");
	hostile("UTF-16 surrogate", surrogate, sizeof surrogate - 1,
	    "hostile.yaml:1:4: invalid UTF-8 (byte 0xed at offset 3); a "
	    "config must be UTF-8 text");
	hostile("escaped NUL in a string", "a: \"x\\0y\"\n", 10,
	    "hostile.yaml:1:4: a NUL character (\\0) in a string; a config "
	    "cannot carry one");
	hostile("second document", "a: 1\n---\nb: 2\n", 14,
	    "hostile.yaml:2:1: a second YAML document (---); a config file "
	    "holds one document");
	hostile("key that is a list", "[a]: 1\n", 7, "hostile.yaml:1:1: a "
	    "mapping key must be a scalar, found a list");
}

/* ---- hostile configs: work and memory that could multiply ---------------- */

/* config_load on text; the cause's first line (or "OK"); prints the time. */
static char *
load_timed(const char *what, const char *name, const char *text, double *ms)
{
	char *p, *cause = NULL, *nl, *out;
	struct config *cfg;
	double t0;

	p = tfile(name, text, 0644);
	t0 = (1e3 * clock_mono_s());
	cfg = config_load(p, NULL, 0, &cause);
	*ms = (1e3 * clock_mono_s()) - t0;
	fprintf(stdout, "  %-44s %8.3f ms\n", what, *ms);
	if (cfg != NULL) {
		config_free(cfg);
		out = xstrdup("OK");
	} else {
		if ((nl = strchr(cause, '\n')) != NULL)
			*nl = '\0';
		/* without the file name */
		out = xstrdup(strncmp(cause, p, strlen(p)) == 0 ?
		    cause + strlen(p) : cause);
	}
	free(cause);
	free(p);
	return out;
}

TEST(config_hostile_big_env_and_layering)
{
	struct buf b, c;
	char *got;
	double ms;
	int i;

	/* 16000 variables in the cluster, the same 16000 in the task (each
	 * file near the 32768-node cap): the merge must not compare every
	 * pair. Linear, this takes about 20 ms here, 140 ms on a CI box
	 * loaded by the tests beside it; every pair would be 1.3e8 string
	 * compares, over the 1 s (10 s under the sanitizers) asserted. */
	buf_init(&b);
	buf_addstr(&b, "hosts: node1\nenv:\n");
	for (i = 0; i < 16000; i++)
		buf_printf(&b, "  V%d: a\n", i);
	got = tfile("big-cluster.yaml", buf_cstr(&b), 0644);
	free(got);
	buf_init(&c);
	buf_addstr(&c, "cluster: {include: big-cluster.yaml}\ntask:\n"
	    "  name: t\n  command: [x]\n  stages: [{name: a}, {name: b}]\n"
	    "  env:\n");
	for (i = 0; i < 16000; i++)
		buf_printf(&c, "    V%d: b\n", i);
	got = load_timed("16000 env vars over 16000, 2 stages", "big.yaml",
	    buf_cstr(&c), &ms);
	CHECK_STR(got, "OK");
	CHECK(ms < 10 * HOSTILE_MAX_MS);
	free(got);

	/* 16000 top-level keys in a cluster file and in the mapping that
	 * includes it: the one-level merge is not quadratic either. */
	buf_reset(&b);
	buf_addstr(&b, "hosts: node1\n");
	for (i = 0; i < 16000; i++)
		buf_printf(&b, "k%d: 1\n", i);
	got = tfile("keys-cluster.yaml", buf_cstr(&b), 0644);
	free(got);
	buf_reset(&c);
	buf_addstr(&c, "cluster:\n  include: keys-cluster.yaml\n");
	for (i = 0; i < 16000; i++)
		buf_printf(&c, "  k%d: 2\n", i);
	buf_addstr(&c, "task: {name: t, command: [x]}\n");
	got = load_timed("16000 keys over 16000 (include)", "keys.yaml",
	    buf_cstr(&c), &ms);
	CHECK_STR(got, ":3:3: cluster.k0: unknown key (known keys here: "
	    "include, hosts, ip_prefix, ids, exclude, user, port, transport, "
	    "accept_new_host_keys, fanout, connect_timeout_s, "
	    "devices_per_host, base_dir, agent_dir, container, env, "
	    "telemetry_interval_s, log)");
	CHECK(ms < 10 * HOSTILE_MAX_MS);
	free(got);
	buf_free(&b);
	buf_free(&c);
}

TEST(config_hostile_stage_copies_are_bounded)
{
	struct cfg_override set;
	struct config *cfg;
	struct buf b, v;
	char *got, *p, *cause = NULL, *nl;
	double ms, t0;
	int i;

	buf_init(&b);
	buf_addstr(&b, "cluster: {hosts: n}\ntask:\n  name: t\n  command: "
	    "[x]\n  stages:\n");
	for (i = 0; i < 65; i++)
		buf_printf(&b, "    - name: s%d\n", i);
	got = load_timed("65 stages", "stages.yaml", buf_cstr(&b), &ms);
	CHECK_STR(got, ":6:5: task.stages: 65 stages; at most 64 are "
	    "supported");
	free(got);

	/* A file is at most 1 MiB, but a --set adds to it: a 0.9 MB command
	 * and a 0.2 MB variable inherited by 64 stages would be 70 MB. */
	buf_reset(&b);
	buf_addstr(&b, "cluster: {hosts: n}\ntask:\n  name: t\n  command: \"");
	for (i = 0; i < 900000; i++)
		buf_addch(&b, 'x');
	buf_addstr(&b, "\"\n  stages:\n");
	for (i = 0; i < 64; i++)
		buf_printf(&b, "    - name: s%d\n", i);
	buf_init(&v);
	for (i = 0; i < 200000; i++)
		buf_addch(&v, 'y');
	set.path = "task.env.BIG";
	set.value = buf_cstr(&v);
	set.dir = NULL;
	p = tfile("copies.yaml", buf_cstr(&b), 0644);
	t0 = (1e3 * clock_mono_s());
	cfg = config_load(p, &set, 1, &cause);
	ms = (1e3 * clock_mono_s()) - t0;
	fprintf(stdout, "  %-44s %8.3f ms\n", "0.9 MB command + 0.2 MB --set x 64 "
	    "stages", ms);
	CHECK(cfg == NULL);
	if (cause != NULL && (nl = strchr(cause, '\n')) != NULL)
		*nl = '\0';
	CHECK(cause != NULL && strstr(cause, ":6:5: task.stages: 64 stages "
	    "would each copy 1100") != NULL && strstr(cause, "bytes of the "
	    "task's settings (over 64 MiB in all); set less at the task "
	    "level") != NULL);
	CHECK(ms < 10 * HOSTILE_MAX_MS);
	free(cause);
	free(p);
	buf_free(&v);
	buf_free(&b);
}

/* A task's overrides loaded again from elsewhere: a relative path in a
 * --set value is taken from where the launch ran (its recorded "dir"),
 * and the extra overrides go on top. */
TEST(config_load_task_keeps_the_overrides_and_their_folder)
{
	struct cfg_override set = { "cluster.hosts", "^hosts.txt", NULL };
	struct cfg_override extra[2] = {
		{ "task.env.MARK", "second", NULL },
		{ "task.name", "renamed", NULL },
	};
	struct config *cfg, *again;
	json_t *task, *none;
	char *path, *hosts, *here, *was, *cause = NULL;

	path = tfile("kept.yaml", "cluster: {hosts: \"a[1-4]\", transport: "
	    "local}\ntask:\n  name: kept\n  command: [x]\n  env: {MARK: "
	    "file}\n", 0644);
	xasprintf(&here, "%s/here", test_tmpdir());
	REQUIRE(mkdir(here, 0700) == 0);
	hosts = tfile("here/hosts.txt", "h7\nh8\n", 0644);
	was = getcwd(NULL, 0);
	REQUIRE(was != NULL && chdir(here) == 0);
	cfg = config_load(path, &set, 1, &cause);
	free(here);
	here = getcwd(NULL, 0);
	REQUIRE(chdir("/") == 0);
	REQUIRE(cfg != NULL);
	CHECK_ARGV(cfg->cluster.hosts, "h7|h8");
	CHECK_STR(json_string_value(json_object_get(json_array_get(
	    cfg->overrides, 0), "dir")), here);
	task = json_pack("{s:s, s:O}", "config_path", path, "config_sets",
	    cfg->overrides);
	config_free(cfg);

	/* From /, with two more on top: the same hosts, the later wins. */
	again = config_load_task(task, extra, 2, &cause);
	CHECK(chdir(was) == 0);
	REQUIRE(again != NULL);
	CHECK_ARGV(again->cluster.hosts, "h7|h8");
	CHECK_STR(again->task, "renamed");
	CHECK_STR(again->stages[0].env.v[0].value, "second");
	CHECK_INT(json_array_size(again->overrides), 3);
	CHECK_STR(json_string_value(json_object_get(json_array_get(
	    again->overrides, 0), "dir")), here);
	CHECK(json_object_get(json_array_get(again->overrides, 1), "dir") ==
	    NULL);
	config_free(again);

	/* A task with no config file: NULL and no cause. */
	none = json_pack("{s:n, s:[]}", "config_path", "config_sets");
	CHECK(config_load_task(none, NULL, 0, &cause) == NULL);
	CHECK(cause == NULL);
	json_decref(none);
	json_decref(task);
	free(path);
	free(hosts);
	free(here);
	free(was);
}
