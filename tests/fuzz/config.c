/*
 * config.c - fuzzes the YAML config loader: the bytes as an in-memory
 * document (yamltree_load_string, what --set values go through), then as
 * a task file through config_load (layering, validation, every message).
 * Either must load or give "FILE:LINE:COL: ..." lines, never crash.
 */
#include "fuzz.h"

#include "../../tui/config.h"
#include "../../tui/yamltree.h"

FUZZ_QUIET_INIT()

/* Every line of a cause names the place: "NAME:LINE:COL: ..." or, for
 * whole-file problems, "NAME: ...". */
static void
check_cause(const char *cause, const char *name)
{
	const char *line = cause;
	size_t nlen = strlen(name);

	FUZZ_ASSERT(cause != NULL && *cause != '\0');
	while (line != NULL) {
		if (strncmp(line, name, nlen) == 0)
			FUZZ_ASSERT(line[nlen] == ':');
		line = strchr(line, '\n');
		if (line != NULL)
			line++;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct yamltree *t = yamltree_new();
	struct ynode *root = NULL;
	struct config *cfg;
	char *cause = NULL;
	const char *path;

	if (yamltree_load_string(t, (const char *)data, len, "fuzz.yaml", 0,
	    &root, &cause) != 0) {
		FUZZ_ASSERT(root == NULL);
		FUZZ_ASSERT(strncmp(cause, "fuzz.yaml:", 10) == 0);
		free(cause);
		cause = NULL;
	}
	yamltree_free(t);

	path = fuzz_file(data, len);
	cfg = config_load(path, NULL, 0, &cause);
	if (cfg == NULL) {
		check_cause(cause, path);
		free(cause);
	}
	config_free(cfg);
	return 0;
}
