/* test_hostrange.c - host lists: ranges, products, ^FILE, ip_prefix + ids,
 * exclusion, the error messages a user reads, and hostile input. */
#include "test.h"

#include <stdlib.h>
#include <unistd.h>

#include "../../remote/remote.h"

/* The hosts of hl joined by spaces. Caller frees. */
static char *
joined(const struct hostlist *hl)
{
	struct buf b;
	size_t i;

	buf_init(&b);
	for (i = 0; i < hostlist_count(hl); i++)
		buf_printf(&b, "%s%s", i ? " " : "", hostlist_get(hl, i));
	return buf_steal(&b);
}

/* expr expanded alone: the hosts joined, or "ERROR: cause". */
static char *
expand(const char *expr)
{
	struct hostlist *hl = hostlist_new();
	char *cause = NULL, *out;

	if (hostlist_add(hl, expr, &cause) != 0) {
		xasprintf(&out, "ERROR: %s", cause ? cause : "(no cause)");
		CHECK_INT(hostlist_count(hl), 0);
	} else {
		out = joined(hl);
		CHECK(cause == NULL);
	}
	free(cause);
	hostlist_free(hl);
	return out;
}

#define CHECK_EXPAND(expr, want) do {					\
	char *got_ = expand(expr);					\
	CHECK_STR(got_, want);						\
	free(got_);							\
} while (0)

static char *
tfile(const char *name, const char *text)
{
	char *p;
	FILE *f;

	xasprintf(&p, "%s/%s", test_tmpdir(), name);
	if ((f = fopen(p, "w")) != NULL) {
		fputs(text, f);
		fclose(f);
	}
	return p;
}

TEST(hostrange_ranges_keep_padding_and_order)
{
	struct hostlist *hl = hostlist_new();
	char *cause = NULL;

	REQUIRE(hostlist_add(hl, "node[01-16,20]", &cause) == 0);
	CHECK_INT(hostlist_count(hl), 17);
	CHECK_STR(hostlist_get(hl, 0), "node01");
	CHECK_STR(hostlist_get(hl, 8), "node09");
	CHECK_STR(hostlist_get(hl, 15), "node16");
	CHECK_STR(hostlist_get(hl, 16), "node20");
	CHECK(hostlist_get(hl, 17) == NULL);
	hostlist_free(hl);
	hostlist_free(NULL);

	CHECK_EXPAND("10.0.0.[2-5]", "10.0.0.2 10.0.0.3 10.0.0.4 10.0.0.5");
	CHECK_EXPAND("n[08-11]", "n08 n09 n10 n11");
	CHECK_EXPAND("n[9-11]", "n9 n10 n11");
	CHECK_EXPAND("n[001-3]", "n001 n002 n003");
	CHECK_EXPAND("n[0-2]", "n0 n1 n2");
	CHECK_EXPAND("n[00-02]", "n00 n01 n02");
	CHECK_EXPAND("n[07]", "n07");
	CHECK_EXPAND("n[5,3,9]", "n5 n3 n9");
	CHECK_EXPAND("plainhost", "plainhost");
	CHECK_EXPAND("[1-3]x", "1x 2x 3x");
	CHECK_EXPAND("gpu_node-1.example.com", "gpu_node-1.example.com");
}

TEST(hostrange_products_and_top_level_commas)
{
	CHECK_EXPAND("rack[1-2]-n[1-3]",
	    "rack1-n1 rack1-n2 rack1-n3 rack2-n1 rack2-n2 rack2-n3");
	CHECK_EXPAND("10.0.[1-2].[5-6]",
	    "10.0.1.5 10.0.1.6 10.0.2.5 10.0.2.6");
	CHECK_EXPAND("a[1,3]b[7-8]c", "a1b7c a1b8c a3b7c a3b8c");
	CHECK_EXPAND("head,node[1-2,5],10.0.0.[1-2]",
	    "head node1 node2 node5 10.0.0.1 10.0.0.2");
	CHECK_EXPAND(" a , b[1-2] ", "a b1 b2");
}

TEST(hostrange_errors_say_what_and_where)
{
	CHECK_EXPAND("node[3-1]",
	    "ERROR: \"node[3-1]\": range start 3 is above its end 1");
	CHECK_EXPAND("ok,node[3-1]",
	    "ERROR: \"node[3-1]\": range start 3 is above its end 1");
	CHECK_EXPAND("node[1-2",
	    "ERROR: \"node[1-2\": unbalanced '[' (never closed)");
	CHECK_EXPAND("node1-2]",
	    "ERROR: \"node1-2]\": unbalanced ']' at offset 7");
	CHECK_EXPAND("n[1-[2-3]]",
	    "ERROR: \"n[1-[2-3]]\": '[' at offset 4 inside brackets "
	    "(they do not nest)");
	CHECK_EXPAND("a,,b", "ERROR: \"a,,b\": empty host name at offset 2 "
	    "(two commas in a row, or a comma at the start or end)");
	CHECK_EXPAND("a,", "ERROR: \"a,\": empty host name at offset 2 "
	    "(two commas in a row, or a comma at the start or end)");
	CHECK_EXPAND("", "ERROR: \"\": empty host name at offset 0 "
	    "(two commas in a row, or a comma at the start or end)");
	CHECK_EXPAND("node[]", "ERROR: \"node[]\": empty brackets at offset 4");
	CHECK_EXPAND("node[1,]",
	    "ERROR: \"node[1,]\": empty range at offset 7");
	CHECK_EXPAND("node[a-c]", "ERROR: \"node[a-c]\": expected a number at "
	    "offset 5, found 'a'");
	CHECK_EXPAND("node[1-2-3]", "ERROR: \"node[1-2-3]\": unexpected '-' at "
	    "offset 8 inside brackets (only numbers, ranges A-B and commas)");
	CHECK_EXPAND("no de", "ERROR: \"no de\": invalid character \\x20 at "
	    "offset 2");
	CHECK_EXPAND("node$(id)", "ERROR: \"node$(id)\": invalid character "
	    "'$' at offset 4");
	CHECK_EXPAND("n\xff", "ERROR: \"n\\xff\": invalid character \\xff at "
	    "offset 1");
	CHECK_EXPAND("-oProxyCommand", "ERROR: \"-oProxyCommand\": host name "
	    "-oProxyCommand starts with '-'");
	CHECK_EXPAND("n[1-200000]", "ERROR: \"n[1-200000]\": brackets at "
	    "offset 1 hold more than 100000 hosts");
	CHECK_EXPAND("n[1-1000]x[1-1000]", "ERROR: \"n[1-1000]x[1-1000]\": "
	    "expands to more than 100000 hosts");
	CHECK_EXPAND("n[1234567890123456789]", "ERROR: "
	    "\"n[1234567890123456789]\": number at offset 2 has more than "
	    "18 digits");
	CHECK_EXPAND("^", "ERROR: \"^\": '^' needs a file name");
}

TEST(hostrange_duplicates_are_errors_and_leave_the_list_alone)
{
	struct hostlist *hl = hostlist_new();
	char *cause = NULL, *s;

	REQUIRE(hostlist_add(hl, "node[1-3]", &cause) == 0);
	CHECK(hostlist_add(hl, "node[4-5],node2", &cause) == -1);
	CHECK_STR(cause, "\"node2\": host node2 is already in the list "
	    "(host 2); each host may appear once");
	free(cause);
	cause = NULL;
	s = joined(hl);
	CHECK_STR(s, "node1 node2 node3");	/* node4, node5 rolled back */
	free(s);
	CHECK(hostlist_add(hl, "NODE3", &cause) == -1);
	CHECK(cause != NULL && strstr(cause, "written node3") != NULL);
	free(cause);
	cause = NULL;
	CHECK_EXPAND("n[1-3,2]", "ERROR: \"n[1-3,2]\": host n2 is already "
	    "in the list (host 2); each host may appear once");
	/* Still usable after the failures. */
	CHECK(hostlist_add(hl, "node[4-5]", &cause) == 0);
	CHECK_INT(hostlist_count(hl), 5);
	hostlist_free(hl);
}

TEST(hostrange_file_with_comments_and_errors_by_line)
{
	char *f, *g, *h, *expr, *out, *want;
	struct buf b;
	int i;

	f = tfile("hosts", "# training hosts\n\nhead   # the head node\n"
	    "  node[01-03]\r\n10.0.0.[7-8],extra\n");
	xasprintf(&expr, "^%s", f);
	out = expand(expr);
	CHECK_STR(out, "head node01 node02 node03 10.0.0.7 10.0.0.8 extra");
	free(out);
	free(expr);

	/* ^FILE mixes with other expressions. */
	xasprintf(&expr, "first,^%s,last", f);
	out = expand(expr);
	CHECK_STR(out, "first head node01 node02 node03 10.0.0.7 10.0.0.8 "
	    "extra last");
	free(out);
	free(expr);

	g = tfile("bad", "ok1\n# c\nnode[5-2]\n");
	xasprintf(&expr, "^%s", g);
	out = expand(expr);
	xasprintf(&want, "ERROR: %s:3: \"node[5-2]\": range start 5 is above "
	    "its end 2", g);
	CHECK_STR(out, want);
	free(want);
	free(out);
	free(expr);

	h = tfile("self", "a\n");
	free(h);
	xasprintf(&expr, "^%s/self", test_tmpdir());
	free(tfile("self", expr));	/* includes itself */
	out = expand(expr);
	CHECK(strstr(out, "more than 8 deep") != NULL);
	free(out);
	free(expr);

	/* Reads are bounded even when no file includes itself. */
	free(tfile("empty", "# nothing\n"));
	buf_init(&b);
	for (i = 0; i < 1001; i++)
		buf_printf(&b, "^%s/empty\n", test_tmpdir());
	free(tfile("many", buf_cstr(&b)));
	buf_free(&b);
	xasprintf(&expr, "^%s/many", test_tmpdir());
	out = expand(expr);
	CHECK(strstr(out, "more than 1000 host files") != NULL);
	free(out);
	free(expr);

	xasprintf(&expr, "^%s/missing", test_tmpdir());
	out = expand(expr);
	xasprintf(&want, "ERROR: host file %s/missing: No such file or "
	    "directory", test_tmpdir());
	CHECK_STR(out, want);
	free(want);
	free(out);
	free(expr);
	free(f);
	free(g);
}

TEST(hostrange_prefix_and_ids)
{
	struct hostlist *hl = hostlist_new();
	int64_t ids[] = { 2, 3, 4, 5 }, bad[] = { 7, 256 }, neg[] = { -1 };
	int64_t dup[] = { 9, 9 };
	char *cause = NULL, *s;

	REQUIRE(hostlist_add_prefix_ids(hl, "192.168.203", ids, 4, &cause)
	    == 0);
	s = joined(hl);
	CHECK_STR(s, "192.168.203.2 192.168.203.3 192.168.203.4 "
	    "192.168.203.5");
	free(s);
	CHECK(hostlist_add_prefix_ids(hl, "10.1.2.", ids, 1, &cause) == 0);
	CHECK_STR(hostlist_get(hl, 4), "10.1.2.2");

	CHECK(hostlist_add_prefix_ids(hl, "10.1.3", bad, 2, &cause) == -1);
	CHECK_STR(cause, "\"10.1.3\": ids[1] is 256, not in 0..255");
	free(cause);
	CHECK(hostlist_add_prefix_ids(hl, "10.1.3", neg, 1, &cause) == -1);
	CHECK_STR(cause, "\"10.1.3\": ids[0] is -1, not in 0..255");
	free(cause);
	CHECK(hostlist_add_prefix_ids(hl, "192.168.300", ids, 1, &cause) ==
	    -1);
	CHECK_STR(cause, "\"192.168.300\": ip_prefix is not three octets "
	    "A.B.C, each 0..255");
	free(cause);
	CHECK(hostlist_add_prefix_ids(hl, "10.0", ids, 1, &cause) == -1);
	free(cause);
	CHECK(hostlist_add_prefix_ids(hl, "10.1.4", dup, 2, &cause) == -1);
	CHECK_STR(cause, "\"10.1.4\": ids[1]: host 10.1.4.9 is already in the "
	    "list (host 6); each host may appear once");
	free(cause);
	CHECK(hostlist_add_prefix_ids(hl, "10.1.4", ids, 0, &cause) == -1);
	free(cause);
	CHECK(hostlist_add_prefix_ids(hl, "bad prefix", ids, 1, &cause) == -1);
	free(cause);
	CHECK_INT(hostlist_count(hl), 5);	/* failures added nothing */

	/* Not an IPv4 prefix: PREFIX.ID, any id. */
	CHECK(hostlist_add_prefix_ids(hl, "gpu", bad, 2, &cause) == 0);
	CHECK_STR(hostlist_get(hl, 5), "gpu.7");
	CHECK_STR(hostlist_get(hl, 6), "gpu.256");
	hostlist_free(hl);
}

TEST(hostrange_exclude_keeps_order)
{
	struct hostlist *hl = hostlist_new();
	char *cause = NULL, *s, *f, *expr;

	REQUIRE(hostlist_add(hl, "node[01-08]", &cause) == 0);
	CHECK(hostlist_exclude(hl, "node[03-05],node07,node07,other",
	    &cause) == 0);
	s = joined(hl);
	CHECK_STR(s, "node01 node02 node06 node08");
	free(s);
	CHECK(hostlist_exclude(hl, "node[2-1]", &cause) == -1);
	CHECK_STR(cause, "\"node[2-1]\": range start 2 is above its end 1");
	free(cause);
	CHECK_INT(hostlist_count(hl), 4);
	f = tfile("ex", "NODE01\n");
	xasprintf(&expr, "^%s", f);
	CHECK(hostlist_exclude(hl, expr, &cause) == 0);
	/* The removed hosts can come back, the kept ones still clash. */
	CHECK(hostlist_add(hl, "node03", &cause) == 0);
	CHECK(hostlist_add(hl, "node06", &cause) == -1);
	free(cause);
	s = joined(hl);
	CHECK_STR(s, "node02 node06 node08 node03");
	free(s);
	free(expr);
	free(f);
	hostlist_free(hl);
}

TEST(hostrange_limits_are_fast_and_exact)
{
	struct hostlist *hl = hostlist_new();
	char *cause = NULL, name[300];

	REQUIRE(hostlist_add(hl, "n[000001-100000]", &cause) == 0);
	CHECK_INT(hostlist_count(hl), 100000);
	CHECK_STR(hostlist_get(hl, 99999), "n100000");
	CHECK(hostlist_add(hl, "one-more", &cause) == -1);
	CHECK_STR(cause, "\"one-more\": more than 100000 hosts in one list");
	free(cause);
	CHECK(hostlist_add(hl, "n050000", &cause) == -1);
	free(cause);
	CHECK(hostlist_exclude(hl, "n[000001-099999]", &cause) == 0);
	CHECK_INT(hostlist_count(hl), 1);
	hostlist_free(hl);

	memset(name, 'a', 255);
	name[255] = '\0';
	CHECK_EXPAND(name, name);
	name[255] = 'a';
	name[256] = '\0';
	hl = hostlist_new();
	CHECK(hostlist_add(hl, name, &cause) == -1);
	CHECK(strstr(cause, "longer than 255 bytes") != NULL);
	CHECK(strstr(cause, "...\"") != NULL);	/* quoted, cut short */
	free(cause);
	hostlist_free(hl);
}

/* Random expressions from the characters that matter: never a crash, and
 * either a list of valid, distinct names or an error with a cause and
 * nothing added. */
TEST(hostrange_hostile_input)
{
	static const char alpha[] = "[]-,0123456789ab.^#\n \x01\xff";
	struct hostlist *hl;
	char expr[64], *cause;
	const char *h;
	unsigned long x = 12345;
	size_t i, j, n, len;
	int rc, ok = 0;

	for (i = 0; i < 20000; i++) {
		len = (size_t)(x % 24);
		for (j = 0; j < len; j++) {
			x = x * 6364136223846793005UL + 1442695040888963407UL;
			expr[j] = alpha[(x >> 33) % (sizeof alpha - 1)];
		}
		expr[len] = '\0';
		x = x * 6364136223846793005UL + 1442695040888963407UL;
		hl = hostlist_new();
		cause = NULL;
		hostlist_add(hl, "keep", &cause);
		rc = hostlist_add(hl, expr, &cause);
		n = hostlist_count(hl);
		if (rc == 0) {
			ok++;
			for (j = 1; j < n; j++) {
				h = hostlist_get(hl, j);
				CHECK(h[0] != '\0' && h[0] != '-');
				CHECK(strcspn(h, "[]^#, \n\x01\xff") ==
				    strlen(h));
			}
			CHECK(cause == NULL);
		} else {
			CHECK_INT(n, 1);
			CHECK(cause != NULL && cause[0] != '\0');
		}
		free(cause);
		cause = NULL;
		/* What was added can be taken out again with the same words. */
		if (rc == 0) {
			CHECK(hostlist_exclude(hl, expr, &cause) == 0);
			CHECK_INT(hostlist_count(hl), 1);
		} else if (hostlist_exclude(hl, expr, &cause) == -1)
			CHECK(cause != NULL);
		CHECK_STR(hostlist_get(hl, 0), "keep");
		free(cause);
		hostlist_free(hl);
	}
	CHECK(ok > 100);	/* the generator reaches valid lists too */
}
