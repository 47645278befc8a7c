# drover - plain GNU make + pkg-config; everything is built under build/.
#   make                 build/drover-agent (static) and build/drover
#   make test            install-deps check, build, unit + regress tests
#   make agents          static agents for x86_64 and aarch64
#   make demo            a real 4-host task on this machine (scripts/demo.sh)
#   make install         PREFIX=/usr/local, DESTDIR: drover, the agents, drover(1)
#   make uninstall
#   make SANITIZER=address,undefined test
#   make fuzz FUZZ_SECONDS=N   libFuzzer targets (clang) under build/fuzz/,
#                        each run N seconds (tests/fuzz/README.md)
#   CI=1 make ...        warnings are errors; CI=1 make test also runs the
#                        suite again built with SANITIZER=address,undefined
#                        in build-san (tests/run.sh)
#   make bench           every benchmark, then one table (bench/summary.sh)

CC ?= cc
ifeq ($(origin CC),default)
CC = cc
endif
PKG_CONFIG ?= pkg-config
BUILD ?= build
SANITIZER ?=

WARN := -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes \
	-Wmissing-prototypes -Wno-unused-parameter -Wno-format-nonliteral
ifdef CI
WARN += -Werror
endif
OPT ?= -O2 -g
CPPFLAGS += -D_GNU_SOURCE -MMD -MP
CFLAGS += -std=c11 $(OPT) $(WARN)
JANSSON_CFLAGS := $(shell $(PKG_CONFIG) --cflags jansson 2>/dev/null)
JANSSON_LIBS := $(shell $(PKG_CONFIG) --libs jansson 2>/dev/null || echo -ljansson)
SSH_CFLAGS := $(shell $(PKG_CONFIG) --cflags libssh2 libcrypto 2>/dev/null)
SSH_LIBS := $(shell $(PKG_CONFIG) --libs libssh2 libcrypto 2>/dev/null || echo -lssh2 -lcrypto)
YAML_LIBS := $(shell $(PKG_CONFIG) --libs yaml-0.1 2>/dev/null || echo -lyaml)
SQLITE_LIBS := $(shell $(PKG_CONFIG) --libs sqlite3 2>/dev/null || echo -lsqlite3)
CURSES_CFLAGS := $(shell $(PKG_CONFIG) --cflags ncursesw 2>/dev/null)
CURSES_LIBS := $(shell $(PKG_CONFIG) --libs ncursesw 2>/dev/null || echo -lncursesw)
CFLAGS += $(JANSSON_CFLAGS) $(SSH_CFLAGS) $(CURSES_CFLAGS)
# Everything the drover program links (the agent library comes as an
# archive so only what drover uses, e.g. container validation, is pulled in).
DROVER_LIBS := $(SSH_LIBS) $(JANSSON_LIBS) $(YAML_LIBS) $(SQLITE_LIBS) $(CURSES_LIBS) -lm

ifneq ($(SANITIZER),)
CFLAGS += -fsanitize=$(SANITIZER) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZER)
AGENT_LDFLAGS :=
else
# The agent is pushed to hosts that have nothing installed: fully static.
AGENT_LDFLAGS := -static
endif

COMMON_SRC := $(wildcard common/*.c)
AGENT_LIB_SRC := $(filter-out agent/main.c,$(wildcard agent/*.c))
REMOTE_SRC := $(wildcard remote/*.c)
TUI_LIB_SRC := $(filter-out tui/main.c,$(wildcard tui/*.c))
UNIT_SRC := $(wildcard tests/unit/*.c)
STORE_SRC := $(wildcard tui/store*.c)

COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/obj/%.o)
AGENT_LIB_OBJ := $(AGENT_LIB_SRC:%.c=$(BUILD)/obj/%.o)
REMOTE_OBJ := $(REMOTE_SRC:%.c=$(BUILD)/obj/%.o)
TUI_LIB_OBJ := $(TUI_LIB_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_OBJ := $(UNIT_SRC:%.c=$(BUILD)/obj/%.o)
STORE_OBJ := $(STORE_SRC:%.c=$(BUILD)/obj/%.o)

.PHONY: all test unit regress deps agents demo clean bench fuzz fuzz-build install \
	uninstall

all: $(BUILD)/drover-agent $(BUILD)/drover

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/drover-agent: $(BUILD)/obj/agent/main.o $(AGENT_LIB_OBJ) $(COMMON_OBJ)
	$(CC) $(LDFLAGS) $(AGENT_LDFLAGS) -o $@ $^ $(JANSSON_LIBS) -lm

$(BUILD)/libagent.a: $(AGENT_LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/drover: $(BUILD)/obj/tui/main.o $(TUI_LIB_OBJ) $(REMOTE_OBJ) $(BUILD)/libagent.a $(COMMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(DROVER_LIBS)

$(BUILD)/unit-tests: $(UNIT_OBJ) $(AGENT_LIB_OBJ) $(REMOTE_OBJ) $(TUI_LIB_OBJ) $(COMMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(DROVER_LIBS)

# bench/ingest.sh: the store alone (tui/store*.c) and common/.
$(BUILD)/bench-ingest: $(BUILD)/obj/bench/ingest.o $(STORE_OBJ) $(COMMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(JANSSON_LIBS) $(SQLITE_LIBS) -lm

# bench/config.sh: the config loader (tui/yamltree.c) on hostile YAML.
$(BUILD)/bench-config: $(BUILD)/obj/bench/config.o $(BUILD)/obj/tui/yamltree.o $(COMMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(JANSSON_LIBS) $(YAML_LIBS) -lm

# bench/render.sh: the console drawing from a big store.
$(BUILD)/bench-render: $(BUILD)/obj/bench/render.o $(TUI_LIB_OBJ) $(REMOTE_OBJ) $(BUILD)/libagent.a $(COMMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(DROVER_LIBS)

# Cross-built static agents (install-deps installs the toolchains).
AARCH64_CC ?= aarch64-linux-gnu-gcc
$(BUILD)/x86_64/drover-agent: $(COMMON_SRC) $(AGENT_LIB_SRC) agent/main.c
	@mkdir -p $(dir $@)
	$(CC) -D_GNU_SOURCE -std=c11 -O2 $(WARN) -static -o $@ $^ \
		-I/usr/include -L/usr/lib/x86_64-linux-gnu -ljansson -lm
$(BUILD)/aarch64/drover-agent: $(COMMON_SRC) $(AGENT_LIB_SRC) agent/main.c
	@mkdir -p $(dir $@)
	$(AARCH64_CC) -D_GNU_SOURCE -std=c11 -O2 $(WARN) -static -o $@ $^ \
		-I/usr/include -L/usr/lib/aarch64-linux-gnu -ljansson -lm
agents: $(BUILD)/x86_64/drover-agent $(BUILD)/aarch64/drover-agent

deps:
	@scripts/install-deps.sh --ensure

# Test drivers the regress scripts run.
$(BUILD)/rsession-probe: $(BUILD)/obj/tests/tools/rsession_probe.o $(REMOTE_OBJ) $(COMMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(SSH_LIBS) $(JANSSON_LIBS) -lm

$(BUILD)/logtail-probe: $(BUILD)/obj/tests/tools/logtail_probe.o $(TUI_LIB_OBJ) $(REMOTE_OBJ) $(BUILD)/libagent.a $(COMMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(DROVER_LIBS)

unit: $(BUILD)/unit-tests $(BUILD)/rsession-probe $(BUILD)/logtail-probe

test: deps all unit agents
	@DROVER_SRC=$(CURDIR) BUILD=$(BUILD) tests/run.sh

# Each benchmark once, its output kept in $(BUILD)/bench/NAME.log (and its
# exit status in NAME.rc); then one table of the key figures and ratios
# (bench/summary.sh), which fails when a benchmark did.
BENCH_LOG := $(BUILD)/bench
bench: deps all $(BUILD)/bench-ingest $(BUILD)/bench-render $(BUILD)/bench-config
	@mkdir -p $(BENCH_LOG)
	@for b in agent_overhead fanout ingest latency render config; do \
		echo "== bench/$$b.sh"; \
		{ BUILD=$(BUILD) bench/$$b.sh 2>&1; echo $$? > $(BENCH_LOG)/$$b.rc; } | \
		    tee $(BENCH_LOG)/$$b.log; \
	done
	@bench/summary.sh $(BENCH_LOG)

# The local hosts of the demo get the agent built for this machine.
HOST_ARCH := $(shell uname -m)
demo: deps all $(BUILD)/$(HOST_ARCH)/drover-agent
	@DROVER_SRC=$(CURDIR) BUILD=$(BUILD) scripts/demo.sh

# drover finds the agents it pushes in PREFIX/lib/drover/<arch>/ (beside
# its binary in the build tree); every agent build there is installed.
PREFIX ?= /usr/local
BINDIR := $(DESTDIR)$(PREFIX)/bin
AGENTDIR := $(DESTDIR)$(PREFIX)/lib/drover
MANDIR := $(DESTDIR)$(PREFIX)/share/man/man1
INSTALL ?= install
install: all $(BUILD)/$(HOST_ARCH)/drover-agent
	$(INSTALL) -d $(BINDIR) $(MANDIR)
	$(INSTALL) -m 0755 $(BUILD)/drover $(BUILD)/drover-agent $(BINDIR)/
	for a in x86_64 aarch64; do \
		if [ -f $(BUILD)/$$a/drover-agent ]; then \
			$(INSTALL) -d $(AGENTDIR)/$$a && \
			$(INSTALL) -m 0755 $(BUILD)/$$a/drover-agent $(AGENTDIR)/$$a/ || exit 1; \
		fi; \
	done
	$(INSTALL) -m 0644 docs/drover.1 $(MANDIR)/drover.1

uninstall:
	rm -f $(BINDIR)/drover $(BINDIR)/drover-agent $(MANDIR)/drover.1
	rm -f $(AGENTDIR)/x86_64/drover-agent $(AGENTDIR)/aarch64/drover-agent
	-rmdir $(AGENTDIR)/x86_64 $(AGENTDIR)/aarch64 $(AGENTDIR) 2>/dev/null

# libFuzzer targets (tests/fuzz/): the project's sources compiled again by
# clang with the fuzzer and sanitizer flags into build/fuzz/, apart from
# everything else, so `make all` and `make test` never need clang.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_DIR := $(BUILD)/fuzz
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
# clang-only warning on an intended literal concatenation in remote/.
# FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION (the name libFuzzer users
# share) lowers caps that only make a fuzzer slow: remote/hostrange.c.
FUZZ_CFLAGS := -std=c11 -O1 -g $(WARN) -Wno-string-concatenation $(FUZZ_SAN) $(JANSSON_CFLAGS) \
	$(SSH_CFLAGS) $(CURSES_CFLAGS) -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
PARSE_FORMATS := mindone mindspore kohya diffusers jsonl regex auto
FUZZ_TARGETS := config proto hostrange knownhosts ranktable spool logtail \
	quote $(PARSE_FORMATS:%=parse_%)
FUZZ_BINS := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/%)
FUZZ_LIB_SRC := $(COMMON_SRC) $(AGENT_LIB_SRC) $(REMOTE_SRC) $(TUI_LIB_SRC)
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=$(FUZZ_DIR)/obj/%.o)

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link \
		-c -o $@ $<

$(FUZZ_DIR)/libdrover.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_DIR)/parse_%.o: tests/fuzz/parse.c
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer \
		-DFUZZ_FORMAT='"$*"' -c -o $@ $<

$(FUZZ_DIR)/%.o: tests/fuzz/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer -c -o $@ $<

$(FUZZ_BINS): $(FUZZ_DIR)/%: $(FUZZ_DIR)/%.o $(FUZZ_DIR)/libdrover.a
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(DROVER_LIBS)

.PRECIOUS: $(FUZZ_DIR)/%.o
.SECONDARY: $(PARSE_FORMATS:%=$(FUZZ_DIR)/parse_%.o)
fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	@FUZZ_BIN=$(FUZZ_DIR) tests/fuzz/run.sh -t $(FUZZ_SECONDS) -m 1000 $(FUZZ_TARGETS)

clean:
	rm -rf $(BUILD)

# Dependency files are only read, never made (else a pattern rule above
# would try to build build/fuzz/parse_x.d from parse_x.d.o).
%.d: ;
-include $(shell find $(BUILD)/obj $(BUILD)/fuzz -name '*.d' 2>/dev/null)
