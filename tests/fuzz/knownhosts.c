/*
 * knownhosts.c - fuzzes known_hosts reading and lookup: the input is
 * "KEYSEL PORTSEL HOST\nFILE..." (two choice bytes, a host line, then the
 * file). The file is checked for the host with one of a few synthetic key
 * blobs (made here: public blobs of the right shape, no real key); then
 * the key is appended as accept-new would (hashed or not) and checked
 * again. Properties: a verdict is one of the four results with a line
 * inside the file for MATCH/MISMATCH/REVOKED; after the append the key
 * matches, unless a @revoked line names it.
 */
#include "fuzz.h"

#include "../../remote/remote.h"

static unsigned char fz_keys[3][64];
static size_t fz_keylens[3];

/* An SSH string at *off. */
static void
fz_put(unsigned char *b, size_t *off, const void *p, size_t n)
{
	b[(*off)++] = (unsigned char)(n >> 24);
	b[(*off)++] = (unsigned char)(n >> 16);
	b[(*off)++] = (unsigned char)(n >> 8);
	b[(*off)++] = (unsigned char)n;
	memcpy(b + *off, p, n);
	*off += n;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	unsigned char pk[32], e[3] = { 1, 0, 1 };
	size_t i, off;

	fuzz_quiet();
	for (i = 0; i < 2; i++) {
		memset(pk, (int)(0x11 * (i + 1)), sizeof pk);
		off = 0;
		fz_put(fz_keys[i], &off, "ssh-ed25519", 11);
		fz_put(fz_keys[i], &off, pk, sizeof pk);
		fz_keylens[i] = off;
	}
	off = 0;
	fz_put(fz_keys[2], &off, "ssh-rsa", 7);
	fz_put(fz_keys[2], &off, e, sizeof e);
	fz_put(fz_keys[2], &off, pk, 16);
	fz_keylens[2] = off;
	return 0;
}

static void
fz_check_verdict(const struct kh_verdict *v, size_t nlines)
{
	FUZZ_ASSERT(v->result == KH_MATCH || v->result == KH_MISMATCH ||
	    v->result == KH_NOTFOUND || v->result == KH_REVOKED);
	FUZZ_ASSERT(strncmp(v->fingerprint, "SHA256:", 7) == 0);
	if (v->result != KH_NOTFOUND)
		FUZZ_ASSERT(v->line >= 1 && (size_t)v->line <= nlines);
	if (v->result == KH_MISMATCH)
		FUZZ_ASSERT(strncmp(v->known_fingerprint, "SHA256:", 7) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static const int ports[] = { 22, 0, 2222, 2200 };
	struct fuzz_in in = { data, len };
	struct kh_verdict v;
	uint8_t ksel = fuzz_byte(&in), psel = fuzz_byte(&in);
	const unsigned char *key = fz_keys[ksel % 3];
	size_t keylen = fz_keylens[ksel % 3], nlines = 1, i;
	const uint8_t *nl = memchr(in.p, '\n', in.n);
	char *host, *files[2] = { NULL, NULL }, *cause = NULL;
	int port = ports[psel % 4], rc;

	if (nl == NULL)
		return 0;
	host = xstrndup((const char *)in.p, (size_t)(nl - in.p));
	in.n -= (size_t)(nl - in.p) + 1;
	in.p = nl + 1;
	for (i = 0; i < in.n; i++)
		nlines += in.p[i] == '\n';
	files[0] = xstrdup(fuzz_file(in.p, in.n));

	rc = knownhosts_check(files, host, port, key, keylen, &v, &cause);
	if (rc != 0) {
		FUZZ_ASSERT(cause != NULL);
		free(cause);
		goto out;
	}
	fz_check_verdict(&v, nlines);
	if (v.result == KH_REVOKED || knownhosts_add(files[0], host, port,
	    key, keylen, ksel & 0x80, &cause) != 0) {
		free(cause);
		goto out;
	}
	/* One line more (and one for a file without a final newline). */
	FUZZ_ASSERT(knownhosts_check(files, host, port, key, keylen, &v,
	    &cause) == 0);
	fz_check_verdict(&v, nlines + 2);
	FUZZ_ASSERT(v.result == KH_MATCH || v.result == KH_REVOKED);
out:
	free(files[0]);
	free(host);
	return 0;
}
