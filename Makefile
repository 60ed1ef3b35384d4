# Dialer: one non-recursive GNU Makefile (see docs/BUILD.md).
#
#   make            build dialerd, ari-sim and dialerctl (debug variant)
#   make test       install deps, build, start private PostgreSQL + Redis, run
#                   unit + integration + browser tests, stop the services
#   make test-unit  unit tests only (no services)
#   make asan|tsan  the whole suite under ASan+UBSan / TSan
#   make demo       install, build, start everything, run the demo campaign
#   make fuzz       build and run the libFuzzer harnesses for FUZZ_SECONDS each
#   make bench      quick benchmarks (see load-tests/ and docs/PERFORMANCE.md)
#   make format | format-check | lint | clean ; V=1 shows full commands;
#   ERR=0 drops -Werror; VARIANT=debug|release|asan|tsan|fuzz picks the build.

VARIANT ?= debug
B       ?= build/$(VARIANT)
ERR     ?= 1

ifeq ($(VARIANT),fuzz)
CC      := clang
endif
CC      ?= cc

ifeq ($(V),1)
Q :=
else
Q := @
endif

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wold-style-definition -Wpointer-arith -Wwrite-strings -Wvla -Wformat=2 \
        -Wundef -fno-common
ifeq ($(ERR),1)
WARN += -Werror
endif

OPT_debug   := -O0 -g
OPT_release := -O2 -g -DNDEBUG
OPT_asan    := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
OPT_tsan    := -O1 -g -fno-omit-frame-pointer -fsanitize=thread
OPT_fuzz    := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined

CPPFLAGS := -I. -I/usr/include/postgresql -D_GNU_SOURCE -DDIALER_VERSION=\"$(shell cat VERSION 2>/dev/null || echo 0.0.0)\"
CFLAGS   := -std=c11 -pipe $(WARN) $(OPT_$(VARIANT))
LDFLAGS  := $(filter -fsanitize=%,$(subst fuzzer-no-link,,$(OPT_$(VARIANT))))
LIBS     := -lwebsockets -lcurl -lpq -lhiredis -lev -ljansson -lcsv -lsodium -ljwt -lz -lpthread -lm

# Library modules (ARCHITECTURE.md); each folder is a module and a symbol prefix.
LIB_MODULES := core ari dialer campaign ivr compliance importers dashboards api hooks
LIB_SRCS    := $(foreach m,$(LIB_MODULES),$(wildcard $(m)/*.c))
LIB_OBJS    := $(LIB_SRCS:%.c=$(B)/%.o)
LIB         := $(B)/libdialer.a

# Programs: each folder holds main.c; its other files form an archive tests can link.
ALL_PROGRAMS := dialerd:server ari-sim:sim dialerctl:ctl
prog_dir     = $(word 2,$(subst :, ,$(1)))
prog_name    = $(word 1,$(subst :, ,$(1)))
PROGRAMS    := $(foreach p,$(ALL_PROGRAMS),$(if $(wildcard $(call prog_dir,$(p))/main.c),$(p)))
PROG_DIRS   := $(foreach p,$(PROGRAMS),$(call prog_dir,$(p)))
PROG_LIBS   := $(foreach d,$(PROG_DIRS),$(B)/lib$(d).a)
BINS        := $(foreach p,$(PROGRAMS),$(B)/$(call prog_name,$(p)))

SUPPORT_SRCS := $(wildcard tests/support/*.c)
SUPPORT_OBJS := $(SUPPORT_SRCS:%.c=$(B)/%.o)
SUPPORT_LIB  := $(B)/libtestsupport.a

UNIT_SRCS  := $(sort $(wildcard tests/unit/*/test_*.c))
UNIT_BINS  := $(UNIT_SRCS:%.c=$(B)/%)
INTEG_SRCS := $(sort $(wildcard tests/integration/test_*.c))
INTEG_BINS := $(INTEG_SRCS:%.c=$(B)/%)
FUZZ_SRCS  := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS  := $(FUZZ_SRCS:%.c=build/fuzz/%)
BENCH_SRCS := $(sort $(wildcard load-tests/bench_*.c))
BENCH_BINS := $(BENCH_SRCS:%.c=$(B)/%)

TEST_LINK := $(SUPPORT_LIB) $(PROG_LIBS) $(LIB)

ALL_SRCS := $(LIB_SRCS) $(foreach d,$(PROG_DIRS),$(wildcard $(d)/*.c)) $(SUPPORT_SRCS) \
            $(UNIT_SRCS) $(INTEG_SRCS) $(BENCH_SRCS)
ALL_OBJS := $(ALL_SRCS:%.c=$(B)/%.o)

.PHONY: all deps test test-unit test-integration test-browser tests-build asan tsan bench load \
        fuzz fuzz-build format format-check lint demo demo-stop clean web services-start \
        services-stop
.DEFAULT_GOAL := all
.SECONDARY:

all: $(BINS)

$(B)/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJS)
	@mkdir -p $(@D)
	$(Q)rm -f $@ && ar rcs $@ $^

$(SUPPORT_LIB): $(SUPPORT_OBJS)
	@mkdir -p $(@D)
	$(Q)rm -f $@ && ar rcs $@ $^

# lib<dir>.a: a program's files except main.c (an empty archive is fine).
define PROGRAM_RULES
$(B)/lib$(2).a: $(patsubst %.c,$(B)/%.o,$(filter-out $(2)/main.c,$(wildcard $(2)/*.c)))
	@mkdir -p $$(@D)
	$(Q)rm -f $$@ && ar rcs $$@ $$^
$(B)/$(1): $(B)/$(2)/main.o $(B)/lib$(2).a $(LIB)
	@$(if $(Q),echo "  LD      $$@")
	$(Q)$(CC) $(LDFLAGS) -o $$@ $$^ $(LIBS)
endef
$(foreach p,$(PROGRAMS),$(eval $(call PROGRAM_RULES,$(call prog_name,$(p)),$(call prog_dir,$(p)))))

$(B)/tests/%: $(B)/tests/%.o $(TEST_LINK)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(TEST_LINK) $(LIBS) -lcmocka

$(B)/load-tests/%: $(B)/load-tests/%.o $(TEST_LINK)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(TEST_LINK) $(LIBS)

tests-build: $(BINS) $(UNIT_BINS) $(INTEG_BINS) $(BENCH_BINS)

deps:
	$(Q)scripts/deps.sh

# The whole suite: unit, integration (real PostgreSQL, Redis, ari-sim) and browser.
# The libFuzzer harnesses are built too (clang, about a minute on two cores), so that
# tests/integration/test_fuzz_smoke.sh runs each over its corpus for a few seconds.
# The suite's builds use every core: -j$(JOBS) unless make was given -j already (then its
# job server is shared). The fuzz harnesses build into build/fuzz whatever VARIANT is, so
# `make test` and `make asan` share one fuzz build.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
SUBMAKE = $(MAKE) --no-print-directory $(if $(filter -j%,$(MAKEFLAGS)),,-j$(JOBS))

test: deps
	$(Q)$(SUBMAKE) tests-build web
	$(Q)$(SUBMAKE) VARIANT=fuzz B=build/fuzz $(FUZZ_BINS)
	$(Q)VARIANT=$(VARIANT) B=$(B) tests/support/run-all.sh all

test-unit: deps
	$(Q)$(SUBMAKE) tests-build
	$(Q)VARIANT=$(VARIANT) B=$(B) tests/support/run-all.sh unit

test-integration: deps
	$(Q)$(SUBMAKE) tests-build
	$(Q)VARIANT=$(VARIANT) B=$(B) tests/support/run-all.sh integration

asan:
	$(Q)$(MAKE) --no-print-directory VARIANT=asan test

tsan:
	$(Q)$(MAKE) --no-print-directory VARIANT=tsan test-unit

web:
	$(Q)scripts/web.sh

# Harnesses fuzz the library's parsers: they link libdialer.a only.
build/fuzz/tests/fuzz/%: build/fuzz/tests/fuzz/%.o build/fuzz/libdialer.a
	@mkdir -p $(@D)
	$(Q)clang -fsanitize=fuzzer,address,undefined -o $@ $< build/fuzz/libdialer.a $(LIBS)

fuzz-build: deps
	$(Q)$(SUBMAKE) VARIANT=fuzz B=build/fuzz $(FUZZ_BINS)

FUZZ_SECONDS ?= 60
fuzz: fuzz-build
	$(Q)tests/support/run-fuzz.sh $(FUZZ_SECONDS) $(FUZZ_BINS)

bench: deps
	$(Q)$(MAKE) --no-print-directory VARIANT=release tests-build
	$(Q)load-tests/run.sh quick

load: deps
	$(Q)$(MAKE) --no-print-directory VARIANT=release tests-build
	$(Q)load-tests/run.sh full
	$(Q)load-tests/load.sh
	$(Q)$(MAKE) --no-print-directory VARIANT=debug all
	$(Q)DIALER_BUILD=$(CURDIR)/build/debug DIALER_TEST_WINDOW_TIME=2026-11-18T19:00:00Z \
	    tests/reliability/run.sh --long

demo: deps
	$(Q)$(MAKE) --no-print-directory VARIANT=release all web
	$(Q)scripts/demo.sh start

demo-stop:
	$(Q)scripts/demo.sh stop

services-start:
	$(Q)tests/support/services.sh start

services-stop:
	$(Q)tests/support/services.sh stop

FORMAT_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null | grep -v '^tests/fuzz/corpus/')
format:
	$(Q)clang-format -i $(FORMAT_FILES)

format-check:
	$(Q)clang-format --dry-run -Werror $(FORMAT_FILES)

lint:
	$(Q)scripts/lint.sh

clean:
	rm -rf build

# A module whose build is not just its *.c files adds rules in <module>/module.mk.
-include $(wildcard */module.mk)

-include $(ALL_OBJS:.o=.d)
