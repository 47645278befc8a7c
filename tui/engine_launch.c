/*
 * engine_launch.c - the launch pipeline: validate and plan before anything
 * is touched, connect every host (a bounded window of handshakes), ask each
 * host its architecture and home (and, for HCCL without rank-table files,
 * its /etc/hccn.conf), plan again with those, record the task, attempt and
 * hosts, push the agent and the spec, start the agent (secrets on its
 * stdin only), then hand the hosts to engine.c to follow.
 *
 * A host that cannot be reached aborts the launch before anything is
 * recorded or started: never a partial launch. A host that fails to start
 * once others have started is failed with its reason; the others keep
 * going (they wait in their rendezvous) and `relaunch --failed` retries it.
 */
#include "engine_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROBE_CMD "uname -m; printf '%s\\n' \"$HOME\""
/* hccl without rank-table files: each host's NPU addresses, from
 * /etc/hccn.conf, else from hccn_tool, one device at a time. */
#define PROBE_HCCN " echo __hccn__; if [ -r /etc/hccn.conf ]; then " \
	"cat /etc/hccn.conf; elif command -v hccn_tool >/dev/null 2>&1; then " \
	"i=0; while [ $i -lt %d ]; do echo device_id:$i; " \
	"hccn_tool -i $i -ip -g; i=$((i + 1)); done; fi; true"

static void launch_next_connect(struct eatt *);
static void launch_plan(struct eatt *);

static int
needs_host_tables(const struct config *cfg, size_t stage)
{
	const struct cfg_launcher *l = &cfg->stages[stage].launcher;

	return l->type == LAUNCHER_HCCL && l->rank_table_dir == NULL;
}

/* ---- connect and probe --------------------------------------------- */

static void
connect_settled(struct ehost *h)
{
	struct eatt *a = h->a;

	a->connecting--;
	if (--a->waiting == 0)
		launch_plan(a);
	else
		launch_next_connect(a);
}

void
launch_host_failed(struct ehost *h, const char *why)
{
	if (h->fail_reason != NULL)
		return;
	h->fail_reason = xstrdup(why != NULL ? why : "cannot connect");
	eh_note(h, "unreachable", h->fail_reason);
	connect_settled(h);
}

static void
probe_done(struct ehost *h, int status, const char *error)
{
	char *text, *nl, *home;

	buf_cstr(&h->op_out);
	text = h->op_out.data != NULL ? h->op_out.data : "";
	if (status != 0 || (nl = strchr(text, '\n')) == NULL) {
		char *why;

		xasprintf(&why, "%s: cannot ask the host its architecture: "
		    "%s", h->name, error != NULL ? error : "no answer");
		launch_host_failed(h, why);
		free(why);
		return;
	}
	h->arch = xstrndup(text, (size_t)(nl - text));
	home = nl + 1;
	if ((nl = strchr(home, '\n')) == NULL || *home != '/') {
		launch_host_failed(h, "the host's $HOME is not an absolute "
		    "path");
		return;
	}
	h->home = xstrndup(home, (size_t)(nl - home));
	eh_note(h, "connecting", h->arch);
	connect_settled(h);
}

void
launch_host_up(struct ehost *h)
{
	struct eatt *a = h->a;
	char *cmd;
	int ndev;

	if (h->arch != NULL || h->fail_reason != NULL)
		return;
	if (needs_host_tables(a->cfg, a->stage_idx)) {
		ndev = a->cfg->stages[a->stage_idx].launcher.procs_per_host;
		if (ndev <= 0)
			ndev = a->cfg->cluster.devices_per_host;
		xasprintf(&cmd, "%s;" PROBE_HCCN, PROBE_CMD, ndev);
	} else
		cmd = xstrdup(PROBE_CMD);
	if (eh_op(h, cmd, NULL, 0, probe_done) != 0)
		launch_host_failed(h, "connected, but cannot run a command");
	free(cmd);
}

static void
launch_next_connect(struct eatt *a)
{
	while (a->connecting < a->window && a->next_connect < a->n) {
		struct ehost *h = &a->hosts[a->next_connect++];

		if (h->fail_reason != NULL) {
			/* its settings could not be resolved */
			a->waiting--;
			continue;
		}
		a->connecting++;
		eh_session_open(h, 0);
	}
	if (a->waiting == 0 && a->phase == PH_CONNECT)
		launch_plan(a);
}

/* ---- plan, record ---------------------------------------------------- */

static void
launch_abort(struct eatt *a, const char *why)
{
	size_t i;

	eatt_note(a, "launch aborted, nothing was started: %s", why);
	for (i = 0; i < a->n; i++) {
		rsession_free(a->hosts[i].sess);
		a->hosts[i].sess = NULL;
		a->hosts[i].final = 1;
		a->hosts[i].state = "unreachable";
	}
	if (a->e->o.started != NULL)
		a->e->o.started(0, 0, (int)a->n, a->e->o.arg);
	eatt_check_done(a);
}

/* The single-host rank table from a host's /etc/hccn.conf. */
static json_t *
host_table(struct ehost *h, int ndev, char **cause)
{
	const char *p;

	buf_cstr(&h->op_out);
	p = h->op_out.data != NULL ? strstr(h->op_out.data, "__hccn__\n") :
	    NULL;
	if (p == NULL || p[9] == '\0') {
		xasprintf(cause, "%s: neither /etc/hccn.conf nor hccn_tool "
		    "(set task.launcher.rank_table_dir to the rank table "
		    "files)", h->name);
		return NULL;
	}
	return ranktable_from_hccn(h->name, p + 9, ndev, cause);
}

static void launch_push(struct ehost *);

/* Why --set number i of the config may not be kept with the task (it
 * gives a value to an env entry named in the secrets file, or its value
 * holds a secret's value), or NULL. The words name no value. */
static char *
launch_set_secret(const struct config *cfg, size_t i, const json_t *secrets)
{
	const char *value = json_string_value(json_object_get(json_array_get(
	    cfg->overrides, i), "value")), *name, *sv;
	const struct cfg_env *envs[65];
	const json_t *v;
	char *why;
	size_t k, j, n = 0;

	if (secrets == NULL || value == NULL)
		return NULL;
	json_object_foreach((json_t *)secrets, name, v) {
		sv = json_string_value(v);
		if (sv != NULL && *sv != '\0' && strstr(value, sv) != NULL) {
			xasprintf(&why, "its value holds the secret %s", name);
			return why;
		}
	}
	envs[n++] = &cfg->cluster.env;
	for (k = 0; k < cfg->nstages && n < nitems(envs); k++)
		envs[n++] = &cfg->stages[k].env;
	for (k = 0; k < n; k++) {
		for (j = 0; j < envs[k]->n; j++) {
			if (envs[k]->v[j].mark.file == cfg->sets[i] &&
			    json_object_get(secrets, envs[k]->v[j].key) !=
			    NULL) {
				xasprintf(&why, "it sets %s, a name of the "
				    "secrets file", envs[k]->v[j].key);
				return why;
			}
		}
	}
	return NULL;
}

/* The config's --set overrides as the task keeps them: every one but
 * those launch_set_secret() refuses (a note names each, not its value). */
static json_t *
launch_sets_kept(struct eatt *a)
{
	json_t *kept = json_array(), *o;
	char *why;
	size_t i;

	json_array_foreach(a->cfg->overrides, i, o) {
		if ((why = launch_set_secret(a->cfg, i, a->secrets)) == NULL) {
			json_array_append(kept, o);
			continue;
		}
		eatt_note(a, "--set %s is not kept with the task (%s): a "
		    "relaunch or restart will not repeat it",
		    json_string_value(json_object_get(o, "path")), why);
		free(why);
	}
	return kept;
}

/* A new task is recorded with its config's path and --set overrides; a
 * task launched again (relaunch --all with --set of its own) keeps the
 * longer list of overrides it was loaded with. */
static int
launch_record_task(struct eatt *a, char **cause)
{
	struct store *s = a->e->store;
	struct store_task_new tn;
	const char **stages;
	json_t *kept = launch_sets_kept(a), *sum = NULL;
	char *real;
	size_t i;
	int rc = 0;

	if (a->task_id != 0) {
		if ((rc = store_task_summary(s, a->task_id, &sum, cause)) ==
		    0 && !json_equal(kept, json_object_get(sum,
		    "config_sets")))
			rc = store_task_set_config_sets(s, a->task_id, kept,
			    a->e->o.actor, cause);
		json_decref(sum);
		json_decref(kept);
		return rc;
	}
	stages = xcalloc(a->cfg->nstages + 1, sizeof *stages);
	/* Absolute: relaunch --all and the stages re-read it from wherever
	 * the next drover runs. */
	real = realpath(a->cfg->path, NULL);
	for (i = 0; i < a->cfg->nstages; i++)
		stages[i] = a->cfg->stages[i].name;
	memset(&tn, 0, sizeof tn);
	tn.name = a->cfg->task;
	tn.config_path = real != NULL ? real : a->cfg->path;
	tn.config_text = a->cfg->text;
	tn.stages = stages;
	tn.config_sets = kept;
	rc = store_task_create(s, &tn, a->e->o.actor, &a->task_id, cause);
	free(real);
	free(stages);
	json_decref(kept);
	return rc;
}

static void
launch_plan(struct eatt *a)
{
	struct engine *e = a->e;
	struct plan_opts po;
	struct store_attempt_new an;
	struct store_host_new *hn = NULL;
	const char **homes = NULL;
	json_t **tables = NULL;
	int64_t *ids = NULL;
	char *cause = NULL, *why = NULL;
	size_t i, nfail = 0;
	int ndev;

	if (a->phase != PH_CONNECT)
		return;
	for (i = 0; i < a->n; i++)
		if (a->hosts[i].fail_reason != NULL)
			nfail++;
	if (nfail > 0) {
		xasprintf(&why, "%zu of %zu hosts could not be reached", nfail,
		    a->n);
		launch_abort(a, why);
		free(why);
		return;
	}
	homes = xcalloc(a->n + 1, sizeof *homes);
	for (i = 0; i < a->n; i++)
		homes[i] = a->hosts[i].home;
	memset(&po, 0, sizeof po);
	po.resume = a->resume;
	po.host_homes = homes;
	if (needs_host_tables(a->cfg, a->stage_idx)) {
		ndev = a->cfg->stages[a->stage_idx].launcher.procs_per_host;
		if (ndev <= 0)
			ndev = a->cfg->cluster.devices_per_host;
		tables = xcalloc(a->n, sizeof *tables);
		for (i = 0; i < a->n; i++) {
			if ((tables[i] = host_table(&a->hosts[i], ndev,
			    &cause)) == NULL)
				goto fail;
		}
		po.host_tables = tables;
	}

	/* Record the task and the attempt, then plan with its number. */
	if (launch_record_task(a, &cause) != 0)
		goto fail;
	memset(&an, 0, sizeof an);
	an.task_id = a->task_id;
	an.stage = a->cfg->stages[a->stage_idx].name;
	an.parent_id = a->parent;
	an.reason = a->reason;
	an.resume = a->resume;
	if (store_attempt_create(e->store, &an, e->o.actor, &a->attempt_id,
	    &a->number, &cause) != 0)
		goto fail;
	e->last_attempt = a->attempt_id;
	po.attempt = a->number;
	po.task_id = a->task_id;
	if ((a->plan = plan_build(a->cfg, a->stage_idx, &po, &cause)) == NULL)
		goto fail;

	hn = xcalloc(a->n, sizeof *hn);
	ids = xcalloc(a->n, sizeof *ids);
	for (i = 0; i < a->n; i++) {
		struct ehost *h = &a->hosts[i];
		const struct plan_host *ph = &a->plan->hosts[i];

		h->run_dir = ph->spec != NULL && ph->run_dir != NULL ?
		    xstrdup(ph->run_dir) : NULL;
		hn[i].host = h->name;
		hn[i].node_rank = ph->node_rank;
		hn[i].rank_first = ph->rank_first;
		hn[i].nprocs = ph->nprocs;
		hn[i].run_dir = h->run_dir != NULL ? h->run_dir : "";
	}
	if (store_hosts_add(e->store, a->attempt_id, hn, a->n, e->o.actor,
	    ids, &cause) != 0)
		goto fail;
	for (i = 0; i < a->n; i++)
		a->hosts[i].id = ids[i];
	eatt_note(a, "task %s, attempt %d (#%lld): %zu hosts", a->task,
	    a->number, (long long)a->attempt_id, a->n);
	a->phase = PH_START;
	a->waiting = (int)a->n;
	for (i = 0; i < a->n; i++)
		launch_push(&a->hosts[i]);
	goto out;

fail:
	launch_abort(a, cause != NULL ? cause : "planning failed");
	if (a->attempt_id != 0) {
		struct store_audit au;
		char *c2 = NULL;

		memset(&au, 0, sizeof au);
		au.task_id = a->task_id;
		au.attempt_id = a->attempt_id;
		au.kind = "launch_aborted";
		au.actor = "engine";
		au.reason = cause;
		if (store_audit_add(e->store, &au, &c2) != 0)
			free(c2);
	}
out:
	free(cause);
	free(homes);
	free(hn);
	free(ids);
	if (tables != NULL) {
		for (i = 0; i < a->n; i++)
			json_decref(tables[i]);
		free(tables);
	}
}

/* ---- push and start ------------------------------------------------- */

static void
start_settled(struct ehost *h)
{
	struct eatt *a = h->a;
	size_t i;
	int started = 0, failed = 0;

	if (--a->waiting > 0)
		return;
	a->phase = PH_WATCH;
	for (i = 0; i < a->n; i++) {
		struct ehost *x = &a->hosts[i];

		/* A host that failed to start may still have spooled why;
		 * the others are attached since they started. */
		eh_attach(x);
		if (x->final)
			failed++;
		else
			started++;
	}
	if (a->e->o.started != NULL)
		a->e->o.started(a->attempt_id, started, failed, a->e->o.arg);
	eatt_check_done(a);
}

static void
start_fail(struct ehost *h, const char *what, const char *detail)
{
	char *why;

	xasprintf(&why, "%s: %.400s", what, detail != NULL ? detail : "?");
	eh_set_state(h, "failed", why);
	free(why);
	start_settled(h);
}

static void
started(struct ehost *h, int status, const char *error)
{
	char *cause = NULL, *nl;
	json_t *hello;
	const char *msg;

	buf_cstr(&h->op_out);
	nl = h->op_out.data != NULL ? strchr(h->op_out.data, '\n') : NULL;
	hello = nl != NULL ? proto_decode_line(h->op_out.data,
	    (size_t)(nl - h->op_out.data), &cause) : NULL;
	free(cause);
	cause = NULL;
	if (status != 0 || hello == NULL || !json_is_string(json_object_get(
	    hello, "type")) || strcmp(json_string_value(json_object_get(hello,
	    "type")), "hello") != 0) {
		msg = hello != NULL ? json_string_value(json_object_get(hello,
		    "msg")) : NULL;
		buf_cstr(&h->op_err);
		if (msg == NULL)
			msg = h->op_err.len > 0 ? h->op_err.data : error;
		start_fail(h, "the agent did not start", msg);
		json_decref(hello);
		return;
	}
	json_decref(hello);
	/* Follow it now, not once every host has started: its first
	 * lines must not wait for the slowest host. */
	h->last_step = -1;
	h->watch_since = clock_mono_ms();
	eh_attach(h);
	start_settled(h);
}

/* The spec's file on this machine before its upload, and on the host. */
static char *
spec_local_path(const struct ehost *h)
{
	char *p;

	xasprintf(&p, "%s/%lld-%zu.json", h->a->e->tmpdir,
	    (long long)h->a->attempt_id, h->idx);
	return p;
}

static char *
spec_remote_path(const struct ehost *h)
{
	char *p;

	xasprintf(&p, "%s/.drover/specs/%s-%d-%s.json", h->home,
	    h->a->plan->run_task, h->a->number, h->name);
	return p;
}

static void
spec_uploaded(struct rconn *c, int skipped, const char *error, void *arg)
{
	struct ehost *h = arg;
	char *path = spec_local_path(h), *cause = NULL;

	unlink(path);
	free(path);
	if (error != NULL) {
		start_fail(h, "cannot upload the job spec", error);
		return;
	}
	if (eh_set_starting(h, "launched", &cause) != 0) {
		start_fail(h, "cannot record the launch, so it was not "
		    "started", cause);
		free(cause);
		return;
	}
	path = spec_remote_path(h);
	if (eh_run_agent(h, path, started) != 0)
		start_fail(h, "cannot start the agent", "not connected");
	free(path);
}

static void
agent_uploaded(struct rconn *c, int skipped, const char *error, void *arg)
{
	struct ehost *h = arg;
	const json_t *spec = h->a->plan->hosts[h->idx].spec;
	char *local, *remote, *text;
	char *cause = NULL;

	if (error != NULL) {
		start_fail(h, "cannot push the agent", error);
		return;
	}
	local = spec_local_path(h);
	text = json_dumps(spec, JSON_INDENT(1) | JSON_SORT_KEYS);
	if (file_write_atomic(local, text, strlen(text), 0600, &cause) != 0) {
		start_fail(h, "cannot write the job spec", cause);
		free(cause);
		free(text);
		free(local);
		return;
	}
	free(text);
	remote = spec_remote_path(h);
	rconn_upload(c, local, remote, 0600, spec_uploaded, h);
	free(local);
	free(remote);
}

static void
launch_push(struct ehost *h)
{
	struct eatt *a = h->a;
	struct rconn *c = rsession_conn(h->sess);
	const char *dir = a->cfg->cluster.agent_dir;
	char *local, *remote, *cause = NULL;

	if (a->plan->hosts[h->idx].spec == NULL) {
		/* mpirun: started from node 0 */
		eh_set_state(h, "running", "started by mpirun from node 0");
		h->passive = 1;
		h->final = 1;
		start_settled(h);
		return;
	}
	eh_set_state(h, "pushing", NULL);
	if (c == NULL) {
		start_fail(h, "cannot push", "the connection was lost");
		return;
	}
	if ((local = fanout_agent_for_arch(a->e->o.agent_dir, h->arch,
	    &cause)) == NULL) {
		start_fail(h, "cannot push the agent", cause);
		free(cause);
		return;
	}
	if (strncmp(dir, "~/", 2) == 0)
		xasprintf(&remote, "%s/%s/drover-agent", h->home, dir + 2);
	else
		xasprintf(&remote, "%s/drover-agent", dir);
	rconn_upload(c, local, remote, 0755, agent_uploaded, h);
	free(local);
	free(remote);
}

/* ---- the entry point ------------------------------------------------ */

int
engine_launch(struct engine *e, const struct engine_launch *l, char **cause)
{
	struct config *cfg = l->cfg;
	struct plan_opts po;
	struct plan *p;
	struct eatt *a;
	json_t *secrets = NULL;
	size_t i;

	if (l->stage >= cfg->nstages) {
		xasprintf(cause, "stage %zu: the config has %zu", l->stage,
		    cfg->nstages);
		config_free(cfg);
		return -1;
	}
	/* Everything that can be checked without the hosts, before any
	 * host is touched. */
	if (!needs_host_tables(cfg, l->stage)) {
		memset(&po, 0, sizeof po);
		po.attempt = 1;
		po.resume = l->resume;
		if ((p = plan_build(cfg, l->stage, &po, cause)) == NULL) {
			config_free(cfg);
			return -1;
		}
		plan_free(p);
	}
	if (cfg->secrets_file != NULL &&
	    (secrets = secrets_load(cfg->secrets_file, cause)) == NULL) {
		config_free(cfg);
		return -1;
	}

	a = eatt_new(e);
	a->cfg = cfg;
	a->task = xstrdup(cfg->task);
	a->stage = xstrdup(cfg->stages[l->stage].name);
	a->stage_idx = l->stage;
	a->resume = l->resume;
	a->task_id = l->task_id;
	a->parent = l->parent_attempt;
	a->reason = l->reason != NULL ? xstrdup(l->reason) : NULL;
	a->launch_data = l->launch_data != NULL ?
	    json_deep_copy(l->launch_data) : NULL;
	a->secrets = secrets;
	a->stall = cfg->stages[l->stage].stall;
	a->accept_new = e->o.accept_new || cfg->cluster.accept_new;
	a->window = cfg->cluster.fanout > 0 ? cfg->cluster.fanout : 32;
	a->phase = PH_CONNECT;
	a->n = cfg->cluster.nhosts;
	a->waiting = (int)a->n;
	a->hosts = xcalloc(a->n, sizeof *a->hosts);
	for (i = 0; i < a->n; i++) {
		struct ehost *h = &a->hosts[i];

		h->a = a;
		h->idx = i;
		h->name = xstrdup(cfg->cluster.hosts[i]);
		h->node_rank = (int)i;
		h->state = "pending";
		h->last_step = -1;
		h->agent = eh_agent_words(cfg->cluster.agent_dir);
	}
	eatt_resolve_hosts(a, cfg);
	launch_next_connect(a);
	return 0;
}
