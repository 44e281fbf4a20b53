# Parlor build.  `make` builds everything into bin/; `make test` runs all tests
# (unit + integration, a short run of each fuzz target, then again under
# AddressSanitizer/UBSan); `make fuzz` runs the fuzz targets longer.
# `make asan` builds the sanitizer variant into build-asan/ (binaries in
# build-asan/bin/).

MAKEFLAGS += --no-print-directory
BUILD    ?= build
BIN      := $(if $(filter build,$(BUILD)),bin,$(BUILD)/bin)
CC       ?= cc
PKGS     := libuv libpq check
CPPFLAGS += -I. -D_GNU_SOURCE -MMD -MP
# OPT is the optimisation level; the warning and sanitizer flags are added to
# whatever CFLAGS the caller gives, so `make CFLAGS=...` cannot drop them.
OPT      ?= -O2 -g
PKG_CFLAGS := $(shell pkg-config --cflags libuv libpq 2>/dev/null)
ALL_CFLAGS = $(OPT) -std=c11 -Wall -Wextra -Wshadow -Wno-unused-parameter -Werror \
            $(PKG_CFLAGS) $(SAN_CFLAGS) $(CFLAGS)
LDLIBS_UV := $(shell pkg-config --libs libuv 2>/dev/null)
LDLIBS_PQ := $(shell pkg-config --libs libpq 2>/dev/null)
LDLIBS_NATS := $(shell pkg-config --libs libnats 2>/dev/null || echo -lnats)
LDLIBS_CHECK := $(shell pkg-config --libs check 2>/dev/null)
LDLIBS_EDIT := $(shell pkg-config --libs libedit 2>/dev/null)
LDLIBS_CURSES := $(shell pkg-config --libs ncursesw 2>/dev/null || echo -lncursesw)
# common/password.c uses libsodium, so every program linking common/ needs it.
LDLIBS_SODIUM := $(shell pkg-config --libs libsodium 2>/dev/null)
# common/tls.c uses OpenSSL 3 (libssl-dev): linked wherever common/ is.
LDLIBS_SODIUM += $(shell pkg-config --libs openssl 2>/dev/null || echo -lssl -lcrypto)

ifeq ($(SANITIZE),1)
SAN_CFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

COMMON_SRC := $(wildcard common/*.c)
IPC_SRC    := $(wildcard ipc/*.c)
MASTER_SRC := $(wildcard master/*.c)
WORKER_SRC := $(wildcard worker/*.c)
PARLORD_SRC := $(MASTER_SRC) $(WORKER_SRC) $(IPC_SRC) $(COMMON_SRC)
UNIT_SRC   := $(wildcard tests/unit/*.c)
INTEG_SRC  := $(wildcard tests/integration/*.c)
# bench/: the load generator (loadgen + hist) and the attacker are two programs.
BENCH_SRC  := $(wildcard bench/loadgen.c bench/hist.c)
ATTACK_SRC := $(wildcard bench/attack.c)
PIPE_SRC   := $(wildcard bench/pipeline.c)

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

PROGRAMS := $(BIN)/parlord $(BIN)/parlorctl $(BIN)/parlor
TESTS    := $(BIN)/test_unit $(BIN)/test_integration

.PHONY: all asan test test-unit test-integration test-asan run run-cluster deps bench mutate clean install
all: $(PROGRAMS) $(TESTS) $(if $(BENCH_SRC),$(BIN)/parlor-bench) $(if $(ATTACK_SRC),$(BIN)/parlor-attack) \
     $(if $(PIPE_SRC),$(BIN)/parlor-pipeline)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(BIN)/parlord: $(call obj,$(PARLORD_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS_UV) $(LDLIBS_PQ) $(LDLIBS_SODIUM) $(LDLIBS_NATS) -lpthread -lm

$(BIN)/parlorctl: $(call obj,client-cli/parlorctl.c $(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS_EDIT) $(LDLIBS_SODIUM)

$(BIN)/parlor: $(call obj,$(wildcard client-cli/parlor_*.c) client-cli/parlor.c $(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS_UV) $(LDLIBS_EDIT) $(LDLIBS_CURSES) $(LDLIBS_SODIUM)

$(BIN)/test_unit: $(call obj,$(UNIT_SRC) $(IPC_SRC) $(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS_CHECK) $(LDLIBS_SODIUM)

$(BIN)/test_integration: $(call obj,$(INTEG_SRC) $(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS_CHECK) $(LDLIBS_PQ) $(LDLIBS_SODIUM)

$(BIN)/parlor-bench: $(call obj,$(BENCH_SRC) $(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS_UV) $(LDLIBS_SODIUM) -lm

$(BIN)/parlor-attack: $(call obj,$(ATTACK_SRC) $(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS_UV) $(LDLIBS_SODIUM)

$(BIN)/parlor-pipeline: $(call obj,$(PIPE_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@

asan:
	$(MAKE) BUILD=build-asan SANITIZE=1 OPT="-O1 -g"

deps:
	@scripts/deps.sh

test-unit: $(BIN)/test_unit
	$(BIN)/test_unit

test-integration: $(BIN)/parlord $(BIN)/parlorctl $(BIN)/parlor $(BIN)/test_integration
	scripts/test-integration.sh $(BIN)/test_integration $(BIN)/parlord

test-asan:
	$(MAKE) BUILD=build-asan SANITIZE=1 OPT="-O1 -g" test-unit test-integration

# The README's test command: installs what is missing, then every suite, plain,
# each fuzz target briefly, and every suite under the sanitizers (last, so the
# final line is Check's summary).
test: deps
	$(MAKE) all
	$(MAKE) test-unit test-integration
	$(MAKE) fuzz-smoke
	$(MAKE) test-asan

run: deps
	$(MAKE) all
	PORT="$(PORT)" TLS_PORT="$(TLS_PORT)" DATA="$(DATA)" scripts/run.sh

# Two nodes over NATS on 127.0.0.1 (issue 13): PORT and PORT+1, NATS_PORT.
run-cluster: deps
	$(MAKE) all
	PORT="$(PORT)" NATS_PORT="$(NATS_PORT)" DATA="$(or $(CLUSTER_DATA),var-cluster)" scripts/run-cluster.sh

bench:
	@scripts/deps.sh --bench
	$(MAKE) all
	scripts/bench.sh

# ---- fuzzing (fuzz/, FUZZING.md) ----
# libFuzzer targets, built with clang into build-fuzz/ (never into build/):
# the code under test gets -fsanitize=fuzzer-no-link,address,undefined and
# goes into one archive, each fuzz/fuzz_*.c is linked against it.
# `make fuzz` runs every target for FUZZ_SECONDS, keeping what it finds in
# build-fuzz/corpus/<target>/ and crashes in build-fuzz/crashes/<target>/;
# `make fuzz-smoke` first replays every crash found before (fuzz/crashes/,
# all fixed: regression inputs), then runs each target for
# FUZZ_SMOKE_SECONDS and fails on a crash.
FUZZ_BUILD   := build-fuzz
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 300
FUZZ_SMOKE_SECONDS ?= 20
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS  := -O1 -g -std=c11 -Wall -Wextra -Wshadow -Wno-unused-parameter -Werror \
                $(PKG_CFLAGS) $(FUZZ_SAN)
FUZZ_LIB_SRC := $(COMMON_SRC) $(IPC_SRC) $(WORKER_SRC) master/control_parse.c
FUZZ_LIB_OBJ := $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(FUZZ_LIB_SRC))
FUZZ_SUPPORT := $(filter-out fuzz/fuzz_%.c,$(wildcard fuzz/*.c))
FUZZ_TARGETS := $(patsubst fuzz/%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_BINS    := $(patsubst %,$(FUZZ_BUILD)/bin/%,$(FUZZ_TARGETS))
FUZZ_LDLIBS  := $(LDLIBS_UV) $(LDLIBS_PQ) $(LDLIBS_SODIUM) -lm $(LDLIBS_NATS) -lpthread
# -timeout: one input may not take more than 10 s; -rss_limit_mb: 2 GB.
FUZZ_RUN     := -timeout=10 -rss_limit_mb=2048 -print_final_stats=1

.PHONY: fuzz fuzz-build fuzz-smoke
fuzz-build: $(FUZZ_BINS)

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BUILD)/libparlor-fuzz.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/bin/%: $(FUZZ_BUILD)/obj/fuzz/%.o $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(FUZZ_SUPPORT)) $(FUZZ_BUILD)/libparlor-fuzz.a
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer $^ -o $@ $(FUZZ_LDLIBS)

# One target: $(call fuzz_run,TARGET,SECONDS).  The seed corpus is read, new
# inputs go to build-fuzz/corpus/TARGET.
fuzz_run = mkdir -p $(FUZZ_BUILD)/corpus/$(1) $(FUZZ_BUILD)/crashes/$(1) && \
	$(FUZZ_BUILD)/bin/$(1) $(FUZZ_RUN) -max_total_time=$(2) \
	    -artifact_prefix=$(FUZZ_BUILD)/crashes/$(1)/ \
	    $(if $(wildcard fuzz/dict/$(1).dict),-dict=fuzz/dict/$(1).dict) \
	    $(FUZZ_BUILD)/corpus/$(1) fuzz/corpus/$(1)

fuzz: deps
	$(MAKE) fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	    echo "== fuzz $$t for $(FUZZ_SECONDS) s"; \
	    $(call fuzz_run,$$t,$(FUZZ_SECONDS)) || exit 1; \
	done

# Brief runs for `make test`: each target's output goes to
# build-fuzz/logs/TARGET.log and one summary line is printed per target.
fuzz-smoke: deps
	@$(MAKE) fuzz-build
	@mkdir -p $(FUZZ_BUILD)/logs
	@for t in $(FUZZ_TARGETS); do \
	    if [ -d fuzz/crashes/$$t ] && ! $(FUZZ_BUILD)/bin/$$t fuzz/crashes/$$t/* > $(FUZZ_BUILD)/logs/$$t.crashes.log 2>&1; then \
	        echo "fuzz-smoke: $$t: a crash found before is back; see $(FUZZ_BUILD)/logs/$$t.crashes.log"; \
	        exit 1; \
	    fi; \
	    if ( $(call fuzz_run,$$t,$(FUZZ_SMOKE_SECONDS)) ) > $(FUZZ_BUILD)/logs/$$t.log 2>&1; then \
	        echo "fuzz-smoke: $$t ok ($$(grep -o 'stat::number_of_executed_units: [0-9]*' $(FUZZ_BUILD)/logs/$$t.log | grep -o '[0-9]*$$') runs)"; \
	    else \
	        echo "fuzz-smoke: $$t FAILED; see $(FUZZ_BUILD)/logs/$$t.log"; \
	        grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz check failed|worker state left|.*runtime error)' $(FUZZ_BUILD)/logs/$$t.log | head -5; \
	        exit 1; \
	    fi; \
	done

clean:
	rm -rf build build-asan bin $(FUZZ_BUILD)

# `make install PREFIX=/usr/local DESTDIR=`.  The daemon goes to sbin (it is
# started by systemd or an admin), parlorctl to bin.  The configuration lives
# in /etc for PREFIX=/usr and in $(PREFIX)/etc otherwise; the unit file is
# written for PREFIX=/usr and its paths are rewritten for other prefixes.
PREFIX     ?= /usr/local
DESTDIR    ?=
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
DATADIR    ?= $(PREFIX)/share/parlor
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR    ?= $(PREFIX)/lib/systemd/system

install: $(BIN)/parlord $(BIN)/parlorctl $(BIN)/parlor
	install -D -m 0755 $(BIN)/parlord $(DESTDIR)$(SBINDIR)/parlord
	install -D -m 0755 $(BIN)/parlorctl $(DESTDIR)$(BINDIR)/parlorctl
	install -D -m 0755 $(BIN)/parlor $(DESTDIR)$(BINDIR)/parlor
	install -d -m 0755 $(DESTDIR)$(DATADIR)/migrations
	$(if $(wildcard migrations/*.sql),install -m 0644 $(wildcard migrations/*.sql) $(DESTDIR)$(DATADIR)/migrations/)
	if [ -d words ]; then find words -type f -exec sh -c \
	    'install -D -m 0644 "$$1" "$$2/$$1"' sh {} '$(DESTDIR)$(DATADIR)' \; ; fi
	install -D -m 0644 etc/parlord.conf.example $(DESTDIR)$(SYSCONFDIR)/parlor/parlord.conf.example
	install -D -m 0644 man/parlord.8 $(DESTDIR)$(MANDIR)/man8/parlord.8
	install -D -m 0644 man/parlorctl.8 $(DESTDIR)$(MANDIR)/man8/parlorctl.8
	install -D -m 0644 man/parlor.1 $(DESTDIR)$(MANDIR)/man1/parlor.1
	install -d -m 0755 $(DESTDIR)$(UNITDIR)
	sed -e 's|/usr/sbin/parlord|$(SBINDIR)/parlord|g' \
	    -e 's|/etc/parlor/|$(SYSCONFDIR)/parlor/|g' \
	    etc/parlord.service > $(DESTDIR)$(UNITDIR)/parlord.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/parlord.service

-include $(shell find build build-asan $(FUZZ_BUILD) -name '*.d' 2>/dev/null)
