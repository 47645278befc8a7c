/*
 * test_sshconfig.c - struct rhost_cfg from `ssh -G`: fixtures captured from
 * OpenSSH 9.2 (tests/data/sshconfig/NAME.out, each beside the NAME.conf
 * that made it), inline edge cases, and sshconfig_resolve() running the
 * real ssh -G on a fixture config through DROVER_SSH_CONFIG.
 */
#include "test.h"

#include <pwd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../remote/remote.h"

static char *saved_home;

static void
home_set(const char *home)
{
	const char *h = getenv("HOME");

	free(saved_home);
	saved_home = h != NULL ? strdup(h) : NULL;
	if (home != NULL)
		setenv("HOME", home, 1);
	else
		unsetenv("HOME");
}

static void
home_restore(void)
{
	if (saved_home != NULL)
		setenv("HOME", saved_home, 1);
	else
		unsetenv("HOME");
	free(saved_home);
	saved_home = NULL;
}

static int
parse_fixture(const char *name, const char *host, struct rhost_cfg *cfg)
{
	struct buf b;
	char *cause = NULL, rel[128];
	int rc;

	buf_init(&b);
	snprintf(rel, sizeof rel, "sshconfig/%s", name);
	if (file_read_all(test_data(rel), 1 << 20, &b, &cause) == -1) {
		test_fail(__FILE__, __LINE__, "%s", cause);
		free(cause);
		return -1;
	}
	rc = sshconfig_parse(host, b.data, b.len, cfg, &cause);
	if (rc == -1) {
		test_fail(__FILE__, __LINE__, "parse %s: %s", name, cause);
		free(cause);
	}
	buf_free(&b);
	return rc;
}

static int
parse_text(const char *host, const char *text, struct rhost_cfg *cfg,
    char **cause)
{
	return sshconfig_parse(host, text, strlen(text), cfg, cause);
}

TEST(sshconfig_parse_basic)
{
	struct rhost_cfg cfg;
	struct passwd *pw = getpwuid(getuid());
	char want[256];

	REQUIRE(pw != NULL);
	home_set("/home/tester");
	if (parse_fixture("basic.out", "gpu01", &cfg) == -1) {
		home_restore();
		return;
	}
	home_restore();
	CHECK_STR(cfg.name, "gpu01");
	CHECK_STR(cfg.hostname, "10.1.0.7");
	CHECK_STR(cfg.user, "trainer");
	CHECK_INT(cfg.port, 2222);
	REQUIRE(strv_len(cfg.identity_files) == 3);
	CHECK_STR(cfg.identity_files[0], "/home/tester/.ssh/id_ed25519");
	/* A path with a space stays whole; %r is the remote user. */
	CHECK_STR(cfg.identity_files[1], "/opt/keys/with space/id_trainer");
	snprintf(want, sizeof want, "/keys/%s-10.1.0.7-2222-gpu01-%%",
	    pw->pw_name);
	CHECK_STR(cfg.identity_files[2], want);
	/* User files first, then the global one. */
	REQUIRE(strv_len(cfg.known_hosts) == 3);
	CHECK_STR(cfg.known_hosts[0], "/root/.ssh/kh_a");
	CHECK_STR(cfg.known_hosts[1], "/etc/drover/kh_b");
	CHECK_STR(cfg.known_hosts[2], "/etc/ssh/global_kh");
	CHECK_INT(cfg.strict, RS_ACCEPT_NEW);
	CHECK_INT(cfg.connect_timeout_s, 7);
	CHECK(cfg.proxy_jump == NULL);
	CHECK_INT(cfg.needs_openssh, 0);
	CHECK(cfg.why_openssh == NULL);
	CHECK_INT(cfg.transport, RT_AUTO);
	rhost_cfg_clear(&cfg);
	CHECK(cfg.name == NULL && cfg.identity_files == NULL);
}

TEST(sshconfig_parse_defaults)
{
	struct rhost_cfg cfg;

	home_set("/h");
	if (parse_fixture("defaults.out", "node3", &cfg) == -1) {
		home_restore();
		return;
	}
	home_restore();
	CHECK_STR(cfg.hostname, "node3");
	CHECK_INT(cfg.port, 22);
	/* "ask" is yes: drover never asks. */
	CHECK_INT(cfg.strict, RS_YES);
	/* "none": drover's own default applies. */
	CHECK_INT(cfg.connect_timeout_s, 0);
	REQUIRE(strv_len(cfg.identity_files) == 7);
	CHECK_STR(cfg.identity_files[0], "/h/.ssh/id_rsa");
	CHECK_STR(cfg.identity_files[3], "/h/.ssh/id_ed25519");
	REQUIRE(strv_len(cfg.known_hosts) == 4);
	CHECK_STR(cfg.known_hosts[0], "/root/.ssh/known_hosts");
	CHECK_STR(cfg.known_hosts[1], "/root/.ssh/known_hosts2");
	CHECK_STR(cfg.known_hosts[2], "/etc/ssh/ssh_known_hosts");
	CHECK_STR(cfg.known_hosts[3], "/etc/ssh/ssh_known_hosts2");
	CHECK_INT(cfg.needs_openssh, 0);
	rhost_cfg_clear(&cfg);
}

TEST(sshconfig_parse_proxyjump_needs_openssh)
{
	struct rhost_cfg cfg;

	if (parse_fixture("jump.out", "inner", &cfg) == -1)
		return;
	CHECK_STR(cfg.hostname, "192.168.203.4");
	CHECK_STR(cfg.proxy_jump, "admin@bastion:2200,second");
	CHECK_INT(cfg.needs_openssh, 1);
	CHECK(cfg.why_openssh != NULL &&
	    strstr(cfg.why_openssh, "ProxyJump") != NULL);
	CHECK_INT(cfg.strict, RS_NO);	/* printed as "false" */
	rhost_cfg_clear(&cfg);
}

TEST(sshconfig_parse_proxycommand_needs_openssh)
{
	struct rhost_cfg cfg;

	if (parse_fixture("proxycommand.out", "socks1", &cfg) == -1)
		return;
	CHECK(cfg.proxy_jump == NULL);
	CHECK_INT(cfg.needs_openssh, 1);
	CHECK(cfg.why_openssh != NULL &&
	    strstr(cfg.why_openssh, "ProxyCommand") != NULL);
	CHECK_INT(cfg.strict, RS_NO);	/* "off", printed as "false" */
	rhost_cfg_clear(&cfg);
}

TEST(sshconfig_parse_certificate_needs_openssh)
{
	struct rhost_cfg cfg;

	if (parse_fixture("cert.out", "certhost", &cfg) == -1)
		return;
	CHECK(cfg.proxy_jump == NULL);	/* ProxyJump none */
	CHECK_INT(cfg.needs_openssh, 1);
	CHECK(cfg.why_openssh != NULL &&
	    strstr(cfg.why_openssh, "CertificateFile") != NULL);
	CHECK_INT(cfg.strict, RS_YES);	/* printed as "true" */
	CHECK_INT(cfg.connect_timeout_s, 30);
	rhost_cfg_clear(&cfg);
}

TEST(sshconfig_strict_values)
{
	static const struct {
		const char *value;
		enum rhost_strict want;
	} t[] = {
		{ "yes", RS_YES }, { "true", RS_YES }, { "ask", RS_YES },
		{ "no", RS_NO }, { "off", RS_NO }, { "false", RS_NO },
		{ "accept-new", RS_ACCEPT_NEW },
		{ "something-new", RS_YES },	/* fail closed */
	};
	struct rhost_cfg cfg;
	char text[256], *cause = NULL;
	size_t i;

	for (i = 0; i < nitems(t); i++) {
		snprintf(text, sizeof text, "hostname h\nstricthostkeychecking "
		    "%s\n", t[i].value);
		REQUIRE(parse_text("h", text, &cfg, &cause) == 0);
		if (cfg.strict != t[i].want)
			test_fail(__FILE__, __LINE__, "%s: %d != %d",
			    t[i].value, cfg.strict, t[i].want);
		rhost_cfg_clear(&cfg);
	}
}

TEST(sshconfig_parse_edges)
{
	struct rhost_cfg cfg;
	char *cause = NULL;
	const char *text;

	/* none for ProxyJump/ProxyCommand; CRLF; unknown keys; no port. */
	text = "host a\r\nhostname a.example\r\nproxyjump none\r\n"
	    "proxycommand none\r\nfrobnicate yes\r\nlonelykey\r\n";
	REQUIRE(parse_text("a", text, &cfg, &cause) == 0);
	CHECK_STR(cfg.hostname, "a.example");
	CHECK(cfg.proxy_jump == NULL);
	CHECK_INT(cfg.needs_openssh, 0);
	CHECK_INT(cfg.port, 22);
	CHECK(cfg.user == NULL);
	/* Empty lists are empty arrays, never NULL, after a parse. */
	CHECK(cfg.identity_files != NULL && cfg.identity_files[0] == NULL);
	CHECK(cfg.known_hosts != NULL && cfg.known_hosts[0] == NULL);
	rhost_cfg_clear(&cfg);

	/* Both reasons are named. */
	text = "hostname b\nproxyjump j1\ncertificatefile /c.pub\n";
	REQUIRE(parse_text("b", text, &cfg, &cause) == 0);
	CHECK(cfg.why_openssh != NULL &&
	    strstr(cfg.why_openssh, "ProxyJump j1") != NULL &&
	    strstr(cfg.why_openssh, "CertificateFile /c.pub") != NULL);
	rhost_cfg_clear(&cfg);
}

TEST(sshconfig_parse_errors)
{
	static const struct {
		const char *text;
		const char *in_cause;
	} t[] = {
		{ "user u\nport 22\n", "no hostname" },
		{ "hostname h\nport 99999\n", "99999" },
		{ "hostname h\nport 22x\n", "22x" },
		{ "hostname h\nconnecttimeout soon\n", "soon" },
		{ "", "no hostname" },
	};
	struct rhost_cfg cfg;
	char *cause;
	size_t i;

	for (i = 0; i < nitems(t); i++) {
		cause = NULL;
		if (parse_text("h", t[i].text, &cfg, &cause) != -1) {
			test_fail(__FILE__, __LINE__, "case %zu parsed", i);
			rhost_cfg_clear(&cfg);
			continue;
		}
		CHECK(cause != NULL && strstr(cause, t[i].in_cause) != NULL);
		/* Nothing is left behind on failure. */
		CHECK(cfg.name == NULL && cfg.hostname == NULL);
		free(cause);
	}
	cause = NULL;
	CHECK(sshconfig_parse("h", "hostname h\0x\n", 12, &cfg, &cause) == -1);
	CHECK(cause != NULL && strstr(cause, "NUL") != NULL);
	free(cause);
}

TEST(sshconfig_tilde_and_home)
{
	struct rhost_cfg cfg;
	struct passwd *pw = getpwnam("root");
	char *cause = NULL, want[512], root_home[256];
	const char *text = "hostname h\nuser u\n"
	    "identityfile ~\nidentityfile ~/k\nidentityfile ~root/k\n"
	    "identityfile ~nosuchuser-drover/k\nidentityfile /a~b\n"
	    "identityfile %d/x-%C\nuserknownhostsfile ~/kh\n";

	REQUIRE(pw != NULL);
	/* getpw* share one buffer: keep what we need. */
	snprintf(root_home, sizeof root_home, "%s", pw->pw_dir);
	home_set("/home/t");
	if (parse_text("h", text, &cfg, &cause) == -1) {
		home_restore();
		test_fail(__FILE__, __LINE__, "%s", cause);
		free(cause);
		return;
	}
	home_restore();
	REQUIRE(strv_len(cfg.identity_files) == 6);
	CHECK_STR(cfg.identity_files[0], "/home/t");
	CHECK_STR(cfg.identity_files[1], "/home/t/k");
	snprintf(want, sizeof want, "%s/k", root_home);
	CHECK_STR(cfg.identity_files[2], want);
	CHECK_STR(cfg.identity_files[3], "~nosuchuser-drover/k");
	CHECK_STR(cfg.identity_files[4], "/a~b");
	/* %C is ssh's to expand: left as written. */
	CHECK_STR(cfg.identity_files[5], "/home/t/x-%C");
	REQUIRE(strv_len(cfg.known_hosts) == 1);
	CHECK_STR(cfg.known_hosts[0], "/home/t/kh");
	rhost_cfg_clear(&cfg);

	/* Without $HOME, the password database. */
	pw = getpwuid(getuid());
	REQUIRE(pw != NULL);
	snprintf(want, sizeof want, "%s/k", pw->pw_dir);
	home_set(NULL);
	if (parse_text("h", "hostname h\nidentityfile ~/k\n", &cfg,
	    &cause) == -1) {
		home_restore();
		test_fail(__FILE__, __LINE__, "%s", cause);
		free(cause);
		return;
	}
	home_restore();
	REQUIRE(strv_len(cfg.identity_files) == 1);
	CHECK_STR(cfg.identity_files[0], want);
	rhost_cfg_clear(&cfg);
}

TEST(sshconfig_clear_is_safe)
{
	struct rhost_cfg cfg;

	memset(&cfg, 0, sizeof cfg);
	rhost_cfg_clear(&cfg);
	rhost_cfg_clear(&cfg);
	rhost_cfg_clear(NULL);
	CHECK(cfg.name == NULL);
}

static void
env_set(const char *name, const char *value)
{
	if (value != NULL)
		setenv(name, value, 1);
	else
		unsetenv(name);
}

TEST(sshconfig_resolve_runs_ssh_G)
{
	struct rhost_cfg cfg;
	char *cause = NULL, conf[4096];

	if (access("/usr/bin/ssh", X_OK) != 0) {
		printf("  SKIP: no /usr/bin/ssh\n");
		return;
	}
	snprintf(conf, sizeof conf, "%s", test_data("sshconfig/basic.conf"));
	env_set("DROVER_SSH_CONFIG", conf);
	home_set("/home/tester");
	if (sshconfig_resolve("gpu7", &cfg, &cause) == -1) {
		test_fail(__FILE__, __LINE__, "resolve: %s", cause);
		free(cause);
		env_set("DROVER_SSH_CONFIG", NULL);
		home_restore();
		return;
	}
	env_set("DROVER_SSH_CONFIG", NULL);
	home_restore();
	CHECK_STR(cfg.name, "gpu7");
	CHECK_STR(cfg.hostname, "10.1.0.7");
	CHECK_STR(cfg.user, "trainer");
	CHECK_INT(cfg.port, 2222);
	CHECK_INT(cfg.strict, RS_ACCEPT_NEW);
	CHECK_INT(cfg.connect_timeout_s, 7);
	REQUIRE(strv_len(cfg.identity_files) == 3);
	CHECK_STR(cfg.identity_files[0], "/home/tester/.ssh/id_ed25519");
	/* %n is the name as given. */
	CHECK(strstr(cfg.identity_files[2], "-gpu7-%") != NULL);
	REQUIRE(strv_len(cfg.known_hosts) == 3);
	CHECK_STR(cfg.known_hosts[1], "/etc/drover/kh_b");
	CHECK_STR(cfg.known_hosts[2], "/etc/ssh/global_kh");
	rhost_cfg_clear(&cfg);

	/* A host the config does not match gets OpenSSH's defaults. */
	env_set("DROVER_SSH_CONFIG", conf);
	CHECK(sshconfig_resolve("other.example", &cfg, &cause) == 0);
	env_set("DROVER_SSH_CONFIG", NULL);
	CHECK_STR(cfg.hostname, "other.example");
	CHECK_INT(cfg.port, 22);
	rhost_cfg_clear(&cfg);
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		test_fail(__FILE__, __LINE__, "fopen %s", path);
		return;
	}
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

TEST(sshconfig_resolve_errors)
{
	struct rhost_cfg cfg;
	char *cause, path[512], fake[512];
	int rc;

	if (access("/usr/bin/ssh", X_OK) != 0) {
		printf("  SKIP: no /usr/bin/ssh\n");
		return;
	}
	/* ssh's own complaint reaches the cause. */
	snprintf(path, sizeof path, "%s/bad.conf", test_tmpdir());
	write_file(path, "Host x\n  Bogus yes\n", 0644);
	env_set("DROVER_SSH_CONFIG", path);
	cause = NULL;
	rc = sshconfig_resolve("x", &cfg, &cause);
	CHECK_INT(rc, -1);
	CHECK(cause != NULL &&
	    strstr(cause, "Bad configuration option: bogus") != NULL &&
	    strstr(cause, "exit status 255") != NULL);
	free(cause);
	CHECK(cfg.name == NULL);

	env_set("DROVER_SSH_CONFIG", "/nonexistent/drover/config");
	cause = NULL;
	CHECK(sshconfig_resolve("x", &cfg, &cause) == -1);
	CHECK(cause != NULL && strstr(cause, "/nonexistent/drover/config"));
	free(cause);
	env_set("DROVER_SSH_CONFIG", NULL);

	/* Names ssh would take for options or that cannot be hosts. */
	cause = NULL;
	CHECK(sshconfig_resolve("-oProxyCommand=touch /tmp/x", &cfg,
	    &cause) == -1);
	CHECK(cause != NULL && strstr(cause, "begins with '-'") != NULL);
	free(cause);
	cause = NULL;
	CHECK(sshconfig_resolve("a b", &cfg, &cause) == -1);
	free(cause);
	cause = NULL;
	CHECK(sshconfig_resolve("", &cfg, &cause) == -1);
	free(cause);

	/* No ssh at all. */
	env_set("DROVER_SSH", "/nonexistent/ssh");
	cause = NULL;
	CHECK(sshconfig_resolve("x", &cfg, &cause) == -1);
	CHECK(cause != NULL && strstr(cause, "cannot run /nonexistent/ssh")
	    != NULL);
	free(cause);

	/* Output is bounded. */
	snprintf(fake, sizeof fake, "%s/fake-ssh", test_tmpdir());
	write_file(fake, "#!/bin/sh\nhead -c 3000000 /dev/zero | tr '\\0' a\n",
	    0755);
	env_set("DROVER_SSH", fake);
	cause = NULL;
	CHECK(sshconfig_resolve("x", &cfg, &cause) == -1);
	CHECK(cause != NULL && strstr(cause, "more than") != NULL);
	free(cause);

	/* Killed by a signal. */
	write_file(fake, "#!/bin/sh\nkill -9 $$\n", 0755);
	cause = NULL;
	CHECK(sshconfig_resolve("x", &cfg, &cause) == -1);
	CHECK(cause != NULL && strstr(cause, "signal 9") != NULL);
	free(cause);
	env_set("DROVER_SSH", NULL);
}
