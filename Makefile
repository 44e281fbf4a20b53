# Parlor build.  `make` builds everything into bin/; `make test` runs all tests
# (unit + integration, then again under AddressSanitizer/UBSan).
# `make asan` builds the sanitizer variant into build-asan/ (binaries in
# build-asan/bin/).

BUILD    ?= build
BIN      := $(if $(filter build,$(BUILD)),bin,$(BUILD)/bin)
CC       ?= cc
PKGS     := libuv libpq check
CPPFLAGS += -I. -D_GNU_SOURCE -MMD -MP
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -Wall -Wextra -Wshadow -Wno-unused-parameter -Werror \
            $(shell pkg-config --cflags libuv libpq 2>/dev/null)
LDLIBS_UV := $(shell pkg-config --libs libuv 2>/dev/null)
LDLIBS_PQ := $(shell pkg-config --libs libpq 2>/dev/null)
LDLIBS_CHECK := $(shell pkg-config --libs check 2>/dev/null)

ifeq ($(SANITIZE),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
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

PROGRAMS := $(BIN)/parlord
TESTS    := $(BIN)/test_unit $(BIN)/test_integration

.PHONY: all asan test test-unit test-integration test-asan run deps bench clean
all: $(PROGRAMS) $(TESTS) $(if $(BENCH_SRC),$(BIN)/parlor-bench)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BIN)/parlord: $(call obj,$(PARLORD_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS_UV) $(LDLIBS_PQ) -lm

$(BIN)/test_unit: $(call obj,$(UNIT_SRC) $(IPC_SRC) $(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS_CHECK)

$(BIN)/test_integration: $(call obj,$(INTEG_SRC) $(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS_CHECK)

$(BIN)/parlor-bench: $(call obj,$(BENCH_SRC) $(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS_UV) -lm

asan:
	$(MAKE) BUILD=build-asan SANITIZE=1 CFLAGS="-O1 -g"

deps:
	@scripts/deps.sh

test-unit: $(BIN)/test_unit
	$(BIN)/test_unit

test-integration: $(BIN)/parlord $(BIN)/test_integration
	PARLORD=$(BIN)/parlord $(BIN)/test_integration

test-asan:
	$(MAKE) BUILD=build-asan SANITIZE=1 CFLAGS="-O1 -g" test-unit test-integration

# The README's test command: installs what is missing, then every suite, plain
# and under the sanitizers.
test: deps
	$(MAKE) all
	$(MAKE) test-unit test-integration
	$(MAKE) test-asan

run: deps
	$(MAKE) all
	scripts/run.sh

bench: deps
	$(MAKE) all
	scripts/bench.sh

clean:
	rm -rf build build-asan bin

-include $(shell find build build-asan -name '*.d' 2>/dev/null)
