/*
 * test_sshconfig_group.c - sshconfig_resolve_many(): Host-line matching,
 * retargeting ssh -G output to another host, and, against the real
 * `ssh -G`, that every host gets exactly what resolving it alone gives,
 * with fewer ssh -G runs where hosts share their Host lines.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../remote/remote_int.h"

TEST(sshconfig_host_line_matching)
{
	CHECK_INT(sshconfig_host_line_matches("node7", "node*"), 1);
	CHECK_INT(sshconfig_host_line_matches("node7", "gpu* node?"), 1);
	CHECK_INT(sshconfig_host_line_matches("node17", "gpu* node?"), 0);
	CHECK_INT(sshconfig_host_line_matches("gpu-9", "gpu-? !gpu-9"), 0);
	CHECK_INT(sshconfig_host_line_matches("gpu-8", "gpu-? !gpu-9"), 1);
	CHECK_INT(sshconfig_host_line_matches("gpu-8", "!gpu-9"), 0);
	CHECK_INT(sshconfig_host_line_matches("a.b.c", "*"), 1);
	CHECK_INT(sshconfig_host_line_matches("10.0.0.12", "10.0.0.1"), 0);
	CHECK_INT(sshconfig_host_line_matches("10.0.0.12", "10.0.*.*"), 1);
	CHECK_INT(sshconfig_host_line_matches("x", "a,x"), 1);
	CHECK_INT(sshconfig_host_line_matches("x", ""), 0);
}

TEST(sshconfig_retarget_names_only)
{
	const char *in = "host 10.0.0.1\nhostname 10.0.0.1.lab\n"
	    "user 10.0.0.1\nuserknownhostsfile /k/kh_10.0.0.1 /k/10.0.0.12\n"
	    "identityfile ~/.ssh/id_%h\n";
	size_t len;
	char *out = sshconfig_retarget(in, strlen(in), "10.0.0.1", "10.0.0.7",
	    &len);

	CHECK_STR(out, "host 10.0.0.7\nhostname 10.0.0.7.lab\n"
	    "user 10.0.0.1\nuserknownhostsfile /k/kh_10.0.0.7 /k/10.0.0.12\n"
	    "identityfile ~/.ssh/id_%h\n");
	CHECK_INT(len, strlen(out));
	free(out);
}

static int
strv_eq(char **a, char **b)
{
	size_t i;

	if (a == NULL || b == NULL)
		return a == b;
	for (i = 0; a[i] != NULL && b[i] != NULL; i++)
		if (strcmp(a[i], b[i]) != 0)
			return 0;
	return a[i] == NULL && b[i] == NULL;
}

static int
opt_eq(const char *a, const char *b)
{
	return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

/* Every host of hosts resolved together equals it resolved alone. */
static void
check_same_as_alone(char *const *hosts, size_t n, int max_runs)
{
	struct rhost_cfg *many = calloc(n, sizeof *many), one;
	char **causes = calloc(n, sizeof *causes), *cause = NULL;
	struct sshconfig_stats st;
	size_t i;
	int failed;

	failed = sshconfig_resolve_many(hosts, n, many, causes, &st);
	CHECK_INT(failed, 0);
	for (i = 0; i < n; i++) {
		if (causes[i] != NULL) {
			CHECK_STR(causes[i], "(none)");
			continue;
		}
		REQUIRE(sshconfig_resolve(hosts[i], &one, &cause) == 0);
		CHECK_STR(many[i].name, one.name);
		CHECK_STR(many[i].hostname, one.hostname);
		CHECK(opt_eq(many[i].user, one.user));
		CHECK_INT(many[i].port, one.port);
		CHECK(strv_eq(many[i].identity_files, one.identity_files));
		CHECK(strv_eq(many[i].known_hosts, one.known_hosts));
		CHECK(opt_eq(many[i].proxy_jump, one.proxy_jump));
		CHECK_INT(many[i].strict, one.strict);
		CHECK_INT(many[i].connect_timeout_s, one.connect_timeout_s);
		CHECK_INT(many[i].needs_openssh, one.needs_openssh);
		rhost_cfg_clear(&one);
		rhost_cfg_clear(&many[i]);
	}
	if (max_runs > 0 && st.ssh_g_runs > max_runs)
		CHECK_INT(st.ssh_g_runs, max_runs);
	if (max_runs < 0)
		CHECK_INT(st.ssh_g_runs, (int)n);
	for (i = 0; i < n; i++)
		free(causes[i]);
	free(causes);
	free(many);
}

static void
write_config(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
}

TEST(sshconfig_resolve_many_matches_ssh_G)
{
	char path[512], *hosts[] = { "node1", "node2", "node3", "node10",
	    "gpu-1", "gpu-9", "gpu-2", "10.0.0.1", "10.0.0.12", "10.0.0.2",
	    "node11" };
	char *old = getenv("DROVER_SSH_CONFIG");

	snprintf(path, sizeof path, "%s/cfg", test_tmpdir());
	write_config(path,
	    "Host node3\n  Port 2222\n"
	    "Host node*\n  HostName %h.cluster\n"
	    "  UserKnownHostsFile ~/.ssh/kh_%h /etc/kh_all\n"
	    "Host gpu-? !gpu-9\n  User ml\n  ProxyJump head\n"
	    "Host=10.0.0.*\n  ConnectTimeout 7\n"
	    "Host *\n  IdentityFile ~/.ssh/id_%h\n  IdentityFile ~/.ssh/all\n");
	setenv("DROVER_SSH_CONFIG", path, 1);
	/* Groups: node3 | node1 node2 node10 node11 | gpu-1 gpu-2 | gpu-9 |
	 * 10.0.0.x: five groups, at most two runs each. */
	check_same_as_alone(hosts, nitems(hosts), 9);
	if (old != NULL)
		setenv("DROVER_SSH_CONFIG", old, 1);
	else
		unsetenv("DROVER_SSH_CONFIG");
}

TEST(sshconfig_resolve_many_falls_back)
{
	char path[512], *hosts[] = { "n1", "n2", "n3" };
	char *old = getenv("DROVER_SSH_CONFIG");

	snprintf(path, sizeof path, "%s/cfg", test_tmpdir());
	/* One fixed HostName for all: the retargeted text differs from the
	 * real one, so the group is resolved host by host. */
	write_config(path, "Host n*\n  HostName n1\n  User u\n");
	setenv("DROVER_SSH_CONFIG", path, 1);
	check_same_as_alone(hosts, nitems(hosts), 0);
	/* Match blocks: one ssh -G per host. */
	write_config(path, "Match host n2\n  Port 2200\nHost *\n  User u\n");
	check_same_as_alone(hosts, nitems(hosts), -1);
	/* An Include is followed: its Host lines split the group. */
	snprintf(path, sizeof path, "%s/inc", test_tmpdir());
	write_config(path, "Host n3\n  Port 2300\n");
	snprintf(path, sizeof path, "%s/cfg", test_tmpdir());
	{
		char text[1024];

		snprintf(text, sizeof text, "Include %s/inc\nHost *\n  User u\n",
		    test_tmpdir());
		write_config(path, text);
	}
	check_same_as_alone(hosts, nitems(hosts), 3);
	if (old != NULL)
		setenv("DROVER_SSH_CONFIG", old, 1);
	else
		unsetenv("DROVER_SSH_CONFIG");
}
