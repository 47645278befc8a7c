/*
 * cmd_task.c - the manager's commands: launch, plan, ls, status, watch,
 * metrics, stop, relaunch. Each parses its arguments, opens the store
 * (read-only where it only reads) and drives the engine in a loop of its
 * own; what the engine notes is printed as "HOST: STATE (reason)" lines on
 * stderr, results on stdout.
 */
#include "tui.h"

#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "engine.h"
#include "plan.h"
#include "store.h"
#include "console.h"

/* Options every manager command shares. */
struct topts {
	const char *db;
	struct cfg_override *sets;
	size_t nsets;
	char *hosts_set;		/* "cluster.hosts=RANGE" */
	int json;
	int follow;
	int accept_new;
	int grace;
	int failed, all;
	int force;
	const char *stage;
	const char *host;
	const char *format;
	char **exclude;
	size_t nexclude;
	char **replace;
	size_t nreplace;
};

enum {
	O_DB = 1000, O_SET, O_HOSTS, O_JSON, O_FOLLOW, O_ACCEPT, O_GRACE,
	O_FAILED, O_ALL, O_STAGE, O_HOST, O_FORMAT, O_EXCLUDE, O_REPLACE,
	O_HELP, O_FORCE,
};

static const struct option long_opts[] = {
	{ "db", required_argument, NULL, O_DB },
	{ "set", required_argument, NULL, O_SET },
	{ "hosts", required_argument, NULL, O_HOSTS },
	{ "json", no_argument, NULL, O_JSON },
	{ "follow", no_argument, NULL, O_FOLLOW },
	{ "accept-new", no_argument, NULL, O_ACCEPT },
	{ "grace", required_argument, NULL, O_GRACE },
	{ "failed", no_argument, NULL, O_FAILED },
	{ "all", no_argument, NULL, O_ALL },
	{ "stage", required_argument, NULL, O_STAGE },
	{ "host", required_argument, NULL, O_HOST },
	{ "format", required_argument, NULL, O_FORMAT },
	{ "exclude", required_argument, NULL, O_EXCLUDE },
	{ "replace", required_argument, NULL, O_REPLACE },
	{ "help", no_argument, NULL, O_HELP },
	{ "force", no_argument, NULL, O_FORCE },
	{ NULL, 0, NULL, 0 },
};

static void
topts_free(struct topts *o)
{
	free(o->sets);
	free(o->hosts_set);
	free(o->exclude);
	free(o->replace);
}

static void
topts_add_set(struct topts *o, const char *path, const char *value)
{
	o->sets = xreallocarray(o->sets, o->nsets + 1, sizeof *o->sets);
	memset(&o->sets[o->nsets], 0, sizeof *o->sets);
	o->sets[o->nsets].path = path;
	o->sets[o->nsets++].value = value;
}

static int
topts_getopt(int argc, char **argv, struct topts *o, const char *usage)
{
	int c;
	char *eq;

	memset(o, 0, sizeof *o);
	o->grace = 30;
	o->format = "csv";
	optind = 1;
	opterr = 1;
	while ((c = getopt_long(argc, argv, "fn:", long_opts, NULL)) != -1) {
		switch (c) {
		case O_DB: o->db = optarg; break;
		case O_SET:
			if ((eq = strchr(optarg, '=')) == NULL || eq == optarg) {
				fprintf(stderr, "drover: --set %s: expected "
				    "key.path=value\n", optarg);
				return -1;
			}
			*eq = '\0';
			topts_add_set(o, optarg, eq + 1);
			break;
		case O_HOSTS:
			topts_add_set(o, "cluster.hosts", optarg);
			break;
		case O_JSON: o->json = 1; break;
		case 'f':
		case O_FOLLOW: o->follow = 1; break;
		case O_ACCEPT: o->accept_new = 1; break;
		case O_GRACE: o->grace = atoi(optarg); break;
		case O_FAILED: o->failed = 1; break;
		case O_FORCE: o->force = 1; break;
		case O_ALL: o->all = 1; break;
		case O_STAGE: o->stage = optarg; break;
		case O_HOST: o->host = optarg; break;
		case O_FORMAT: o->format = optarg; break;
		case O_EXCLUDE:
			o->exclude = xreallocarray(o->exclude, o->nexclude + 1,
			    sizeof *o->exclude);
			o->exclude[o->nexclude++] = optarg;
			break;
		case O_REPLACE:
			if (strchr(optarg, '=') == NULL) {
				fprintf(stderr, "drover: --replace %s: "
				    "expected OLD=NEW\n", optarg);
				return -1;
			}
			o->replace = xreallocarray(o->replace, o->nreplace + 1,
			    sizeof *o->replace);
			o->replace[o->nreplace++] = optarg;
			break;
		case O_HELP:
			printf("usage: drover %s\n", usage);
			exit(0);
		default:
			fprintf(stderr, "usage: drover %s\n", usage);
			return -1;
		}
	}
	return optind;
}

/* Options, then min..max operands. Returns the index of the first operand,
 * or -1 with the usage printed and o freed. */
static int
topts_parse(int argc, char **argv, struct topts *o, const char *usage,
    int min, int max)
{
	int i = topts_getopt(argc, argv, o, usage);

	if (i >= 0 && argc - i >= min && argc - i <= max)
		return i;
	if (i >= 0)
		fprintf(stderr, "usage: drover %s\n", usage);
	topts_free(o);
	return -1;
}

static struct store *
open_store(const struct topts *o, int mode)
{
	struct store *s;
	char *cause = NULL;

	if (store_open(o->db, mode, &s, &cause) != 0) {
		fprintf(stderr, "drover: %s\n", cause);
		free(cause);
		return NULL;
	}
	return s;
}

static struct config *
load_config(const char *path, const struct topts *o)
{
	struct config *cfg;
	char *cause = NULL;

	if ((cfg = config_load(path, o->sets, o->nsets, &cause)) == NULL) {
		fprintf(stderr, "%s\n", cause);
		free(cause);
	}
	return cfg;
}

static size_t
find_stage(const struct config *cfg, const char *name, int *ok)
{
	size_t i;

	*ok = 1;
	if (name == NULL)
		return 0;
	for (i = 0; i < cfg->nstages; i++)
		if (strcmp(cfg->stages[i].name, name) == 0)
			return i;
	fprintf(stderr, "drover: %s: no stage \"%s\"\n", cfg->path, name);
	*ok = 0;
	return 0;
}

/* ---- running the engine from a command ------------------------------ */

struct run {
	struct loop *loop;
	struct engine *e;
	int follow;
	int started, failed;
	int64_t attempt;
	const char *end_state;
	int interrupted;
};

static void
run_note(const char *host, const char *state, const char *reason, void *arg)
{
	if (host == NULL)
		fprintf(stderr, "drover: %s\n", reason);
	else if (reason != NULL)
		fprintf(stderr, "%s: %s (%s)\n", host, state, reason);
	else
		fprintf(stderr, "%s: %s\n", host, state);
}

static void
run_started(int64_t attempt, int started, int failed, void *arg)
{
	struct run *r = arg;

	r->attempt = attempt;
	r->started = started;
	r->failed = failed;
	if (attempt == 0 || !r->follow)
		loop_stop(r->loop);
}

static void
run_done(int64_t attempt, const char *state, void *arg)
{
	struct run *r = arg;

	fprintf(stderr, "drover: attempt #%lld %s\n", (long long)attempt,
	    state);
	r->end_state = state;
	if (engine_active(r->e) == 0)
		loop_stop(r->loop);
}

static void
run_signal(int sig, void *arg)
{
	struct run *r = arg;

	r->interrupted = 1;
	fprintf(stderr, "drover: interrupted; the training goes on "
	    "(drover watch follows it again)\n");
	loop_stop(r->loop);
}

static struct run *
run_new(struct store *s, const struct topts *o, int follow)
{
	struct run *r = xcalloc(1, sizeof *r);
	struct engine_opts eo;

	r->loop = loop_new();
	r->follow = follow;
	engine_opts_init(&eo);
	eo.accept_new = o->accept_new;
	eo.note = run_note;
	eo.started = run_started;
	eo.done = run_done;
	eo.arg = r;
	r->e = engine_new(r->loop, s, &eo);
	loop_signal(r->loop, SIGINT, run_signal, r);
	loop_signal(r->loop, SIGTERM, run_signal, r);
	signal(SIGPIPE, SIG_IGN);
	return r;
}

static void
run_free(struct run *r)
{
	int i;

	engine_free(r->e);
	/* Connections closed from inside their own callbacks are freed by
	 * zero-delay timers; let those run before the loop goes. */
	for (i = 0; i < 8; i++)
		loop_run_once(r->loop, 0);
	loop_free(r->loop);
	free(r);
}

/* ---- launch ---------------------------------------------------------- */

int
cmd_launch(int argc, char **argv)
{
	static const char usage[] = "launch CONFIG [--set KEY=VALUE]... "
	    "[--hosts RANGE] [--stage NAME] [--follow] [--accept-new] "
	    "[--db PATH]";
	struct topts o;
	struct engine_launch l;
	struct config *cfg;
	struct store *s;
	struct run *r;
	char *cause = NULL;
	int i, ok, rc = 1;

	if ((i = topts_parse(argc, argv, &o, usage, 1, 1)) < 0)
		return 2;
	if ((cfg = load_config(argv[i], &o)) == NULL) {
		topts_free(&o);
		return 1;
	}
	memset(&l, 0, sizeof l);
	l.stage = find_stage(cfg, o.stage, &ok);
	if (!ok || (s = open_store(&o, STORE_RDWR)) == NULL) {
		config_free(cfg);
		topts_free(&o);
		return 1;
	}
	r = run_new(s, &o, o.follow);
	l.cfg = cfg;
	l.reason = "launch";
	if (engine_launch(r->e, &l, &cause) != 0) {
		fprintf(stderr, "drover: %s\n", cause);
		free(cause);
		goto out;
	}
	loop_run(r->loop);
	if (r->attempt == 0 && !r->interrupted)
		goto out;
	if (!o.follow) {
		printf("%lld\n", (long long)r->attempt);
		rc = r->failed > 0 ? 1 : 0;
	} else
		rc = r->end_state != NULL &&
		    strcmp(r->end_state, "succeeded") == 0 ? 0 : 1;
out:
	run_free(r);
	store_close(s);
	topts_free(&o);
	return rc;
}

/* ---- plan ------------------------------------------------------------ */

int
cmd_plan(int argc, char **argv)
{
	static const char usage[] = "plan CONFIG [--set KEY=VALUE]... "
	    "[--hosts RANGE] [--stage NAME] [--json]";
	struct topts o;
	struct config *cfg;
	char *cause = NULL, *text;
	int i, ok, rc = 1;
	size_t stage;

	if ((i = topts_parse(argc, argv, &o, usage, 1, 1)) < 0)
		return 2;
	if ((cfg = load_config(argv[i], &o)) == NULL) {
		topts_free(&o);
		return 1;
	}
	stage = find_stage(cfg, o.stage, &ok);
	if (!ok)
		goto out;
	if ((text = plan_preview(cfg, stage, o.json, &cause)) == NULL) {
		fprintf(stderr, "drover: %s\n", cause);
		free(cause);
		goto out;
	}
	fputs(text, stdout);
	free(text);
	rc = 0;
out:
	config_free(cfg);
	topts_free(&o);
	return rc;
}

/* ---- ls and status ---------------------------------------------------- */


static void
print_task_row(const json_t *t)
{
	const json_t *hosts = json_object_get(t, "hosts");
	char step[48], loss[32], st[32], sps[32];

	if (json_is_integer(json_object_get(t, "step")))
		snprintf(step, sizeof step, "%lld/%lld",
		    (long long)json_integer_value(json_object_get(t, "step")),
		    (long long)json_integer_value(json_object_get(t,
		    "total_steps")));
	else
		snprintf(step, sizeof step, "-");
	fmt_num(loss, sizeof loss, json_object_get(t, "loss"), "%.4g");
	fmt_num(st, sizeof st, json_object_get(t, "step_time_ms"), "%.0f");
	fmt_num(sps, sizeof sps, json_object_get(t, "samples_per_s"), "%.1f");
	printf("%-5lld %-24s %-11s %3lld/%-3lld %3lld  %-14s %-10s %-8s %s\n",
	    (long long)json_integer_value(json_object_get(t, "id")),
	    json_string_value(json_object_get(t, "name")),
	    json_string_value(json_object_get(t, "state")) ?
	    json_string_value(json_object_get(t, "state")) : "-",
	    (long long)json_integer_value(json_object_get(hosts, "up")),
	    (long long)json_integer_value(json_object_get(hosts, "total")),
	    (long long)json_integer_value(json_object_get(t, "attempt")),
	    step, loss, st, sps);
}

int
cmd_ls(int argc, char **argv)
{
	static const char usage[] = "ls [--json] [--db PATH]";
	struct topts o;
	struct store *s;
	json_t *list, *t;
	char *cause = NULL, *text;
	size_t i;
	int rc = 1;

	if (topts_parse(argc, argv, &o, usage, 0, 0) < 0)
		return 2;
	if ((s = open_store(&o, STORE_RDONLY)) == NULL) {
		topts_free(&o);
		return 1;
	}
	if (store_tasks_list(s, &list, &cause) != 0) {
		fprintf(stderr, "drover: %s\n", cause);
		free(cause);
		goto out;
	}
	if (o.json) {
		text = json_dumps(list, JSON_INDENT(2));
		printf("%s\n", text);
		free(text);
	} else {
		printf("%-5s %-24s %-11s %-7s %3s  %-14s %-10s %-8s %s\n",
		    "ID", "TASK", "STATE", "HOSTS", "ATT", "STEP", "LOSS",
		    "STEP_MS", "SAMPLES/S");
		json_array_foreach(list, i, t)
			print_task_row(t);
	}
	json_decref(list);
	rc = 0;
out:
	store_close(s);
	topts_free(&o);
	return rc;
}

static int
task_lookup(struct store *s, const char *ref, int64_t *task,
    int64_t *attempt)
{
	char *cause = NULL;

	if (store_task_find(s, ref, task, &cause) != 0 ||
	    (attempt != NULL &&
	    store_attempt_latest(s, *task, attempt, &cause) != 0)) {
		fprintf(stderr, "drover: %s\n", cause);
		free(cause);
		return -1;
	}
	return 0;
}

/* The store and the task named by ref (attempt: its latest, may be NULL);
 * NULL after saying why. */
static struct store *
open_task(const struct topts *o, int mode, const char *ref, int64_t *task,
    int64_t *attempt)
{
	struct store *s;

	if ((s = open_store(o, mode)) == NULL)
		return NULL;
	if (task_lookup(s, ref, task, attempt) != 0) {
		store_close(s);
		return NULL;
	}
	return s;
}

int
cmd_task_status(int argc, char **argv)
{
	static const char usage[] = "status TASK [--json] [--db PATH]";
	struct topts o;
	struct store *s;
	json_t *sum = NULL, *hosts = NULL, *audit = NULL, *h, *m, *out;
	int64_t task, attempt;
	char *cause = NULL, *text, loss[32], st[32], vs[32];
	size_t i;
	int a, rc = 1;

	if ((a = topts_parse(argc, argv, &o, usage, 1, 1)) < 0)
		return 2;
	if ((s = open_task(&o, STORE_RDONLY, argv[a], &task, &attempt)) ==
	    NULL) {
		topts_free(&o);
		return 1;
	}
	if (store_task_summary(s, task, &sum, &cause) != 0 ||
	    (attempt != 0 && store_attempt_hosts(s, attempt, &hosts,
	    &cause) != 0) ||
	    store_audit_list(s, task, &audit, &cause) != 0) {
		fprintf(stderr, "drover: %s\n", cause);
		free(cause);
		goto out;
	}
	if (hosts != NULL)
		model_hosts_straggler(hosts);
	if (o.json) {
		out = json_pack("{s:O, s:O, s:O}", "task", sum, "hosts",
		    hosts != NULL ? hosts : json_null(), "events", audit);
		text = json_dumps(out, JSON_INDENT(2));
		printf("%s\n", text);
		free(text);
		json_decref(out);
		rc = 0;
		goto out;
	}
	printf("task %s (#%lld) attempt %lld: %s\n",
	    json_string_value(json_object_get(sum, "name")), (long long)task,
	    (long long)json_integer_value(json_object_get(sum, "attempt")),
	    json_string_value(json_object_get(sum, "state")) ?
	    json_string_value(json_object_get(sum, "state")) : "-");
	/* The root cause of a gang failure, when one was found. */
	json_array_foreach(audit, i, h) {
		const char *kind = json_string_value(json_object_get(h,
		    "kind"));

		if (kind != NULL && strcmp(kind, "root_cause") == 0 &&
		    json_integer_value(json_object_get(h, "attempt_id")) ==
		    attempt)
			printf("  %s\n", json_string_value(json_object_get(h,
			    "reason")));
	}
	printf("%-20s %4s %-11s %8s %-10s %-8s %-6s %s\n", "HOST", "NODE",
	    "STATE", "STEP", "LOSS", "STEP_MS", "VS_MED", "REASON");
	json_array_foreach(hosts, i, h) {
		m = json_object_get(h, "metric");
		fmt_num(loss, sizeof loss, json_object_get(m, "loss"), "%.4g");
		fmt_num(st, sizeof st, json_object_get(m, "step_time_ms"),
		    "%.0f");
		fmt_num(vs, sizeof vs, json_object_get(h, "straggler"),
		    "x%.2f");
		printf("%-20s %4lld %-11s %8lld %-10s %-8s %-6s %s\n",
		    json_string_value(json_object_get(h, "host")),
		    (long long)json_integer_value(json_object_get(h,
		    "node_rank")),
		    json_string_value(json_object_get(h, "state")),
		    m != NULL && !json_is_null(m) ? (long long)
		    json_integer_value(json_object_get(m, "step")) : -1LL,
		    loss, st, vs,
		    json_string_value(json_object_get(h, "reason")) ?
		    json_string_value(json_object_get(h, "reason")) : "");
	}
	rc = 0;
out:
	json_decref(sum);
	json_decref(hosts);
	json_decref(audit);
	store_close(s);
	topts_free(&o);
	return rc;
}

/* ---- metrics ---------------------------------------------------------- */

int
cmd_metrics(int argc, char **argv)
{
	static const char usage[] = "metrics TASK [--host HOST] "
	    "[--format csv|jsonl] [--db PATH]";
	struct topts o;
	struct store *s;
	int64_t task;
	char *cause = NULL;
	int a, rc = 1, csv;

	if ((a = topts_parse(argc, argv, &o, usage, 1, 1)) < 0)
		return 2;
	csv = strcmp(o.format, "csv") == 0;
	if (!csv && strcmp(o.format, "jsonl") != 0) {
		fprintf(stderr, "drover: --format %s: expected csv or jsonl\n",
		    o.format);
		topts_free(&o);
		return 2;
	}
	if ((s = open_task(&o, STORE_RDONLY, argv[a], &task, NULL)) == NULL) {
		topts_free(&o);
		return 1;
	}
	if (metrics_write(s, task, o.host, csv, stdout, &cause) != 0) {
		fprintf(stderr, "drover: %s\n", cause);
		free(cause);
		goto out;
	}
	rc = 0;
out:
	store_close(s);
	topts_free(&o);
	return rc;
}

/* ---- watch, stop, relaunch ------------------------------------------- */

/* Follows the task's running attempt (catching up from the cursors);
 * until it ends, or until caught up with --no-follow semantics. */
static int
follow_task(struct run *r, int64_t task)
{
	char *cause = NULL;
	int n;

	if ((n = engine_resume(r->e, task, &cause)) < 0) {
		fprintf(stderr, "drover: %s\n", cause);
		free(cause);
		return -1;
	}
	return n;
}

int
cmd_watch(int argc, char **argv)
{
	static const char usage[] = "watch [TASK] [--db PATH]";
	struct topts o;
	struct store *s;
	struct run *r;
	int64_t task = 0;
	int a, n, rc = 1;

	if ((a = topts_parse(argc, argv, &o, usage, 0, 1)) < 0)
		return 2;
	if ((s = open_store(&o, STORE_RDWR)) == NULL) {
		topts_free(&o);
		return 1;
	}
	if (argc - a == 1 && task_lookup(s, argv[a], &task, NULL) != 0)
		goto out_store;
	r = run_new(s, &o, 1);
	if ((n = follow_task(r, task)) < 0)
		goto out;
	if (n == 0) {
		fprintf(stderr, "drover: nothing is running\n");
		rc = 0;
		goto out;
	}
	loop_run(r->loop);
	rc = r->end_state != NULL && strcmp(r->end_state, "succeeded") == 0 ?
	    0 : (r->interrupted ? 0 : 1);
out:
	run_free(r);
out_store:
	store_close(s);
	topts_free(&o);
	return rc;
}

static void
stop_deadline(void *arg)
{
	struct run *r = arg;

	fprintf(stderr, "drover: the hosts did not confirm the stop in time; "
	    "drover status shows where they are\n");
	loop_stop(r->loop);
}

int
cmd_stop(int argc, char **argv)
{
	static const char usage[] = "stop TASK [--grace SECONDS] [--db PATH]";
	struct topts o;
	struct store *s;
	struct run *r;
	int64_t task, attempt;
	char *cause = NULL;
	int a, rc = 1;

	if ((a = topts_parse(argc, argv, &o, usage, 1, 1)) < 0)
		return 2;
	if (o.grace < 0 || o.grace > 86400) {
		fprintf(stderr, "drover: --grace %d: expected 0 to 86400\n",
		    o.grace);
		topts_free(&o);
		return 2;
	}
	if ((s = open_task(&o, STORE_RDWR, argv[a], &task, &attempt)) ==
	    NULL) {
		topts_free(&o);
		return 1;
	}
	r = run_new(s, &o, 1);
	if (follow_task(r, task) <= 0) {
		fprintf(stderr, "drover: task %s is not running\n", argv[a]);
		goto out;
	}
	if (engine_stop(r->e, attempt, o.grace, &cause) != 0) {
		fprintf(stderr, "drover: %s\n", cause);
		free(cause);
		goto out;
	}
	loop_timer_add(r->loop, (uint64_t)(o.grace + 60) * 1000,
	    stop_deadline, r);
	loop_run(r->loop);
	rc = r->end_state != NULL ? 0 : 1;
out:
	run_free(r);
	store_close(s);
	topts_free(&o);
	return rc;
}

/* relaunch --all's --replace and --exclude, on the task's config; -1
 * (said why) when one names no host of the task or none is left. */
static int
relaunch_hosts(struct config *cfg, const struct topts *o)
{
	char *cause = NULL;

	if (config_hosts_edit(cfg, o->replace, o->nreplace, o->exclude,
	    o->nexclude, &cause) == 0)
		return 0;
	fprintf(stderr, "drover: %s\n", cause);
	free(cause);
	return -1;
}

/* relaunch --all: recorded, then a new attempt with the resume arguments
 * on the config's hosts. Takes cfg over. */
static int
relaunch_all(struct run *r, struct store *s, int64_t task, int64_t attempt,
    struct config *cfg)
{
	struct engine_launch l;
	char *cause = NULL;

	if (store_request_relaunch(s, attempt, STORE_RELAUNCH_ATTEMPT, NULL, 0,
	    engine_actor(), "relaunch --all", &cause) != 0) {
		fprintf(stderr, "drover: %s\n", cause);
		free(cause);
		config_free(cfg);
		return -1;
	}
	memset(&l, 0, sizeof l);
	l.cfg = cfg;
	l.resume = 1;
	l.task_id = task;
	l.parent_attempt = attempt;
	l.reason = "relaunch --all";
	if (engine_launch(r->e, &l, &cause) != 0) {
		fprintf(stderr, "drover: %s\n", cause);
		free(cause);
		return -1;
	}
	return 0;
}

/*
 * The restart budget: at most restart.max relaunches per task, and after
 * the k-th one a wait of restart.backoff_s x 2^(k-1) before the next (a
 * double keypress, a script in a loop). --force goes past both.
 */
static int
restart_budget_ok(struct store *s, int64_t task, const struct config *cfg,
    const struct topts *o)
{
	char *why = NULL;
	int64_t wait;

	/* Without its config, relaunch --all says why; --failed goes on. */
	if (o->force || cfg == NULL)
		return 1;
	if (engine_restart_budget(s, task, cfg, &wait, &why) == 1)
		return 1;
	fprintf(stderr, "drover: %s; %s\n", why, wait > 0 ?
	    "wait, or --force" : "--force goes beyond it");
	free(why);
	return 0;
}

/* The task's config file, read again (edits take effect) with the task's
 * --set overrides, then this command's; NULL when it has none (*had_path
 * 0) or it does not load (the errors printed). */
static struct config *
task_config(struct store *s, int64_t task, const struct topts *o,
    int *had_path)
{
	struct config *cfg;
	json_t *sum;
	char *cause = NULL;

	*had_path = 0;
	if (store_task_summary(s, task, &sum, &cause) != 0) {
		fprintf(stderr, "drover: %s\n", cause);
		free(cause);
		return NULL;
	}
	*had_path = json_is_string(json_object_get(sum, "config_path"));
	if ((cfg = config_load_task(sum, o->sets, o->nsets, &cause)) == NULL &&
	    cause != NULL) {
		fprintf(stderr, "%s\n", cause);
		free(cause);
	}
	json_decref(sum);
	return cfg;
}

int
cmd_relaunch(int argc, char **argv)
{
	static const char usage[] = "relaunch TASK --failed | --all "
	    "[--exclude HOST]... [--replace OLD=NEW]... [--set KEY=VALUE]... "
	    "[--follow] [--force] [--db PATH]";
	struct topts o;
	struct store *s;
	struct run *r;
	int64_t task, attempt;
	struct config *cfg;
	char *cause = NULL;
	int a, i, had_path, rc = 1;

	if ((a = topts_parse(argc, argv, &o, usage, 1, 1)) < 0)
		return 2;
	if (o.failed == o.all) {
		fprintf(stderr, "drover: relaunch: say --failed or --all\n");
		topts_free(&o);
		return 2;
	}
	if ((s = open_task(&o, STORE_RDWR, argv[a], &task, &attempt)) ==
	    NULL) {
		topts_free(&o);
		return 1;
	}
	/* Read once, before anything is stopped: --all cannot go on without
	 * it, and the budget comes from it. */
	cfg = task_config(s, task, &o, &had_path);
	if ((o.all && (cfg == NULL || relaunch_hosts(cfg, &o) != 0)) ||
	    !restart_budget_ok(s, task, cfg, &o)) {
		if (o.all && cfg == NULL && !had_path)
			fprintf(stderr, "drover: the task has no config file "
			    "to relaunch from\n");
		config_free(cfg);
		store_close(s);
		topts_free(&o);
		return 1;
	}
	r = run_new(s, &o, o.follow);
	if (o.failed) {
		if (attempt == 0 || engine_load(r->e, task, attempt,
		    &cause) != 0) {
			fprintf(stderr, "drover: %s\n", cause != NULL ? cause :
			    "the task has no attempt to relaunch into");
			free(cause);
			goto out;
		}
		if (engine_relaunch_failed(r->e, attempt, &cause) != 0) {
			fprintf(stderr, "drover: %s\n", cause);
			free(cause);
			goto out;
		}
	} else {
		/* Survivors first: stop them and wait. */
		if (follow_task(r, task) > 0) {
			if (engine_stop(r->e, attempt, o.grace, &cause) != 0) {
				fprintf(stderr, "drover: %s\n", cause);
				free(cause);
				goto out;
			}
			r->follow = 1;
			loop_run(r->loop);
			if (r->interrupted || engine_active(r->e) > 0)
				goto out;
			r->follow = o.follow;
		}
		r->end_state = NULL;
		i = relaunch_all(r, s, task, attempt, cfg);
		cfg = NULL;	/* relaunch_all took it */
		if (i != 0)
			goto out;
	}
	loop_run(r->loop);
	rc = r->interrupted ? 1 : o.follow ? (r->end_state != NULL &&
	    strcmp(r->end_state, "succeeded") == 0 ? 0 : 1) : 0;
out:
	config_free(cfg);
	run_free(r);
	store_close(s);
	topts_free(&o);
	return rc;
}
