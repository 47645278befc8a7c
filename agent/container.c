/*
 * container.c - turns a core's argv into the argv that runs it inside the
 * spec's container (none, docker-exec, docker-run, podman-run, apptainer,
 * bwrap), and builds the argv that signals what runs inside. The keys of the
 * "container" object are described in docs/protocol.md.
 *
 * Everything is built as argv arrays; no string here is ever parsed by a
 * shell except the fixed wrapper scripts below, which receive the core's argv
 * as positional parameters. Environment values never appear in an argv:
 * docker and podman get "-e NAME" and read the value from their own
 * environment; bwrap and apptainer inherit it.
 *
 * This file does not exec anything, set environment or cwd, or decide which
 * devices a process gets: the caller does.
 */
#include "agent.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum runtime {
	RT_NONE,
	RT_DOCKER_EXEC,
	RT_DOCKER_RUN,
	RT_PODMAN_RUN,
	RT_APPTAINER,
	RT_BWRAP,
};

static const char *const runtime_names[] = {
	[RT_NONE] = "none",
	[RT_DOCKER_EXEC] = "docker-exec",
	[RT_DOCKER_RUN] = "docker-run",
	[RT_PODMAN_RUN] = "podman-run",
	[RT_APPTAINER] = "apptainer",
	[RT_BWRAP] = "bwrap",
};

static const char *const runtime_programs[] = {
	[RT_NONE] = NULL,
	[RT_DOCKER_EXEC] = "docker",
	[RT_DOCKER_RUN] = "docker",
	[RT_PODMAN_RUN] = "podman",
	[RT_APPTAINER] = "apptainer",
	[RT_BWRAP] = "bwrap",
};

enum accel { ACCEL_NONE, ACCEL_NVIDIA, ACCEL_ASCEND };

#define R(x)		(1u << (x))
#define R_RUN		(R(RT_DOCKER_RUN) | R(RT_PODMAN_RUN))
#define R_ENGINES	(R(RT_DOCKER_EXEC) | R_RUN)
#define R_WRAPPED	(R_ENGINES | R(RT_APPTAINER) | R(RT_BWRAP))

/* Every key the container object may hold, and the runtimes that use it. */
static const struct ckey {
	const char *name;
	unsigned runtimes;
	unsigned required;
} ckeys[] = {
	{ "runtime", R_WRAPPED | R(RT_NONE), R_WRAPPED | R(RT_NONE) },
	{ "program", R_WRAPPED, 0 },
	{ "name", R(RT_DOCKER_EXEC), R(RT_DOCKER_EXEC) },
	{ "image", R_RUN | R(RT_APPTAINER), R_RUN | R(RT_APPTAINER) },
	{ "user", R_ENGINES, 0 },
	{ "accelerator", R_RUN | R(RT_APPTAINER), R_RUN },
	{ "devices", R_RUN, 0 },
	{ "mounts", R_RUN | R(RT_APPTAINER) | R(RT_BWRAP), 0 },
	{ "ipc", R_RUN, 0 },
	{ "network", R_RUN, 0 },
	{ "init", R_RUN, 0 },
	{ "extra_args", R_WRAPPED, 0 },
	{ "unshare_net", R(RT_BWRAP), 0 },
	{ "host_dev", R(RT_BWRAP), 0 },
};

/* What the Ascend driver needs inside a container besides /dev/davinciN. */
static const char *const ascend_devices[] = {
	"/dev/davinci_manager", "/dev/devmm_svm", "/dev/hisi_hdc",
};
static const char *const ascend_mounts[] = {
	"/usr/local/Ascend/driver", "/usr/local/bin/npu-smi", "/usr/local/dcmi",
};

/*
 * The docker-exec wrapper. The core runs in a new session (so in its own
 * process group) started by setsid. A shell's "set -m" is only the fallback:
 * dash and busybox sh refuse job control without a terminal, which docker
 * exec -i never has; bash accepts it, and "set +m" right after the start
 * keeps bash's job notices out of the core's stderr. Without either, the core
 * shares the wrapper's group and the kill script falls back to its pid.
 *
 * The inner shell prints the mark with its own pid before it execs the
 * core, so the mark is the first line on stderr whatever the core prints.
 * Standard input reaches the core through fd 3, because a non-interactive
 * shell gives background jobs /dev/null. The wrapper exits with the core's
 * status (128+N when a signal N killed it).
 */
#define WRAP_INNER \
	"printf \"%s%s\\n\" \"" CONTAINER_PID_MARK "\" \"$$\" >&2; exec \"$@\""
static const char wrap_script[] =
	"{ command exec 3<&0; } 2>/dev/null || exec 3</dev/null; "
	"i='" WRAP_INNER "'; "
	"if command -v setsid >/dev/null 2>&1; then "
	"setsid sh -c \"$i\" drover-core \"$@\" <&3 3<&- & "
	"else "
	"set -m 2>/dev/null; "
	"sh -c \"$i\" drover-core \"$@\" <&3 3<&- & "
	"set +m; "
	"fi; "
	"exec 3<&-; "
	"wait \"$!\"";

/* Signals the core's process group; the pid alone when it has none. */
static const char kill_script[] =
	"kill -s \"$1\" -- -\"$2\" 2>/dev/null || kill -s \"$1\" \"$2\"";

struct mount {
	char *src;
	char *dst;
	int ro;
};

struct cspec {
	enum runtime rt;
	const char *program;
	const char *name;
	const char *image;
	const char *user;
	enum accel accel;
	int has_devices;
	int devices_all;
	int *devices;
	size_t ndevices;
	struct mount *mounts;
	size_t nmounts;
	const char *ipc;
	const char *network;
	int init;
	const json_t *extra;
	int unshare_net;
	int host_dev;
};

struct argv_build {
	char **v;
	size_t n;
	size_t cap;
};

static void
av_add(struct argv_build *av, const char *s)
{
	if (av->n + 2 > av->cap) {
		av->cap = av->cap ? av->cap * 2 : 32;
		av->v = xreallocarray(av->v, av->cap, sizeof *av->v);
	}
	av->v[av->n++] = xstrdup(s);
	av->v[av->n] = NULL;
}

static void PRINTFLIKE(2, 3)
av_addf(struct argv_build *av, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	xvasprintf(&s, fmt, ap);
	va_end(ap);
	av_add(av, s);
	free(s);
}

static char **
av_finish(struct argv_build *av)
{
	char **v = av->v;

	av->v = NULL;
	av->n = av->cap = 0;
	return v;
}

static void
cspec_clear(struct cspec *cs)
{
	size_t i;

	for (i = 0; i < cs->nmounts; i++) {
		free(cs->mounts[i].src);
		free(cs->mounts[i].dst);
	}
	free(cs->mounts);
	free(cs->devices);
	memset(cs, 0, sizeof *cs);
}

static int
has_ctl(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	}
	return 0;
}

static int
is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

static int
is_name_char(char c)
{
	return is_alnum(c) || c == '_' || c == '.' || c == '-';
}

/* An environment variable name: only these may follow -e. */
static int
env_name_ok(const char *s)
{
	if (*s == '\0' || (*s >= '0' && *s <= '9'))
		return 0;
	for (; *s != '\0'; s++) {
		if (!is_alnum(*s) && *s != '_')
			return 0;
	}
	return 1;
}

/* A string option value: one argv element that cannot read as a flag. */
static int
get_word(const json_t *o, const char *key, const char **out, char **cause)
{
	const json_t *j = json_object_get(o, key);
	const char *s;

	if (j == NULL)
		return 0;
	if (!json_is_string(j)) {
		xasprintf(cause, "container.%s: must be a string", key);
		return -1;
	}
	s = json_string_value(j);
	if (*s == '\0' || *s == '-' || has_ctl(s) ||
	    strlen(s) != json_string_length(j)) {
		xasprintf(cause, "container.%s: \"%s\" must be non-empty, "
		    "not start with '-' and hold no control characters",
		    key, s);
		return -1;
	}
	*out = s;
	return 0;
}

static int
get_bool(const json_t *o, const char *key, int *out, char **cause)
{
	const json_t *j = json_object_get(o, key);

	if (j == NULL)
		return 0;
	if (!json_is_boolean(j)) {
		xasprintf(cause, "container.%s: must be true or false", key);
		return -1;
	}
	*out = json_is_true(j);
	return 0;
}

static int
parse_devices(const json_t *j, struct cspec *cs, char **cause)
{
	size_t i, k;
	json_int_t v;

	cs->has_devices = 1;
	if (json_is_string(j) && strcmp(json_string_value(j), "all") == 0) {
		cs->devices_all = 1;
		return 0;
	}
	if (!json_is_array(j)) {
		xasprintf(cause, "container.devices: must be \"all\" or a list "
		    "of device numbers");
		return -1;
	}
	cs->ndevices = json_array_size(j);
	if (cs->ndevices > 0)
		cs->devices = xcalloc(cs->ndevices, sizeof *cs->devices);
	for (i = 0; i < cs->ndevices; i++) {
		if (!json_is_integer(json_array_get(j, i)) ||
		    (v = json_integer_value(json_array_get(j, i))) < 0 ||
		    v > 1023) {
			xasprintf(cause, "container.devices[%zu]: must be a "
			    "device number from 0 to 1023", i);
			return -1;
		}
		for (k = 0; k < i; k++) {
			if (cs->devices[k] == (int)v) {
				xasprintf(cause, "container.devices[%zu]: "
				    "device %d is listed twice", i, (int)v);
				return -1;
			}
		}
		cs->devices[i] = (int)v;
	}
	return 0;
}

/* Checks a mount path for the runtime that will be given it. */
static int
mount_path_ok(const struct cspec *cs, size_t i, const char *what,
    const char *p, char **cause)
{
	if (*p != '/') {
		xasprintf(cause, "container.mounts[%zu]: %s \"%s\" must be an "
		    "absolute path", i, what, p);
		return -1;
	}
	if (cs->rt != RT_BWRAP && strchr(p, ':') != NULL) {
		xasprintf(cause, "container.mounts[%zu]: %s \"%s\" holds ':', "
		    "which runtime %s cannot express", i, what, p,
		    runtime_names[cs->rt]);
		return -1;
	}
	if (cs->rt == RT_APPTAINER && strchr(p, ',') != NULL) {
		xasprintf(cause, "container.mounts[%zu]: %s \"%s\" holds ',', "
		    "which runtime apptainer cannot express", i, what, p);
		return -1;
	}
	if (cs->rt != RT_BWRAP && has_ctl(p)) {
		xasprintf(cause, "container.mounts[%zu]: %s holds a control "
		    "character", i, what);
		return -1;
	}
	return 0;
}

/* A mount is "SRC", "SRC:DST", "SRC:DST:ro|rw" or {"src","dst","ro"}. */
static int
parse_mount(const struct cspec *cs, size_t i, const json_t *j,
    struct mount *m, char **cause)
{
	const char *s, *c1, *c2;
	const json_t *v;
	const char *key;
	json_t *jv;

	if (json_is_string(j)) {
		s = json_string_value(j);
		if (strlen(s) != json_string_length(j))
			goto bad;
		if ((c1 = strchr(s, ':')) == NULL) {
			m->src = xstrdup(s);
			m->dst = xstrdup(s);
		} else {
			m->src = xstrndup(s, c1 - s);
			if ((c2 = strchr(c1 + 1, ':')) == NULL)
				m->dst = xstrdup(c1 + 1);
			else {
				m->dst = xstrndup(c1 + 1, c2 - c1 - 1);
				if (strcmp(c2 + 1, "ro") == 0)
					m->ro = 1;
				else if (strcmp(c2 + 1, "rw") != 0) {
					xasprintf(cause, "container.mounts"
					    "[%zu]: \"%s\": the option after "
					    "the second ':' must be ro or rw",
					    i, s);
					return -1;
				}
			}
		}
	} else if (json_is_object(j)) {
		json_object_foreach((json_t *)j, key, jv) {
			if (strcmp(key, "src") != 0 &&
			    strcmp(key, "dst") != 0 &&
			    strcmp(key, "ro") != 0) {
				xasprintf(cause, "container.mounts[%zu].%s: "
				    "unknown key (src, dst, ro)", i, key);
				return -1;
			}
		}
		v = json_object_get(j, "src");
		if (!json_is_string(v) ||
		    strlen(json_string_value(v)) != json_string_length(v)) {
			xasprintf(cause, "container.mounts[%zu].src: required "
			    "string", i);
			return -1;
		}
		m->src = xstrdup(json_string_value(v));
		v = json_object_get(j, "dst");
		if (v == NULL)
			m->dst = xstrdup(m->src);
		else if (json_is_string(v) &&
		    strlen(json_string_value(v)) == json_string_length(v))
			m->dst = xstrdup(json_string_value(v));
		else {
			xasprintf(cause, "container.mounts[%zu].dst: must be a "
			    "string", i);
			return -1;
		}
		v = json_object_get(j, "ro");
		if (v != NULL && !json_is_boolean(v)) {
			xasprintf(cause, "container.mounts[%zu].ro: must be "
			    "true or false", i);
			return -1;
		}
		m->ro = json_is_true(v);
	} else {
bad:
		xasprintf(cause, "container.mounts[%zu]: must be \"SRC[:DST"
		    "[:ro]]\" or {\"src\":..,\"dst\":..,\"ro\":..}", i);
		return -1;
	}
	if (mount_path_ok(cs, i, "source", m->src, cause) != 0 ||
	    mount_path_ok(cs, i, "target", m->dst, cause) != 0)
		return -1;
	return 0;
}

static int
parse_mounts(const json_t *j, struct cspec *cs, char **cause)
{
	size_t i;

	if (!json_is_array(j)) {
		xasprintf(cause, "container.mounts: must be a list");
		return -1;
	}
	cs->nmounts = json_array_size(j);
	if (cs->nmounts > 0)
		cs->mounts = xcalloc(cs->nmounts, sizeof *cs->mounts);
	for (i = 0; i < cs->nmounts; i++) {
		if (parse_mount(cs, i, json_array_get(j, i), &cs->mounts[i],
		    cause) != 0)
			return -1;
	}
	return 0;
}

/* ipc and network: "" leaves the engine's default; anything else is used. */
static int
get_mode(const json_t *o, const char *key, const char **out, char **cause)
{
	const json_t *j = json_object_get(o, key);

	if (j == NULL)
		return 0;
	if (!json_is_string(j) || has_ctl(json_string_value(j)) ||
	    strlen(json_string_value(j)) != json_string_length(j)) {
		xasprintf(cause, "container.%s: must be a string such as "
		    "\"host\" (\"\" for the engine's default)", key);
		return -1;
	}
	*out = json_string_value(j);
	return 0;
}

/* Parses and checks the container object; NULL means runtime none. */
static int
cspec_parse(const json_t *c, struct cspec *cs, char **cause)
{
	const char *key, *s = NULL;
	const json_t *j;
	json_t *v;
	size_t i;
	int found;

	memset(cs, 0, sizeof *cs);
	cs->ipc = "host";
	cs->network = "host";
	cs->init = 1;
	if (c == NULL)
		return 0;
	if (!json_is_object(c)) {
		xasprintf(cause, "container: must be an object");
		return -1;
	}
	j = json_object_get(c, "runtime");
	if (j == NULL) {
		xasprintf(cause, "container.runtime: required (none, "
		    "docker-exec, docker-run, podman-run, apptainer, bwrap)");
		return -1;
	}
	if (json_is_string(j))
		s = json_string_value(j);
	for (i = 0; s != NULL && i < nitems(runtime_names); i++) {
		if (strcmp(s, runtime_names[i]) == 0)
			break;
	}
	if (s == NULL || i == nitems(runtime_names)) {
		xasprintf(cause, "container.runtime: \"%s\" is not one of "
		    "none, docker-exec, docker-run, podman-run, apptainer, "
		    "bwrap", s != NULL ? s : "(not a string)");
		return -1;
	}
	cs->rt = (enum runtime)i;
	cs->program = runtime_programs[cs->rt];

	json_object_foreach((json_t *)c, key, v) {
		found = 0;
		for (i = 0; i < nitems(ckeys); i++) {
			if (strcmp(key, ckeys[i].name) == 0) {
				found = 1;
				break;
			}
		}
		if (!found) {
			xasprintf(cause, "container.%s: unknown key", key);
			return -1;
		}
		if ((ckeys[i].runtimes & R(cs->rt)) == 0) {
			xasprintf(cause, "container.%s: not used by runtime %s",
			    key, runtime_names[cs->rt]);
			return -1;
		}
	}
	for (i = 0; i < nitems(ckeys); i++) {
		if ((ckeys[i].required & R(cs->rt)) &&
		    json_object_get(c, ckeys[i].name) == NULL) {
			xasprintf(cause, "container.%s: required for runtime "
			    "%s", ckeys[i].name, runtime_names[cs->rt]);
			return -1;
		}
	}

	if (get_word(c, "program", &cs->program, cause) != 0 ||
	    get_word(c, "image", &cs->image, cause) != 0 ||
	    get_word(c, "user", &cs->user, cause) != 0 ||
	    get_mode(c, "ipc", &cs->ipc, cause) != 0 ||
	    get_mode(c, "network", &cs->network, cause) != 0 ||
	    get_bool(c, "init", &cs->init, cause) != 0 ||
	    get_bool(c, "unshare_net", &cs->unshare_net, cause) != 0 ||
	    get_bool(c, "host_dev", &cs->host_dev, cause) != 0)
		return -1;

	if ((j = json_object_get(c, "name")) != NULL) {
		s = json_is_string(j) ? json_string_value(j) : "";
		for (i = 0; s[i] != '\0' && is_name_char(s[i]); i++)
			;
		if (!is_alnum(s[0]) || s[i] != '\0' ||
		    i != json_string_length(j)) {
			xasprintf(cause, "container.name: \"%s\" is not a "
			    "container name ([A-Za-z0-9][A-Za-z0-9_.-]*)", s);
			return -1;
		}
		cs->name = s;
	}

	if ((j = json_object_get(c, "accelerator")) != NULL) {
		s = json_is_string(j) ? json_string_value(j) : "";
		if (strcmp(s, "nvidia") == 0)
			cs->accel = ACCEL_NVIDIA;
		else if (strcmp(s, "ascend") == 0)
			cs->accel = ACCEL_ASCEND;
		else if (strcmp(s, "none") == 0)
			cs->accel = ACCEL_NONE;
		else {
			xasprintf(cause, "container.accelerator: \"%s\" is not "
			    "one of nvidia, ascend, none", s);
			return -1;
		}
	}

	if ((j = json_object_get(c, "devices")) != NULL) {
		if (parse_devices(j, cs, cause) != 0)
			return -1;
		if (cs->accel == ACCEL_NONE) {
			xasprintf(cause, "container.devices: needs "
			    "container.accelerator nvidia or ascend");
			return -1;
		}
		if (cs->accel == ACCEL_ASCEND && cs->devices_all) {
			xasprintf(cause, "container.devices: \"all\" is not "
			    "supported for accelerator ascend; list the NPU "
			    "numbers");
			return -1;
		}
	}

	if ((j = json_object_get(c, "mounts")) != NULL &&
	    parse_mounts(j, cs, cause) != 0)
		return -1;

	if ((j = json_object_get(c, "extra_args")) != NULL) {
		if (!json_is_array(j)) {
			xasprintf(cause, "container.extra_args: must be a list "
			    "of strings");
			return -1;
		}
		for (i = 0; i < json_array_size(j); i++) {
			v = json_array_get(j, i);
			if (!json_is_string(v) || strlen(json_string_value(v))
			    != json_string_length(v)) {
				xasprintf(cause, "container.extra_args[%zu]: "
				    "must be a string", i);
				return -1;
			}
		}
		cs->extra = j;
	}
	return 0;
}

int
container_validate(const json_t *container, char **cause)
{
	struct cspec cs;
	int rc;

	rc = cspec_parse(container, &cs, cause);
	cspec_clear(&cs);
	return rc;
}

/* docker and podman names: [A-Za-z0-9][A-Za-z0-9_.-]*. */
static char *
sanitize_name(const char *in)
{
	struct buf b;

	if (in == NULL || *in == '\0')
		return xstrdup("drover");
	buf_init(&b);
	if (!is_alnum(*in))
		buf_addstr(&b, "drover-");
	for (; *in != '\0'; in++)
		buf_addch(&b, is_name_char(*in) ? *in : '_');
	return buf_steal(&b);
}

static void
add_extra(struct argv_build *av, const struct cspec *cs)
{
	size_t i;

	for (i = 0; cs->extra != NULL && i < json_array_size(cs->extra); i++)
		av_add(av, json_string_value(json_array_get(cs->extra, i)));
}

static void
add_core(struct argv_build *av, const struct wrap_in *in)
{
	size_t i;

	if (in->shell) {
		av_add(av, "/bin/sh");
		av_add(av, "-c");
		av_add(av, in->argv[0]);
		if (in->argv[1] != NULL)
			av_add(av, "sh");
		for (i = 1; in->argv[i] != NULL; i++)
			av_add(av, in->argv[i]);
		return;
	}
	for (i = 0; in->argv[i] != NULL; i++)
		av_add(av, in->argv[i]);
}

static int
add_env(struct argv_build *av, const struct cspec *cs,
    const struct wrap_in *in, char **cause)
{
	size_t i;

	for (i = 0; in->env_names != NULL && in->env_names[i] != NULL; i++) {
		if (!env_name_ok(in->env_names[i])) {
			xasprintf(cause, "environment name \"%s\" is not "
			    "[A-Za-z_][A-Za-z0-9_]*; refusing to pass it to %s",
			    in->env_names[i], runtime_names[cs->rt]);
			return -1;
		}
		av_add(av, "-e");
		av_add(av, in->env_names[i]);
	}
	return 0;
}

/* The devices for docker/podman run: the container's list, else the
 * process's. */
static int
add_run_devices(struct argv_build *av, const struct cspec *cs,
    const struct wrap_in *in, char **cause)
{
	const int *dev = cs->has_devices ? cs->devices : in->devices;
	size_t n = cs->has_devices ? cs->ndevices : in->ndevices, i;
	struct buf b;

	/* No list anywhere means every GPU; an explicit [] means none. */
	if (cs->accel == ACCEL_NVIDIA && n == 0 && !cs->devices_all &&
	    cs->has_devices)
		return 0;
	if (cs->accel == ACCEL_NVIDIA && cs->rt == RT_DOCKER_RUN) {
		av_add(av, "--gpus");
		if (cs->devices_all || n == 0) {
			av_add(av, "all");
			return 0;
		}
		/* docker reads the value as CSV: the quotes keep "0,1" one
		 * field. */
		buf_init(&b);
		buf_addstr(&b, "\"device=");
		for (i = 0; i < n; i++)
			buf_printf(&b, "%s%d", i ? "," : "", dev[i]);
		buf_addch(&b, '"');
		av_add(av, buf_cstr(&b));
		buf_free(&b);
	} else if (cs->accel == ACCEL_NVIDIA) {
		if (cs->devices_all || n == 0) {
			av_add(av, "--device");
			av_add(av, "nvidia.com/gpu=all");
			return 0;
		}
		for (i = 0; i < n; i++) {
			av_add(av, "--device");
			av_addf(av, "nvidia.com/gpu=%d", dev[i]);
		}
	} else if (cs->accel == ACCEL_ASCEND) {
		if (n == 0) {
			xasprintf(cause, "container.devices: no NPU numbers "
			    "(give container.devices or the process's "
			    "devices)");
			return -1;
		}
		for (i = 0; i < n; i++) {
			av_add(av, "--device");
			av_addf(av, "/dev/davinci%d", dev[i]);
		}
		for (i = 0; i < nitems(ascend_devices); i++) {
			av_add(av, "--device");
			av_add(av, ascend_devices[i]);
		}
		for (i = 0; i < nitems(ascend_mounts); i++) {
			av_add(av, "-v");
			av_addf(av, "%s:%s:ro", ascend_mounts[i],
			    ascend_mounts[i]);
		}
	}
	return 0;
}

static int
check_dir(const struct cspec *cs, const char *what, const char *p,
    char **cause)
{
	if (*p != '/') {
		xasprintf(cause, "%s \"%s\" must be an absolute path for "
		    "runtime %s", what, p, runtime_names[cs->rt]);
		return -1;
	}
	if (cs->rt != RT_BWRAP && (strchr(p, ':') != NULL || has_ctl(p) ||
	    (cs->rt == RT_APPTAINER && strchr(p, ',') != NULL))) {
		xasprintf(cause, "%s \"%s\" holds ':', ',' or a control "
		    "character, which runtime %s cannot express", what, p,
		    runtime_names[cs->rt]);
		return -1;
	}
	return 0;
}

static int
wrap_docker_exec(struct argv_build *av, const struct cspec *cs,
    const struct wrap_in *in, char **cause)
{
	av_add(av, cs->program);
	av_add(av, "exec");
	av_add(av, "-i");
	if (cs->user != NULL) {
		av_add(av, "-u");
		av_add(av, cs->user);
	}
	if (add_env(av, cs, in, cause) != 0)
		return -1;
	if (in->cwd != NULL) {
		if (check_dir(cs, "cwd", in->cwd, cause) != 0)
			return -1;
		av_add(av, "-w");
		av_add(av, in->cwd);
	}
	add_extra(av, cs);
	av_add(av, cs->name);
	av_add(av, "sh");
	av_add(av, "-c");
	av_add(av, wrap_script);
	av_add(av, "drover-core");
	add_core(av, in);
	return 0;
}

/* SRC:DST[:ro] mounts, each after flag (docker -v, apptainer --bind). */
static void
add_mounts(struct argv_build *av, const struct cspec *cs, const char *flag)
{
	size_t i;

	for (i = 0; i < cs->nmounts; i++) {
		av_add(av, flag);
		av_addf(av, "%s:%s%s", cs->mounts[i].src, cs->mounts[i].dst,
		    cs->mounts[i].ro ? ":ro" : "");
	}
}

static int
wrap_run(struct argv_build *av, const struct cspec *cs,
    const struct wrap_in *in, char **cause)
{
	char *name;

	av_add(av, cs->program);
	av_add(av, "run");
	av_add(av, "--rm");
	av_add(av, "-i");
	if (cs->init)
		av_add(av, "--init");
	av_add(av, "--name");
	name = sanitize_name(in->name);
	av_add(av, name);
	free(name);
	if (*cs->ipc != '\0')
		av_addf(av, "--ipc=%s", cs->ipc);
	if (*cs->network != '\0')
		av_addf(av, "--network=%s", cs->network);
	if (cs->user != NULL) {
		av_add(av, "-u");
		av_add(av, cs->user);
	}
	if (add_run_devices(av, cs, in, cause) != 0)
		return -1;
	if (in->run_dir != NULL) {
		if (check_dir(cs, "run directory", in->run_dir, cause) != 0)
			return -1;
		av_add(av, "-v");
		av_addf(av, "%s:%s", in->run_dir, in->run_dir);
	}
	add_mounts(av, cs, "-v");
	if (add_env(av, cs, in, cause) != 0)
		return -1;
	if (in->cwd != NULL) {
		if (check_dir(cs, "cwd", in->cwd, cause) != 0)
			return -1;
		av_add(av, "-w");
		av_add(av, in->cwd);
	}
	add_extra(av, cs);
	av_add(av, cs->image);
	add_core(av, in);
	return 0;
}

static int
wrap_apptainer(struct argv_build *av, const struct cspec *cs,
    const struct wrap_in *in, char **cause)
{
	size_t i;

	av_add(av, cs->program);
	av_add(av, "exec");
	if (cs->accel == ACCEL_NVIDIA)
		av_add(av, "--nv");
	if (cs->accel == ACCEL_ASCEND) {
		for (i = 0; i < nitems(ascend_mounts); i++) {
			av_add(av, "--bind");
			av_addf(av, "%s:%s:ro", ascend_mounts[i],
			    ascend_mounts[i]);
		}
	}
	if (in->run_dir != NULL) {
		if (check_dir(cs, "run directory", in->run_dir, cause) != 0)
			return -1;
		av_add(av, "--bind");
		av_addf(av, "%s:%s", in->run_dir, in->run_dir);
	}
	add_mounts(av, cs, "--bind");
	if (in->cwd != NULL) {
		if (check_dir(cs, "cwd", in->cwd, cause) != 0)
			return -1;
		av_add(av, "--pwd");
		av_add(av, in->cwd);
	}
	add_extra(av, cs);
	av_add(av, cs->image);
	add_core(av, in);
	return 0;
}

static int
wrap_bwrap(struct argv_build *av, const struct cspec *cs,
    const struct wrap_in *in, char **cause)
{
	size_t i;

	av_add(av, cs->program);
	av_add(av, "--die-with-parent");
	av_add(av, "--ro-bind");
	av_add(av, "/");
	av_add(av, "/");
	if (cs->host_dev) {
		av_add(av, "--dev-bind");
		av_add(av, "/dev");
		av_add(av, "/dev");
	} else {
		av_add(av, "--dev");
		av_add(av, "/dev");
	}
	av_add(av, "--proc");
	av_add(av, "/proc");
	av_add(av, "--tmpfs");
	av_add(av, "/tmp");
	if (in->run_dir == NULL) {
		xasprintf(cause, "runtime bwrap needs the run directory");
		return -1;
	}
	if (check_dir(cs, "run directory", in->run_dir, cause) != 0)
		return -1;
	av_add(av, "--bind");
	av_add(av, in->run_dir);
	av_add(av, in->run_dir);
	for (i = 0; i < cs->nmounts; i++) {
		av_add(av, cs->mounts[i].ro ? "--ro-bind" : "--bind");
		av_add(av, cs->mounts[i].src);
		av_add(av, cs->mounts[i].dst);
	}
	if (cs->unshare_net)
		av_add(av, "--unshare-net");
	add_extra(av, cs);
	if (in->cwd != NULL) {
		if (check_dir(cs, "cwd", in->cwd, cause) != 0)
			return -1;
		av_add(av, "--chdir");
		av_add(av, in->cwd);
	}
	av_add(av, "--");
	add_core(av, in);
	return 0;
}

int
container_wrap(const struct wrap_in *in, char ***argvp, char **cause)
{
	struct argv_build av = { NULL, 0, 0 };
	struct cspec cs;
	int rc = -1;

	*argvp = NULL;
	if (cspec_parse(in->container, &cs, cause) != 0)
		goto out;
	if (in->argv == NULL || in->argv[0] == NULL) {
		xasprintf(cause, "the command is empty");
		goto out;
	}
	if (in->argv[0][0] == '\0') {
		xasprintf(cause, in->shell ? "the shell command is empty" :
		    "the program name (argv[0]) is empty");
		goto out;
	}
	switch (cs.rt) {
	case RT_NONE:
		add_core(&av, in);
		rc = 0;
		break;
	case RT_DOCKER_EXEC:
		rc = wrap_docker_exec(&av, &cs, in, cause);
		break;
	case RT_DOCKER_RUN:
	case RT_PODMAN_RUN:
		rc = wrap_run(&av, &cs, in, cause);
		break;
	case RT_APPTAINER:
		rc = wrap_apptainer(&av, &cs, in, cause);
		break;
	case RT_BWRAP:
		rc = wrap_bwrap(&av, &cs, in, cause);
		break;
	}
	if (rc == 0)
		*argvp = av_finish(&av);
out:
	strv_free(av.v);
	cspec_clear(&cs);
	return rc;
}

int
container_signal_argv(const json_t *container, const char *name,
    long inner_pid, int sig, char ***argvp, char **cause)
{
	struct argv_build av = { NULL, 0, 0 };
	const char *signame;
	struct cspec cs;
	char *cname;
	int rc = -1;

	*argvp = NULL;
	if (cspec_parse(container, &cs, cause) != 0)
		goto out;
	if ((signame = proto_signal_name(sig)) == NULL) {
		xasprintf(cause, "signal %d has no name to pass to %s", sig,
		    runtime_names[cs.rt]);
		goto out;
	}
	switch (cs.rt) {
	case RT_NONE:
	case RT_APPTAINER:
	case RT_BWRAP:
		rc = 0;
		break;
	case RT_DOCKER_EXEC:
		if (inner_pid <= 1) {
			xasprintf(cause, "no in-container pid is known for %s "
			    "yet (the wrapper prints it first on stderr)",
			    cs.name);
			goto out;
		}
		av_add(&av, cs.program);
		av_add(&av, "exec");
		if (cs.user != NULL) {
			av_add(&av, "-u");
			av_add(&av, cs.user);
		}
		av_add(&av, cs.name);
		av_add(&av, "sh");
		av_add(&av, "-c");
		av_add(&av, kill_script);
		av_add(&av, "sh");
		av_add(&av, signame);
		av_addf(&av, "%ld", inner_pid);
		*argvp = av_finish(&av);
		rc = 0;
		break;
	case RT_DOCKER_RUN:
	case RT_PODMAN_RUN:
		av_add(&av, cs.program);
		av_add(&av, "kill");
		av_add(&av, "--signal");
		av_add(&av, signame);
		cname = sanitize_name(name);
		av_add(&av, cname);
		free(cname);
		*argvp = av_finish(&av);
		rc = 0;
		break;
	}
out:
	strv_free(av.v);
	cspec_clear(&cs);
	return rc;
}
