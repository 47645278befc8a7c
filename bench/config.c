/*
 * config.c - one load of a YAML file, timed, as drover's config loader
 * does it for `drover launch` (tui/yamltree.c: the file read, the checks,
 * the tree, and the copy of the text a loaded task keeps) or, as
 * the peer, libyaml alone (the file read and every event, no tree). One
 * load per process, so the figure includes the first touch of every page
 * it uses, as `drover launch` pays it. bench/config.sh runs it.
 *
 *   bench-config drover|libyaml FILE
 *
 * Prints "MS PEAK_KB RC": milliseconds, the rise of the process's peak
 * resident memory over what it held before, and 0 (loaded) or 1 (refused).
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#include "../common/common.h"
#include "../tui/yamltree.h"

/* The file in one buffer of its size, read as the loader reads it. */
static char *
read_whole(const char *path, size_t *lenp)
{
	struct stat st;
	ssize_t got;
	char *p;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1)
		fatal("bench-config: %s", path);
	p = xmalloc((size_t)st.st_size + 1);
	if ((got = read_full(fd, p, (size_t)st.st_size)) == -1)
		fatal("bench-config: reading %s", path);
	close(fd);
	p[got] = '\0';
	*lenp = (size_t)got;
	return p;
}

/* libyaml's events for the file, none kept: 0, or 1 at its first error. */
static int
libyaml_only(const char *path)
{
	yaml_parser_t p;
	yaml_event_t ev;
	size_t len;
	char *text = read_whole(path, &len);
	int done = 0, rc = 0;

	if (!yaml_parser_initialize(&p))
		fatalx("bench-config: yaml_parser_initialize");
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	while (!done) {
		if (!yaml_parser_parse(&p, &ev)) {
			rc = 1;
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	free(text);
	return rc;
}

int
main(int argc, char **argv)
{
	struct yamltree *t;
	struct ynode *root;
	char *cause = NULL, *text = NULL;
	long rss0, hwm;
	double t0, ms;
	int rc;

	if (argc != 3 || (strcmp(argv[1], "drover") != 0 &&
	    strcmp(argv[1], "libyaml") != 0)) {
		fprintf(stderr, "usage: bench-config drover|libyaml FILE\n");
		return 2;
	}
	rss0 = proc_status_kb("VmRSS:");
	t = yamltree_new();
	t0 = (1e3 * clock_mono_s());
	if (strcmp(argv[1], "drover") == 0)
		rc = yamltree_load_file(t, argv[2], argv[2], &root, &text,
		    &cause) != 0;
	else
		rc = libyaml_only(argv[2]);
	ms = (1e3 * clock_mono_s()) - t0;
	hwm = proc_status_kb("VmHWM:");
	printf("%.3f %ld %d\n", ms, hwm > rss0 ? hwm - rss0 : 0, rc);
	free(cause);
	free(text);
	yamltree_free(t);
	return 0;
}
