/*
 * plan.c - the planner: one stage of a loaded config becomes one complete
 * agent job spec per host (docs/protocol.md "Job spec"), for each launcher
 * of docs/launchers.md: plain, torchrun, accelerate, hccl, msrun, mpirun.
 *
 * Pure: no network, no host. The only file it reads is an hccl single-host
 * rank table under launcher.rank_table_dir; tables that must come from the
 * hosts are read by the engine and handed in (plan_opts.host_tables).
 *
 * Everything the agent would refuse is refused here first, before anything
 * starts, with the config mark (FILE:LINE:COL) and the host: host ids,
 * base_dir, cwd, env names, the container and parser objects, the limits.
 * All problems found are reported, one per line.
 *
 * Not here: showing a plan (plan_show.c), rank table files (ranktable.c).
 */
#include "plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../agent/agent.h"
#include "../common/common.h"
#include "../remote/remote.h"

#define PLAN_MAX_ERRORS		20
#define PLAN_RANKTABLE_MAX	(16 << 20)
#define PLAN_MAX_PROCS		4096

struct plan_ctx {
	const struct config *cfg;
	const struct cfg_stage *st;
	const struct cfg_launcher *ln;
	const struct plan_opts *opts;
	struct plan *plan;
	int nnodes;
	int P;				/* processes (ranks) per host */
	char *table_text;		/* hccl: the merged table, rendered */
	struct buf errors;
	int nerrors;
};

/* The placeholders' values for one process (docs/launchers.md). */
struct plan_vars {
	const struct plan_ctx *c;
	const char *host;
	const char *run_dir;
	char attempt[16], node_rank[16], nnodes[16], rank[16];
	char local_rank[16], world_size[16], master_port[16];
};

/* One process of a host's spec, before the common parts are added. */
struct plan_proc {
	int rank, local_rank, metrics, shell;
	json_t *devices;		/* array, or NULL (none listed) */
	json_t *argv;			/* array of strings */
	json_t *env;			/* the launcher's per-process variables */
};

/* What a launcher produces for one host. */
struct plan_hostout {
	struct plan_proc *procs;
	size_t nprocs;
	json_t *env;			/* the launcher's variables for all */
	json_t *files;			/* array of {path, content, mode} */
};

static const char *const plan_launcher_names[] = {
	[LAUNCHER_PLAIN] = "plain", [LAUNCHER_TORCHRUN] = "torchrun",
	[LAUNCHER_ACCELERATE] = "accelerate", [LAUNCHER_HCCL] = "hccl",
	[LAUNCHER_MSRUN] = "msrun", [LAUNCHER_MPIRUN] = "mpirun",
};

/* Whether buffer b already holds the whole line l. */
static int
plan_err_seen(struct buf *b, struct buf *l)
{
	const char *p, *text = buf_cstr(b);

	for (p = text; (p = strstr(p, buf_cstr(l))) != NULL; p++) {
		if (p == text || p[-1] == '\n')
			return 1;
	}
	return 0;
}

/*
 * One error line, "MARK: HOST: message" (either part left out when NULL).
 * The same line twice (a config error seen from every host) is kept once.
 */
static void PRINTFLIKE(4, 5)
plan_err(struct plan_ctx *c, const struct cfg_mark *mark, const char *host,
    const char *fmt, ...)
{
	struct buf line;
	char where[512], *msg;
	va_list ap;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	buf_init(&line);
	if (mark != NULL) {
		cfg_mark_format(mark, where, sizeof where);
		buf_printf(&line, "%s: ", where);
	}
	if (host != NULL)
		buf_printf(&line, "%s: ", host);
	buf_printf(&line, "%s\n", msg);
	free(msg);
	if (!plan_err_seen(&c->errors, &line)) {
		if (c->nerrors < PLAN_MAX_ERRORS)
			buf_add(&c->errors, line.data, line.len);
		c->nerrors++;
	}
	buf_free(&line);
}

/* A mark for values that carry none (the task file as a whole). */
static struct cfg_mark
plan_file_mark(const struct plan_ctx *c)
{
	struct cfg_mark m = { c->cfg->path, 0, 0 };

	return m;
}

static int
plan_name_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 128 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return 0;
	for (i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("_.-:@+", ch) != NULL))
			return 0;
	}
	return 1;
}

static int
plan_env_name_valid(const char *s)
{
	size_t i;

	if (s[0] == '\0' || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '_'))
			return 0;
	}
	return i <= 256;
}

static int
plan_is_secret(const struct plan_ctx *c, const char *name)
{
	char *const *v = c->opts->secret_names;

	for (; v != NULL && *v != NULL; v++) {
		if (strcmp(*v, name) == 0)
			return 1;
	}
	return 0;
}

/* A JSON string holding exactly these bytes; NULL for invalid UTF-8. */
static json_t *
plan_jstr(const char *s)
{
	return json_stringn(s, strlen(s));
}

static json_t *
plan_jint_str(long long v)
{
	char num[32];

	snprintf(num, sizeof num, "%lld", v);
	return json_string(num);
}

/* ---- placeholders ------------------------------------------------------ */

static const char *
plan_lookup(const char *name, void *arg)
{
	const struct plan_vars *v = arg;
	const struct plan_ctx *c = v->c;
	static const struct {
		const char *name;
		size_t off;
	} nums[] = {
		{ "attempt", offsetof(struct plan_vars, attempt) },
		{ "node_rank", offsetof(struct plan_vars, node_rank) },
		{ "nnodes", offsetof(struct plan_vars, nnodes) },
		{ "rank", offsetof(struct plan_vars, rank) },
		{ "local_rank", offsetof(struct plan_vars, local_rank) },
		{ "world_size", offsetof(struct plan_vars, world_size) },
		{ "master_port", offsetof(struct plan_vars, master_port) },
	};
	size_t i;

	for (i = 0; i < nitems(nums); i++) {
		if (strcmp(name, nums[i].name) == 0)
			return (const char *)v + nums[i].off;
	}
	if (strcmp(name, "task") == 0)
		return c->cfg->task;
	if (strcmp(name, "stage") == 0)
		return c->st->name;
	if (strcmp(name, "host") == 0)
		return v->host;
	if (strcmp(name, "run_dir") == 0)
		return v->run_dir;
	if (strcmp(name, "dataset") == 0)
		return c->cfg->dataset;
	if (strcmp(name, "checkpoint_dir") == 0)
		return c->cfg->checkpoint_dir;
	if (strcmp(name, "master_addr") == 0)
		return c->plan->master_addr;
	return NULL;
}

static void
plan_vars_init(struct plan_vars *v, const struct plan_ctx *c, size_t k,
    const char *run_dir, int rank, int local_rank)
{
	memset(v, 0, sizeof *v);
	v->c = c;
	v->host = c->cfg->cluster.hosts[k];
	v->run_dir = run_dir;
	snprintf(v->attempt, sizeof v->attempt, "%d", c->plan->attempt);
	snprintf(v->node_rank, sizeof v->node_rank, "%zu", k);
	snprintf(v->nnodes, sizeof v->nnodes, "%d", c->nnodes);
	snprintf(v->rank, sizeof v->rank, "%d", rank);
	snprintf(v->local_rank, sizeof v->local_rank, "%d", local_rank);
	snprintf(v->world_size, sizeof v->world_size, "%d",
	    c->plan->world_size);
	snprintf(v->master_port, sizeof v->master_port, "%d",
	    c->plan->master_port);
}

/* Expands one config string; NULL after reporting the problem. */
static char *
plan_expand(struct plan_ctx *c, struct plan_vars *v, const char *in,
    const struct cfg_mark *mark, const char *field)
{
	char *out, *cause;

	if (cfg_expand(in, plan_lookup, v, &out, &cause) != 0) {
		plan_err(c, mark, NULL, "%s: %s", field, cause);
		free(cause);
		return NULL;
	}
	return out;
}

/*
 * The core's argv for one process: the command expanded, plus the resume
 * arguments when resuming. With shell: true it is one string for sh -c,
 * and the resume arguments are appended to it shell-quoted.
 */
static char **
plan_core_argv(struct plan_ctx *c, struct plan_vars *v)
{
	const struct cfg_stage *st = c->st;
	size_t n = strv_len(st->command), nr = 0, i, k = 0;
	char **out, *s, field[48];

	if (c->opts->resume)
		nr = strv_len(st->resume_args);
	out = xcalloc(n + nr + 1, sizeof *out);
	for (i = 0; i < n; i++) {
		snprintf(field, sizeof field, "command[%zu]", i);
		if ((s = plan_expand(c, v, st->command[i], &st->command_mark,
		    field)) == NULL)
			goto fail;
		out[k++] = s;
	}
	if (out[0][0] == '\0') {
		plan_err(c, &st->command_mark, NULL, "command: the program "
		    "(element 0) is empty after expansion");
		goto fail;
	}
	for (i = 0; i < nr; i++) {
		snprintf(field, sizeof field, "resume_args[%zu]", i);
		if ((s = plan_expand(c, v, st->resume_args[i], &st->mark,
		    field)) == NULL)
			goto fail;
		if (st->shell) {
			char *q = remote_quote_arg(s), *joined;

			xasprintf(&joined, "%s %s", out[0], q);
			free(q);
			free(s);
			free(out[0]);
			out[0] = joined;
		} else
			out[k++] = s;
	}
	return out;
fail:
	strv_free(out);
	return NULL;
}

static const char *
plan_basename(const char *s)
{
	const char *b = strrchr(s, '/');

	return b != NULL ? b + 1 : s;
}

static int
plan_is_python(const char *s)
{
	const char *b = plan_basename(s);
	size_t i;

	if (strcmp(b, "python") == 0 || strcmp(b, "python3") == 0)
		return 1;
	if (strncmp(b, "python3.", 8) != 0 || b[8] == '\0')
		return 0;
	for (i = 8; b[i] != '\0'; i++) {
		if (b[i] < '0' || b[i] > '9')
			return 0;
	}
	return 1;
}

/*
 * For launchers that start the interpreter themselves (torchrun,
 * accelerate, msrun): the index of the first element of core to pass on.
 * A leading python is dropped, then its -u (the agent sets
 * PYTHONUNBUFFERED); -m MODULE is passed on where the launcher has it;
 * any other interpreter option is an error. -1 after reporting.
 */
static int
plan_script_start(struct plan_ctx *c, char **core, const char *prog,
    int module_ok)
{
	const struct cfg_mark *m = &c->st->command_mark;
	const char *name = plan_launcher_names[c->ln->type];
	int i = 0;

	if (c->st->shell) {
		plan_err(c, m, NULL, "command: shell: true works with the "
		    "plain and hccl launchers only; %s needs the script and "
		    "its arguments as a list", name);
		return -1;
	}
	if (strcmp(plan_basename(core[0]), plan_basename(prog)) == 0) {
		plan_err(c, m, NULL, "command: starts with %s, which the %s "
		    "launcher adds itself; give only the script and its "
		    "arguments (python train.py ...)", core[0], name);
		return -1;
	}
	if (!plan_is_python(core[0]))
		return 0;
	for (i = 1; core[i] != NULL && core[i][0] == '-'; i++) {
		if (strcmp(core[i], "-u") == 0)
			continue;
		if (strcmp(core[i], "-m") == 0 && module_ok)
			break;
		plan_err(c, m, NULL, "command: python option %s cannot be "
		    "passed through %s, which starts python itself; remove "
		    "it%s", core[i], name, strcmp(core[i], "-m") == 0 ?
		    " and give the script's path" : "");
		return -1;
	}
	if (core[i] == NULL) {
		plan_err(c, m, NULL, "command: no script after %s", core[0]);
		return -1;
	}
	return i;
}

/* Appends core[from..] to arr; -1 (reported) on a string that is not
 * UTF-8. */
static int
plan_append_strs(struct plan_ctx *c, json_t *arr, char *const *v, int from)
{
	json_t *s;

	for (; v[from] != NULL; from++) {
		if ((s = plan_jstr(v[from])) == NULL) {
			plan_err(c, &c->st->command_mark, NULL, "command: "
			    "\"%s\" is not valid UTF-8", v[from]);
			return -1;
		}
		json_array_append_new(arr, s);
	}
	return 0;
}

static json_t *
plan_all_devices(const struct plan_ctx *c)
{
	json_t *a;
	int i;

	if (c->cfg->cluster.devices_per_host <= 0)
		return NULL;
	a = json_array();
	for (i = 0; i < c->cfg->cluster.devices_per_host; i++)
		json_array_append_new(a, json_integer(i));
	return a;
}

static int
plan_metrics(const struct plan_ctx *c, int local_rank)
{
	return c->st->metrics_rank == -1 || c->st->metrics_rank == local_rank;
}

static const char *
plan_program(const struct plan_ctx *c)
{
	if (c->ln->program != NULL)
		return c->ln->program;
	return plan_launcher_names[c->ln->type];
}

/* "RUN_DIR/name", with RUN_DIR "/" not doubled. */
static char *
plan_in_run_dir(const char *run_dir, const char *name)
{
	char *p;

	xasprintf(&p, "%s/%s", run_dir, name);
	return p;
}

static void
plan_add_file(json_t *files, const char *path, char *content)
{
	json_array_append_new(files, json_pack("{s:s, s:s, s:s}", "path",
	    path, "content", content, "mode", "0644"));
}

/* ---- launchers ---------------------------------------------------------- */

/* The one process of the one-process-per-host launchers. */
static struct plan_proc *
plan_one_proc(struct plan_hostout *o, const struct plan_ctx *c, size_t k)
{
	struct plan_proc *p;

	o->procs = xcalloc(1, sizeof *o->procs);
	o->nprocs = 1;
	p = &o->procs[0];
	p->rank = (int)k * c->P;
	p->local_rank = 0;
	p->metrics = 1;
	p->devices = plan_all_devices(c);
	p->argv = json_array();
	return p;
}

/* plain and hccl: P processes, each the command itself. */
static int
plan_per_device(struct plan_ctx *c, size_t k, const char *run_dir,
    struct plan_hostout *o)
{
	const json_t *table = c->plan->rank_table;
	const json_t *devs = NULL;
	int hccl = c->ln->type == LAUNCHER_HCCL, i, dev;
	struct plan_vars v;
	struct plan_proc *p;
	char **core, *rt;

	if (hccl) {
		devs = json_object_get(json_array_get(json_object_get(table,
		    "server_list"), k), "device");
		rt = plan_in_run_dir(run_dir, "rank_table.json");
		json_object_set_new(o->env, "RANK_SIZE",
		    plan_jint_str(c->plan->world_size));
		json_object_set_new(o->env, "DEVICE_NUM", plan_jint_str(c->P));
		json_object_set_new(o->env, "RANK_TABLE_FILE", plan_jstr(rt));
		free(rt);
		plan_add_file(o->files, "rank_table.json", c->table_text);
	}
	o->procs = xcalloc((size_t)c->P, sizeof *o->procs);
	for (i = 0; i < c->P; i++) {
		p = &o->procs[o->nprocs++];
		p->rank = (int)k * c->P + i;
		p->local_rank = i;
		p->metrics = plan_metrics(c, i);
		p->shell = c->st->shell;
		p->argv = json_array();
		if (hccl) {
			dev = atoi(json_string_value(json_object_get(
			    json_array_get(devs, (size_t)i), "device_id")));
			p->devices = json_pack("[i]", dev);
			p->env = json_object();
			json_object_set_new(p->env, "DEVICE_ID",
			    plan_jint_str(dev));
			json_object_set_new(p->env, "RANK_ID",
			    plan_jint_str(p->rank));
		} else if (c->P == c->cfg->cluster.devices_per_host &&
		    c->P > 1)
			p->devices = json_pack("[i]", i);
		else
			p->devices = plan_all_devices(c);
		plan_vars_init(&v, c, k, run_dir, p->rank, i);
		if ((core = plan_core_argv(c, &v)) == NULL)
			return -1;
		if (plan_append_strs(c, p->argv, core, 0) != 0) {
			strv_free(core);
			return -1;
		}
		strv_free(core);
	}
	return 0;
}

/* "A:PORT", with an IPv6 address in brackets. */
static char *
plan_endpoint(const struct plan_ctx *c)
{
	char *e;
	const char *a = c->plan->master_addr;

	if (strchr(a, ':') != NULL && a[0] != '[')
		xasprintf(&e, "[%s]:%d", a, c->plan->master_port);
	else
		xasprintf(&e, "%s:%d", a, c->plan->master_port);
	return e;
}

static void
plan_add_args(json_t *arr, ...)
{
	va_list ap;
	const char *s;

	va_start(ap, arr);
	while ((s = va_arg(ap, const char *)) != NULL)
		json_array_append_new(arr, json_string(s));
	va_end(ap);
}

/*
 * accelerate's per-machine config: the user's keys, then the cluster's
 * shape, which drover owns. JSON, which YAML readers accept.
 */
static char *
plan_accelerate_config(struct plan_ctx *c, size_t k)
{
	json_t *cfg = json_deep_copy(c->ln->accelerate_config), *ds, *l;
	const char *dt;
	char *text, *out;

	json_object_set_new(cfg, "machine_rank", json_integer((json_int_t)k));
	json_object_set_new(cfg, "num_machines", json_integer(c->nnodes));
	json_object_set_new(cfg, "num_processes",
	    json_integer(c->plan->world_size));
	json_object_set_new(cfg, "main_process_ip",
	    json_string(c->plan->master_addr));
	json_object_set_new(cfg, "main_process_port",
	    json_integer(c->plan->master_port));
	json_object_set_new(cfg, "rdzv_backend", json_string("static"));
	json_object_set_new(cfg, "same_network", json_true());
	dt = json_string_value(json_object_get(cfg, "distributed_type"));
	if (dt != NULL && strcmp(dt, "DEEPSPEED") == 0) {
		ds = json_object_get(cfg, "deepspeed_config");
		if (ds == NULL) {
			ds = json_object();
			json_object_set_new(cfg, "deepspeed_config", ds);
		}
		if (!json_is_object(ds)) {
			plan_err(c, &c->ln->mark, NULL, "launcher."
			    "accelerate_config: deepspeed_config must be a "
			    "mapping");
			json_decref(cfg);
			return NULL;
		}
		l = json_object_get(ds, "deepspeed_multinode_launcher");
		if (l != NULL && (!json_is_string(l) ||
		    strcmp(json_string_value(l), "standard") != 0)) {
			plan_err(c, &c->ln->mark, NULL, "launcher."
			    "accelerate_config: deepspeed_config."
			    "deepspeed_multinode_launcher is %s%s%s; drover "
			    "starts accelerate on every host itself, so it must "
			    "be \"standard\" (or left out)",
			    json_is_string(l) ? "\"" : "", json_is_string(l) ?
			    json_string_value(l) : "not a string",
			    json_is_string(l) ? "\"" : "");
			json_decref(cfg);
			return NULL;
		}
		json_object_set_new(ds, "deepspeed_multinode_launcher",
		    json_string("standard"));
	}
	text = json_dumps(cfg, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(cfg);
	xasprintf(&out, "%s\n", text);
	free(text);
	return out;
}

/* torchrun, accelerate, msrun, mpirun: one process per host (mpirun: on
 * node 0 only), the launcher's argv followed by the script's. */
static int
plan_one_per_host(struct plan_ctx *c, size_t k, const char *run_dir,
    struct plan_hostout *o)
{
	const struct cfg_launcher *ln = c->ln;
	struct plan_vars v;
	struct plan_proc *p;
	char **core, nn[24], nr[24], np[24], port[24], total[24], id[160];
	char *s = NULL, *t;
	int start = 0, rc = -1;

	p = plan_one_proc(o, c, k);
	plan_vars_init(&v, c, k, run_dir, p->rank, 0);
	if ((core = plan_core_argv(c, &v)) == NULL)
		return -1;
	snprintf(nn, sizeof nn, "%d", c->nnodes);
	snprintf(nr, sizeof nr, "%zu", k);
	snprintf(np, sizeof np, "%d", c->P);
	snprintf(port, sizeof port, "%d", c->plan->master_port);
	snprintf(total, sizeof total, "%d", c->plan->world_size);
	json_array_append_new(p->argv, json_string(plan_program(c)));

	switch (ln->type) {
	case LAUNCHER_TORCHRUN:
		if ((start = plan_script_start(c, core, plan_program(c), 1)) <
		    0)
			goto out;
		if (ln->rdzv != NULL) {
			s = plan_endpoint(c);
			snprintf(id, sizeof id, "%s-%d", c->plan->run_task,
			    c->plan->attempt);
			plan_add_args(p->argv, "--nnodes", nn,
			    "--nproc_per_node", np, "--rdzv_backend", "c10d",
			    "--rdzv_endpoint", s, "--rdzv_id", id, (char *)NULL);
		} else
			plan_add_args(p->argv, "--nnodes", nn, "--node_rank",
			    nr, "--nproc_per_node", np, "--master_addr",
			    c->plan->master_addr, "--master_port", port, (char *)NULL);
		break;
	case LAUNCHER_ACCELERATE:
		if ((start = plan_script_start(c, core, plan_program(c), 1)) <
		    0)
			goto out;
		plan_add_args(p->argv, "launch", "--num_machines", nn,
		    "--machine_rank", nr, "--num_processes", total,
		    "--main_process_ip", c->plan->master_addr,
		    "--main_process_port", port, (char *)NULL);
		if (ln->accelerate_config != NULL) {
			if ((t = plan_accelerate_config(c, k)) == NULL)
				goto out;
			plan_add_file(o->files, "accelerate_config.yaml", t);
			free(t);
			s = plan_in_run_dir(run_dir, "accelerate_config.yaml");
			plan_add_args(p->argv, "--config_file", s, (char *)NULL);
		}
		break;
	case LAUNCHER_MSRUN:
		if ((start = plan_script_start(c, core, plan_program(c), 0)) <
		    0)
			goto out;
		s = plan_in_run_dir(run_dir, "msrun_log");
		plan_add_args(p->argv, "--worker_num", total,
		    "--local_worker_num", np, "--master_addr",
		    c->plan->master_addr, "--master_port", port, "--node_rank",
		    nr, "--log_dir", s, "--join", "True", (char *)NULL);
		break;
	case LAUNCHER_MPIRUN:
		if (c->st->shell) {
			plan_err(c, &c->st->command_mark, NULL, "command: "
			    "shell: true works with the plain and hccl "
			    "launchers only; mpirun needs the program and its "
			    "arguments as a list");
			goto out;
		}
		if (strcmp(plan_basename(core[0]),
		    plan_basename(plan_program(c))) == 0) {
			plan_err(c, &c->st->command_mark, NULL, "command: "
			    "starts with %s, which the mpirun launcher adds "
			    "itself; give only the program and its arguments",
			    core[0]);
			goto out;
		}
		s = plan_in_run_dir(run_dir, "hostfile");
		plan_add_args(p->argv, "--hostfile", s, "-np", total, (char *)NULL);
		break;
	default:
		fatalx("plan_one_per_host: launcher %d", (int)ln->type);
	}
	rc = plan_append_strs(c, p->argv, core, start);
out:
	free(s);
	strv_free(core);
	return rc;
}

static void
plan_mpirun_hostfile(struct plan_ctx *c, struct plan_hostout *o)
{
	struct buf b;
	size_t k;
	int slots = c->ln->slots_per_host > 0 ? c->ln->slots_per_host : c->P;

	buf_init(&b);
	for (k = 0; k < c->cfg->cluster.nhosts; k++)
		buf_printf(&b, "%s slots=%d\n", c->cfg->cluster.hosts[k],
		    slots);
	plan_add_file(o->files, "hostfile", (char *)buf_cstr(&b));
	buf_free(&b);
}

/* ---- hccl rank tables ---------------------------------------------------- */

/* "{host}" in the pattern becomes the host. */
static char *
plan_table_path(const struct plan_ctx *c, const char *host)
{
	const char *pat = c->ln->rank_table_pattern != NULL ?
	    c->ln->rank_table_pattern : "hccl_8p_01234567_{host}.json";
	const char *p, *q;
	struct buf b;

	buf_init(&b);
	buf_printf(&b, "%s/", c->ln->rank_table_dir);
	for (p = pat; (q = strstr(p, "{host}")) != NULL; p = q + 6) {
		buf_add(&b, p, (size_t)(q - p));
		buf_addstr(&b, host);
	}
	buf_addstr(&b, p);
	return buf_steal(&b);
}

/* Host k's single-host table, checked; NULL after reporting. */
static json_t *
plan_host_table(struct plan_ctx *c, size_t k)
{
	const char *host = c->cfg->cluster.hosts[k];
	const struct cfg_mark *m = &c->ln->mark;
	json_t *t = NULL, *const *given = c->opts->host_tables;
	char *path = NULL, *what, *cause = NULL, *text;
	struct buf b;
	size_t ndev;

	buf_init(&b);
	if (c->ln->rank_table_dir != NULL) {
		path = plan_table_path(c, host);
		what = xstrdup(path);
		if (file_read_all(path, PLAN_RANKTABLE_MAX, &b, &cause) != 0) {
			plan_err(c, m, host, "rank table: %s (set launcher."
			    "rank_table_dir / rank_table_pattern, or leave "
			    "rank_table_dir out to read it from the host)",
			    cause);
			goto out;
		}
	} else {
		xasprintf(&what, "rank table read from %s", host);
		if (given == NULL || given[k] == NULL) {
			plan_err(c, m, host, "no rank table (read from the "
			    "host failed)");
			goto out;
		}
		text = json_dumps(given[k], JSON_COMPACT);
		buf_addstr(&b, text != NULL ? text : "");
		free(text);
	}
	if ((t = ranktable_parse(b.data, b.len, what, &cause)) == NULL) {
		plan_err(c, m, host, "%s", cause);
		goto out;
	}
	if (json_array_size(json_object_get(t, "server_list")) != 1) {
		plan_err(c, m, host, "%s: has %zu servers; a host's table must "
		    "list exactly one (this host)", what, json_array_size(
		    json_object_get(t, "server_list")));
		json_decref(t);
		t = NULL;
		goto out;
	}
	ndev = json_array_size(json_object_get(json_array_get(
	    json_object_get(t, "server_list"), 0), "device"));
	if (ndev != (size_t)c->P) {
		plan_err(c, m, host, "%s: has %zu devices, but %d processes "
		    "run on each host (%s); use the host's %d-device table or "
		    "change %s", what, ndev, c->P, c->ln->procs_per_host > 0 ?
		    "launcher.procs_per_host" : "cluster.devices_per_host",
		    c->P, c->ln->procs_per_host > 0 ?
		    "launcher.procs_per_host" : "cluster.devices_per_host");
		json_decref(t);
		t = NULL;
	}
out:
	free(cause);
	free(path);
	free(what);
	buf_free(&b);
	return t;
}

static int
plan_rank_table(struct plan_ctx *c)
{
	size_t k, n = c->cfg->cluster.nhosts;
	json_t **tables = xcalloc(n, sizeof *tables);
	char *cause = NULL;
	int ok = 1;

	for (k = 0; k < n; k++) {
		if ((tables[k] = plan_host_table(c, k)) == NULL)
			ok = 0;
	}
	if (ok) {
		c->plan->rank_table = ranktable_merge(tables, n, &cause);
		if (c->plan->rank_table == NULL) {
			plan_err(c, &c->ln->mark, NULL, "merging the hosts' "
			    "rank tables: %s", cause);
			free(cause);
			ok = 0;
		} else
			c->table_text = json_dumps(c->plan->rank_table,
			    JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	}
	for (k = 0; k < n; k++)
		json_decref(tables[k]);
	free(tables);
	return ok ? 0 : -1;
}

/* ---- the common parts of a host's spec ----------------------------------- */

/* "~" and "~/x" with the host's home; else as it is. */
static char *
plan_tilde(const struct plan_ctx *c, size_t k, const char *path)
{
	const char *home = NULL;
	char *out;
	size_t hl;

	if (c->opts->host_homes != NULL)
		home = c->opts->host_homes[k];
	if (home == NULL || path[0] != '~' || (path[1] != '\0' &&
	    path[1] != '/'))
		return xstrdup(path);
	hl = strlen(home);
	while (hl > 1 && home[hl - 1] == '/')
		hl--;
	if (path[1] == '\0' || (path[1] == '/' && path[2] == '\0'))
		return xstrndup(home, hl);
	xasprintf(&out, "%.*s%s", (int)hl, home, path + 1);
	return out;
}

/* Absolute, or "~/..." while the home is not known. */
static int
plan_path_ok(const struct plan_ctx *c, size_t k, const char *path)
{
	int known = c->opts->host_homes != NULL &&
	    c->opts->host_homes[k] != NULL;

	if (path[0] == '/')
		return 1;
	return !known && path[0] == '~' && (path[1] == '\0' || path[1] == '/');
}

static void
plan_proc_clear(struct plan_proc *p)
{
	json_decref(p->devices);
	json_decref(p->argv);
	json_decref(p->env);
}

/*
 * The stage's env and cwd, expanded for every process: what is the same
 * for all goes into the spec, what differs (${rank} ...) into each
 * process; the launcher's own variables override the user's.
 */
static int
plan_common(struct plan_ctx *c, size_t k, const char *run_dir,
    struct plan_hostout *o, json_t *spec, json_t **procs)
{
	const struct cfg_env *env = &c->st->env;
	const char *host = c->cfg->cluster.hosts[k];
	json_t **penv, *senv = json_object(), *first, *val, *arr, *j;
	char **cwds, field[300], *s;
	size_t i, e, nproc = o->nprocs;
	int same, rc = -1;
	struct plan_vars v;
	const char *key;

	penv = xcalloc(nproc, sizeof *penv);
	cwds = xcalloc(nproc, sizeof *cwds);
	for (i = 0; i < nproc; i++) {
		penv[i] = json_object();
		plan_vars_init(&v, c, k, run_dir, o->procs[i].rank,
		    o->procs[i].local_rank);
		for (e = 0; e < env->n; e++) {
			if (plan_is_secret(c, env->v[e].key))
				continue;
			snprintf(field, sizeof field, "env.%s",
			    env->v[e].key);
			if ((s = plan_expand(c, &v, env->v[e].value,
			    &env->v[e].mark, field)) == NULL)
				goto out;
			if ((j = plan_jstr(s)) == NULL) {
				plan_err(c, &env->v[e].mark, NULL, "%s: not "
				    "valid UTF-8", field);
				free(s);
				goto out;
			}
			free(s);
			json_object_set_new(penv[i], env->v[e].key, j);
		}
		if (c->st->cwd != NULL) {
			if ((s = plan_expand(c, &v, c->st->cwd, &c->st->mark,
			    "cwd")) == NULL)
				goto out;
			cwds[i] = plan_tilde(c, k, s);
			free(s);
			if (!plan_path_ok(c, k, cwds[i])) {
				plan_err(c, &c->st->mark, host, "cwd \"%s\" is "
				    "not an absolute path (the agent would "
				    "refuse it); use /... or ~/...", cwds[i]);
				goto out;
			}
		}
	}

	/* The same value in every process goes into the spec. */
	json_object_foreach(penv[0], key, first) {
		same = 1;
		for (i = 1; i < nproc && same; i++) {
			val = json_object_get(penv[i], key);
			same = val != NULL && json_equal(val, first);
		}
		if (same)
			json_object_set(senv, key, first);
	}
	json_object_foreach(senv, key, first) {
		for (i = 0; i < nproc; i++)
			json_object_del(penv[i], key);
	}
	json_object_foreach(o->env, key, val) {
		json_object_set(senv, key, val);
		for (i = 0; i < nproc; i++)
			json_object_del(penv[i], key);
	}
	same = 1;
	for (i = 1; i < nproc && c->st->cwd != NULL; i++)
		same = same && strcmp(cwds[i], cwds[0]) == 0;
	if (c->st->cwd != NULL && same)
		json_object_set_new(spec, "cwd", plan_jstr(cwds[0]));
	if (c->cfg->cluster.container != NULL)
		json_object_set_new(spec, "container",
		    json_deep_copy(c->cfg->cluster.container));
	if (c->st->parser != NULL)
		json_object_set_new(spec, "parser",
		    json_deep_copy(c->st->parser));
	json_object_set(spec, "env", senv);

	arr = json_array();
	for (i = 0; i < nproc; i++) {
		struct plan_proc *p = &o->procs[i];

		if (p->env != NULL)
			json_object_update(penv[i], p->env);
		j = json_object();
		json_object_set_new(j, "rank", json_integer(p->rank));
		json_object_set_new(j, "local_rank",
		    json_integer(p->local_rank));
		if (p->devices != NULL)
			json_object_set(j, "devices", p->devices);
		json_object_set_new(j, "metrics", json_boolean(p->metrics));
		if (json_object_size(penv[i]) != 0)
			json_object_set(j, "env", penv[i]);
		if (c->st->cwd != NULL && !same)
			json_object_set_new(j, "cwd", plan_jstr(cwds[i]));
		json_object_set(j, "argv", p->argv);
		if (p->shell)
			json_object_set_new(j, "shell", json_true());
		json_array_append_new(arr, j);
	}
	*procs = arr;
	rc = 0;
out:
	for (i = 0; i < nproc; i++) {
		json_decref(penv[i]);
		free(cwds[i]);
	}
	free(penv);
	free(cwds);
	json_decref(senv);
	return rc;
}

static void
plan_limits(json_t *spec, const struct plan_ctx *c)
{
	const struct cfg_cluster *cl = &c->cfg->cluster;
	json_t *log = json_object();

	if (cl->log_max_bytes > 0)
		json_object_set_new(log, "max_bytes",
		    json_integer(cl->log_max_bytes));
	json_object_set_new(log, "keep", json_integer(cl->log_keep));
	json_object_set_new(spec, "log", log);
	json_object_set_new(spec, "telemetry", json_pack("{s:i}",
	    "interval_s", cl->telemetry_interval_s));
	json_object_set_new(spec, "stop_grace_s",
	    json_integer(c->st->stop_grace_s));
}

/* Host k's plan_host; its spec stays NULL after a reported problem. */
static void
plan_host(struct plan_ctx *c, size_t k)
{
	const struct cfg_cluster *cl = &c->cfg->cluster;
	struct plan_host *h = &c->plan->hosts[k];
	struct plan_hostout o;
	struct cfg_mark fm = plan_file_mark(c);
	json_t *spec = NULL, *procs = NULL;
	char *base = NULL;
	size_t i;

	memset(&o, 0, sizeof o);
	h->host = xstrdup(cl->hosts[k]);
	h->node_rank = (int)k;
	h->rank_first = (int)k * c->P;
	h->nprocs = c->P;
	if (!plan_name_valid(h->host))
		return;		/* reported by plan_build */
	base = plan_tilde(c, k, cl->base_dir);
	if (!plan_path_ok(c, k, base)) {
		plan_err(c, &fm, h->host, "cluster.base_dir \"%s\" is not an "
		    "absolute path (the agent would refuse it); use /... or "
		    "~/...", base);
		goto out;
	}
	xasprintf(&h->run_dir, "%s/%s/%d/%s", strcmp(base, "/") == 0 ? "" :
	    base, c->plan->run_task, c->plan->attempt, h->host);
	if (c->ln->type == LAUNCHER_MPIRUN && k > 0) {
		h->note = xstrdup("started by mpirun from node 0");
		goto out;
	}

	o.env = json_object();
	o.files = json_array();
	switch (c->ln->type) {
	case LAUNCHER_PLAIN:
	case LAUNCHER_HCCL:
		if (plan_per_device(c, k, h->run_dir, &o) != 0)
			goto out;
		break;
	case LAUNCHER_MPIRUN:
		plan_mpirun_hostfile(c, &o);
		/* FALLTHROUGH */
	default:
		if (plan_one_per_host(c, k, h->run_dir, &o) != 0)
			goto out;
		break;
	}

	spec = json_object();
	json_object_set_new(spec, "spec", json_integer(1));
	json_object_set_new(spec, "task", json_string(c->plan->run_task));
	json_object_set_new(spec, "attempt", json_integer(c->plan->attempt));
	json_object_set_new(spec, "host_id", json_string(h->host));
	json_object_set_new(spec, "node_rank", json_integer((json_int_t)k));
	if ((json_object_set_new(spec, "base_dir", plan_jstr(base))) != 0) {
		plan_err(c, &fm, h->host, "cluster.base_dir: not valid UTF-8");
		goto out;
	}
	if (plan_common(c, k, h->run_dir, &o, spec, &procs) != 0)
		goto out;
	json_object_set_new(spec, "processes", procs);
	if (json_array_size(o.files) != 0)
		json_object_set(spec, "files", o.files);
	plan_limits(spec, c);
	h->spec = spec;
	spec = NULL;
out:
	json_decref(spec);
	for (i = 0; i < o.nprocs; i++)
		plan_proc_clear(&o.procs[i]);
	free(o.procs);
	json_decref(o.env);
	json_decref(o.files);
	free(base);
}

/* ---- checks that hold for every host --------------------------------- */

static void
plan_check_stage(struct plan_ctx *c)
{
	const struct cfg_stage *st = c->st;
	const struct cfg_cluster *cl = &c->cfg->cluster;
	struct cfg_mark fm = plan_file_mark(c);
	struct parser *p;
	const char *fmt = "auto";
	char *cause = NULL;
	json_t *j;
	size_t i;

	if (st->command == NULL || st->command[0] == NULL ||
	    st->command[0][0] == '\0')
		plan_err(c, &st->command_mark, NULL, "command: empty; give "
		    "the program and its arguments");
	else if (st->shell && st->command[1] != NULL)
		plan_err(c, &st->command_mark, NULL, "command: with shell: "
		    "true the command must be one string (the line for "
		    "sh -c)");
	for (i = 0; i < st->env.n; i++) {
		if (!plan_env_name_valid(st->env.v[i].key))
			plan_err(c, &st->env.v[i].mark, NULL, "env: \"%s\" is "
			    "not a valid variable name (letters, digits and _, "
			    "not starting with a digit)", st->env.v[i].key);
	}
	if (cl->container != NULL &&
	    container_validate(cl->container, &cause) != 0) {
		plan_err(c, &cl->container_mark, NULL, "cluster.container: %s",
		    cause);
		free(cause);
		cause = NULL;
	}
	if (st->parser != NULL) {
		j = json_object_get(st->parser, "format");
		if (!json_is_object(st->parser))
			plan_err(c, &st->mark, NULL, "parser: must be a "
			    "mapping");
		else if (j != NULL && (!json_is_string(j) ||
		    !parser_format_valid(json_string_value(j))))
			plan_err(c, &st->mark, NULL, "parser.format: must be "
			    "one of mindone, mindspore, kohya, diffusers, "
			    "jsonl, regex, auto");
		else {
			if (j != NULL)
				fmt = json_string_value(j);
			if ((p = parser_new(fmt, st->parser, &cause)) == NULL) {
				plan_err(c, &st->mark, NULL, "parser: %s",
				    cause);
				free(cause);
			}
			parser_free(p);
		}
	}
	if (cl->log_max_bytes != 0 && cl->log_max_bytes < 4096)
		plan_err(c, &fm, NULL, "cluster.log_max_bytes: %lld is less "
		    "than 4096", cl->log_max_bytes);
	if (cl->log_keep < 0 || cl->log_keep > 100)
		plan_err(c, &fm, NULL, "cluster.log_keep: %d is not from 0 to "
		    "100", cl->log_keep);
	if (cl->telemetry_interval_s < 0 || cl->telemetry_interval_s > 3600)
		plan_err(c, &fm, NULL, "cluster.telemetry_interval_s: %d is "
		    "not from 0 to 3600", cl->telemetry_interval_s);
	if (st->stop_grace_s < 0 || st->stop_grace_s > 86400)
		plan_err(c, &st->mark, NULL, "stop_grace_s: %d is not from 0 "
		    "to 86400", st->stop_grace_s);
	if (c->ln->type == LAUNCHER_TORCHRUN && c->ln->rdzv != NULL &&
	    strcmp(c->ln->rdzv, "c10d") != 0)
		plan_err(c, &c->ln->mark, NULL, "launcher.rdzv: \"%s\" is not "
		    "known; use c10d, or leave it out for a static "
		    "rendezvous", c->ln->rdzv);
	if (c->ln->accelerate_config != NULL &&
	    !json_is_object(c->ln->accelerate_config))
		plan_err(c, &c->ln->mark, NULL, "launcher.accelerate_config: "
		    "must be a mapping");
}

/* ---- the plan ------------------------------------------------------------ */

static struct plan *
plan_new(const struct config *cfg, const struct cfg_stage *st,
    const struct plan_opts *opts)
{
	struct plan *p = xcalloc(1, sizeof *p);

	p->task = xstrdup(cfg->task);
	p->stage = xstrdup(st->name);
	if (cfg->nstages == 1 && strcmp(st->name, "main") == 0)
		p->run_task = xstrdup(cfg->task);
	else
		xasprintf(&p->run_task, "%s.%s", cfg->task, st->name);
	/* Two tasks of one name never share a run directory. */
	if (opts->task_id > 0) {
		char *t = p->run_task;

		xasprintf(&p->run_task, "%s-%lld", t, (long long)opts->task_id);
		free(t);
	}
	p->launcher = plan_launcher_names[st->launcher.type];
	p->attempt = opts->attempt;
	p->task_id = opts->task_id;
	return p;
}

struct plan *
plan_build(const struct config *cfg, size_t stage,
    const struct plan_opts *opts, char **cause)
{
	struct plan_ctx c;
	const struct cfg_launcher *ln;
	const struct cfg_cluster *cl = &cfg->cluster;
	struct plan *plan;
	size_t k;

	*cause = NULL;
	if (stage >= cfg->nstages)
		fatalx("plan_build: stage %zu of %zu", stage, cfg->nstages);
	memset(&c, 0, sizeof c);
	buf_init(&c.errors);
	c.cfg = cfg;
	c.st = &cfg->stages[stage];
	c.ln = ln = &c.st->launcher;
	c.opts = opts;
	c.plan = plan = plan_new(cfg, c.st, opts);
	c.nnodes = (int)cl->nhosts;

	if (!plan_name_valid(plan->run_task))
		plan_err(&c, &c.st->mark, NULL, "the task's run directory name "
		    "\"%s\" must be 1-128 characters of A-Z a-z 0-9 _ . - : "
		    "@ + (task.name%s)", plan->run_task, strcmp(plan->run_task,
		    cfg->task) == 0 ? "" : " and the stage's name");
	if (opts->attempt < 1)
		plan_err(&c, NULL, NULL, "attempt %d: attempts count from 1",
		    opts->attempt);
	if (cl->nhosts == 0 || cl->hosts == NULL)
		plan_err(&c, &cl->hosts_mark, NULL, "cluster.hosts: no hosts");
	if (ln->procs_per_host > 0)
		c.P = ln->procs_per_host;
	else
		c.P = ln->type == LAUNCHER_PLAIN ? 1 : cl->devices_per_host;
	if (c.P < 1 || c.P > PLAN_MAX_PROCS)
		plan_err(&c, &ln->mark, NULL, "%s launcher: %d processes per "
		    "host; set launcher.procs_per_host or "
		    "cluster.devices_per_host (1 to %d)",
		    plan_launcher_names[ln->type], c.P, PLAN_MAX_PROCS);
	for (k = 0; k < cl->nhosts; k++) {
		if (!plan_name_valid(cl->hosts[k]))
			plan_err(&c, &cl->hosts_mark, cl->hosts[k], "not usable "
			    "as a host id (the run directory's name): it must "
			    "be 1-128 characters of A-Z a-z 0-9 _ . - : @ +");
	}
	plan_check_stage(&c);
	if (c.nerrors != 0)
		goto fail;

	plan->nprocs_per_host = c.P;
	plan->world_size = c.nnodes * c.P;
	plan->master_addr = xstrdup(ln->master_addr != NULL ?
	    ln->master_addr : cl->hosts[0]);
	plan->master_port = ln->master_port > 0 ? ln->master_port :
	    ln->type == LAUNCHER_MSRUN ? 8118 : 29500;
	if (ln->type == LAUNCHER_HCCL && plan_rank_table(&c) != 0)
		goto fail;

	plan->nhosts = cl->nhosts;
	plan->hosts = xcalloc(cl->nhosts, sizeof *plan->hosts);
	for (k = 0; k < cl->nhosts; k++)
		plan_host(&c, k);
	if (c.nerrors != 0)
		goto fail;
	free(c.table_text);
	buf_free(&c.errors);
	return plan;

fail:
	if (c.nerrors > PLAN_MAX_ERRORS)
		buf_printf(&c.errors, "(and %d more problems)\n",
		    c.nerrors - PLAN_MAX_ERRORS);
	if (c.errors.len > 0)
		c.errors.len--;		/* the last newline */
	*cause = buf_steal(&c.errors);
	free(c.table_text);
	plan_free(plan);
	return NULL;
}

void
plan_free(struct plan *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nhosts; i++) {
		free(p->hosts[i].host);
		json_decref(p->hosts[i].spec);
		free(p->hosts[i].run_dir);
		free(p->hosts[i].note);
	}
	free(p->hosts);
	free(p->task);
	free(p->stage);
	free(p->run_task);
	free(p->master_addr);
	json_decref(p->rank_table);
	free(p);
}
