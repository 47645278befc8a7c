/*
 * test_ranktable.c - HCCL rank tables (tui/ranktable.c): merging two hosts'
 * 8-device tables into the hand-written cluster table (v1.0, and v1.2 with
 * super_pod_list), the checks and their messages, unknown fields kept, and
 * single-host tables from /etc/hccn.conf and hccn_tool output.
 */
#include "test.h"

#include <stdlib.h>

#include "../../common/common.h"
#include "../../tui/plan.h"

static json_t *
load_table(const char *rel)
{
	struct buf b;
	char *cause = NULL;
	json_t *t = NULL;

	buf_init(&b);
	if (file_read_all(test_data(rel), 1 << 20, &b, &cause) != 0) {
		fprintf(stdout, "  %s\n", cause);
		free(cause);
	} else if ((t = ranktable_parse(b.data, b.len, rel, &cause)) == NULL) {
		fprintf(stdout, "  %s\n", cause);
		free(cause);
	}
	buf_free(&b);
	return t;
}

static json_t *
load_json(const char *rel)
{
	json_error_t err;
	json_t *j = json_load_file(test_data(rel), 0, &err);

	if (j == NULL)
		fprintf(stdout, "  %s: %s\n", rel, err.text);
	return j;
}

/* Parses text; returns the cause (caller frees) or NULL when it parsed. */
static char *
parse_cause(const char *text)
{
	char *cause = NULL;
	json_t *t = ranktable_parse(text, strlen(text), "t.json", &cause);

	json_decref(t);
	return cause;
}

static char *
merge_cause(const char *a, const char *b)
{
	json_error_t err;
	json_t *t[2], *m;
	char *cause = NULL;

	t[0] = json_loads(a, 0, &err);
	t[1] = json_loads(b, 0, &err);
	m = ranktable_merge(t, 2, &cause);
	json_decref(m);
	json_decref(t[0]);
	json_decref(t[1]);
	return cause;
}

static void
dump_diff(const json_t *got, const json_t *want)
{
	char *g = json_dumps(got, JSON_INDENT(1) | JSON_SORT_KEYS);
	char *w = json_dumps(want, JSON_INDENT(1) | JSON_SORT_KEYS);

	fprintf(stdout, "  got:\n%s\n  want:\n%s\n", g, w);
	free(g);
	free(w);
}

TEST(ranktable_merge_v10_two_hosts_matches_hand_written)
{
	json_t *t[2], *m, *want;
	char *cause = NULL;

	t[0] = load_table("ranktables/hccl_8p_01234567_10.0.0.2.json");
	t[1] = load_table("ranktables/hccl_8p_01234567_10.0.0.3.json");
	want = load_json("ranktables/merged_2x8_v1.0.json");
	REQUIRE(t[0] != NULL && t[1] != NULL && want != NULL);
	m = ranktable_merge(t, 2, &cause);
	if (m == NULL)
		fprintf(stdout, "  %s\n", cause);
	REQUIRE(m != NULL);
	CHECK(json_equal(m, want));
	if (!json_equal(m, want))
		dump_diff(m, want);
	/* A few facts checked one by one too. */
	CHECK_STR(json_string_value(json_object_get(m, "server_count")), "2");
	CHECK_STR(json_string_value(json_object_get(json_array_get(
	    json_object_get(json_array_get(json_object_get(m, "server_list"),
	    1), "device"), 7), "rank_id")), "15");
	/* The inputs are left as they were. */
	CHECK_STR(json_string_value(json_object_get(json_array_get(
	    json_object_get(json_array_get(json_object_get(t[1],
	    "server_list"), 0), "device"), 0), "rank_id")), "0");
	/* Merging in the other order renumbers the other way. */
	json_decref(m);
	{
		json_t *r[2] = { t[1], t[0] };

		m = ranktable_merge(r, 2, &cause);
		REQUIRE(m != NULL);
		CHECK_STR(json_string_value(json_object_get(json_array_get(
		    json_object_get(m, "server_list"), 0), "server_id")),
		    "10.0.0.3");
		CHECK_STR(json_string_value(json_object_get(json_array_get(
		    json_object_get(json_array_get(json_object_get(m,
		    "server_list"), 1), "device"), 0), "rank_id")), "8");
	}
	json_decref(m);
	json_decref(t[0]);
	json_decref(t[1]);
	json_decref(want);
}

TEST(ranktable_merge_v12_super_pods_matches_hand_written)
{
	json_t *t[2], *m, *want;
	char *cause = NULL;

	t[0] = load_table("ranktables/a3_node0.json");
	t[1] = load_table("ranktables/a3_node1.json");
	want = load_json("ranktables/merged_a3_2x8_v1.2.json");
	REQUIRE(t[0] != NULL && t[1] != NULL && want != NULL);
	m = ranktable_merge(t, 2, &cause);
	if (m == NULL)
		fprintf(stdout, "  %s\n", cause);
	REQUIRE(m != NULL);
	CHECK(json_equal(m, want));
	if (!json_equal(m, want))
		dump_diff(m, want);
	json_decref(m);
	json_decref(t[0]);
	json_decref(t[1]);
	json_decref(want);
}

/* Pods are merged by id in order of first appearance: 0, 1, 0 -> 0, 1. */
TEST(ranktable_merge_v12_pods_by_id_in_order)
{
	static const char *const text[3] = {
		"{\"version\":\"1.2\",\"server_list\":[{\"server_id\":\"a\","
		"\"device\":[{\"device_id\":\"0\",\"super_device_id\":\"0\"}]}],"
		"\"super_pod_list\":[{\"super_pod_id\":\"0\",\"x\":1,"
		"\"server_list\":[{\"server_id\":\"a\"}]}]}",
		"{\"version\":\"1.2\",\"server_list\":[{\"server_id\":\"b\","
		"\"device\":[{\"device_id\":\"0\",\"super_device_id\":\"1\"}]}],"
		"\"super_pod_list\":[{\"super_pod_id\":\"1\","
		"\"server_list\":[{\"server_id\":\"b\"}]}]}",
		"{\"version\":\"1.2\",\"server_list\":[{\"server_id\":\"c\","
		"\"device\":[{\"device_id\":\"0\",\"super_device_id\":\"2\"}]}],"
		"\"super_pod_list\":[{\"super_pod_id\":\"0\","
		"\"server_list\":[{\"server_id\":\"c\"}]}]}",
	};
	json_t *t[3], *m, *want;
	json_error_t err;
	char *cause = NULL;
	size_t i;

	for (i = 0; i < 3; i++) {
		t[i] = ranktable_parse(text[i], strlen(text[i]), "t", &cause);
		REQUIRE(t[i] != NULL);
	}
	m = ranktable_merge(t, 3, &cause);
	REQUIRE(m != NULL);
	want = json_loads("[{\"super_pod_id\":\"0\",\"x\":1,\"server_list\":"
	    "[{\"server_id\":\"a\"},{\"server_id\":\"c\"}]},"
	    "{\"super_pod_id\":\"1\",\"server_list\":[{\"server_id\":\"b\"}]}]",
	    0, &err);
	CHECK(json_equal(json_object_get(m, "super_pod_list"), want));
	CHECK_STR(json_string_value(json_object_get(m, "server_count")), "3");
	CHECK_STR(json_string_value(json_object_get(json_array_get(
	    json_object_get(json_array_get(json_object_get(m, "server_list"),
	    2), "device"), 0), "rank_id")), "2");
	json_decref(want);
	json_decref(m);
	for (i = 0; i < 3; i++)
		json_decref(t[i]);
}

TEST(ranktable_merge_keeps_unknown_fields)
{
	static const char a[] = "{\"version\":\"1.0\",\"status\":\"completed\","
	    "\"vendor_note\":{\"k\":[1,2]},\"server_list\":[{\"server_id\":"
	    "\"h1\",\"rack\":\"r7\",\"device\":[{\"device_id\":\"0\","
	    "\"device_ip\":\"10.1.0.1\",\"rank_id\":\"0\",\"numa_id\":\"1\"}]}]}";
	static const char b[] = "{\"version\":\"1.0\",\"server_list\":[{"
	    "\"server_id\":\"h2\",\"device\":[{\"device_id\":\"3\","
	    "\"device_ip\":\"10.1.0.2\"}]}]}";
	json_t *t[2], *m, *sv;
	char *cause = NULL;

	t[0] = ranktable_parse(a, strlen(a), "a", &cause);
	t[1] = ranktable_parse(b, strlen(b), "b", &cause);
	REQUIRE(t[0] != NULL && t[1] != NULL);
	m = ranktable_merge(t, 2, &cause);
	REQUIRE(m != NULL);
	CHECK(json_equal(json_object_get(m, "vendor_note"),
	    json_object_get(t[0], "vendor_note")));
	sv = json_object_get(m, "server_list");
	CHECK_STR(json_string_value(json_object_get(json_array_get(sv, 0),
	    "rack")), "r7");
	CHECK_STR(json_string_value(json_object_get(json_array_get(
	    json_object_get(json_array_get(sv, 0), "device"), 0), "numa_id")),
	    "1");
	/* A device without rank_id gets one. */
	CHECK_STR(json_string_value(json_object_get(json_array_get(
	    json_object_get(json_array_get(sv, 1), "device"), 0), "rank_id")),
	    "1");
	CHECK_STR(json_string_value(json_object_get(json_array_get(
	    json_object_get(json_array_get(sv, 1), "device"), 0),
	    "device_id")), "3");
	json_decref(m);
	json_decref(t[0]);
	json_decref(t[1]);
}

TEST(ranktable_merge_refuses_version_mismatch)
{
	json_t *t[2], *m;
	char *cause = NULL;

	t[0] = load_table("ranktables/hccl_8p_01234567_10.0.0.2.json");
	t[1] = load_table("ranktables/version_1.2_10.0.0.3.json");
	REQUIRE(t[0] != NULL && t[1] != NULL);
	m = ranktable_merge(t, 2, &cause);
	CHECK(m == NULL);
	CHECK_STR(cause, "rank tables of different versions: server "
	    "10.0.0.2's is 1.0, server 10.0.0.3's is 1.2; every host's table "
	    "must have the same version");
	free(cause);
	json_decref(t[0]);
	json_decref(t[1]);
}

TEST(ranktable_merge_refuses_duplicate_device_ip)
{
	char *cause;

	cause = merge_cause("{\"version\":\"1.0\",\"server_list\":[{"
	    "\"server_id\":\"h1\",\"device\":[{\"device_id\":\"0\","
	    "\"device_ip\":\"192.98.10.1\"},{\"device_id\":\"1\","
	    "\"device_ip\":\"192.98.10.2\"}]}]}",
	    "{\"version\":\"1.0\",\"server_list\":[{"
	    "\"server_id\":\"h2\",\"device\":[{\"device_id\":\"0\","
	    "\"device_ip\":\"192.98.10.9\"},{\"device_id\":\"1\","
	    "\"device_ip\":\"192.98.10.2\"}]}]}");
	CHECK_STR(cause, "the merged rank table: device_ip 192.98.10.2 appears "
	    "twice: server h1 device 1 and server h2 device 1; each NPU needs "
	    "its own address");
	free(cause);
	/* The same server in two tables. */
	cause = merge_cause("{\"version\":\"1.0\",\"server_list\":[{"
	    "\"server_id\":\"h1\",\"device\":[{\"device_id\":\"0\","
	    "\"device_ip\":\"192.98.10.1\"}]}]}",
	    "{\"version\":\"1.0\",\"server_list\":[{"
	    "\"server_id\":\"h1\",\"device\":[{\"device_id\":\"0\","
	    "\"device_ip\":\"192.98.10.3\"}]}]}");
	CHECK_STR(cause, "the merged rank table: server_list[1].server_id: "
	    "server h1 is listed twice (also server_list[0])");
	free(cause);
	/* Pods in some tables only. */
	cause = merge_cause("{\"version\":\"1.2\",\"server_list\":[{"
	    "\"server_id\":\"h1\",\"device\":[{\"device_id\":\"0\"}]}],"
	    "\"super_pod_list\":[{\"super_pod_id\":\"0\",\"server_list\":"
	    "[{\"server_id\":\"h1\"}]}]}",
	    "{\"version\":\"1.2\",\"server_list\":[{"
	    "\"server_id\":\"h2\",\"device\":[{\"device_id\":\"0\"}]}]}");
	CHECK_STR(cause, "server h2's rank table has no super_pod_list but "
	    "other hosts' tables have one; give every host's table its "
	    "super_pod_list, or none");
	free(cause);
}

TEST(ranktable_parse_refuses_malformed)
{
	struct buf b;
	char *cause = NULL;
	json_t *t;

	buf_init(&b);
	REQUIRE(file_read_all(test_data("ranktables/bad_json.json"), 1 << 20,
	    &b, &cause) == 0);
	t = ranktable_parse(b.data, b.len, "bad_json.json", &cause);
	CHECK(t == NULL);
	CHECK_STR(cause, "bad_json.json: not a valid JSON rank table: line 2 "
	    "column 94: '}' expected near '\"rank_id\"'");
	free(cause);
	buf_free(&b);

	cause = parse_cause("[1]");
	CHECK_STR(cause, "t.json: a rank table must be a JSON object");
	free(cause);
	cause = parse_cause("{\"server_list\":[]}");
	CHECK_STR(cause, "t.json: version: required");
	free(cause);
	cause = parse_cause("{\"version\":1.0}");
	CHECK_STR(cause, "t.json: version: must be a string");
	free(cause);
	cause = parse_cause("{\"version\":\"2.0\"}");
	CHECK_STR(cause, "t.json: version: \"2.0\" is not a rank table "
	    "version drover knows (1.0 or 1.2)");
	free(cause);
	cause = parse_cause("{\"version\":\"1.0\",\"server_list\":[]}");
	CHECK_STR(cause, "t.json: server_list: must be a non-empty array of "
	    "servers");
	free(cause);
	cause = parse_cause("{\"version\":\"1.0\",\"server_list\":[{"
	    "\"device\":[]}]}");
	CHECK_STR(cause, "t.json: server_list[0].server_id: required");
	free(cause);
	cause = parse_cause("{\"version\":\"1.0\",\"server_list\":[{"
	    "\"server_id\":\"h\",\"device\":[{\"device_id\":\"0\"}]}]}");
	CHECK_STR(cause, "t.json: server_list[0].device[0].device_ip: "
	    "required");
	free(cause);
	cause = parse_cause("{\"version\":\"1.0\",\"server_list\":[{"
	    "\"server_id\":\"h\",\"device\":[{\"device_id\":0,"
	    "\"device_ip\":\"1.2.3.4\"}]}]}");
	CHECK_STR(cause, "t.json: server_list[0].device[0].device_id: must be "
	    "a string");
	free(cause);
	cause = parse_cause("{\"version\":\"1.0\",\"server_list\":[{"
	    "\"server_id\":\"h\",\"device\":[{\"device_id\":\"0\","
	    "\"device_ip\":\"1.2.3.4\",\"rank_id\":\"x\"}]}]}");
	CHECK_STR(cause, "t.json: server_list[0].device[0].rank_id: \"x\" is "
	    "not a rank number");
	free(cause);
	cause = parse_cause("{\"version\":\"1.0\",\"server_count\":\"2\","
	    "\"server_list\":[{\"server_id\":\"h\",\"device\":[{"
	    "\"device_id\":\"0\",\"device_ip\":\"1.2.3.4\"}]}]}");
	CHECK_STR(cause, "t.json: server_count: \"2\" but server_list has 1 "
	    "server");
	free(cause);
	cause = parse_cause("{\"version\":\"1.0\",\"server_list\":[{"
	    "\"server_id\":\"h\",\"device\":[{\"device_id\":\"0\","
	    "\"device_ip\":\"1.2.3.4\"},{\"device_id\":\"0\","
	    "\"device_ip\":\"1.2.3.5\"}]}]}");
	CHECK_STR(cause, "t.json: server_list[0].device[1].device_id: device 0 "
	    "is listed twice (also server_list[0].device[0])");
	free(cause);
	cause = parse_cause("{\"version\":\"1.2\",\"server_list\":[{"
	    "\"server_id\":\"h\",\"device\":[{\"device_id\":\"0\","
	    "\"device_port\":16666}]}]}");
	CHECK_STR(cause, "t.json: server_list[0].device[0].device_port: must "
	    "be a string");
	free(cause);
	cause = parse_cause("{\"version\":\"1.2\",\"server_list\":[{"
	    "\"server_id\":\"h\",\"device\":[{\"device_id\":\"0\"}]}],"
	    "\"super_pod_list\":[{\"super_pod_id\":\"0\",\"server_list\":[{"
	    "\"server_id\":\"g\"}]}]}");
	CHECK_STR(cause, "t.json: super_pod_list[0].server_list[0].server_id: "
	    "\"g\" is not in server_list");
	free(cause);
	/* Duplicate keys are refused, not silently resolved. */
	cause = parse_cause("{\"version\":\"1.0\",\"version\":\"1.2\"}");
	CHECK(cause != NULL && strstr(cause, "duplicate") != NULL);
	free(cause);
	/* v1.2 without device_ip is fine. */
	cause = parse_cause("{\"version\":\"1.2\",\"server_list\":[{"
	    "\"server_id\":\"h\",\"device\":[{\"device_id\":\"0\","
	    "\"super_device_id\":\"5\"}]}]}");
	CHECK(cause == NULL);
	free(cause);
}

TEST(ranktable_from_hccn_conf)
{
	json_t *t, *want;
	struct buf b;
	char *cause = NULL;
	json_error_t err;

	buf_init(&b);
	REQUIRE(file_read_all(test_data("ranktables/hccn.conf"), 1 << 20, &b,
	    &cause) == 0);
	t = ranktable_from_hccn("10.0.0.2", buf_cstr(&b), 8, &cause);
	if (t == NULL)
		fprintf(stdout, "  %s\n", cause);
	REQUIRE(t != NULL);
	/* Exactly the hand-written single-host table of the same host. */
	want = load_json("ranktables/hccl_8p_01234567_10.0.0.2.json");
	CHECK(json_equal(t, want));
	if (!json_equal(t, want))
		dump_diff(t, want);
	json_decref(want);
	json_decref(t);

	/* Four devices out of eight. */
	t = ranktable_from_hccn("n1", buf_cstr(&b), 4, &cause);
	REQUIRE(t != NULL);
	want = json_loads("{\"version\":\"1.0\",\"server_count\":\"1\","
	    "\"status\":\"completed\",\"server_list\":[{\"server_id\":\"n1\","
	    "\"host_nic_ip\":\"reserve\",\"device\":["
	    "{\"device_id\":\"0\",\"device_ip\":\"192.98.10.1\",\"rank_id\":\"0\"},"
	    "{\"device_id\":\"1\",\"device_ip\":\"192.98.10.2\",\"rank_id\":\"1\"},"
	    "{\"device_id\":\"2\",\"device_ip\":\"192.98.10.3\",\"rank_id\":\"2\"},"
	    "{\"device_id\":\"3\",\"device_ip\":\"192.98.10.4\",\"rank_id\":\"3\"}"
	    "]}]}", 0, &err);
	CHECK(json_equal(t, want));
	json_decref(want);
	json_decref(t);

	/* Sixteen: device 8 has no address. */
	t = ranktable_from_hccn("n1", buf_cstr(&b), 16, &cause);
	CHECK(t == NULL);
	CHECK_STR(cause, "n1: hccn addresses: no address for device 8 (no "
	    "address_8= line, and no ipaddr: line for it); check "
	    "/etc/hccn.conf or `hccn_tool -i 8 -ip -g` on the host");
	free(cause);
	buf_free(&b);
}

TEST(ranktable_from_hccn_tool_output)
{
	json_t *t;
	char *cause = NULL;
	const json_t *devs;

	/* Outputs marked with device_id:N, in any order. */
	t = ranktable_from_hccn("h", "device_id:1\nipaddr:10.9.0.2\r\n"
	    "netmask:255.255.255.0\ndevice_id:0\nipaddr:10.9.0.1\n"
	    "netmask:255.255.255.0\n", 2, &cause);
	REQUIRE(t != NULL);
	devs = json_object_get(json_array_get(json_object_get(t,
	    "server_list"), 0), "device");
	CHECK_STR(json_string_value(json_object_get(json_array_get(devs, 0),
	    "device_ip")), "10.9.0.1");
	CHECK_STR(json_string_value(json_object_get(json_array_get(devs, 1),
	    "device_ip")), "10.9.0.2");
	json_decref(t);

	/* Unmarked: the k-th ipaddr line is device k. */
	t = ranktable_from_hccn("h", "ipaddr:10.9.0.7\nnetmask:255.0.0.0\n"
	    "ipaddr:10.9.0.8\n", 2, &cause);
	REQUIRE(t != NULL);
	devs = json_object_get(json_array_get(json_object_get(t,
	    "server_list"), 0), "device");
	CHECK_STR(json_string_value(json_object_get(json_array_get(devs, 1),
	    "device_ip")), "10.9.0.8");
	json_decref(t);

	t = ranktable_from_hccn("h", "device_id:0\nipaddr:10.9.0.1\n"
	    "device_id:2\nipaddr:10.9.0.3\n", 3, &cause);
	CHECK(t == NULL);
	CHECK_STR(cause, "h: hccn addresses: no address for device 1 (no "
	    "address_1= line, and no ipaddr: line for it); check "
	    "/etc/hccn.conf or `hccn_tool -i 1 -ip -g` on the host");
	free(cause);

	t = ranktable_from_hccn("h", "device_id:0\nipaddr:hccn_tool: "
	    "command failed\n", 1, &cause);
	CHECK(t == NULL);
	CHECK_STR(cause, "h: hccn addresses: line 2: \"hccn_tool: command "
	    "failed\" is not an IP address");
	free(cause);

	t = ranktable_from_hccn("h", "address_0=10.0.0.1\naddress_0=10.0.0.2\n",
	    1, &cause);
	CHECK(t == NULL);
	CHECK_STR(cause, "h: hccn addresses: line 2: device 0 has two "
	    "addresses, 10.0.0.1 and 10.0.0.2");
	free(cause);

	t = ranktable_from_hccn("h", "ipaddr:10.0.0.1\ndevice_id:1\n"
	    "ipaddr:10.0.0.2\n", 2, &cause);
	CHECK(t == NULL);
	CHECK_STR(cause, "h: hccn addresses: line 2: a device_id: line after "
	    "ipaddr: lines that had none; mark every hccn_tool output or "
	    "none");
	free(cause);
}
