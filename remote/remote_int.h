/*
 * remote_int.h - private to remote/: struct rconn and struct rchan, which
 * conn.c owns, and the table each transport fills in. Transports report
 * back through rconn_ready(), rchan_data() and rchan_done() and never call
 * the user's callbacks themselves.
 */
#ifndef DROVER_REMOTE_INT_H
#define DROVER_REMOTE_INT_H

#include <spawn.h>

#include "remote.h"

struct rtransport_ops {
	const char *name;
	/* Start connecting; call rconn_ready() later (or at once). -1 with
	 * *cause: could not even start. */
	int (*open)(struct rconn *, char **cause);
	/* Start ch->command; report with rchan_data()/rchan_done(). */
	int (*exec)(struct rconn *, struct rchan *, char **cause);
	/* ch->in has new bytes, or ch->in_eof was set: push what can go. */
	void (*kick)(struct rchan *);
	/* Free the transport's part of a channel (after rchan_done()). */
	void (*chan_free)(struct rchan *);
	/* Tear down the connection; channels were already finished. */
	void (*close)(struct rconn *);
};

extern const struct rtransport_ops rtransport_local;
extern const struct rtransport_ops rtransport_openssh;
extern const struct rtransport_ops rtransport_libssh2;

struct rconn {
	struct loop *loop;
	struct rhost_cfg cfg;		/* own copy */
	struct rconn_opts opts;
	const struct rtransport_ops *ops;
	void *tp;			/* the transport's state */
	rconn_ready_cb ready_cb;
	void *ready_arg;
	int ready;			/* 1 connected, -1 failed */
	char *ready_error;		/* ... reported from the loop by */
	uint64_t ready_timer;		/* this timer */
	struct rchan **chans;		/* live channels */
	size_t nchans;
	rconn_lost_cb lost_cb;		/* rconn_on_lost() */
	void *lost_arg;
	char *lost_error;		/* set once the connection died */
	uint64_t lost_timer;		/* delivers lost_cb from the loop */
	int closing;			/* rconn_close() called */
	int in_cb;			/* inside a channel's callback */
	uint64_t close_timer;		/* frees it, closed from a callback */
};

struct rchan {
	struct rconn *conn;
	char *command;
	rchan_data_cb data_cb;
	rchan_done_cb done_cb;
	void *arg;
	struct buf in;			/* stdin not yet sent */
	int in_eof;			/* send EOF once in is empty */
	void *tp;			/* the transport's state */
	int done;
	uint64_t free_timer;		/* frees it after rchan_done() */
	char *early_error;		/* could not start: reported ... */
	uint64_t early_timer;		/* ... from the loop by this timer */
};

void rconn_ready(struct rconn *, const char *error);
/* An established connection died (the transport already failed its
 * channels); reported to rconn_on_lost()'s callback from the loop. */
void rconn_lost(struct rconn *, const char *error);
void rchan_data(struct rchan *, int stream, const char *, size_t);
void rchan_done(struct rchan *, int status, const char *error);

/* proc.c: a child process with stdin/stdout/stderr pipes in the loop,
 * shared by the local and OpenSSH transports. */
struct rproc;
struct rproc *rproc_spawn(struct loop *, char *const *argv, char **env,
    struct rchan *, char **cause);
void rproc_kick(struct rproc *);	/* flush ch->in / EOF */
void rproc_free(struct rproc *);	/* kills if still running */
/* A wait status as a shell reports it: the exit code, 128 + signal. */
int rproc_status(int wstatus);
/* Spawn attributes for every child: its own session, default signal
 * dispositions, an empty mask. Caller destroys. */
void rproc_spawnattr(posix_spawnattr_t *);

/* sshconfig.c: a host name safe to hand to ssh (no '-' first, no blanks
 * or control characters). */
int sshconfig_host_ok(const char *host, char **cause);
/* sshconfig_group.c, exposed for tests. */
int sshconfig_host_line_matches(const char *host, const char *line);
char *sshconfig_retarget(const char *text, size_t len, const char *from,
    const char *to, size_t *outlen);
/* Runs `ssh -G HOST` and appends what it printed to out. */
int sshconfig_ssh_g(const char *host, struct buf *out, char **cause);

#endif
