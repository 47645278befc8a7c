/*
 * proto.c - fuzzes the wire protocol's decoder as the engine uses it: the
 * bytes arrive in reads of any size (first input byte picks the chunking),
 * linesplit_feed(PROTO_MAX_LINE) cuts lines (dropping longer ones whole,
 * as tui/engine.c does), proto_decode_line() takes or refuses each
 * one. Properties: a decoded line is an object with a string "type"; one
 * over PROTO_MAX_LINE or deeper than PROTO_MAX_DEPTH is refused; what is
 * decoded encodes to one line that decodes to the same object. Command
 * lines (proto_cmd_parse) get the same bytes.
 */
#include "fuzz.h"

FUZZ_QUIET_INIT()

static void
fz_line(const char *p, size_t n, void *arg)
{
	struct proto_cmd cmd;
	char *cause = NULL, *enc;
	size_t elen;
	json_t *o, *back;

	o = proto_decode_line(p, n, &cause);
	if (o == NULL) {
		FUZZ_ASSERT(cause != NULL && *cause != '\0');
		free(cause);
	} else {
		FUZZ_ASSERT(n <= PROTO_MAX_LINE);
		FUZZ_ASSERT(json_is_object(o));
		FUZZ_ASSERT(json_is_string(json_object_get(o, "type")));
		enc = proto_encode_line(o, &elen);
		FUZZ_ASSERT(elen > 0 && enc[elen - 1] == '\n');
		FUZZ_ASSERT(memchr(enc, '\n', elen - 1) == NULL);
		if (elen - 1 <= PROTO_MAX_LINE) {
			back = proto_decode_line(enc, elen - 1, &cause);
			FUZZ_ASSERT(back != NULL);
			FUZZ_ASSERT(json_equal(o, back));
			json_decref(back);
		}
		free(enc);
		json_decref(o);
	}
	cause = NULL;
	if (proto_cmd_parse(p, n, &cmd, &cause) == 0)
		free(proto_cmd_encode(&cmd));
	else
		free(cause);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct fuzz_in in = { data, len };
	struct fuzz_chunker ch;
	struct linesplit ls;
	size_t n;

	fuzz_chunker_init(&ch, fuzz_byte(&in));
	memset(&ls, 0, sizeof ls);
	while (in.n > 0) {
		n = fuzz_chunk_next(&ch, in.n);
		linesplit_feed(&ls, PROTO_MAX_LINE, (const char *)in.p, n,
		    fz_line, NULL);
		in.p += n;
		in.n -= n;
	}
	FUZZ_ASSERT(ls.b.len <= PROTO_MAX_LINE);
	/* The last line, unterminated, as a reader at EOF would try it. */
	if (ls.b.len > 0)
		fz_line(ls.b.data, ls.b.len, NULL);
	linesplit_free(&ls);
	return 0;
}
