/*
 * ranktable.c - HCCL rank tables (formats.md section 2): check a single-host
 * table, merge the hosts' tables into the cluster's, and build a single-host
 * table from /etc/hccn.conf or `hccn_tool -i N -ip -g` output.
 *
 * Two versions are known. 1.0: every value a string; server_list[] of
 * {server_id, host_nic_ip, device[] of {device_id, device_ip, rank_id}}.
 * 1.2 (Atlas A3) adds host_ip per server, super_device_id and device_port
 * per device (device_ip becomes optional) and a top-level super_pod_list[]
 * of {super_pod_id, server_list[] of {server_id}}. Fields this file does not
 * know are kept as they are, at every level. Checked: that the known fields
 * are there when required and are strings, that device_id and rank_id are
 * decimal, that no server_id, device_id (in a server) or device_ip appears
 * twice, and that server_count matches.
 *
 * Not here: reading files or hosts (the planner and the engine do that).
 */
#include "plan.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/common.h"

#define RT_MAX_DEVICES 4096

static int
rt_decimal(const char *s)
{
	size_t i;

	if (s[0] == '\0' || strlen(s) > 9)
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
	}
	return 1;
}

/*
 * The string at o[key]: NULL and no error when absent and not required,
 * else NULL with *cause naming what and the field.
 */
static const char *
rt_str(const json_t *o, const char *key, int required, const char *what,
    const char *where, char **cause)
{
	const json_t *j = json_object_get(o, key);

	if (j == NULL) {
		if (required)
			xasprintf(cause, "%s: %s%s%s: required", what, where,
			    where[0] ? "." : "", key);
		return NULL;
	}
	if (!json_is_string(j) ||
	    strlen(json_string_value(j)) != json_string_length(j)) {
		xasprintf(cause, "%s: %s%s%s: must be a string", what, where,
		    where[0] ? "." : "", key);
		return NULL;
	}
	return json_string_value(j);
}

/* Optional string fields: absent is fine, anything but a string is not. */
static int
rt_opt_strs(const json_t *o, const char *const *keys, const char *what,
    const char *where, char **cause)
{
	size_t i;

	for (i = 0; keys[i] != NULL; i++) {
		if (json_object_get(o, keys[i]) != NULL &&
		    rt_str(o, keys[i], 0, what, where, cause) == NULL)
			return -1;
	}
	return 0;
}

static int
rt_check_device(const json_t *d, int v12, const char *what,
    const char *where, char **cause)
{
	static const char *const opt[] = { "super_device_id", "device_port",
	    NULL };
	const char *s;

	if (!json_is_object(d)) {
		xasprintf(cause, "%s: %s: must be an object", what, where);
		return -1;
	}
	if ((s = rt_str(d, "device_id", 1, what, where, cause)) == NULL)
		return -1;
	if (!rt_decimal(s)) {
		xasprintf(cause, "%s: %s.device_id: \"%s\" is not a device "
		    "number", what, where, s);
		return -1;
	}
	if (rt_str(d, "device_ip", !v12, what, where, cause) == NULL &&
	    *cause != NULL)
		return -1;
	if ((s = rt_str(d, "rank_id", 0, what, where, cause)) == NULL &&
	    *cause != NULL)
		return -1;
	if (s != NULL && !rt_decimal(s)) {
		xasprintf(cause, "%s: %s.rank_id: \"%s\" is not a rank number",
		    what, where, s);
		return -1;
	}
	return rt_opt_strs(d, opt, what, where, cause);
}

static int
rt_check_server(const json_t *sv, int v12, const char *what,
    const char *where, char **cause)
{
	static const char *const opt[] = { "host_nic_ip", "host_ip",
	    "container_ip", NULL };
	const json_t *devs;
	char at[96];
	size_t i, k;

	if (!json_is_object(sv)) {
		xasprintf(cause, "%s: %s: must be an object", what, where);
		return -1;
	}
	if (rt_str(sv, "server_id", 1, what, where, cause) == NULL)
		return -1;
	if (rt_opt_strs(sv, opt, what, where, cause) != 0)
		return -1;
	devs = json_object_get(sv, "device");
	if (!json_is_array(devs) || json_array_size(devs) == 0 ||
	    json_array_size(devs) > RT_MAX_DEVICES) {
		xasprintf(cause, "%s: %s.device: %s", what, where,
		    devs == NULL ? "required" :
		    "must be a non-empty array of devices");
		return -1;
	}
	for (i = 0; i < json_array_size(devs); i++) {
		snprintf(at, sizeof at, "%s.device[%zu]", where, i);
		if (rt_check_device(json_array_get(devs, i), v12, what, at,
		    cause) != 0)
			return -1;
		for (k = 0; k < i; k++) {
			if (strcmp(json_string_value(json_object_get(
			    json_array_get(devs, i), "device_id")),
			    json_string_value(json_object_get(
			    json_array_get(devs, k), "device_id"))) == 0) {
				xasprintf(cause, "%s: %s.device_id: device %s "
				    "is listed twice (also %s.device[%zu])",
				    what, at, json_string_value(
				    json_object_get(json_array_get(devs, i),
				    "device_id")), where, k);
				return -1;
			}
		}
	}
	return 0;
}

static const json_t *
rt_find_server(const json_t *servers, const char *id)
{
	size_t i;

	for (i = 0; i < json_array_size(servers); i++) {
		const json_t *s = json_array_get(servers, i);

		if (strcmp(json_string_value(json_object_get(s, "server_id")),
		    id) == 0)
			return s;
	}
	return NULL;
}

static int
rt_check_pods(const json_t *t, const char *what, char **cause)
{
	const json_t *pods = json_object_get(t, "super_pod_list");
	const json_t *servers = json_object_get(t, "server_list");
	const json_t *pod, *list, *e;
	const char *id;
	char at[96];
	size_t i, k;

	if (pods == NULL)
		return 0;
	if (!json_is_array(pods)) {
		xasprintf(cause, "%s: super_pod_list: must be an array", what);
		return -1;
	}
	for (i = 0; i < json_array_size(pods); i++) {
		pod = json_array_get(pods, i);
		snprintf(at, sizeof at, "super_pod_list[%zu]", i);
		if (!json_is_object(pod)) {
			xasprintf(cause, "%s: %s: must be an object", what, at);
			return -1;
		}
		if (rt_str(pod, "super_pod_id", 1, what, at, cause) == NULL)
			return -1;
		list = json_object_get(pod, "server_list");
		if (!json_is_array(list)) {
			xasprintf(cause, "%s: %s.server_list: %s", what, at,
			    list == NULL ? "required" : "must be an array");
			return -1;
		}
		for (k = 0; k < json_array_size(list); k++) {
			e = json_array_get(list, k);
			snprintf(at, sizeof at, "super_pod_list[%zu]."
			    "server_list[%zu]", i, k);
			if (!json_is_object(e)) {
				xasprintf(cause, "%s: %s: must be an object",
				    what, at);
				return -1;
			}
			if ((id = rt_str(e, "server_id", 1, what, at,
			    cause)) == NULL)
				return -1;
			if (rt_find_server(servers, id) == NULL) {
				xasprintf(cause, "%s: %s.server_id: \"%s\" is "
				    "not in server_list", what, at, id);
				return -1;
			}
		}
	}
	return 0;
}

/* Every device_ip of the table once; dup names the second place seen. */
static int
rt_check_device_ips(const json_t *t, const char *what, char **cause)
{
	const json_t *servers = json_object_get(t, "server_list");
	const json_t *a, *b;
	const char *ip, *ip2;
	size_t s, d, s2, d2;

	for (s = 0; s < json_array_size(servers); s++) {
		a = json_object_get(json_array_get(servers, s), "device");
		for (d = 0; d < json_array_size(a); d++) {
			ip = json_string_value(json_object_get(
			    json_array_get(a, d), "device_ip"));
			if (ip == NULL)
				continue;
			for (s2 = 0; s2 <= s; s2++) {
				b = json_object_get(json_array_get(servers,
				    s2), "device");
				for (d2 = 0; d2 < json_array_size(b) &&
				    (s2 < s || d2 < d); d2++) {
					ip2 = json_string_value(json_object_get(
					    json_array_get(b, d2), "device_ip"));
					if (ip2 == NULL || strcmp(ip, ip2) != 0)
						continue;
					xasprintf(cause, "%s: device_ip %s "
					    "appears twice: server %s device %s "
					    "and server %s device %s; each NPU "
					    "needs its own address", what, ip,
					    json_string_value(json_object_get(
					    json_array_get(servers, s2),
					    "server_id")),
					    json_string_value(json_object_get(
					    json_array_get(b, d2), "device_id")),
					    json_string_value(json_object_get(
					    json_array_get(servers, s),
					    "server_id")),
					    json_string_value(json_object_get(
					    json_array_get(a, d), "device_id")));
					return -1;
				}
			}
		}
	}
	return 0;
}

static int
rt_check(const json_t *t, const char *what, char **cause)
{
	const json_t *servers;
	const char *v, *count;
	char at[48];
	size_t i, k;
	int v12;

	*cause = NULL;
	if (!json_is_object(t)) {
		xasprintf(cause, "%s: a rank table must be a JSON object", what);
		return -1;
	}
	if ((v = rt_str(t, "version", 1, what, "", cause)) == NULL)
		return -1;
	if (strcmp(v, "1.0") != 0 && strcmp(v, "1.2") != 0) {
		xasprintf(cause, "%s: version: \"%s\" is not a rank table "
		    "version drover knows (1.0 or 1.2)", what, v);
		return -1;
	}
	v12 = strcmp(v, "1.2") == 0;
	if (rt_str(t, "status", 0, what, "", cause) == NULL && *cause != NULL)
		return -1;
	servers = json_object_get(t, "server_list");
	if (!json_is_array(servers) || json_array_size(servers) == 0) {
		xasprintf(cause, "%s: server_list: %s", what, servers == NULL ?
		    "required" : "must be a non-empty array of servers");
		return -1;
	}
	for (i = 0; i < json_array_size(servers); i++) {
		snprintf(at, sizeof at, "server_list[%zu]", i);
		if (rt_check_server(json_array_get(servers, i), v12, what, at,
		    cause) != 0)
			return -1;
		for (k = 0; k < i; k++) {
			const char *a = json_string_value(json_object_get(
			    json_array_get(servers, i), "server_id"));

			if (strcmp(a, json_string_value(json_object_get(
			    json_array_get(servers, k), "server_id"))) == 0) {
				xasprintf(cause, "%s: %s.server_id: server %s "
				    "is listed twice (also server_list[%zu])",
				    what, at, a, k);
				return -1;
			}
		}
	}
	if ((count = rt_str(t, "server_count", 0, what, "", cause)) == NULL &&
	    *cause != NULL)
		return -1;
	if (count != NULL && (!rt_decimal(count) ||
	    (size_t)atoi(count) != json_array_size(servers))) {
		xasprintf(cause, "%s: server_count: \"%s\" but server_list has "
		    "%zu server%s", what, count, json_array_size(servers),
		    json_array_size(servers) == 1 ? "" : "s");
		return -1;
	}
	if (rt_check_pods(t, what, cause) != 0)
		return -1;
	return rt_check_device_ips(t, what, cause);
}

json_t *
ranktable_parse(const char *text, size_t len, const char *what, char **cause)
{
	json_error_t err;
	json_t *t;

	t = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
	if (t == NULL) {
		xasprintf(cause, "%s: not a valid JSON rank table: line %d "
		    "column %d: %s", what, err.line, err.column, err.text);
		return NULL;
	}
	if (rt_check(t, what, cause) != 0) {
		json_decref(t);
		return NULL;
	}
	return t;
}

static const char *
rt_first_server(const json_t *t)
{
	return json_string_value(json_object_get(json_array_get(
	    json_object_get(t, "server_list"), 0), "server_id"));
}

/* super_pod_list of the merge: pods by id in order of first appearance,
 * each with the server_list entries of every table's pod of that id. */
static json_t *
rt_merge_pods(json_t *const *tables, size_t n)
{
	json_t *out = json_array(), *pods, *pod, *have, *list;
	const char *id;
	size_t t, i, k;

	for (t = 0; t < n; t++) {
		pods = json_object_get(tables[t], "super_pod_list");
		for (i = 0; i < json_array_size(pods); i++) {
			pod = json_array_get(pods, i);
			id = json_string_value(json_object_get(pod,
			    "super_pod_id"));
			have = NULL;
			for (k = 0; k < json_array_size(out); k++) {
				if (strcmp(json_string_value(json_object_get(
				    json_array_get(out, k), "super_pod_id")),
				    id) == 0)
					have = json_array_get(out, k);
			}
			if (have == NULL) {
				json_array_append_new(out, json_deep_copy(pod));
				continue;
			}
			list = json_object_get(have, "server_list");
			json_array_extend(list, json_object_get(pod,
			    "server_list"));
		}
	}
	return out;
}

json_t *
ranktable_merge(json_t *const *tables, size_t n, char **cause)
{
	json_t *out = NULL, *servers, *devs, *sv;
	const char *v0, *v;
	char what[64], num[24];
	size_t i, k, d, rank = 0, npods = 0;

	*cause = NULL;
	if (n == 0) {
		*cause = xstrdup("no rank tables to merge");
		return NULL;
	}
	for (i = 0; i < n; i++) {
		snprintf(what, sizeof what, "rank table %zu", i + 1);
		if (rt_check(tables[i], what, cause) != 0)
			return NULL;
		if (json_object_get(tables[i], "super_pod_list") != NULL)
			npods++;
	}
	v0 = json_string_value(json_object_get(tables[0], "version"));
	for (i = 1; i < n; i++) {
		v = json_string_value(json_object_get(tables[i], "version"));
		if (strcmp(v, v0) != 0) {
			xasprintf(cause, "rank tables of different versions: "
			    "server %s's is %s, server %s's is %s; every host's "
			    "table must have the same version",
			    rt_first_server(tables[0]), v0,
			    rt_first_server(tables[i]), v);
			return NULL;
		}
	}
	if (npods != 0 && npods != n) {
		for (i = 0; i < n; i++) {
			if (json_object_get(tables[i], "super_pod_list") ==
			    NULL)
				break;
		}
		xasprintf(cause, "server %s's rank table has no super_pod_list "
		    "but other hosts' tables have one; give every host's "
		    "table its super_pod_list, or none", rt_first_server(
		    tables[i]));
		return NULL;
	}

	out = json_deep_copy(tables[0]);
	servers = json_array();
	for (i = 0; i < n; i++) {
		json_t *list = json_object_get(tables[i], "server_list");

		for (k = 0; k < json_array_size(list); k++) {
			sv = json_deep_copy(json_array_get(list, k));
			devs = json_object_get(sv, "device");
			for (d = 0; d < json_array_size(devs); d++) {
				snprintf(num, sizeof num, "%zu", rank++);
				json_object_set_new(json_array_get(devs, d),
				    "rank_id", json_string(num));
			}
			json_array_append_new(servers, sv);
		}
	}
	snprintf(num, sizeof num, "%zu", json_array_size(servers));
	json_object_set_new(out, "server_count", json_string(num));
	json_object_set_new(out, "server_list", servers);
	if (npods != 0)
		json_object_set_new(out, "super_pod_list",
		    rt_merge_pods(tables, n));
	if (rt_check(out, "the merged rank table", cause) != 0) {
		json_decref(out);
		return NULL;
	}
	return out;
}

/* ---- single-host tables from hccn.conf / hccn_tool ------------------- */

static int
rt_ip_valid(const char *s)
{
	unsigned char addr[16];

	return inet_pton(AF_INET, s, addr) == 1 ||
	    inet_pton(AF_INET6, s, addr) == 1;
}

static char *
rt_trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* Records ip for device n (if n < ndevices); a second, different address
 * for the same device is an error. */
static int
rt_hccn_set(char **ips, int ndevices, long n, const char *ip, int lineno,
    char **cause)
{
	if (!rt_ip_valid(ip)) {
		xasprintf(cause, "line %d: \"%s\" is not an IP address",
		    lineno, ip);
		return -1;
	}
	if (n < 0 || n >= ndevices)
		return 0;
	if (ips[n] != NULL && strcmp(ips[n], ip) != 0) {
		xasprintf(cause, "line %d: device %ld has two addresses, %s "
		    "and %s", lineno, n, ips[n], ip);
		return -1;
	}
	free(ips[n]);
	ips[n] = xstrdup(ip);
	return 0;
}

static long
rt_number(const char *s)
{
	char *end;
	long v;

	if (s[0] < '0' || s[0] > '9' || strlen(s) > 6)
		return -1;
	v = strtol(s, &end, 10);
	return *end == '\0' ? v : -1;
}

json_t *
ranktable_from_hccn(const char *server_id, const char *hccn_conf,
    int ndevices, char **cause)
{
	json_t *t = NULL, *devs, *sv;
	char **ips, *copy, *line, *next, *s, *msg = NULL, num[24];
	long n, cur = -1, seq = 0;
	int lineno = 0, marked = 0, i, failed = 0;

	*cause = NULL;
	if (ndevices < 1 || ndevices > RT_MAX_DEVICES) {
		xasprintf(cause, "%s: %d devices: need 1 to %d", server_id,
		    ndevices, RT_MAX_DEVICES);
		return NULL;
	}
	ips = xcalloc((size_t)ndevices, sizeof *ips);
	copy = xstrdup(hccn_conf);
	for (line = copy; line != NULL && !failed; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		lineno++;
		s = rt_trim(line);
		if (strncmp(s, "address_", 8) == 0 && strchr(s, '=') != NULL) {
			*strchr(s, '=') = '\0';
			if ((n = rt_number(s + 8)) == -1)
				continue;	/* not address_N=... */
			failed = rt_hccn_set(ips, ndevices, n,
			    rt_trim(s + strlen(s) + 1), lineno, &msg) != 0;
		} else if (strncmp(s, "device_id:", 10) == 0) {
			if (seq > 0) {
				xasprintf(&msg, "line %d: a device_id: line "
				    "after ipaddr: lines that had none; mark "
				    "every hccn_tool output or none", lineno);
				failed = 1;
			} else if ((cur = rt_number(rt_trim(s + 10))) == -1) {
				xasprintf(&msg, "line %d: \"%s\" is not a "
				    "device number", lineno, rt_trim(s + 10));
				failed = 1;
			}
			marked = 1;
		} else if (strncmp(s, "ipaddr:", 7) == 0) {
			if (marked && cur == -1) {
				xasprintf(&msg, "line %d: ipaddr: before any "
				    "device_id: line", lineno);
				failed = 1;
				break;
			}
			n = marked ? cur : seq++;
			failed = rt_hccn_set(ips, ndevices, n,
			    rt_trim(s + 7), lineno, &msg) != 0;
			cur = -1;
		}
	}
	free(copy);
	for (i = 0; i < ndevices && !failed; i++) {
		if (ips[i] == NULL) {
			xasprintf(&msg, "no address for device %d (no "
			    "address_%d= line, and no ipaddr: line for it); "
			    "check /etc/hccn.conf or `hccn_tool -i %d -ip -g` "
			    "on the host", i, i, i);
			failed = 1;
		}
	}
	if (failed) {
		xasprintf(cause, "%s: hccn addresses: %s", server_id, msg);
		goto out;
	}
	devs = json_array();
	for (i = 0; i < ndevices; i++) {
		snprintf(num, sizeof num, "%d", i);
		json_array_append_new(devs, json_pack("{s:s, s:s, s:s}",
		    "device_id", num, "device_ip", ips[i], "rank_id", num));
	}
	sv = json_pack("{s:s, s:s, s:o}", "server_id", server_id,
	    "host_nic_ip", "reserve", "device", devs);
	t = json_pack("{s:s, s:s, s:s, s:[o]}", "version", "1.0",
	    "server_count", "1", "status", "completed", "server_list", sv);
	if (rt_check(t, server_id, cause) != 0) {
		json_decref(t);
		t = NULL;
	}
out:
	free(msg);
	for (i = 0; i < ndevices; i++)
		free(ips[i]);
	free(ips);
	return t;
}
