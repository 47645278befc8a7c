/*
 * fuzz.h - helpers shared by the libFuzzer targets in tests/fuzz/: a
 * cursor over the fuzzer's bytes, chunkings driven by those bytes (so a
 * stream parser sees every way a read can cut its input), a scratch file
 * for the parsers that only read files, and an assertion that aborts (so
 * libFuzzer records the input) with the property that broke.
 *
 * Header-only: each target is one .c file linked with the project's
 * objects; everything here is static.
 */
#ifndef DROVER_FUZZ_H
#define DROVER_FUZZ_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/common.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int LLVMFuzzerInitialize(int *, char ***);

/* A broken property: say which, then abort so the input is kept. */
#define FUZZ_ASSERT(c) do {						\
	if (!(c)) {							\
		fprintf(stderr, "%s:%d: property failed: %s\n",		\
		    __FILE__, __LINE__, #c);				\
		abort();						\
	}								\
} while (0)

/* Quiet logging: the code under test logs at debug and info. */
static inline void
fuzz_quiet(void)
{
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

	log_init("fuzz", LOG_ERROR, fd >= 0 ? fd : 2);
}

/* The whole LLVMFuzzerInitialize of a target that needs no set-up. */
#define FUZZ_QUIET_INIT()						\
int									\
LLVMFuzzerInitialize(int *argc, char ***argv)				\
{									\
	fuzz_quiet();							\
	return 0;							\
}

/* A cursor: bytes the harness takes for its choices come off the front. */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t
fuzz_byte(struct fuzz_in *in)
{
	uint8_t c;

	if (in->n == 0)
		return 0;
	c = in->p[0];
	in->p++;
	in->n--;
	return c;
}

/*
 * Chunk sizes from a seed: 0 is the whole input at once, 1 a byte at a
 * time, else sizes from a small xorshift over 1..(seed * 4) bytes.
 */
struct fuzz_chunker {
	uint32_t state;
	uint8_t seed;
};

static inline void
fuzz_chunker_init(struct fuzz_chunker *c, uint8_t seed)
{
	c->seed = seed;
	c->state = 0x9e3779b9u ^ seed;
}

static inline size_t
fuzz_chunk_next(struct fuzz_chunker *c, size_t left)
{
	size_t n;

	if (c->seed == 0)
		return left;
	if (c->seed == 1)
		return left > 0 ? 1 : 0;
	c->state ^= c->state << 13;
	c->state ^= c->state >> 17;
	c->state ^= c->state << 5;
	n = 1 + c->state % ((size_t)c->seed * 4);
	return n < left ? n : left;
}

/*
 * A scratch file (in /dev/shm when there is one) holding the bytes the
 * target reads through a path; written afresh for each input. The path
 * is kept for the process and removed at exit.
 */
static char fuzz_path_buf[256];

static inline void
fuzz_file_cleanup(void)
{
	if (fuzz_path_buf[0] != '\0')
		unlink(fuzz_path_buf);
}

static inline const char *
fuzz_file(const void *data, size_t len)
{
	int fd;

	if (fuzz_path_buf[0] == '\0') {
		snprintf(fuzz_path_buf, sizeof fuzz_path_buf,
		    "%s/drover-fuzz.%ld", access("/dev/shm", W_OK) == 0 ?
		    "/dev/shm" : "/tmp", (long)getpid());
		atexit(fuzz_file_cleanup);
	}
	fd = open(fuzz_path_buf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600);
	if (fd == -1 || write_full(fd, data, len) != 0)
		fatal("fuzz: cannot write %s", fuzz_path_buf);
	close(fd);
	return fuzz_path_buf;
}

#endif
