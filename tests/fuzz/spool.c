/*
 * spool.c - fuzzes the agent's spool readers on a file of arbitrary bytes
 * (torn lines, garbage, huge seq numbers): spool_scan (what status, adopt
 * and run learn from a spool), spool_reader from a seq the first input
 * byte picks, and spool_peek_last. Properties: every line the reader
 * returns was a whole line of the file (no '\n' in it); a line with a
 * from seq 0 every line comes back; the scan counts bad lines and never
 * fails on a readable file.
 */
#include "fuzz.h"

#include "../../agent/agent.h"
#include "../../agent/agent_int.h"

FUZZ_QUIET_INIT()

static size_t
fz_count_lines(const uint8_t *p, size_t n)
{
	size_t i, c = 0;

	for (i = 0; i < n; i++)
		c += p[i] == '\n';
	return c;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct fuzz_in in = { data, len };
	int64_t from = fuzz_byte(&in) % 16;
	struct spool_reader *r;
	struct spool_scan sc;
	const char *path;
	struct buf line;
	char *cause = NULL;
	size_t total = 0, lines = 0;
	json_t *last;
	int rc;

	path = fuzz_file(in.p, in.n);
	FUZZ_ASSERT(spool_scan(path, &sc, &cause) == 0);
	FUZZ_ASSERT(sc.run_state[sizeof sc.run_state - 1] == '\0');
	FUZZ_ASSERT(sc.result[sizeof sc.result - 1] == '\0');
	spool_scan_free(&sc);

	r = spool_reader_open(path, from, &cause);
	FUZZ_ASSERT(r != NULL);
	buf_init(&line);
	while ((rc = spool_reader_next(r, &line)) == 1) {
		FUZZ_ASSERT(line.len == 0 ||
		    memchr(line.data, '\n', line.len) == NULL);
		total += line.len + 1;
		lines++;
	}
	FUZZ_ASSERT(rc == 0);
	FUZZ_ASSERT(total <= in.n);
	/* From seq 0 every whole line comes back, empty ones too. */
	if (from == 0)
		FUZZ_ASSERT(lines == fz_count_lines(in.p, in.n));
	buf_free(&line);
	spool_reader_free(r);

	last = spool_peek_last(path);
	json_decref(last);
	return 0;
}
