/* test_knownhosts.c - known_hosts against the real OpenSSH tools: host keys
 * made by ssh-keygen at test time (never committed), files hashed by
 * ssh-keygen -H, fingerprints compared with ssh-keygen -lf, and lines we
 * append found by ssh-keygen -F. Fixtures: tests/data/knownhosts/. */
#include "test.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "../../remote/remote.h"

struct key {
	char *path;			/* private key; path.pub beside it */
	char *text;			/* "ssh-ed25519 BASE64" */
	unsigned char blob[8192];
	size_t len;
	char fp[64];			/* as ssh-keygen -lf prints it */
};

static char *
tpath(const char *name)
{
	char *p;

	xasprintf(&p, "%s/%s", test_tmpdir(), name);
	return p;
}

/* Runs cmd through sh; its stdout (trimmed) in *out when out is set.
 * Returns the exit status. */
static int
shell(const char *cmd, char **out)
{
	struct buf b;
	char chunk[4096];
	size_t n;
	FILE *f;
	int st;

	buf_init(&b);
	if ((f = popen(cmd, "r")) == NULL)
		return -1;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_add(&b, chunk, n);
	st = pclose(f);
	while (b.len > 0 && b.data[b.len - 1] == '\n')
		b.len--;
	if (out != NULL)
		*out = buf_steal(&b);
	buf_free(&b);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
key_free(struct key *k)
{
	free(k->path);
	free(k->text);
	free(k);
}

/* A fresh host key from ssh-keygen: "ed25519", "rsa", "ecdsa" + bits. */
static struct key *
keygen(const char *name, const char *type, int bits)
{
	struct key *k = xcalloc(1, sizeof *k);
	char *cmd, *pub = NULL, *fp = NULL, *sp, *b64;
	int n;

	k->path = tpath(name);
	xasprintf(&cmd, "ssh-keygen -q -t %s %s%.0d -N '' -C test -f %s "
	    "</dev/null", type, bits ? "-b " : "", bits, k->path);
	if (shell(cmd, NULL) != 0)
		goto fail;
	free(cmd);
	xasprintf(&cmd, "cut -d' ' -f1,2 %s.pub", k->path);
	if (shell(cmd, &pub) != 0 || (sp = strchr(pub, ' ')) == NULL)
		goto fail;
	k->text = xstrdup(pub);
	b64 = sp + 1;
	n = EVP_DecodeBlock(k->blob, (unsigned char *)b64, (int)strlen(b64));
	if (n <= 0)
		goto fail;
	k->len = (size_t)n - (strstr(b64, "==") ? 2 : strchr(b64, '=') ? 1 :
	    0);
	free(cmd);
	xasprintf(&cmd, "ssh-keygen -lf %s.pub | cut -d' ' -f2", k->path);
	if (shell(cmd, &fp) != 0 || strncmp(fp, "SHA256:", 7) != 0)
		goto fail;
	snprintf(k->fp, sizeof k->fp, "%s", fp);
	free(fp);
	free(pub);
	free(cmd);
	return k;
fail:
	test_fail(__FILE__, __LINE__, "ssh-keygen failed for %s %s", type,
	    name);
	free(fp);
	free(pub);
	free(cmd);
	key_free(k);
	return NULL;
}

static void
put(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		test_fail(__FILE__, __LINE__, "cannot write %s", path);
		return;
	}
	fwrite(text, 1, len, f);
	fclose(f);
}

static char *
slurp(const char *path)
{
	struct buf b;
	char *cause = NULL;

	buf_init(&b);
	if (file_read_all(path, 1 << 24, &b, &cause) != 0) {
		test_fail(__FILE__, __LINE__, "%s", cause);
		free(cause);
	}
	return buf_steal(&b);
}

/* The text with every @X@ replaced by subst[X - 'A'] (NULL: left). */
static char *
fill(const char *text, const char *const *subst, size_t nsubst)
{
	struct buf b;
	size_t i;

	buf_init(&b);
	for (; *text != '\0'; text++) {
		i = (size_t)(text[1] - 'A');
		if (text[0] == '@' && text[1] >= 'A' && i < nsubst &&
		    text[2] == '@' && subst[i] != NULL) {
			buf_addstr(&b, subst[i]);
			text += 2;
		} else
			buf_addch(&b, *text);
	}
	return buf_steal(&b);
}

/* knownhosts_check on one file; the result, or -1 on error. */
static int
check1(const char *file, const char *host, int port, const struct key *k,
    struct kh_verdict *v)
{
	char *files[] = { (char *)file, NULL }, *cause = NULL;

	if (knownhosts_check(files, host, port, k->blob, k->len, v,
	    &cause) != 0) {
		test_fail(__FILE__, __LINE__, "check %s: %s", host, cause);
		free(cause);
		return -1;
	}
	return (int)v->result;
}

TEST(knownhosts_fingerprint_equals_ssh_keygen)
{
	static const struct {
		const char *type;
		int bits;
		enum kh_keytype kt;
		const char *name;
	} kinds[] = {
		{ "ed25519", 0, KH_KEY_ED25519, "ssh-ed25519" },
		{ "rsa", 2048, KH_KEY_RSA, "ssh-rsa" },
		{ "ecdsa", 256, KH_KEY_ECDSA_256, "ecdsa-sha2-nistp256" },
		{ "ecdsa", 384, KH_KEY_ECDSA_384, "ecdsa-sha2-nistp384" },
		{ "ecdsa", 521, KH_KEY_ECDSA_521, "ecdsa-sha2-nistp521" },
	};
	static const unsigned char junk[] = "\0\0\0\x0bssh-ed25519";
	struct kh_verdict v;
	struct key *k;
	char fp[64], name[32], small[12], *kh;
	size_t i;

	for (i = 0; i < nitems(kinds); i++) {
		snprintf(name, sizeof name, "key%zu", i);
		if ((k = keygen(name, kinds[i].type, kinds[i].bits)) == NULL)
			continue;
		knownhosts_fingerprint(k->blob, k->len, fp, sizeof fp);
		CHECK_STR(fp, k->fp);
		CHECK_INT(strlen(fp), 50);
		CHECK_INT(knownhosts_keytype(k->blob, k->len), kinds[i].kt);
		/* The verdict carries both the fingerprint and the type. */
		kh = tpath("empty");
		put(kh, "", 0);
		CHECK_INT(check1(kh, "h", 22, k, &v), KH_NOTFOUND);
		CHECK_STR(v.fingerprint, k->fp);
		CHECK_STR(v.keytype_name, kinds[i].name);
		free(kh);
		knownhosts_fingerprint(k->blob, k->len, small, sizeof small);
		/* A short buffer gets a cut, terminated fingerprint. */
		CHECK_INT(strlen(small), sizeof small - 1);
		CHECK(strncmp(small, k->fp, sizeof small - 1) == 0);
		key_free(k);
	}
	CHECK_INT(knownhosts_keytype(junk, sizeof junk - 1), KH_KEY_UNKNOWN);
	CHECK_INT(knownhosts_keytype(junk, 3), KH_KEY_UNKNOWN);
	CHECK_INT(knownhosts_keytype(NULL, 0), KH_KEY_UNKNOWN);
}

/* Every kind of unreadable line comes first; the entry after them still
 * matches, and its line number is right. */
TEST(knownhosts_garbage_lines_are_skipped)
{
	struct kh_verdict v;
	struct key *k;
	struct buf b;
	char *g, *kh, nul[] = "gpu1\0 ssh-ed25519 AAAA\n";
	size_t i, lines = 0;

	REQUIRE((k = keygen("k", "ed25519", 0)) != NULL);
	g = slurp(test_data("knownhosts/garbage"));
	REQUIRE(strlen(g) > 200);
	buf_init(&b);
	buf_addstr(&b, g);
	buf_add(&b, nul, sizeof nul - 1);
	for (i = 0; i < 5000; i++)
		buf_addch(&b, "ab ,*|@\t"[i % 8]);
	buf_addstr(&b, "\n\r\n");
	buf_printf(&b, "other,gpu1 %s a comment\n", k->text);
	for (i = 0; i < b.len; i++)
		lines += b.data[i] == '\n';
	kh = tpath("known_hosts");
	/* The junk alone: every gpu1 line in it is unusable. */
	put(kh, g, strlen(g));
	CHECK_INT(check1(kh, "gpu1", 22, k, &v), KH_NOTFOUND);
	put(kh, b.data, b.len);
	CHECK_INT(check1(kh, "gpu1", 22, k, &v), KH_MATCH);
	CHECK_STR(v.file, kh);
	CHECK_INT(v.line, lines);
	CHECK_STR(v.fingerprint, k->fp);
	CHECK_STR(v.known_fingerprint, "");
	/* ssh-keygen agrees that the entry is there and where. */
	free(g);
	xasprintf(&g, "ssh-keygen -F gpu1 -f %s | head -1", kh);
	free(kh);
	kh = NULL;
	CHECK_INT(shell(g, &kh), 0);
	CHECK(kh != NULL && strstr(kh, "found: line") != NULL);
	free(kh);
	free(g);
	buf_free(&b);
	key_free(k);
}

TEST(knownhosts_mismatch_names_the_line_and_both_keys)
{
	struct kh_verdict v;
	struct key *a, *b;
	char *kh, *text;

	REQUIRE((a = keygen("a", "ed25519", 0)) != NULL);
	REQUIRE((b = keygen("b", "ed25519", 0)) != NULL);
	kh = tpath("known_hosts");
	xasprintf(&text, "other %s\n# comment\ngpu1 %s\n", a->text, b->text);
	put(kh, text, strlen(text));
	CHECK_INT(check1(kh, "gpu1", 22, a, &v), KH_MISMATCH);
	CHECK_STR(v.file, kh);
	CHECK_INT(v.line, 3);
	CHECK_STR(v.fingerprint, a->fp);
	CHECK_STR(v.known_fingerprint, b->fp);
	CHECK(strcmp(a->fp, b->fp) != 0);
	CHECK_STR(v.keytype_name, "ssh-ed25519");

	/* The key on another line for the same host wins, as in OpenSSH. */
	free(text);
	xasprintf(&text, "gpu1 %s\ngpu1 %s\n", b->text, a->text);
	put(kh, text, strlen(text));
	CHECK_INT(check1(kh, "gpu1", 22, a, &v), KH_MATCH);
	CHECK_INT(v.line, 2);
	CHECK_INT(check1(kh, "gpu1", 22, b, &v), KH_MATCH);
	CHECK_INT(v.line, 1);
	free(text);
	free(kh);
	key_free(a);
	key_free(b);
}

TEST(knownhosts_other_key_types_are_not_a_mismatch)
{
	struct kh_verdict v;
	struct key *ed, *ec, *ec384;
	char *kh, *text;

	REQUIRE((ed = keygen("ed", "ed25519", 0)) != NULL);
	REQUIRE((ec = keygen("ec", "ecdsa", 256)) != NULL);
	REQUIRE((ec384 = keygen("ec384", "ecdsa", 384)) != NULL);
	kh = tpath("known_hosts");
	xasprintf(&text, "gpu1 %s\n", ec->text);
	put(kh, text, strlen(text));
	CHECK_INT(check1(kh, "gpu1", 22, ed, &v), KH_NOTFOUND);
	CHECK_INT(check1(kh, "gpu1", 22, ec384, &v), KH_NOTFOUND);
	CHECK_INT(check1(kh, "gpu1", 22, ec, &v), KH_MATCH);
	free(text);
	free(kh);
	key_free(ed);
	key_free(ec);
	key_free(ec384);
}

TEST(knownhosts_hashed_by_ssh_keygen)
{
	struct kh_verdict v;
	struct key *a, *b;
	char *kh, *text, *cmd, *hashed;

	REQUIRE((a = keygen("a", "ed25519", 0)) != NULL);
	REQUIRE((b = keygen("b", "ed25519", 0)) != NULL);
	kh = tpath("known_hosts");
	xasprintf(&text, "gpu1.example.com %s\n[gpu1.example.com]:2222 %s\n"
	    "10.0.0.7 %s\n", a->text, b->text, b->text);
	put(kh, text, strlen(text));
	xasprintf(&cmd, "ssh-keygen -H -f %s >/dev/null 2>&1", kh);
	REQUIRE(shell(cmd, NULL) == 0);
	hashed = slurp(kh);
	CHECK(strncmp(hashed, "|1|", 3) == 0);
	CHECK(strstr(hashed, "\n|1|") != NULL);
	CHECK(strstr(hashed, "gpu1") == NULL && strstr(hashed, "10.0") ==
	    NULL);

	CHECK_INT(check1(kh, "gpu1.example.com", 22, a, &v), KH_MATCH);
	CHECK_INT(v.line, 1);
	CHECK_INT(check1(kh, "GPU1.Example.COM", 22, a, &v), KH_MATCH);
	CHECK_INT(check1(kh, "gpu1.example.com", 2222, b, &v), KH_MATCH);
	CHECK_INT(v.line, 2);
	CHECK_INT(check1(kh, "gpu1.example.com", 2222, a, &v), KH_MISMATCH);
	CHECK_STR(v.known_fingerprint, b->fp);
	CHECK_INT(check1(kh, "gpu1.example.com", 22, b, &v), KH_MISMATCH);
	CHECK_INT(check1(kh, "10.0.0.7", 22, b, &v), KH_MATCH);
	CHECK_INT(v.line, 3);
	CHECK_INT(check1(kh, "10.0.0.8", 22, b, &v), KH_NOTFOUND);
	CHECK_INT(check1(kh, "gpu1.example.co", 22, a, &v), KH_NOTFOUND);
	free(hashed);
	free(cmd);
	free(text);
	free(kh);
	key_free(a);
	key_free(b);
}

TEST(knownhosts_ports_patterns_negation_markers)
{
	static const struct {
		const char *host;
		int port;
		char key;		/* 'A' or 'B' */
		enum kh_result want;
		int line;
	} cases[] = {
		{ "gpu1", 2222, 'A', KH_MATCH, 5 },
		{ "gpu1", 22, 'A', KH_NOTFOUND, 0 },
		{ "gpu1", 2223, 'A', KH_NOTFOUND, 0 },
		{ "x.rack1.example", 22, 'A', KH_MATCH, 6 },
		{ "X.RACK1.EXAMPLE", 0, 'A', KH_MATCH, 6 },
		{ "bad.rack1.example", 22, 'A', KH_NOTFOUND, 0 },
		{ "rack1.example", 22, 'A', KH_NOTFOUND, 0 },
		{ "x.rack1.example", 22, 'B', KH_MISMATCH, 6 },
		{ "node7", 22, 'A', KH_MATCH, 7 },
		{ "node77", 22, 'A', KH_NOTFOUND, 0 },
		{ "node", 22, 'A', KH_NOTFOUND, 0 },
		{ "node7", 22, 'B', KH_MISMATCH, 7 },
		{ "y.rack2.example", 2200, 'A', KH_MATCH, 8 },
		{ "y.rack2.example", 22, 'A', KH_NOTFOUND, 0 },
		{ "host.ca.example", 22, 'A', KH_NOTFOUND, 0 },
		{ "revoked.example", 22, 'B', KH_REVOKED, 10 },
		{ "revoked.example", 22, 'A', KH_MISMATCH, 11 },
		{ "rsaonly.example", 22, 'A', KH_NOTFOUND, 0 },
		{ "mixed.case.example", 22, 'A', KH_MATCH, 13 },
		{ "multi2", 22, 'A', KH_MATCH, 14 },
		{ "other", 22, 'A', KH_MATCH, 14 },
		{ "multi", 22, 'A', KH_NOTFOUND, 0 },
	};
	struct kh_verdict v;
	struct key *a, *b, *r, *k;
	const char *subst[18] = { NULL };
	char *tmpl, *text, *kh;
	size_t i;
	int got;

	REQUIRE((a = keygen("a", "ed25519", 0)) != NULL);
	REQUIRE((b = keygen("b", "ed25519", 0)) != NULL);
	REQUIRE((r = keygen("r", "rsa", 2048)) != NULL);
	subst[0] = a->text;
	subst[1] = b->text;
	subst['R' - 'A'] = r->text;
	tmpl = slurp(test_data("knownhosts/patterns"));
	text = fill(tmpl, subst, nitems(subst));
	CHECK(strchr(text, '@') != NULL && strstr(text, "@A@") == NULL);
	kh = tpath("known_hosts");
	put(kh, text, strlen(text));
	for (i = 0; i < nitems(cases); i++) {
		k = cases[i].key == 'A' ? a : b;
		got = check1(kh, cases[i].host, cases[i].port, k, &v);
		if (got != (int)cases[i].want || v.line != cases[i].line)
			test_fail(__FILE__, __LINE__, "%s port %d key %c: "
			    "result %d line %d, want %d line %d",
			    cases[i].host, cases[i].port, cases[i].key, got,
			    v.line, (int)cases[i].want, cases[i].line);
		if (got == KH_MISMATCH)
			CHECK_STR(v.known_fingerprint, (k == a ? b : a)->fp);
	}
	free(kh);
	free(text);
	free(tmpl);
	key_free(a);
	key_free(b);
	key_free(r);
}

TEST(knownhosts_several_files_in_order)
{
	struct kh_verdict v;
	struct key *a, *b;
	char *f1, *f2, *missing, *dir, *text, *cause = NULL;
	char *files[4];

	REQUIRE((a = keygen("a", "ed25519", 0)) != NULL);
	REQUIRE((b = keygen("b", "ed25519", 0)) != NULL);
	f1 = tpath("user_known_hosts");
	f2 = tpath("global_known_hosts");
	missing = tpath("no/such/file");
	dir = tpath("adir");
	REQUIRE(mkdir(dir, 0700) == 0);
	xasprintf(&text, "gpu2 %s\n", a->text);
	put(f1, text, strlen(text));
	free(text);
	xasprintf(&text, "#\n#\ngpu1 %s\n@revoked gpu2 %s\n", a->text,
	    a->text);
	put(f2, text, strlen(text));

	files[0] = missing;
	files[1] = f1;
	files[2] = f2;
	files[3] = NULL;
	REQUIRE(knownhosts_check(files, "gpu1", 22, a->blob, a->len, &v,
	    &cause) == 0);
	CHECK_INT(v.result, KH_MATCH);
	CHECK_STR(v.file, f2);
	CHECK_INT(v.line, 3);
	/* Matched in the first file, revoked in the second: refused. */
	REQUIRE(knownhosts_check(files, "gpu2", 22, a->blob, a->len, &v,
	    &cause) == 0);
	CHECK_INT(v.result, KH_REVOKED);
	CHECK_STR(v.file, f2);
	CHECK_INT(v.line, 4);
	REQUIRE(knownhosts_check(files, "gpu3", 22, a->blob, a->len, &v,
	    &cause) == 0);
	CHECK_INT(v.result, KH_NOTFOUND);
	REQUIRE(knownhosts_check(NULL, "gpu1", 22, a->blob, a->len, &v,
	    &cause) == 0);
	CHECK_INT(v.result, KH_NOTFOUND);

	/* An unreadable file is an error that names it. */
	files[1] = dir;
	CHECK(knownhosts_check(files, "gpu1", 22, a->blob, a->len, &v,
	    &cause) == -1);
	CHECK(cause != NULL && strstr(cause, dir) != NULL);
	free(cause);
	cause = NULL;
	/* So is a key that is not an SSH key blob. */
	files[1] = f1;
	CHECK(knownhosts_check(files, "gpu1", 22, a->blob, 10, &v, &cause) ==
	    -1);
	CHECK(cause != NULL && strstr(cause, "gpu1") != NULL);
	free(cause);

	free(text);
	free(f1);
	free(f2);
	free(missing);
	free(dir);
	key_free(a);
	key_free(b);
}

TEST(knownhosts_add_is_found_by_ssh_keygen)
{
	static const char old[] = "# keep me\nold ssh-ed25519 "
	    "AAAAC3NzaC1lZDI1NTE5AAAAIAAAAAAAAAAAAAAA"
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAA";
	struct kh_verdict v;
	struct key *a, *r;
	struct stat st;
	char *kh, *dir, *cmd, *out, *text, *cause = NULL, *nl;

	REQUIRE((a = keygen("a", "ed25519", 0)) != NULL);
	REQUIRE((r = keygen("r", "rsa", 2048)) != NULL);
	dir = tpath("home/.ssh");
	kh = tpath("home/.ssh/known_hosts");
	REQUIRE(knownhosts_add(kh, "GPU1", 22, a->blob, a->len, 0, &cause) ==
	    0);
	REQUIRE(stat(kh, &st) == 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	REQUIRE(stat(dir, &st) == 0);
	CHECK_INT(st.st_mode & 0777, 0700);
	text = slurp(kh);
	xasprintf(&cmd, "gpu1 %s\n", a->text);
	CHECK_STR(text, cmd);
	free(cmd);
	free(text);

	CHECK(knownhosts_add(kh, "gpu2", 0, r->blob, r->len, 1, &cause) == 0);
	CHECK(knownhosts_add(kh, "gpu3", 2222, a->blob, a->len, 1, &cause) ==
	    0);
	CHECK(knownhosts_add(kh, "gpu4", 2200, a->blob, a->len, 0, &cause) ==
	    0);
	text = slurp(kh);
	CHECK((nl = strchr(text, '\n')) != NULL && strncmp(nl + 1, "|1|", 3) ==
	    0);
	CHECK(strstr(text, "gpu2") == NULL && strstr(text, "gpu3") == NULL);
	CHECK(strstr(text, "\n[gpu4]:2200 ssh-ed25519 ") != NULL);
	free(text);

	xasprintf(&cmd, "ssh-keygen -F gpu1 -f %s", kh);
	CHECK_INT(shell(cmd, &out), 0);
	CHECK(strstr(out, a->text) != NULL);
	free(out);
	free(cmd);
	xasprintf(&cmd, "ssh-keygen -F gpu2 -f %s", kh);
	CHECK_INT(shell(cmd, &out), 0);
	CHECK(strstr(out, "found: line 2") != NULL);
	CHECK(strstr(out, r->text + strlen("ssh-rsa ")) != NULL);
	free(out);
	free(cmd);
	xasprintf(&cmd, "ssh-keygen -F '[gpu3]:2222' -f %s", kh);
	CHECK_INT(shell(cmd, &out), 0);
	CHECK(strstr(out, "found: line 3") != NULL);
	free(out);
	free(cmd);
	xasprintf(&cmd, "ssh-keygen -F '[gpu4]:2200' -f %s", kh);
	CHECK_INT(shell(cmd, &out), 0);
	free(out);
	free(cmd);
	xasprintf(&cmd, "ssh-keygen -F gpu3 -f %s", kh);	/* port 22 */
	CHECK_INT(shell(cmd, &out), 1);
	free(out);
	free(cmd);

	CHECK_INT(check1(kh, "gpu2", 22, r, &v), KH_MATCH);
	CHECK_INT(v.line, 2);
	CHECK_INT(check1(kh, "gpu3", 2222, a, &v), KH_MATCH);
	CHECK_INT(check1(kh, "gpu3", 22, a, &v), KH_NOTFOUND);

	/* Appending keeps what is there, even without a final newline. */
	put(kh, old, sizeof old - 1);
	CHECK(knownhosts_add(kh, "gpu5", 22, a->blob, a->len, 1, &cause) ==
	    0);
	text = slurp(kh);
	CHECK(strncmp(text, old, sizeof old - 1) == 0);
	CHECK(strncmp(text + sizeof old - 1, "\n|1|", 4) == 0);
	CHECK_INT(check1(kh, "gpu5", 22, a, &v), KH_MATCH);
	CHECK_INT(v.line, 3);
	free(text);

	free(kh);
	free(dir);
	key_free(a);
	key_free(r);
}

TEST(knownhosts_add_refuses_what_would_break_the_file)
{
	static const char *const bad[] = {
		"", "a b", "a,b", "x\ny", "*", "gpu?", "!gpu", "@revoked",
		"|1|x", "[gpu]:22", "gpu\t", "h\xc3\xbc",
	};
	struct key *a;
	struct stat st;
	char *kh, *cause = NULL;
	size_t i;

	REQUIRE((a = keygen("a", "ed25519", 0)) != NULL);
	kh = tpath("known_hosts");
	for (i = 0; i < nitems(bad); i++) {
		if (knownhosts_add(kh, bad[i], 22, a->blob, a->len, 0,
		    &cause) != -1)
			test_fail(__FILE__, __LINE__, "added \"%s\"", bad[i]);
		else
			CHECK(cause != NULL && strstr(cause, kh) != NULL);
		free(cause);
		cause = NULL;
	}
	CHECK(knownhosts_add(kh, "gpu", 65536, a->blob, a->len, 0, &cause) ==
	    -1);
	free(cause);
	cause = NULL;
	CHECK(knownhosts_add(kh, "gpu", 22, a->blob, a->len - 1, 0, &cause) ==
	    -1);
	free(cause);
	CHECK(stat(kh, &st) == -1);	/* nothing was created */
	free(kh);
	key_free(a);
}

/* Thousands of mutated and random lines, made from an entry for the same
 * host with another key: never a crash, never a match or a revocation from
 * junk, and the real entry at the end is still found. */
TEST(knownhosts_hostile_lines)
{
	static const char alpha[] = "|1[]:*?!,@ \tAa=+/#\x01\xff";
	struct kh_verdict v;
	struct key *a, *b;
	struct buf t;
	unsigned long long x = 0x2545f4914f6cdd1dULL;
	char *kh, *other, *p;
	size_t i, j, n, len, lines = 0;

	REQUIRE((a = keygen("a", "ed25519", 0)) != NULL);
	REQUIRE((b = keygen("b", "ed25519", 0)) != NULL);
	xasprintf(&other, "gpu1 %s", b->text);
	len = strlen(other);
	buf_init(&t);
	for (i = 0; i < 4000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		n = (size_t)(x % len);
		switch (i % 4) {
		case 0:		/* cut short */
			buf_add(&t, other, n);
			break;
		case 1:		/* one byte changed */
			buf_addstr(&t, other);
			p = t.data + t.len - len + n;
			*p = alpha[(x >> 20) % (sizeof alpha - 1)];
			break;
		default:	/* noise from the characters that matter */
			for (j = 0; j < n % 90; j++)
				buf_addch(&t, alpha[(x >> (j % 40)) %
				    (sizeof alpha - 1)]);
			break;
		}
		buf_addch(&t, '\n');
		lines++;
	}
	kh = tpath("known_hosts");
	put(kh, t.data, t.len);
	CHECK(check1(kh, "gpu1", 22, a, &v) == KH_MISMATCH);
	CHECK_STR(v.known_fingerprint, b->fp);
	buf_printf(&t, "gpu1 %s\n", a->text);
	put(kh, t.data, t.len);
	CHECK_INT(check1(kh, "gpu1", 22, a, &v), KH_MATCH);
	CHECK_INT(v.line, lines + 1);
	free(kh);
	free(other);
	buf_free(&t);
	key_free(a);
	key_free(b);
}
