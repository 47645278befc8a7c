/*
 * ranktable.c - fuzzes the HCCL rank-table reader and merger: the input
 * (after a mode byte) is up to 8 tables separated by NUL bytes; each goes
 * through ranktable_parse and those it takes are merged. With the mode
 * byte's low bit set, the input is instead /etc/hccn.conf or hccn_tool
 * text for ranktable_from_hccn, whose table must then parse and merge.
 * Properties: a refusal says why; a merge of tables parse took has
 * server_count equal to the number of tables and rank_id 0..P-1 in order.
 */
#include "fuzz.h"

#include "../../tui/plan.h"

#define FZ_RT_MAX 8

FUZZ_QUIET_INIT()

/* rank_id runs 0..P-1 over server_list[].device[]. */
static void
fz_check_merged(const json_t *m, size_t ntables)
{
	json_t *servers = json_object_get(m, "server_list"), *sv, *d;
	const char *count = json_string_value(json_object_get(m,
	    "server_count"));
	char want[32];
	size_t i, k, rank = 0;

	FUZZ_ASSERT(json_is_array(servers));
	snprintf(want, sizeof want, "%zu", ntables);
	FUZZ_ASSERT(count != NULL && strcmp(count, want) == 0);
	json_array_foreach(servers, i, sv) {
		json_array_foreach(json_object_get(sv, "device"), k, d) {
			snprintf(want, sizeof want, "%zu", rank++);
			FUZZ_ASSERT(json_is_string(json_object_get(d,
			    "rank_id")));
			FUZZ_ASSERT(strcmp(json_string_value(json_object_get(d,
			    "rank_id")), want) == 0);
		}
	}
}

static void
fz_merge(json_t *const *t, size_t n)
{
	char *cause = NULL;
	json_t *m;

	if (n == 0)
		return;
	if ((m = ranktable_merge(t, n, &cause)) == NULL) {
		FUZZ_ASSERT(cause != NULL && *cause != '\0');
		free(cause);
		return;
	}
	fz_check_merged(m, n);
	json_decref(m);
}

static void
fz_hccn(struct fuzz_in *in)
{
	uint8_t ndev = fuzz_byte(in) % 20;
	char *text = xstrndup((const char *)in->p, in->n), *cause = NULL;
	json_t *t, *back;
	size_t len;

	t = ranktable_from_hccn("10.0.0.2", text, ndev, &cause);
	if (t == NULL) {
		FUZZ_ASSERT(cause != NULL && *cause != '\0');
		free(cause);
	} else {
		/* What we build, we read back. */
		char *s = json_dumps(t, JSON_COMPACT);

		len = strlen(s);
		back = ranktable_parse(s, len, "built", &cause);
		if (back == NULL)
			fprintf(stderr, "%s\n%s\n", s, cause);
		FUZZ_ASSERT(back != NULL);
		fz_merge(&back, 1);
		json_decref(back);
		free(s);
		json_decref(t);
	}
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct fuzz_in in = { data, len };
	json_t *t[FZ_RT_MAX];
	const uint8_t *end;
	char *cause = NULL;
	size_t n = 0, i, plen;

	if (fuzz_byte(&in) & 1) {
		fz_hccn(&in);
		return 0;
	}
	while (in.n > 0 && n < FZ_RT_MAX) {
		end = memchr(in.p, '\0', in.n);
		plen = end != NULL ? (size_t)(end - in.p) : in.n;
		t[n] = ranktable_parse((const char *)in.p, plen, "fuzz.json",
		    &cause);
		if (t[n] == NULL) {
			FUZZ_ASSERT(cause != NULL && *cause != '\0');
			free(cause);
			cause = NULL;
		} else
			n++;
		in.p += plen;
		in.n -= plen;
		if (end != NULL) {
			in.p++;
			in.n--;
		}
	}
	fz_merge(t, n);
	for (i = 0; i < n; i++)
		json_decref(t[i]);
	return 0;
}
