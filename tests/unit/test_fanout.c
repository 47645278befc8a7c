/* test_fanout.c - picking the agent build for a host's `uname -m`, and the
 * reasons transport errors are filed under. */
#include "test.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../remote/remote.h"

TEST(fanout_agent_for_arch_names_what_is_missing)
{
	char dir[512], path[600], *cause = NULL, *p;

	snprintf(dir, sizeof dir, "%s/agents", test_tmpdir());
	snprintf(path, sizeof path, "%s/x86_64", dir);
	REQUIRE(mkdir(dir, 0755) == 0 && mkdir(path, 0755) == 0);
	snprintf(path, sizeof path, "%s/x86_64/drover-agent", dir);
	REQUIRE(file_write_atomic(path, "x", 1, 0755, &cause) == 0);

	p = fanout_agent_for_arch(dir, "x86_64", &cause);
	CHECK_STR(p, path);
	free(p);
	CHECK(fanout_agent_for_arch(dir, "ppc64le", &cause) == NULL);
	CHECK(cause != NULL && strstr(cause, "\"ppc64le\"") != NULL);
	free(cause);
	cause = NULL;
	/* Built for aarch64 by make agents, but not here: say so. */
	CHECK(fanout_agent_for_arch(dir, "arm64", &cause) == NULL);
	CHECK(cause != NULL && strstr(cause, "aarch64") != NULL &&
	    strstr(cause, "make agents") != NULL);
	free(cause);
}

TEST(fanout_classify_files_transport_errors)
{
	CHECK_INT(fanout_classify(NULL), FO_OK);
	CHECK_INT(fanout_classify("h: connection refused on port 22"),
	    FO_REFUSED);
	CHECK_INT(fanout_classify("h: timed out after 2000 ms connecting"),
	    FO_TIMEOUT);
	CHECK_INT(fanout_classify("h: host key mismatch (...)"), FO_HOSTKEY);
	CHECK_INT(fanout_classify("Host key verification failed."),
	    FO_HOSTKEY);
	CHECK_INT(fanout_classify("h: authentication failed for u"), FO_AUTH);
	CHECK_INT(fanout_classify("Permission denied (publickey)."), FO_AUTH);
	CHECK_INT(fanout_classify("h: connection lost: socket recv"), FO_LOST);
	CHECK_INT(fanout_classify("h: unreachable: cannot resolve x"),
	    FO_UNREACHABLE);
}
