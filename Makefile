# Parlor build.  `make` builds everything into bin/; `make test` runs all tests
# (unit + integration, then again under AddressSanitizer/UBSan).
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
LDLIBS_CHECK := $(shell pkg-config --libs check 2>/dev/null)
LDLIBS_EDIT := $(shell pkg-config --libs libedit 2>/dev/null)

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
BENCH_SRC  := $(wildcard bench/*.c)

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

PROGRAMS := $(BIN)/parlord $(BIN)/parlorctl $(BIN)/parlor
TESTS    := $(BIN)/test_unit $(BIN)/test_integration

.PHONY: all asan test test-unit test-integration test-asan run deps bench mutate clean install
all: $(PROGRAMS) $(TESTS) $(if $(BENCH_SRC),$(BIN)/parlor-bench)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(BIN)/parlord: $(call obj,$(PARLORD_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS_UV) $(LDLIBS_PQ) $(shell pkg-config --libs libsodium) -lm

$(BIN)/parlorctl: $(call obj,client-cli/parlorctl.c $(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS_EDIT)

$(BIN)/parlor: $(call obj,$(wildcard client-cli/parlor_*.c) client-cli/parlor.c $(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS_UV) $(LDLIBS_EDIT)

$(BIN)/test_unit: $(call obj,$(UNIT_SRC) $(IPC_SRC) $(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS_CHECK)

$(BIN)/test_integration: $(call obj,$(INTEG_SRC) $(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS_CHECK) $(LDLIBS_PQ)

$(BIN)/parlor-bench: $(call obj,$(BENCH_SRC) $(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS_UV) -lm

asan:
	$(MAKE) BUILD=build-asan SANITIZE=1 OPT="-O1 -g"

deps:
	@scripts/deps.sh

test-unit: $(BIN)/test_unit
	$(BIN)/test_unit

test-integration: $(BIN)/parlord $(BIN)/parlorctl $(BIN)/parlor $(BIN)/test_integration
	PARLORD=$(BIN)/parlord $(BIN)/test_integration

test-asan:
	$(MAKE) BUILD=build-asan SANITIZE=1 OPT="-O1 -g" test-unit test-integration

# The README's test command: installs what is missing, then every suite, plain
# and under the sanitizers.
test: deps
	$(MAKE) all
	$(MAKE) test-unit test-integration
	$(MAKE) test-asan

run: deps
	$(MAKE) all
	scripts/run.sh

bench:
	@scripts/deps.sh --bench
	$(MAKE) all
	scripts/bench.sh

# Deliberate bugs (tests/mutations/*.patch) applied one at a time to a scratch
# copy: each must make its integration tests fail.  Not part of `make test`.
mutate: all
	scripts/mutate.sh

clean:
	rm -rf build build-asan bin

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

-include $(shell find build build-asan -name '*.d' 2>/dev/null)
