/*
 * common.h - code both drover programs link: allocation wrappers, logging,
 * growable buffers, the poll loop with timers and a signal self-pipe, the
 * wire protocol (docs/protocol.md) and small file helpers.
 *
 * This header is the only public interface of common/.
 */
#ifndef DROVER_COMMON_H
#define DROVER_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#define DROVER_VERSION "0.1.0"

#if defined(__GNUC__)
#define PRINTFLIKE(a, b) __attribute__((format(printf, a, b)))
#define NORETURN __attribute__((noreturn))
#else
#define PRINTFLIKE(a, b)
#define NORETURN
#endif

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

/* xmalloc.c: allocation that aborts with a message on failure. */
void *xmalloc(size_t);
void *xcalloc(size_t, size_t);
void *xrealloc(void *, size_t);
void *xreallocarray(void *, size_t, size_t);
char *xstrdup(const char *);
char *xstrndup(const char *, size_t);
int xasprintf(char **, const char *, ...) PRINTFLIKE(2, 3);
int xvasprintf(char **, const char *, va_list) PRINTFLIKE(2, 0);
/* Zeroed arenas of whole 2 MiB pages, transparent huge pages where the
 * kernel allows (first touch of 4 KiB pages is the cost of a large load). */
#define XHUGE_PAGE	((size_t)2 << 20)
void *xhuge_alloc(size_t);		/* size rounded up by xhuge_size */
size_t xhuge_size(size_t);
void xhuge_free(void *, size_t);

/* strv.c: NULL-terminated vectors of strings. */
char **strv_dup(char *const *);		/* deep copy; NULL gives an empty one */
size_t strv_len(char *const *);
void strv_free(char **);			/* NULL is fine */

/* log.c: leveled logging to stderr or a file; fatal() adds strerror(errno). */
enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };
void log_init(const char *prog, enum log_level, int fd);
void log_set_level(enum log_level);
void log_msg(enum log_level, const char *, ...) PRINTFLIKE(2, 3);
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
NORETURN void fatal(const char *, ...) PRINTFLIKE(1, 2);
NORETURN void fatalx(const char *, ...) PRINTFLIKE(1, 2);

/* buf.c: a growable byte buffer; the struct is a plain value. */
struct buf {
	char *data;
	size_t len;
	size_t cap;
};
void buf_init(struct buf *);
void buf_free(struct buf *);
void buf_reset(struct buf *);
void buf_reserve(struct buf *, size_t);
void buf_add(struct buf *, const void *, size_t);
void buf_addstr(struct buf *, const char *);
void buf_addch(struct buf *, char);
void buf_printf(struct buf *, const char *, ...) PRINTFLIKE(2, 3);
void buf_drain(struct buf *, size_t);
const char *buf_cstr(struct buf *);	/* NUL-terminated view, borrowed */
/* Calls fn for each complete '\n'-terminated line (without it; empty lines
 * skipped) and drains them; a partial line stays. Returns 1 when what
 * stays is longer than max (the caller decides what to do), else 0. */
int buf_each_line(struct buf *, size_t max,
    void (*fn)(const char *, size_t, void *), void *);
char *buf_steal(struct buf *);		/* caller frees; buffer is reset */
/*
 * The lines of a stream read in chunks, each line at most max bytes: fn
 * gets each complete line (without its '\n'; empty lines skipped). A line
 * over max is dropped whole, its start and the rest up to its newline, so
 * that its tail is never taken for a line. Returns how many lines this
 * call dropped. A zeroed struct is ready; linesplit_reset() forgets a
 * partial line (a stream that ended), linesplit_free() frees.
 */
struct linesplit {
	struct buf b;
	int skipping;		/* inside a dropped line, up to its '\n' */
};
size_t linesplit_feed(struct linesplit *, size_t max, const char *, size_t,
    void (*fn)(const char *, size_t, void *), void *);
void linesplit_reset(struct linesplit *);
void linesplit_free(struct linesplit *);

/* clock.c */
uint64_t clock_mono_ms(void);
double clock_mono_s(void);
int64_t clock_wall_ms(void);

/* loop.c: one poll(2) loop: fds, one-shot timers, signals via self-pipe. */
struct loop;
typedef void (*loop_fd_cb)(int fd, short revents, void *arg);
typedef void (*loop_timer_cb)(void *arg);
typedef void (*loop_signal_cb)(int sig, void *arg);
struct loop *loop_new(void);
void loop_free(struct loop *);
void loop_add_fd(struct loop *, int fd, short events, loop_fd_cb, void *);
void loop_set_events(struct loop *, int fd, short events);
void loop_del_fd(struct loop *, int fd);
uint64_t loop_timer_add(struct loop *, uint64_t ms, loop_timer_cb, void *);
void loop_timer_cancel(struct loop *, uint64_t id);	/* 0 is ignored */
void loop_signal(struct loop *, int sig, loop_signal_cb, void *);
int loop_run_once(struct loop *, int max_wait_ms);
void loop_run(struct loop *);	/* until loop_stop() */
void loop_stop(struct loop *);

/* fileutil.c */
int fd_set_nonblock(int);
int fd_set_cloexec(int);
ssize_t read_full(int, void *, size_t);		/* retries EINTR; short only at EOF */
int write_full(int, const void *, size_t);	/* 0 or -1 */
/* As much as the fd takes (a full disk may take part): the bytes written;
 * errno is set when that is short. */
size_t write_some(int, const void *, size_t);
int file_read_all(const char *path, size_t cap, struct buf *, char **cause);
/* Up to size - 1 bytes of a small file, NUL-terminated; -1 if unreadable
 * or empty. O_NOFOLLOW when nofollow. */
ssize_t file_read_small(const char *path, char *, size_t, int nofollow);
int file_write_atomic(const char *path, const void *, size_t, mode_t,
    char **cause);
int proc_start_time(pid_t, uint64_t *);	/* /proc/PID/stat field 22 */
/* A field of /proc/self/status in kB ("VmRSS:", "VmHWM:"), or -1. */
long proc_status_kb(const char *field);
int proc_alive(pid_t, uint64_t start_time);	/* same pid and start time */

/* proto.c: the wire protocol (docs/protocol.md). */
#define PROTO_VERSION 1
#define PROTO_MAX_LINE (1024 * 1024)	/* bytes, newline excluded */
#define PROTO_MAX_DEPTH 32

enum proto_type {
	PROTO_UNKNOWN = 0,
	PROTO_HELLO,
	PROTO_STATE,
	PROTO_METRIC,
	PROTO_LOG,
	PROTO_TELEMETRY,
	PROTO_CKPT,
	PROTO_HB,
	PROTO_ERROR,
};
const char *proto_type_name(enum proto_type);
enum proto_type proto_type_of(const json_t *);

/* Decode one line (no newline) into an object that has a string "type".
 * Returns NULL and sets *cause on a line that is too long, too deep, not
 * JSON, not an object, or lacks "type"; the caller counts it and goes on. */
json_t *proto_decode_line(const char *, size_t, char **cause);
/* The checks proto_decode_line makes before parsing (length, NUL, depth),
 * for other readers of JSON lines (the jsonl log parser): 0, or -1 and
 * *cause (may be NULL: not set). */
int proto_check_line(const char *, size_t, char **cause);
/* Encode compactly as one line with a trailing newline; caller frees. */
char *proto_encode_line(const json_t *, size_t *lenp);

/* Walks JSON text a byte at a time: 1 when the byte is part of a string
 * (its quotes included), so callers can skip strings' contents. */
struct json_scan {
	int in_str;
	int esc;
};
int json_scan_byte(struct json_scan *, char);

/* Numbers: non-finite values travel as the strings "nan", "inf", "-inf". */
void proto_set_number(json_t *, const char *key, double);
int proto_get_number(const json_t *, const char *key, double *);
int proto_get_int(const json_t *, const char *key, int64_t *);
const char *proto_get_string(const json_t *, const char *key);

json_t *proto_hello_new(const char *run, int64_t last_seq);
/* A JSON string from arbitrary bytes: invalid UTF-8 and NUL become U+FFFD. */
json_t *proto_string(const char *, size_t);
/* Length (1-4) of the valid UTF-8 sequence at p (of n bytes), 0 when it is
 * invalid, overlong, a surrogate or cut short. An ASCII byte is 1. */
size_t utf8_len(const unsigned char *p, size_t n);

/* Commands on the attach channel. */
enum proto_cmd_kind { PROTO_CMD_STOP, PROTO_CMD_SIGNAL };
struct proto_cmd {
	enum proto_cmd_kind kind;
	int grace_s;
	int sig;
};
int proto_cmd_parse(const char *, size_t, struct proto_cmd *, char **cause);
char *proto_cmd_encode(const struct proto_cmd *);
int proto_signal_from_name(const char *);
const char *proto_signal_name(int);

#endif
