/*
 * remote.h - the public interface of remote/: host ranges, quoting argv for
 * a remote shell, known_hosts, per-host SSH settings (ssh -G), connections
 * over three transports (libssh2, the OpenSSH client, local) with channels
 * that stream stdin/stdout/stderr, and the fan-out engine that drives
 * hundreds of hosts from one poll loop.
 */
#ifndef DROVER_REMOTE_H
#define DROVER_REMOTE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../common/common.h"

/* ---- hostrange.c: pdsh/ClusterShell host lists ------------------------- */
/*
 * An ordered list of host names; order defines node ranks. Expressions:
 * "node[01-16,20]", "10.0.0.[2-5]", several comma-separated, nested
 * brackets per dotted part ("10.0.[1-2].[5-6]"), "^FILE" (one host or
 * expression per line, '#' comments). A host already in the list is an
 * error naming it (duplicates would break node ranks).
 */
struct hostlist;
struct hostlist *hostlist_new(void);
void hostlist_free(struct hostlist *);
int hostlist_add(struct hostlist *, const char *expr, char **cause);
/* The seed's form: ip_prefix "192.168.203" + ids [2,3,4,5]. */
int hostlist_add_prefix_ids(struct hostlist *, const char *prefix,
    const int64_t *ids, size_t n, char **cause);
/* Removes every host matched by expr (pdsh -x); unknown hosts ignored. */
int hostlist_exclude(struct hostlist *, const char *expr, char **cause);
size_t hostlist_count(const struct hostlist *);
const char *hostlist_get(const struct hostlist *, size_t);

/* ---- quote.c: argv for a remote POSIX shell ----------------------------- */
/* One string that a POSIX sh parses back into exactly these arguments,
 * byte for byte (any bytes but NUL). Caller frees. */
char *remote_quote_argv(char *const *argv);
char *remote_quote_arg(const char *);

/* ---- knownhosts.c: OpenSSH known_hosts ---------------------------------- */
enum kh_keytype {
	KH_KEY_UNKNOWN = 0, KH_KEY_RSA, KH_KEY_DSS, KH_KEY_ECDSA_256,
	KH_KEY_ECDSA_384, KH_KEY_ECDSA_521, KH_KEY_ED25519,
};
enum kh_result { KH_MATCH, KH_MISMATCH, KH_NOTFOUND, KH_REVOKED };
struct kh_verdict {
	enum kh_result result;
	char fingerprint[64];		/* "SHA256:..." of the offered key */
	char known_fingerprint[64];	/* mismatch: the key on file */
	char file[1024];		/* mismatch/match: where */
	int line;
	char keytype_name[32];		/* "ssh-ed25519" ... */
};
/*
 * Checks the key a server offered (its raw blob, as libssh2_session_hostkey
 * returns it) for host:port against each file in turn (missing files are
 * fine). Handles hashed entries (|1|salt|hmac), [host]:port, patterns with
 * * ? and !negation, comma lists, @revoked (never accepted); @cert-authority
 * lines are skipped. A line it cannot parse is skipped and counted, never
 * the end of the file. A different key of the same type is a mismatch; a
 * host known only under other key types is NOTFOUND for this one.
 */
int knownhosts_check(char *const *files, const char *host, int port,
    const unsigned char *key, size_t keylen, struct kh_verdict *,
    char **cause);
/* Appends host[:port] with this key (hashed when hash is set), as
 * OpenSSH's accept-new does; creates the file 0600 if missing. */
int knownhosts_add(const char *file, const char *host, int port,
    const unsigned char *key, size_t keylen, int hash, char **cause);
/* "SHA256:base64" of a key blob. */
void knownhosts_fingerprint(const unsigned char *key, size_t keylen,
    char *out, size_t outlen);
enum kh_keytype knownhosts_keytype(const unsigned char *key, size_t keylen);

/* ---- sshconfig.c: a host's effective settings --------------------------- */
enum rhost_transport { RT_AUTO, RT_LIBSSH2, RT_OPENSSH, RT_LOCAL };
enum rhost_strict { RS_YES, RS_NO, RS_ACCEPT_NEW };
struct rhost_cfg {
	char *name;		/* as the user wrote it */
	char *hostname;		/* to connect to */
	char *user;
	int port;
	char **identity_files;	/* NULL-terminated, ~ expanded */
	char *proxy_jump;	/* NULL: none */
	char **known_hosts;	/* UserKnownHostsFile + GlobalKnownHostsFile */
	enum rhost_strict strict;
	int connect_timeout_s;	/* 0: drover's default */
	int needs_openssh;	/* ProxyJump, certificates, ...: libssh2 can't */
	char *why_openssh;	/* the reason, for the log */
	enum rhost_transport transport;
};
/* Runs `ssh -G HOST` (once per host; callers cache) and fills cfg. */
int sshconfig_resolve(const char *host, struct rhost_cfg *, char **cause);
/* Parses ssh -G output (for tests). */
int sshconfig_parse(const char *host, const char *text, size_t len,
    struct rhost_cfg *, char **cause);
void rhost_cfg_clear(struct rhost_cfg *);
/* sshconfig_group.c: every host's settings from one `ssh -G` per group of
 * hosts that the same Host lines match (checked on the group's last host;
 * one per host where that cannot be trusted). cfgs[i] is filled, or
 * causes[i] set (caller frees); returns the number of failures. */
struct sshconfig_stats {
	int ssh_g_runs;
	int fallbacks;		/* groups that had to be resolved per host */
};
int sshconfig_resolve_many(char *const *hosts, size_t n,
    struct rhost_cfg *cfgs, char **causes, struct sshconfig_stats *);

/* ---- connections and channels (conn.c + transport_*.c) ------------------ */
struct rconn;
struct rchan;

struct rconn_opts {
	int connect_timeout_ms;		/* default 10000 */
	int accept_new;			/* record unknown host keys */
	int keepalive_s;		/* default 15 */
};
/* error: NULL when connected, else "what happened; what to do". */
typedef void (*rconn_ready_cb)(struct rconn *, const char *error, void *);
/* stream: 1 stdout, 2 stderr. */
typedef void (*rchan_data_cb)(struct rchan *, int stream, const char *,
    size_t, void *);
/* status: the command's exit status (128+N for signal N), or -1 with
 * error set when the channel failed (connection lost, ...). */
typedef void (*rchan_done_cb)(struct rchan *, int status, const char *error,
    void *);
typedef void (*rconn_upload_cb)(struct rconn *, int skipped,
    const char *error, void *);

struct rconn *rconn_open(struct loop *, const struct rhost_cfg *,
    const struct rconn_opts *, rconn_ready_cb, void *);
const char *rconn_host(const struct rconn *);
const char *rconn_transport_name(const struct rconn *);
/* Runs command (a remote shell line, see remote_quote_argv). */
struct rchan *rconn_exec(struct rconn *, const char *command, rchan_data_cb,
    rchan_done_cb, void *);
/* Queues stdin bytes; rchan_eof() sends EOF after what is queued. */
void rchan_write(struct rchan *, const void *, size_t);
void rchan_eof(struct rchan *);
/* Atomic upload: temporary name, fsync, rename; skipped when the remote
 * file's sha256 matches. Creates missing directories. */
void rconn_upload(struct rconn *, const char *local, const char *remote,
    mode_t, rconn_upload_cb, void *);
void rconn_close(struct rconn *);
/* Called once, from the loop, when a connection that was up dies (the
 * libssh2 silence timer, a reset, the peer closing). Channel failures are
 * reported to their own callbacks as well. The callback may close conn. */
typedef void (*rconn_lost_cb)(struct rconn *, const char *error, void *);
void rconn_on_lost(struct rconn *, rconn_lost_cb, void *);
/* 1 while connected and not known to be lost. */
int rconn_is_up(const struct rconn *);
/* Why an established connection died, or NULL. Borrowed. */
const char *rconn_lost_error(const struct rconn *);

/* ---- session.c: a connection that comes back by itself ----------------- */
struct rsession;
enum rsession_state {
	RSESS_CONNECTING,	/* a handshake is under way */
	RSESS_UP,		/* rsession_conn() is usable */
	RSESS_DOWN,		/* lost or failed; retrying after a backoff */
	RSESS_FAILED,		/* not retried: host key, auth, config, or a
				 * first connection without retry_first */
	RSESS_CLOSED,
};
struct rsession_opts {
	struct rconn_opts conn;
	int backoff_min_ms;	/* first wait after a loss, default 1000 */
	int backoff_max_ms;	/* cap of the doubling, default 60000 */
	int max_failures;	/* consecutive; 0 = retry for ever */
	int retry_first;	/* retry a first connection that failed */
	int probe_timeout_ms;	/* rsession_suspect()'s check, default 10000 */
};
/* reason: why it is DOWN or FAILED, else NULL. The callback may free the
 * session. */
typedef void (*rsession_state_cb)(struct rsession *, enum rsession_state,
    const char *reason, void *);
struct rsession *rsession_new(struct loop *, const struct rhost_cfg *,
    const struct rsession_opts *, rsession_state_cb, void *);
void rsession_free(struct rsession *);
enum rsession_state rsession_state(const struct rsession *);
const char *rsession_state_name(enum rsession_state);
const char *rsession_host(const struct rsession *);
/* The live connection, or NULL unless RSESS_UP. Borrowed. */
struct rconn *rsession_conn(struct rsession *);
/* A channel failed in a way that may mean the connection is gone (an
 * OpenSSH channel's status 255 is both): check it with a tiny command and
 * reconnect if it does not answer. */
void rsession_suspect(struct rsession *);
/* DOWN or FAILED: try again now, backoff reset (a user's "retry"). */
void rsession_retry_now(struct rsession *);

/* ---- fanout.c: run one command on many hosts ---------------------------- */
struct fanout_opts {
	int window;			/* concurrent handshakes, default 32 */
	int connect_timeout_ms;
	int command_timeout_ms;		/* 0: none */
	int keepalive_s;		/* 0: 15; silent 3x this: lost */
	int accept_new;
	const char *user;		/* override, may be NULL */
	enum rhost_transport transport;	/* RT_AUTO: per host */
	/* Set: upload this file instead of running a command; a host then
	 * ends FO_OK with status 0 (written) or 1 (unchanged, same sha256). */
	const char *upload_local;
	const char *upload_remote;
	mode_t upload_mode;
	/* Set: push the agent built for each host's `uname -m` from
	 * AGENT_DIR/<arch>/drover-agent to $HOME/<agent_remote>; status as
	 * for an upload. An architecture with no build fails the host
	 * (FO_CONFIG) naming it. */
	const char *agent_dir;
	const char *agent_remote;
};
/* The path of the agent built for a `uname -m` answer, or NULL with a
 * cause naming the architecture and what was built. Caller frees. */
char *fanout_agent_for_arch(const char *agent_dir, const char *arch,
    char **cause);
/* Per-host outcome, reported once per host. */
enum fanout_reason {
	FO_OK, FO_EXIT, FO_UNREACHABLE, FO_REFUSED, FO_TIMEOUT, FO_HOSTKEY,
	FO_AUTH, FO_CONFIG, FO_LOST,
};
const char *fanout_reason_name(enum fanout_reason);
/* Which reason an error message from a transport describes. */
enum fanout_reason fanout_classify(const char *error);

/* stream: 1 stdout, 2 stderr; one complete line (no '\n') at a time. */
typedef void (*fanout_line_cb)(const char *host, int stream, const char *,
    size_t, void *);
typedef void (*fanout_done_cb)(const char *host, enum fanout_reason,
    int status, const char *error, void *);
/*
 * Runs command (a remote shell line) on every host at once: at most
 * window handshakes in flight, each host with its own connect timeout, so
 * one dead or slow host never delays the others. Each host's settings are
 * resolved with ssh -G first. Returns when every host has reported; the
 * number of hosts that did not finish with status 0.
 */
int fanout_run(struct loop *, const struct hostlist *, const char *command,
    const struct fanout_opts *, fanout_line_cb, fanout_done_cb, void *);

#endif
