/*
 * test_container.c - container wrappers: validation causes, the exact argv
 * of every runtime, and real runs: the none and bwrap argvs executed with a
 * helper that prints its arguments as hex, and the docker-exec wrapper script
 * run with sh (no docker here) to check the pid mark, the process group,
 * exit statuses and the signal script.
 */
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../agent/agent.h"

static json_t *
J(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, 0, &err);

	if (j == NULL)
		fprintf(stdout, "  bad test JSON: %s: %s\n", text, err.text);
	return j;
}

static size_t
argv_len(char *const *v)
{
	size_t n = 0;

	while (v != NULL && v[n] != NULL)
		n++;
	return n;
}

/* Compares an argv with the expected one; prints both on a difference. */
static void
check_argv(const char *file, int line, char **got, const char *const *want)
{
	size_t i, ng = argv_len(got), nw = argv_len((char *const *)want);
	int same = ng == nw;

	for (i = 0; same && i < nw; i++)
		same = strcmp(got[i], want[i]) == 0;
	if (same)
		return;
	test_fail(file, line, "argv differs (got %zu, want %zu elements)",
	    ng, nw);
	for (i = 0; i < ng || i < nw; i++) {
		fprintf(stdout, "    [%zu] got  %s\n", i,
		    i < ng ? got[i] : "(end)");
		fprintf(stdout, "    [%zu] want %s\n", i,
		    i < nw ? want[i] : "(end)");
	}
}
#define CHECK_ARGV(got, ...) \
	check_argv(__FILE__, __LINE__, (got), \
	    (const char *const[]){ __VA_ARGS__, NULL })

/* Validates text and checks the cause contains want (NULL: must pass). */
static void
check_validate(const char *file, int line, const char *text,
    const char *want)
{
	json_t *c = text != NULL ? J(text) : NULL;
	char *cause = NULL;
	int rc;

	if (text != NULL && c == NULL) {
		test_fail(file, line, "bad JSON");
		return;
	}
	rc = container_validate(c, &cause);
	if (want == NULL && rc != 0)
		test_fail(file, line, "%s: unexpected error: %s", text, cause);
	if (want != NULL && rc == 0)
		test_fail(file, line, "%s: accepted, wanted \"%s\"", text,
		    want);
	if (want != NULL && rc != 0 &&
	    (cause == NULL || strstr(cause, want) == NULL))
		test_fail(file, line, "%s: cause \"%s\" lacks \"%s\"", text,
		    cause ? cause : "(null)", want);
	free(cause);
	json_decref(c);
}
#define CHECK_VALID(text) check_validate(__FILE__, __LINE__, text, NULL)
#define CHECK_INVALID(text, want) \
	check_validate(__FILE__, __LINE__, text, want)

TEST(container_validate_names_the_field)
{
	CHECK_VALID(NULL);
	CHECK_VALID("{\"runtime\":\"none\"}");
	CHECK_VALID("{\"runtime\":\"docker-exec\",\"name\":\"mindspore1212\","
	    "\"user\":\"1000:1000\",\"extra_args\":[\"--privileged\"]}");
	CHECK_VALID("{\"runtime\":\"docker-run\",\"image\":\"nvcr.io/nvidia/"
	    "pytorch:24.05-py3\",\"accelerator\":\"nvidia\",\"devices\":"
	    "\"all\",\"mounts\":[\"/data:/data:ro\",\"/ckpt\",{\"src\":"
	    "\"/a\",\"dst\":\"/b\",\"ro\":true}],\"ipc\":\"\",\"network\":"
	    "\"bridge\",\"init\":false}");
	CHECK_VALID("{\"runtime\":\"bwrap\",\"mounts\":[{\"src\":\"/x:y\"}],"
	    "\"unshare_net\":true,\"host_dev\":false}");
	CHECK_VALID("{\"runtime\":\"apptainer\",\"image\":\"/sif/sd.sif\","
	    "\"accelerator\":\"ascend\"}");

	CHECK_INVALID("[]", "container: must be an object");
	CHECK_INVALID("{}", "container.runtime: required");
	CHECK_INVALID("{\"runtime\":\"lxc\"}", "container.runtime: \"lxc\"");
	CHECK_INVALID("{\"runtime\":7}", "container.runtime:");
	CHECK_INVALID("{\"runtime\":\"docker-run\",\"accelerator\":\"none\"}",
	    "container.image: required for runtime docker-run");
	CHECK_INVALID("{\"runtime\":\"podman-run\",\"image\":\"x\"}",
	    "container.accelerator: required for runtime podman-run");
	CHECK_INVALID("{\"runtime\":\"docker-exec\"}",
	    "container.name: required for runtime docker-exec");
	CHECK_INVALID("{\"runtime\":\"apptainer\"}",
	    "container.image: required for runtime apptainer");
	CHECK_INVALID("{\"runtime\":\"docker-exec\",\"name\":\"m\","
	    "\"colour\":1}", "container.colour: unknown key");
	CHECK_INVALID("{\"runtime\":\"none\",\"image\":\"x\"}",
	    "container.image: not used by runtime none");
	CHECK_INVALID("{\"runtime\":\"docker-exec\",\"name\":\"m\","
	    "\"mounts\":[]}", "container.mounts: not used by runtime "
	    "docker-exec");
	CHECK_INVALID("{\"runtime\":\"bwrap\",\"ipc\":\"host\"}",
	    "container.ipc: not used by runtime bwrap");
	CHECK_INVALID("{\"runtime\":\"docker-exec\",\"name\":\"-rm\"}",
	    "container.name: \"-rm\" is not a container name");
	CHECK_INVALID("{\"runtime\":\"docker-exec\",\"name\":\"a b\"}",
	    "container.name:");
	CHECK_INVALID("{\"runtime\":\"docker-run\",\"image\":\"--privileged\","
	    "\"accelerator\":\"none\"}", "container.image:");
	CHECK_INVALID("{\"runtime\":\"docker-run\",\"image\":\"i\","
	    "\"accelerator\":\"amd\"}", "container.accelerator: \"amd\"");
	CHECK_INVALID("{\"runtime\":\"docker-run\",\"image\":\"i\","
	    "\"accelerator\":\"nvidia\",\"devices\":[0,0]}",
	    "container.devices[1]: device 0 is listed twice");
	CHECK_INVALID("{\"runtime\":\"docker-run\",\"image\":\"i\","
	    "\"accelerator\":\"nvidia\",\"devices\":[-1]}",
	    "container.devices[0]:");
	CHECK_INVALID("{\"runtime\":\"docker-run\",\"image\":\"i\","
	    "\"accelerator\":\"nvidia\",\"devices\":\"some\"}",
	    "container.devices:");
	CHECK_INVALID("{\"runtime\":\"docker-run\",\"image\":\"i\","
	    "\"accelerator\":\"ascend\",\"devices\":\"all\"}",
	    "container.devices: \"all\" is not supported");
	CHECK_INVALID("{\"runtime\":\"docker-run\",\"image\":\"i\","
	    "\"accelerator\":\"none\",\"devices\":[0]}",
	    "container.devices: needs container.accelerator");
	CHECK_INVALID("{\"runtime\":\"docker-run\",\"image\":\"i\","
	    "\"accelerator\":\"none\",\"mounts\":[\"data:/data\"]}",
	    "container.mounts[0]: source \"data\" must be an absolute path");
	CHECK_INVALID("{\"runtime\":\"docker-run\",\"image\":\"i\","
	    "\"accelerator\":\"none\",\"mounts\":[\"/a:/b:rx\"]}",
	    "container.mounts[0]: \"/a:/b:rx\": the option");
	CHECK_INVALID("{\"runtime\":\"docker-run\",\"image\":\"i\","
	    "\"accelerator\":\"none\",\"mounts\":[{\"src\":\"/a:b\"}]}",
	    "container.mounts[0]: source \"/a:b\" holds ':'");
	CHECK_INVALID("{\"runtime\":\"apptainer\",\"image\":\"i\","
	    "\"mounts\":[{\"src\":\"/a,b\"}]}",
	    "container.mounts[0]: source \"/a,b\" holds ','");
	CHECK_INVALID("{\"runtime\":\"bwrap\",\"mounts\":[{\"src\":\"/a\","
	    "\"mode\":\"ro\"}]}", "container.mounts[0].mode: unknown key");
	CHECK_INVALID("{\"runtime\":\"bwrap\",\"mounts\":[42]}",
	    "container.mounts[0]: must be");
	CHECK_INVALID("{\"runtime\":\"bwrap\",\"unshare_net\":\"yes\"}",
	    "container.unshare_net: must be true or false");
	CHECK_INVALID("{\"runtime\":\"docker-run\",\"image\":\"i\","
	    "\"accelerator\":\"none\",\"init\":1}",
	    "container.init: must be true or false");
	CHECK_INVALID("{\"runtime\":\"bwrap\",\"extra_args\":[\"--x\",1]}",
	    "container.extra_args[1]: must be a string");
	CHECK_INVALID("{\"runtime\":\"bwrap\",\"program\":\"\"}",
	    "container.program:");
}

/* Wraps with the given container text; returns the argv or NULL. */
static char **
wrap(const char *ctext, struct wrap_in *in, char **cause)
{
	json_t *c = ctext != NULL ? J(ctext) : NULL;
	char **argv = NULL;

	in->container = c;
	if (container_wrap(in, &argv, cause) != 0)
		argv = NULL;
	in->container = NULL;
	json_decref(c);
	return argv;
}

static char *const seed_argv[] = { "python", "train.py", "--config",
    "configs/training/sd_xl_base_finetune_910b.yaml", "--lr", "1e-5", NULL };
static char *const seed_env[] = { "RANK_ID", "DEVICE_ID", "HF_TOKEN", NULL };
#define SEED_CWD "/home/u/mindone/examples/stable_diffusion_xl"

TEST(container_docker_exec_argv)
{
	struct wrap_in in = { 0 };
	char **argv, *cause = NULL;
	size_t i;

	setenv("HF_TOKEN", "hf_s3cr3t_value", 1);
	in.argv = seed_argv;
	in.env_names = seed_env;
	in.cwd = SEED_CWD;
	in.run_dir = "/runs/t/1/h1";
	in.name = "t-1-h1-r0";
	argv = wrap("{\"runtime\":\"docker-exec\",\"name\":\"mindspore1212\"}",
	    &in, &cause);
	REQUIRE(argv != NULL);
	REQUIRE(argv_len(argv) == 22);
	/* The script is checked by running it (container_exec_wrapper_*). */
	CHECK(strstr(argv[14], CONTAINER_PID_MARK) != NULL);
	CHECK_ARGV(argv, "docker", "exec", "-i", "-e", "RANK_ID", "-e",
	    "DEVICE_ID", "-e", "HF_TOKEN", "-w", SEED_CWD, "mindspore1212",
	    "sh", "-c", argv[14], "drover-core", "python", "train.py",
	    "--config", "configs/training/sd_xl_base_finetune_910b.yaml",
	    "--lr", "1e-5");
	/* No environment value ever reaches an argv. */
	for (i = 0; argv[i] != NULL; i++)
		CHECK(strstr(argv[i], "s3cr3t") == NULL);
	strv_free(argv);

	/* A user, extra args, no cwd, and a shell command. */
	in.cwd = NULL;
	in.env_names = NULL;
	in.shell = 1;
	in.argv = (char *const[]){ "cd /w && python train.py \"$@\"",
	    "--seed", "42", NULL };
	argv = wrap("{\"runtime\":\"docker-exec\",\"name\":\"c1\",\"user\":"
	    "\"root\",\"program\":\"/usr/bin/docker\",\"extra_args\":"
	    "[\"--privileged\"]}", &in, &cause);
	REQUIRE(argv != NULL);
	REQUIRE(argv_len(argv) > 9);
	CHECK_ARGV(argv, "/usr/bin/docker", "exec", "-i", "-u", "root",
	    "--privileged", "c1", "sh", "-c", argv[9], "drover-core",
	    "/bin/sh", "-c", "cd /w && python train.py \"$@\"", "sh",
	    "--seed", "42");
	strv_free(argv);

	/* A name with '=' would put a value into argv: refused. */
	in.shell = 0;
	in.argv = seed_argv;
	in.env_names = (char *const[]){ "HF_TOKEN=hf_s3cr3t_value", NULL };
	argv = wrap("{\"runtime\":\"docker-exec\",\"name\":\"c1\"}", &in,
	    &cause);
	CHECK(argv == NULL);
	CHECK(cause != NULL && strstr(cause, "is not [A-Za-z_]") != NULL);
	free(cause);
	cause = NULL;
	/* A relative cwd means nothing inside a container. */
	in.env_names = NULL;
	in.cwd = "examples";
	argv = wrap("{\"runtime\":\"docker-exec\",\"name\":\"c1\"}", &in,
	    &cause);
	CHECK(argv == NULL);
	CHECK(cause != NULL && strstr(cause, "cwd \"examples\" must be an "
	    "absolute path") != NULL);
	free(cause);
	unsetenv("HF_TOKEN");
}

TEST(container_docker_run_argv)
{
	static const int devs[] = { 0, 1 };
	struct wrap_in in = { 0 };
	char **argv, *cause = NULL;

	in.argv = (char *const[]){ "accelerate", "launch", "--num_machines",
	    "2", "train_dreambooth_lora_sana.py", NULL };
	in.env_names = (char *const[]){ "MASTER_ADDR", NULL };
	in.cwd = "/work/sana";
	in.run_dir = "/runs/sana/1/gpu-a";
	in.name = "sana.1/gpu-a r0";
	in.devices = devs;
	in.ndevices = 2;
	argv = wrap("{\"runtime\":\"docker-run\",\"image\":\"pt:24.05\","
	    "\"accelerator\":\"nvidia\",\"mounts\":[\"/data:/data:ro\","
	    "\"/ckpt\"]}", &in, &cause);
	REQUIRE(argv != NULL);
	CHECK_ARGV(argv, "docker", "run", "--rm", "-i", "--init", "--name",
	    "sana.1_gpu-a_r0", "--ipc=host", "--network=host", "--gpus",
	    "\"device=0,1\"", "-v", "/runs/sana/1/gpu-a:/runs/sana/1/gpu-a",
	    "-v", "/data:/data:ro", "-v", "/ckpt:/ckpt", "-e", "MASTER_ADDR",
	    "-w", "/work/sana", "pt:24.05", "accelerate", "launch",
	    "--num_machines", "2", "train_dreambooth_lora_sana.py");
	strv_free(argv);

	/* The container's own list wins; "all"; and an explicit []. */
	argv = wrap("{\"runtime\":\"docker-run\",\"image\":\"i\","
	    "\"accelerator\":\"nvidia\",\"devices\":[3],\"init\":false,"
	    "\"ipc\":\"\",\"network\":\"bridge\"}", &in, &cause);
	REQUIRE(argv != NULL);
	CHECK_ARGV(argv, "docker", "run", "--rm", "-i", "--name",
	    "sana.1_gpu-a_r0", "--network=bridge", "--gpus", "\"device=3\"",
	    "-v", "/runs/sana/1/gpu-a:/runs/sana/1/gpu-a", "-e",
	    "MASTER_ADDR", "-w", "/work/sana", "i", "accelerate", "launch",
	    "--num_machines", "2", "train_dreambooth_lora_sana.py");
	strv_free(argv);
	in.ndevices = 0;
	in.env_names = NULL;
	in.cwd = NULL;
	in.run_dir = NULL;
	in.name = "-lead";
	in.argv = (char *const[]){ "nvidia-smi", NULL };
	argv = wrap("{\"runtime\":\"docker-run\",\"image\":\"i\","
	    "\"accelerator\":\"nvidia\"}", &in, &cause);
	REQUIRE(argv != NULL);
	CHECK_ARGV(argv, "docker", "run", "--rm", "-i", "--init", "--name",
	    "drover--lead", "--ipc=host", "--network=host", "--gpus", "all",
	    "i", "nvidia-smi");
	strv_free(argv);
	argv = wrap("{\"runtime\":\"docker-run\",\"image\":\"i\","
	    "\"accelerator\":\"nvidia\",\"devices\":[]}", &in, &cause);
	REQUIRE(argv != NULL);
	CHECK_ARGV(argv, "docker", "run", "--rm", "-i", "--init", "--name",
	    "drover--lead", "--ipc=host", "--network=host", "i", "nvidia-smi");
	strv_free(argv);
}

TEST(container_podman_and_ascend_argv)
{
	static const int devs[] = { 4, 5 };
	struct wrap_in in = { 0 };
	char **argv, *cause = NULL;

	in.argv = (char *const[]){ "python", "train.py", NULL };
	in.env_names = (char *const[]){ "DEVICE_ID", "RANK_TABLE_FILE", NULL };
	in.cwd = "/w";
	in.run_dir = "/r";
	in.name = "sdxl-r4";
	in.devices = devs;
	in.ndevices = 2;
	argv = wrap("{\"runtime\":\"podman-run\",\"image\":\"i\","
	    "\"accelerator\":\"nvidia\",\"user\":\"1000\"}", &in, &cause);
	REQUIRE(argv != NULL);
	CHECK_ARGV(argv, "podman", "run", "--rm", "-i", "--init", "--name",
	    "sdxl-r4", "--ipc=host", "--network=host", "-u", "1000",
	    "--device", "nvidia.com/gpu=4", "--device", "nvidia.com/gpu=5",
	    "-v", "/r:/r", "-e", "DEVICE_ID", "-e", "RANK_TABLE_FILE", "-w",
	    "/w", "i", "python", "train.py");
	strv_free(argv);
	argv = wrap("{\"runtime\":\"podman-run\",\"image\":\"i\","
	    "\"accelerator\":\"nvidia\",\"devices\":\"all\"}", &in, &cause);
	REQUIRE(argv != NULL);
	REQUIRE(argv_len(argv) > 10);
	CHECK_STR(argv[9], "--device");
	CHECK_STR(argv[10], "nvidia.com/gpu=all");
	strv_free(argv);

	argv = wrap("{\"runtime\":\"docker-run\",\"image\":\"mindspore:2.3\","
	    "\"accelerator\":\"ascend\",\"extra_args\":[\"--shm-size=64g\"],"
	    "\"mounts\":[{\"src\":\"/home/u\",\"ro\":false}]}", &in, &cause);
	REQUIRE(argv != NULL);
	CHECK_ARGV(argv, "docker", "run", "--rm", "-i", "--init", "--name",
	    "sdxl-r4", "--ipc=host", "--network=host",
	    "--device", "/dev/davinci4", "--device", "/dev/davinci5",
	    "--device", "/dev/davinci_manager", "--device", "/dev/devmm_svm",
	    "--device", "/dev/hisi_hdc",
	    "-v", "/usr/local/Ascend/driver:/usr/local/Ascend/driver:ro",
	    "-v", "/usr/local/bin/npu-smi:/usr/local/bin/npu-smi:ro",
	    "-v", "/usr/local/dcmi:/usr/local/dcmi:ro",
	    "-v", "/r:/r", "-v", "/home/u:/home/u",
	    "-e", "DEVICE_ID", "-e", "RANK_TABLE_FILE", "-w", "/w",
	    "--shm-size=64g", "mindspore:2.3", "python", "train.py");
	strv_free(argv);

	/* Ascend with no NPU anywhere is refused, not run without NPUs. */
	in.ndevices = 0;
	argv = wrap("{\"runtime\":\"docker-run\",\"image\":\"i\","
	    "\"accelerator\":\"ascend\"}", &in, &cause);
	CHECK(argv == NULL);
	CHECK(cause != NULL && strstr(cause, "no NPU numbers") != NULL);
	free(cause);
}

TEST(container_apptainer_bwrap_none_argv)
{
	struct wrap_in in = { 0 };
	char **argv, *cause = NULL;

	in.argv = (char *const[]){ "python", "-", "--x", NULL };
	in.env_names = (char *const[]){ "RANK", NULL };
	in.cwd = "/w";
	in.run_dir = "/r";
	in.name = "n";
	argv = wrap("{\"runtime\":\"apptainer\",\"image\":\"/sif/sd.sif\","
	    "\"accelerator\":\"nvidia\",\"mounts\":[\"/data:/d:ro\"],"
	    "\"extra_args\":[\"--cleanenv\"]}", &in, &cause);
	REQUIRE(argv != NULL);
	CHECK_ARGV(argv, "apptainer", "exec", "--nv", "--bind", "/r:/r",
	    "--bind", "/data:/d:ro", "--pwd", "/w", "--cleanenv",
	    "/sif/sd.sif", "python", "-", "--x");
	strv_free(argv);
	argv = wrap("{\"runtime\":\"apptainer\",\"image\":\"docker://x/y\","
	    "\"accelerator\":\"ascend\",\"program\":\"singularity\"}", &in,
	    &cause);
	REQUIRE(argv != NULL);
	CHECK_ARGV(argv, "singularity", "exec",
	    "--bind", "/usr/local/Ascend/driver:/usr/local/Ascend/driver:ro",
	    "--bind", "/usr/local/bin/npu-smi:/usr/local/bin/npu-smi:ro",
	    "--bind", "/usr/local/dcmi:/usr/local/dcmi:ro",
	    "--bind", "/r:/r", "--pwd", "/w", "docker://x/y", "python", "-",
	    "--x");
	strv_free(argv);

	argv = wrap("{\"runtime\":\"bwrap\",\"mounts\":[\"/data:/d:ro\","
	    "{\"src\":\"/o:ut\",\"dst\":\"/out\"}],\"unshare_net\":true}", &in,
	    &cause);
	REQUIRE(argv != NULL);
	CHECK_ARGV(argv, "bwrap", "--die-with-parent", "--ro-bind", "/", "/",
	    "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--bind",
	    "/r", "/r", "--ro-bind", "/data", "/d", "--bind", "/o:ut", "/out",
	    "--unshare-net", "--chdir", "/w", "--", "python", "-", "--x");
	strv_free(argv);
	in.cwd = NULL;
	argv = wrap("{\"runtime\":\"bwrap\",\"host_dev\":true}", &in, &cause);
	REQUIRE(argv != NULL);
	CHECK_ARGV(argv, "bwrap", "--die-with-parent", "--ro-bind", "/", "/",
	    "--dev-bind", "/dev", "/dev", "--proc", "/proc", "--tmpfs",
	    "/tmp", "--bind", "/r", "/r", "--", "python", "-", "--x");
	strv_free(argv);

	argv = wrap("{\"runtime\":\"none\"}", &in, &cause);
	REQUIRE(argv != NULL);
	CHECK_ARGV(argv, "python", "-", "--x");
	strv_free(argv);
	argv = wrap(NULL, &in, &cause);
	REQUIRE(argv != NULL);
	CHECK_ARGV(argv, "python", "-", "--x");
	strv_free(argv);
	in.shell = 1;
	in.argv = (char *const[]){ "python train.py > /dev/null", NULL };
	argv = wrap(NULL, &in, &cause);
	REQUIRE(argv != NULL);
	CHECK_ARGV(argv, "/bin/sh", "-c", "python train.py > /dev/null");
	strv_free(argv);
}

TEST(container_wrap_refuses_empty_commands)
{
	struct wrap_in in = { 0 };
	char **argv = (char **)1, *cause = NULL;
	json_t *c = J("{\"runtime\":\"docker-exec\",\"name\":\"m\"}");

	in.container = c;
	in.argv = (char *const[]){ NULL };
	CHECK(container_wrap(&in, &argv, &cause) == -1);
	CHECK(argv == NULL);
	CHECK(cause != NULL && strstr(cause, "empty") != NULL);
	free(cause);
	cause = NULL;
	in.argv = NULL;
	CHECK(container_wrap(&in, &argv, &cause) == -1);
	free(cause);
	cause = NULL;
	in.argv = (char *const[]){ "", NULL };
	in.shell = 1;
	CHECK(container_wrap(&in, &argv, &cause) == -1);
	CHECK(cause != NULL && strstr(cause, "shell command is empty") != NULL);
	free(cause);
	cause = NULL;
	/* bwrap needs the run directory it binds. */
	json_decref(c);
	c = J("{\"runtime\":\"bwrap\"}");
	in.container = c;
	in.shell = 0;
	in.argv = (char *const[]){ "true", NULL };
	CHECK(container_wrap(&in, &argv, &cause) == -1);
	CHECK(cause != NULL && strstr(cause, "run directory") != NULL);
	free(cause);
	json_decref(c);
	strv_free(NULL);
}

TEST(container_signal_argvs)
{
	json_t *c;
	char **argv = (char **)1, *cause = NULL;

	c = J("{\"runtime\":\"docker-exec\",\"name\":\"mindspore1212\"}");
	REQUIRE(container_signal_argv(c, "x", 4242, SIGTERM, &argv,
	    &cause) == 0);
	REQUIRE(argv != NULL && argv_len(argv) == 9);
	CHECK_ARGV(argv, "docker", "exec", "mindspore1212", "sh", "-c",
	    argv[5], "sh", "TERM", "4242");
	CHECK(strstr(argv[5], "kill -s \"$1\" -- -\"$2\"") != NULL);
	strv_free(argv);
	/* Without the inner pid there is nothing to aim at. */
	CHECK(container_signal_argv(c, "x", 0, SIGTERM, &argv, &cause) == -1);
	CHECK(argv == NULL);
	CHECK(cause != NULL && strstr(cause, "no in-container pid") != NULL);
	free(cause);
	cause = NULL;
	CHECK(container_signal_argv(c, "x", 4242, 0, &argv, &cause) == -1);
	CHECK(cause != NULL && strstr(cause, "signal 0") != NULL);
	free(cause);
	cause = NULL;
	json_decref(c);

	c = J("{\"runtime\":\"docker-exec\",\"name\":\"m\",\"user\":\"u\","
	    "\"program\":\"/opt/docker\"}");
	REQUIRE(container_signal_argv(c, "x", 77, SIGUSR1, &argv,
	    &cause) == 0);
	REQUIRE(argv_len(argv) == 11);
	CHECK_ARGV(argv, "/opt/docker", "exec", "-u", "u", "m", "sh", "-c",
	    argv[7], "sh", "USR1", "77");
	strv_free(argv);
	json_decref(c);

	c = J("{\"runtime\":\"docker-run\",\"image\":\"i\","
	    "\"accelerator\":\"none\"}");
	REQUIRE(container_signal_argv(c, "t 1/r0", 0, SIGINT, &argv,
	    &cause) == 0);
	CHECK_ARGV(argv, "docker", "kill", "--signal", "INT", "t_1_r0");
	strv_free(argv);
	json_decref(c);
	c = J("{\"runtime\":\"podman-run\",\"image\":\"i\","
	    "\"accelerator\":\"none\"}");
	REQUIRE(container_signal_argv(c, "r0", 0, SIGKILL, &argv,
	    &cause) == 0);
	CHECK_ARGV(argv, "podman", "kill", "--signal", "KILL", "r0");
	strv_free(argv);
	json_decref(c);

	/* Local process groups: no argv. */
	c = J("{\"runtime\":\"bwrap\"}");
	argv = (char **)1;
	CHECK(container_signal_argv(c, "r0", 0, SIGTERM, &argv, &cause) == 0);
	CHECK(argv == NULL);
	json_decref(c);
	c = J("{\"runtime\":\"apptainer\",\"image\":\"i\"}");
	argv = (char **)1;
	CHECK(container_signal_argv(c, "r0", 0, SIGTERM, &argv, &cause) == 0);
	CHECK(argv == NULL);
	json_decref(c);
	argv = (char **)1;
	CHECK(container_signal_argv(NULL, "r0", 0, SIGTERM, &argv,
	    &cause) == 0);
	CHECK(argv == NULL);
	/* An invalid container is reported, not signalled. */
	c = J("{\"runtime\":\"docker-run\"}");
	CHECK(container_signal_argv(c, "r0", 0, SIGTERM, &argv,
	    &cause) == -1);
	CHECK(cause != NULL && strstr(cause, "container.image") != NULL);
	free(cause);
	json_decref(c);
}

/* ---- running the argvs for real ------------------------------------- */

/* Bytes no shell may touch: quotes, $, globs, newlines, dashes, non-UTF-8. */
static const char *const nasty[] = {
	"", " ", "a b", "'", "\"", "\\", "$HOME", "$(id)", "`id`", "${x:-y}",
	"*", "~", ";", "|&", "\n", "line1\nline2\n", "\t\r", "-", "--", "-e",
	"--help", "-c", "é漢字", "\x01\x1b[31m\x7f\xfe\xff", "%s%n", "!",
	"a=b", NULL,
};

static void
hex_line(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++)
		buf_printf(b, "%02x", (unsigned char)*s);
	buf_addch(b, '\n');
}

/* A helper that prints one line of hex per argument (and any prefix). */
static char *
write_hexargs(void)
{
	char *path, *cause = NULL;
	static const char script[] =
	    "#!/bin/sh\n"
	    "printf 'helper-start\\n' >&2\n"
	    "printf 'cwd=%s env=%s\\n' \"$(pwd)\" \"$DROVER_TEST_ENV\"\n"
	    "for a in \"$@\"; do\n"
	    "\tprintf '%s' \"$a\" | od -An -v -tx1 | tr -d ' \\n'\n"
	    "\techo\n"
	    "done\n";

	xasprintf(&path, "%s/hexargs", test_tmpdir());
	if (file_write_atomic(path, script, sizeof script - 1, 0755,
	    &cause) != 0) {
		fprintf(stdout, "  %s\n", cause);
		free(cause);
	}
	return path;
}

/* Runs argv detached from any terminal with stdio on files; no wait. */
static pid_t
spawn(char *const *argv, const char *in, const char *out, const char *err)
{
	pid_t pid;
	int fd;

	fflush(stdout);
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		setsid();
		fd = open(in != NULL ? in : "/dev/null", O_RDONLY);
		dup2(fd, 0);
		fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 1);
		fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Waits up to 20 s; returns the shell-style status (128+N if signalled). */
static int
wait_status(pid_t pid)
{
	int st, i;

	for (i = 0; i < 2000; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid) {
			if (WIFSIGNALED(st))
				return 128 + WTERMSIG(st);
			return WEXITSTATUS(st);
		}
		sleep_ms(10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

static char *
slurp(const char *path)
{
	struct buf b;
	char *cause = NULL;

	buf_init(&b);
	if (file_read_all(path, 1 << 20, &b, &cause) != 0)
		free(cause);
	buf_cstr(&b);
	return buf_steal(&b);
}

/* Builds the expected helper output for nasty[] after a first line. */
static char *
expect_hex(const char *first)
{
	struct buf b;
	size_t i;

	buf_init(&b);
	buf_addstr(&b, first);
	for (i = 0; nasty[i] != NULL; i++)
		hex_line(&b, nasty[i]);
	buf_cstr(&b);
	return buf_steal(&b);
}

/* The same, keeping the first line of out (cwd and env, not under test). */
static char *
expect_hex_after_first(const char *out)
{
	const char *nl = strchr(out, '\n');
	char *first, *want;

	first = nl != NULL ? xstrndup(out, nl - out + 1) : xstrdup("");
	want = expect_hex(first);
	free(first);
	return want;
}

static char **
nasty_argv(const char *helper)
{
	char **v = xcalloc(nitems(nasty) + 1, sizeof *v);
	size_t i;

	v[0] = (char *)helper;
	for (i = 0; nasty[i] != NULL; i++)
		v[i + 1] = (char *)nasty[i];
	return v;
}

static int
run_wrapped(const char *ctext, struct wrap_in *in, int expect, char **outp)
{
	char **argv, *cause = NULL, out[512], err[512];
	pid_t pid;
	int st;

	argv = wrap(ctext, in, &cause);
	if (argv == NULL) {
		fprintf(stdout, "  wrap: %s\n", cause);
		free(cause);
		return -1;
	}
	snprintf(out, sizeof out, "%s/out", test_tmpdir());
	snprintf(err, sizeof err, "%s/err", test_tmpdir());
	pid = spawn(argv, NULL, out, err);
	strv_free(argv);
	st = wait_status(pid);
	*outp = slurp(out);
	if (st != expect) {
		char *e = slurp(err);

		fprintf(stdout, "  exit %d, stderr: %s\n", st, e);
		free(e);
	}
	return st;
}

TEST(container_none_and_bwrap_pass_bytes_exactly)
{
	struct wrap_in in = { 0 };
	char *helper, **argv, *out = NULL, *want, first[600];

	helper = write_hexargs();
	argv = nasty_argv(helper);
	setenv("DROVER_TEST_ENV", "v a$l'ue", 1);
	in.argv = argv;
	in.run_dir = test_tmpdir();
	in.cwd = test_tmpdir();
	in.name = "t";

	/* none: the agent sets the cwd itself; here it is the runner's. */
	CHECK_INT(run_wrapped("{\"runtime\":\"none\"}", &in, 0, &out), 0);
	REQUIRE(out != NULL && strncmp(out, "cwd=", 4) == 0);
	want = expect_hex_after_first(out);
	CHECK_STR(out, want);
	CHECK(strstr(out, " env=v a$l'ue\n") != NULL);
	free(want);
	free(out);

	/* bwrap: inside the sandbox, cwd applied, environment inherited. */
	snprintf(first, sizeof first, "cwd=%s env=v a$l'ue\n", test_tmpdir());
	CHECK_INT(run_wrapped("{\"runtime\":\"bwrap\"}", &in, 0, &out), 0);
	want = expect_hex(first);
	CHECK_STR(out, want);
	free(want);
	free(out);

	/* Shell mode: one string for sh -c, the rest as "$1"... */
	in.shell = 1;
	in.argv = (char *const[]){ "printf '[%s]' \"$0\" \"$@\"; exit 5",
	    "x  y", "$z\n", NULL };
	CHECK_INT(run_wrapped("{\"runtime\":\"bwrap\",\"unshare_net\":true}",
	    &in, 5, &out), 5);
	CHECK_STR(out, "[sh][x  y][$z\n]");
	free(out);

	unsetenv("DROVER_TEST_ENV");
	free(argv);
	free(helper);
}

/* The docker-exec in-container command (from "sh" on) run locally. */
static char **
exec_wrapper_argv(char *const *core, const char *shell)
{
	struct wrap_in in = { 0 };
	char **argv, **v, *cause = NULL;
	size_t i, n;

	in.argv = core;
	argv = wrap("{\"runtime\":\"docker-exec\",\"name\":\"c\"}", &in,
	    &cause);
	if (argv == NULL) {
		fprintf(stdout, "  wrap: %s\n", cause);
		free(cause);
		return NULL;
	}
	/* docker exec -i c sh ...: the container command starts at [4]. */
	n = argv_len(argv);
	v = xcalloc(n, sizeof *v);
	for (i = 4; i < n; i++)
		v[i - 4] = xstrdup(argv[i]);
	free(v[0]);
	v[0] = xstrdup(shell);
	strv_free(argv);
	return v;
}

/* Returns the pid from the mark, or -1; *restp points past the line. */
static long
mark_pid(const char *err, const char **restp)
{
	size_t ml = strlen(CONTAINER_PID_MARK);
	char *end;
	long pid;

	if (strncmp(err, CONTAINER_PID_MARK, ml) != 0)
		return -1;
	pid = strtol(err + ml, &end, 10);
	if (end == err + ml || *end != '\n')
		return -1;
	if (restp != NULL)
		*restp = end + 1;
	return pid;
}

static char
proc_state(long pid)
{
	char path[64], *s, *p, st;

	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	s = slurp(path);
	p = strrchr(s, ')');
	st = p != NULL && p[1] == ' ' ? p[2] : 0;
	free(s);
	return st;
}

static void
exec_wrapper_under(const char *shell)
{
	char **argv, *helper, **core, *out, *err, *want;
	char outp[512], errp[512], inp[512], pidf[512], *cause = NULL;
	const char *rest;
	long pid, kid;
	pid_t w, k;
	char **sig;
	json_t *c;
	int i, st;

	fprintf(stdout, "  wrapper under %s\n", shell);
	snprintf(outp, sizeof outp, "%s/out", test_tmpdir());
	snprintf(errp, sizeof errp, "%s/err", test_tmpdir());
	snprintf(inp, sizeof inp, "%s/in", test_tmpdir());
	snprintf(pidf, sizeof pidf, "%s/kid.pid", test_tmpdir());

	/* 1. Bytes arrive exactly; the mark is the first stderr line. */
	helper = write_hexargs();
	core = nasty_argv(helper);
	argv = exec_wrapper_argv(core, shell);
	REQUIRE(argv != NULL);
	w = spawn(argv, NULL, outp, errp);
	strv_free(argv);
	CHECK_INT(wait_status(w), 0);
	out = slurp(outp);
	err = slurp(errp);
	pid = mark_pid(err, &rest);
	CHECK(pid > 1);
	CHECK_STR(pid > 1 ? rest : NULL, "helper-start\n");
	want = expect_hex_after_first(out);
	CHECK_STR(out, want);
	free(want);
	free(out);
	free(err);
	free(core);
	free(helper);

	/* 2. Exit statuses pass through; stdin reaches the core. */
	REQUIRE(file_write_atomic(inp, "hello\nrest\n", 11, 0644,
	    &cause) == 0);
	argv = exec_wrapper_argv((char *const[]){ "sh", "-c",
	    "read x; printf '<%s>' \"$x\"; exit 3", NULL }, shell);
	REQUIRE(argv != NULL);
	w = spawn(argv, inp, outp, errp);
	strv_free(argv);
	CHECK_INT(wait_status(w), 3);
	out = slurp(outp);
	CHECK_STR(out, "<hello>");
	free(out);

	/* 3. Its own group and session; the signal script stops it all. */
	argv = exec_wrapper_argv((char *const[]){ "sh", "-c",
	    "sleep 60 & echo $! > \"$1\"; sleep 60", "core", pidf, NULL },
	    shell);
	REQUIRE(argv != NULL);
	unlink(pidf);
	w = spawn(argv, NULL, outp, errp);
	strv_free(argv);
	pid = kid = -1;
	for (i = 0; i < 500 && (pid <= 1 || kid <= 1); i++) {
		sleep_ms(10);
		err = slurp(errp);
		pid = mark_pid(err, NULL);
		free(err);
		out = slurp(pidf);
		kid = strtol(out, NULL, 10);
		free(out);
	}
	CHECK(pid > 1 && kid > 1);
	if (pid <= 1 || kid <= 1) {
		kill(w, SIGKILL);
		wait_status(w);
		return;
	}
	CHECK_INT(getpgid((pid_t)pid), pid);
	CHECK_INT(getsid((pid_t)pid), pid);
	CHECK_INT(getpgid((pid_t)kid), pid);
	CHECK(getpgid(w) != pid);

	c = J("{\"runtime\":\"docker-exec\",\"name\":\"c\"}");
	REQUIRE(container_signal_argv(c, "c", pid, SIGTERM, &sig,
	    &cause) == 0);
	json_decref(c);
	REQUIRE(argv_len(sig) == 9);
	/* docker exec c sh -c SCRIPT sh TERM PID, from "sh" on, locally. */
	k = spawn(sig + 3, NULL, "/dev/null", "/dev/null");
	strv_free(sig);
	CHECK_INT(wait_status(k), 0);
	st = wait_status(w);
	CHECK_INT(st, 128 + SIGTERM);
	/* The grandchild died too (a zombie of init's counts as dead). */
	for (i = 0; i < 200; i++) {
		if (proc_state(kid) == 0 || proc_state(kid) == 'Z')
			break;
		sleep_ms(10);
	}
	CHECK(proc_state(kid) == 0 || proc_state(kid) == 'Z');
	if (proc_state(kid) != 0 && proc_state(kid) != 'Z')
		kill((pid_t)kid, SIGKILL);
}

TEST(container_exec_wrapper_runs_for_real)
{
	exec_wrapper_under("sh");
	if (access("/bin/bash", X_OK) == 0)
		exec_wrapper_under("/bin/bash");
}
