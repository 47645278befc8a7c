/*
 * knownhosts.c - OpenSSH known_hosts files, read and appended by our own
 * code: libssh2's reader stops silently at the first line it cannot parse,
 * and drover must know which line holds the key it is refusing.
 *
 * A line (sshd(8), "SSH_KNOWN_HOSTS FILE FORMAT") is
 *	[@marker] hosts keytype base64-blob [comment]
 * where hosts is a comma list of names and patterns (* ?, !negation,
 * [host]:port for ports other than 22) or one hashed name |1|salt|hmac
 * (HMAC-SHA1 of the name, keyed with the salt). Host names compare without
 * regard to case, as OpenSSH lowercases them. The key type is the one the
 * blob names (its first SSH string); a line whose type field disagrees with
 * its blob is not used, as in OpenSSH.
 *
 * The host is looked up as "host" for port 22 (or 0) and as "[host]:port"
 * otherwise, as OpenSSH does; "~/" in a file name is $HOME.
 *
 * Verdicts, over every line of every file: a matching @revoked line with
 * this very key refuses it (KH_REVOKED); else any matching line with this
 * key accepts it (KH_MATCH); else a matching line with another key of the
 * same type is KH_MISMATCH; else KH_NOTFOUND, also when the host is known
 * only under other key types.
 *
 * Not here: certificates (@cert-authority lines are skipped), CheckHostIP,
 * RevokedHostKeys files, and removing or rewriting lines (ssh-keygen -R).
 * knownhosts_add() only ever appends.
 */
#include "remote.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define KH_MAX_FILE	(64 * 1024 * 1024)
#define KH_MAX_BLOB	(64 * 1024)
#define KH_MAX_TYPE	64
#define KH_MAX_HOST	1024
#define KH_SHA1_LEN	20

static const char kh_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* ---- base64 and the SSH wire format -------------------------------------- */

static void
kh_b64_encode(struct buf *b, const unsigned char *p, size_t n, int pad)
{
	uint32_t v;
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		buf_addch(b, kh_b64[v >> 18]);
		buf_addch(b, kh_b64[(v >> 12) & 63]);
		buf_addch(b, kh_b64[(v >> 6) & 63]);
		buf_addch(b, kh_b64[v & 63]);
	}
	if (n - i == 1) {
		v = (uint32_t)p[i] << 16;
		buf_addch(b, kh_b64[v >> 18]);
		buf_addch(b, kh_b64[(v >> 12) & 63]);
		if (pad)
			buf_addstr(b, "==");
	} else if (n - i == 2) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		buf_addch(b, kh_b64[v >> 18]);
		buf_addch(b, kh_b64[(v >> 12) & 63]);
		buf_addch(b, kh_b64[(v >> 6) & 63]);
		if (pad)
			buf_addch(b, '=');
	}
}

static int
kh_b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decodes s[0..len) (padding optional) into out, at most cap bytes.
 * Returns the length or -1 when s is not base64 or too long. */
static ssize_t
kh_b64_decode(const char *s, size_t len, unsigned char *out, size_t cap)
{
	uint32_t acc = 0;
	size_t i, n = 0, bits = 0, npad = 0;
	int v;

	while (len > 0 && s[len - 1] == '=' && npad < 2) {
		len--;
		npad++;
	}
	if (len % 4 == 1 || (npad > 0 && (len + npad) % 4 != 0))
		return -1;
	for (i = 0; i < len; i++) {
		if ((v = kh_b64_value((unsigned char)s[i])) == -1)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == cap)
				return -1;
			out[n++] = (unsigned char)(acc >> bits);
			acc &= (1U << bits) - 1;
		}
	}
	if (acc != 0)		/* stray bits: not a canonical encoding */
		return -1;
	return (ssize_t)n;
}

/* Reads one SSH string at *off; -1 when it runs past the end. */
static int
kh_string(const unsigned char *p, size_t len, size_t *off, size_t *slen)
{
	uint32_t n;

	if (len - *off < 4)
		return -1;
	n = (uint32_t)p[*off] << 24 | (uint32_t)p[*off + 1] << 16 |
	    (uint32_t)p[*off + 2] << 8 | p[*off + 3];
	*off += 4;
	if (n > len - *off)
		return -1;
	*slen = n;
	*off += n;
	return 0;
}

/*
 * The key type a blob names (its first string: printable, 1..KH_MAX_TYPE
 * bytes) when the blob is well formed: nothing but SSH strings up to its
 * end, as many as its type has (an ed25519 key is 32 bytes; other and
 * unknown types at least two strings). Returns the type's length
 * (*typep points into the blob) or 0.
 */
static size_t
kh_blob_type(const unsigned char *key, size_t keylen, const char **typep)
{
	static const struct {
		const char *type;
		int nstrings;
	} shapes[] = {
		{ "ssh-ed25519", 2 }, { "ssh-rsa", 3 }, { "ssh-dss", 5 },
		{ "ecdsa-sha2-nistp256", 3 }, { "ecdsa-sha2-nistp384", 3 },
		{ "ecdsa-sha2-nistp521", 3 },
	};
	size_t off = 0, tlen, slen = 0, i;
	const char *type;
	int n = 1, want = -1;

	if (key == NULL || keylen > KH_MAX_BLOB ||
	    kh_string(key, keylen, &off, &tlen) != 0 || tlen == 0 ||
	    tlen > KH_MAX_TYPE)
		return 0;
	type = (const char *)key + 4;
	for (i = 0; i < tlen; i++) {
		if ((unsigned char)type[i] <= 0x20 ||
		    (unsigned char)type[i] >= 0x7f)
			return 0;
	}
	while (off < keylen) {
		if (kh_string(key, keylen, &off, &slen) != 0)
			return 0;
		n++;
	}
	for (i = 0; i < nitems(shapes); i++) {
		if (strlen(shapes[i].type) == tlen &&
		    memcmp(shapes[i].type, type, tlen) == 0)
			want = shapes[i].nstrings;
	}
	if (want != -1 ? n != want : n < 2)
		return 0;
	if (want == 2 && slen != 32)	/* ed25519 */
		return 0;
	*typep = type;
	return tlen;
}

enum kh_keytype
knownhosts_keytype(const unsigned char *key, size_t keylen)
{
	static const struct {
		const char *name;
		enum kh_keytype type;
	} types[] = {
		{ "ssh-rsa", KH_KEY_RSA },
		{ "ssh-dss", KH_KEY_DSS },
		{ "ecdsa-sha2-nistp256", KH_KEY_ECDSA_256 },
		{ "ecdsa-sha2-nistp384", KH_KEY_ECDSA_384 },
		{ "ecdsa-sha2-nistp521", KH_KEY_ECDSA_521 },
		{ "ssh-ed25519", KH_KEY_ED25519 },
	};
	const char *type;
	size_t len, i;

	if ((len = kh_blob_type(key, keylen, &type)) == 0)
		return KH_KEY_UNKNOWN;
	for (i = 0; i < nitems(types); i++) {
		if (strlen(types[i].name) == len &&
		    memcmp(types[i].name, type, len) == 0)
			return types[i].type;
	}
	return KH_KEY_UNKNOWN;
}

void
knownhosts_fingerprint(const unsigned char *key, size_t keylen, char *out,
    size_t outlen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	struct buf b;

	if (outlen == 0)
		return;
	buf_init(&b);
	buf_addstr(&b, "SHA256:");
	if (EVP_Digest(key, keylen, md, &mdlen, EVP_sha256(), NULL) != 1)
		fatalx("knownhosts_fingerprint: SHA-256 failed");
	kh_b64_encode(&b, md, mdlen, 0);
	snprintf(out, outlen, "%s", buf_cstr(&b));
	buf_free(&b);
}

/* ---- host matching ------------------------------------------------------- */

static unsigned char
kh_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

/* '*' and '?' glob without regard to ASCII case; iterative, so a hostile
 * pattern costs at most len(p) * len(s) steps. */
static int
kh_glob(const char *p, size_t plen, const char *s, size_t slen)
{
	size_t pi = 0, si = 0, star = SIZE_MAX, mark = 0;

	while (si < slen) {
		if (pi < plen && p[pi] == '*') {
			star = pi++;
			mark = si;
		} else if (pi < plen && (p[pi] == '?' ||
		    kh_lower((unsigned char)p[pi]) ==
		    kh_lower((unsigned char)s[si]))) {
			pi++;
			si++;
		} else if (star != SIZE_MAX) {
			pi = star + 1;
			si = ++mark;
		} else
			return 0;
	}
	while (pi < plen && p[pi] == '*')
		pi++;
	return pi == plen;
}

/* |1|salt|hmac: the HMAC-SHA1 of name keyed with salt. */
static int
kh_match_hashed(const char *field, const char *name, size_t namelen)
{
	unsigned char salt[64], want[64], got[EVP_MAX_MD_SIZE];
	const char *bar;
	unsigned int gotlen = 0;
	ssize_t saltlen, wantlen;

	field += 3;
	if ((bar = strchr(field, '|')) == NULL)
		return -1;
	saltlen = kh_b64_decode(field, (size_t)(bar - field), salt,
	    sizeof salt);
	wantlen = kh_b64_decode(bar + 1, strlen(bar + 1), want, sizeof want);
	if (saltlen <= 0 || wantlen != KH_SHA1_LEN)
		return -1;
	if (HMAC(EVP_sha1(), salt, (int)saltlen, (const unsigned char *)name,
	    namelen, got, &gotlen) == NULL || gotlen != KH_SHA1_LEN)
		return -1;
	return CRYPTO_memcmp(got, want, KH_SHA1_LEN) == 0;
}

/* 1 when the hosts field matches name, 0 when not (or a negated pattern
 * matches), -1 when the field cannot be read. */
static int
kh_match_hosts(const char *field, const char *name, size_t namelen)
{
	const char *p = field, *comma;
	size_t plen;
	int hit = 0;

	if (strncmp(field, "|1|", 3) == 0)
		return kh_match_hashed(field, name, namelen);
	if (field[0] == '|')
		return -1;	/* another hash scheme */
	for (;;) {
		comma = strchr(p, ',');
		plen = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (plen > 0 && p[0] == '!') {
			if (kh_glob(p + 1, plen - 1, name, namelen))
				return 0;
		} else if (kh_glob(p, plen, name, namelen))
			hit = 1;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return hit;
}

/* ---- reading ------------------------------------------------------------- */

/* The next word of *sp (blanks separate), NUL-terminated in place. */
static char *
kh_word(char **sp)
{
	char *s = *sp, *w;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0') {
		*sp = s;
		return NULL;
	}
	w = s;
	while (*s != '\0' && *s != ' ' && *s != '\t')
		s++;
	if (*s != '\0')
		*s++ = '\0';
	*sp = s;
	return w;
}

struct kh_query {
	char *name;			/* "host" or "[host]:port", lowercase */
	size_t namelen;
	const unsigned char *key;
	size_t keylen;
	const char *type;		/* the offered blob's type, borrowed */
	size_t typelen;
	unsigned char *blob;		/* scratch, KH_MAX_BLOB */
	struct kh_verdict *v;
	size_t skipped;
};

static void
kh_where(struct kh_verdict *v, const char *file, int line)
{
	snprintf(v->file, sizeof v->file, "%s", file);
	v->line = line;
}

/* One line (NUL-terminated, newline removed). Returns 0 when it was used
 * or is not for this host, -1 when it cannot be parsed. */
static int
kh_line(struct kh_query *q, const char *file, int lineno, char *s)
{
	char *marker = NULL, *hosts, *typefield, *b64;
	const char *type;
	size_t typelen;
	ssize_t len;
	int m, revoked = 0;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0' || *s == '#')
		return 0;
	if (*s == '@') {
		marker = kh_word(&s);
		if (strcmp(marker, "@cert-authority") == 0)
			return 0;
		if (strcmp(marker, "@revoked") != 0)
			return -1;
		revoked = 1;
	}
	hosts = kh_word(&s);
	typefield = kh_word(&s);
	b64 = kh_word(&s);
	if (hosts == NULL || typefield == NULL || b64 == NULL)
		return -1;
	if ((m = kh_match_hosts(hosts, q->name, q->namelen)) != 1)
		return m;
	len = kh_b64_decode(b64, strlen(b64), q->blob, KH_MAX_BLOB);
	if (len <= 0 || (typelen = kh_blob_type(q->blob, (size_t)len,
	    &type)) == 0)
		return -1;
	if (strlen(typefield) != typelen ||
	    memcmp(typefield, type, typelen) != 0)
		return -1;
	if (typelen != q->typelen || memcmp(type, q->type, typelen) != 0)
		return 0;	/* another key type: no opinion */
	if ((size_t)len == q->keylen && memcmp(q->blob, q->key, q->keylen) ==
	    0) {
		if (revoked) {
			if (q->v->result != KH_REVOKED) {
				q->v->result = KH_REVOKED;
				kh_where(q->v, file, lineno);
				snprintf(q->v->known_fingerprint,
				    sizeof q->v->known_fingerprint, "%s",
				    q->v->fingerprint);
			}
		} else if (q->v->result == KH_NOTFOUND ||
		    q->v->result == KH_MISMATCH) {
			q->v->result = KH_MATCH;
			kh_where(q->v, file, lineno);
			q->v->known_fingerprint[0] = '\0';
		}
	} else if (!revoked && q->v->result == KH_NOTFOUND) {
		q->v->result = KH_MISMATCH;
		kh_where(q->v, file, lineno);
		knownhosts_fingerprint(q->blob, (size_t)len,
		    q->v->known_fingerprint, sizeof q->v->known_fingerprint);
	}
	return 0;
}

/* "~/x" is $HOME/x, as ssh -G prints UserKnownHostsFile. Caller frees. */
static char *
kh_expand(const char *path)
{
	const char *home = getenv("HOME");
	char *out;

	if (path[0] == '~' && path[1] == '/' && home != NULL && *home != '\0')
		xasprintf(&out, "%s%s", home, path + 1);
	else
		out = xstrdup(path);
	return out;
}

static int
kh_file(struct kh_query *q, const char *path, char **cause)
{
	struct stat st;
	struct buf b;
	char *inner = NULL, *line, *nl, *end;
	int lineno = 0;

	if (stat(path, &st) == -1 && (errno == ENOENT || errno == ENOTDIR))
		return 0;
	buf_init(&b);
	if (file_read_all(path, KH_MAX_FILE, &b, &inner) != 0) {
		xasprintf(cause, "known_hosts file %s; fix or remove it",
		    inner);
		free(inner);
		buf_free(&b);
		return -1;
	}
	line = (char *)buf_cstr(&b);
	end = line + b.len;
	while (line < end && q->v->result != KH_REVOKED) {
		if ((nl = memchr(line, '\n', (size_t)(end - line))) != NULL)
			*nl = '\0';
		else
			nl = end;
		if (nl > line && nl[-1] == '\r')
			nl[-1] = '\0';
		if (lineno < INT_MAX)
			lineno++;
		if (kh_line(q, path, lineno, line) != 0)
			q->skipped++;
		line = nl + 1;
	}
	buf_free(&b);
	return 0;
}

int
knownhosts_check(char *const *files, const char *host, int port,
    const unsigned char *key, size_t keylen, struct kh_verdict *v,
    char **cause)
{
	struct kh_query q;
	char *path;
	size_t i;
	int rc = 0;

	memset(v, 0, sizeof *v);
	v->result = KH_NOTFOUND;
	memset(&q, 0, sizeof q);
	if ((q.typelen = kh_blob_type(key, keylen, &q.type)) == 0) {
		xasprintf(cause, "%s: the host key the server sent is not an "
		    "SSH public key (%zu bytes)", host, keylen);
		return -1;
	}
	if (port < 0 || port > 65535) {
		xasprintf(cause, "%s: port %d is out of range", host, port);
		return -1;
	}
	knownhosts_fingerprint(key, keylen, v->fingerprint,
	    sizeof v->fingerprint);
	snprintf(v->keytype_name, sizeof v->keytype_name, "%.*s",
	    (int)q.typelen, q.type);
	if (port == 0 || port == 22)
		xasprintf(&q.name, "%s", host);
	else
		xasprintf(&q.name, "[%s]:%d", host, port);
	for (i = 0; q.name[i] != '\0'; i++)
		q.name[i] = (char)kh_lower((unsigned char)q.name[i]);
	q.namelen = i;
	q.key = key;
	q.keylen = keylen;
	q.v = v;
	q.blob = xmalloc(KH_MAX_BLOB);
	for (i = 0; files != NULL && files[i] != NULL; i++) {
		path = kh_expand(files[i]);
		q.skipped = 0;
		rc = kh_file(&q, path, cause);
		if (q.skipped > 0)
			log_debug("%s: skipped %zu line%s that could not be "
			    "read", path, q.skipped, q.skipped == 1 ? "" : "s");
		free(path);
		if (rc != 0 || v->result == KH_REVOKED)
			break;
	}
	free(q.blob);
	free(q.name);
	return rc;
}

/* ---- appending ----------------------------------------------------------- */

/* Makes the missing directories above path, 0700. */
static int
kh_mkdirs(const char *path, char **cause)
{
	char *dir = xstrdup(path), *p, c;
	struct stat st;
	int rc = -1;

	if ((p = strrchr(dir, '/')) == NULL || p == dir) {
		rc = 0;
		goto out;
	}
	*p = '\0';
	if (stat(dir, &st) == 0) {
		rc = 0;
		goto out;
	}
	for (p = dir + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		c = *p;
		*p = '\0';
		if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
			xasprintf(cause, "creating %s for %s: %s", dir, path,
			    strerror(errno));
			goto out;
		}
		*p = c;
		if (c == '\0')
			break;
	}
	rc = 0;
out:
	free(dir);
	return rc;
}

/* A name that cannot change the meaning of a known_hosts line. */
static int
kh_host_ok(const char *host)
{
	size_t i;

	if (host[0] == '\0' || host[0] == '@' || strlen(host) > KH_MAX_HOST)
		return 0;
	for (i = 0; host[i] != '\0'; i++) {
		if ((unsigned char)host[i] <= 0x20 ||
		    (unsigned char)host[i] >= 0x7f ||
		    strchr(",*?![]|#", host[i]) != NULL)
			return 0;
	}
	return 1;
}

int
knownhosts_add(const char *file, const char *host, int port,
    const unsigned char *key, size_t keylen, int hash, char **cause)
{
	unsigned char salt[KH_SHA1_LEN], mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	struct buf line;
	const char *type;
	char *name = NULL, *path, last;
	size_t typelen, i;
	struct stat st;
	int fd = -1, rc = -1;

	buf_init(&line);
	path = kh_expand(file);
	if ((typelen = kh_blob_type(key, keylen, &type)) == 0) {
		xasprintf(cause, "%s: the host key is not an SSH public key; "
		    "not adding it to %s", host, path);
		goto out;
	}
	if (!kh_host_ok(host)) {
		xasprintf(cause, "\"%s\" cannot be written to %s as a host "
		    "name", host, path);
		goto out;
	}
	if (port < 0 || port > 65535) {
		xasprintf(cause, "%s: port %d is out of range", host, port);
		goto out;
	}
	if (port == 0 || port == 22)
		name = xstrdup(host);
	else
		xasprintf(&name, "[%s]:%d", host, port);
	for (i = 0; name[i] != '\0'; i++)
		name[i] = (char)kh_lower((unsigned char)name[i]);

	if (hash) {
		if (RAND_bytes(salt, sizeof salt) != 1) {
			xasprintf(cause, "no random bytes to hash %s for %s",
			    host, path);
			goto out;
		}
		if (HMAC(EVP_sha1(), salt, sizeof salt,
		    (const unsigned char *)name, strlen(name), mac,
		    &maclen) == NULL || maclen != KH_SHA1_LEN)
			fatalx("knownhosts_add: HMAC-SHA1 failed");
		buf_addstr(&line, "|1|");
		kh_b64_encode(&line, salt, sizeof salt, 1);
		buf_addch(&line, '|');
		kh_b64_encode(&line, mac, maclen, 1);
	} else
		buf_addstr(&line, name);
	buf_addch(&line, ' ');
	buf_add(&line, type, typelen);
	buf_addch(&line, ' ');
	kh_b64_encode(&line, key, keylen, 1);
	buf_addch(&line, '\n');

	if (kh_mkdirs(path, cause) != 0)
		goto out;
	fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1 || fstat(fd, &st) == -1)
		goto fail;
	/* Never glue onto a last line that lacks its newline. */
	if (st.st_size > 0) {
		if (pread(fd, &last, 1, st.st_size - 1) != 1)
			goto fail;
		if (last != '\n') {
			buf_reserve(&line, 1);
			memmove(line.data + 1, line.data, line.len);
			line.data[0] = '\n';
			line.len++;
		}
	}
	if (write_full(fd, line.data, line.len) == -1 || fsync(fd) == -1)
		goto fail;
	rc = 0;
	goto out;

fail:
	xasprintf(cause, "adding the host key of %s to %s: %s", host, path,
	    strerror(errno));
out:
	if (fd != -1)
		close(fd);
	buf_free(&line);
	free(name);
	free(path);
	return rc;
}
