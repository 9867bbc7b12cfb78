# pyrpoold: build, run, test, bench.
#   make run     install what is missing, build, run on ./pyrpoold.yaml
#   make test    install what is missing, build, run every test
#   make SANITIZE=1 test    the same under AddressSanitizer + UBSan
#   make VALGRIND=1 test    end-to-end tests with the daemon under valgrind
#   make check-calls   no loop in the master's call graph (part of test)
#   make fuzz [FUZZ_SECONDS=N]   each libFuzzer target N seconds (default 20)
#   make bench   the daemon side by side with the alternatives (build/bench-results.md;
#                BENCH_SAVE=1 updates the tracked bench/RESULTS.md)

PYTHON    := /usr/bin/python3
CC        ?= cc
BUILD     := build
PKGS      := libuv msgpack yaml-0.1
CFLAGS_COMMON = -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
                -D_GNU_SOURCE -Iinclude/pyrpool -Isrc/common
ifeq ($(SANITIZE),1)
CFLAGS_COMMON += -fsanitize=address,undefined -fno-omit-frame-pointer -O1
LDFLAGS_SAN   := -fsanitize=address,undefined
# crash tests kill executors with SIGSEGV on purpose: let the signal through;
# any undefined behaviour stops the process, so the test sees it. The core
# file limit stays the daemon's to set (limits.core_files)
export ASAN_OPTIONS  := handle_segv=0:detect_leaks=1:disable_coredump=0
export UBSAN_OPTIONS := halt_on_error=1:print_stacktrace=1
endif

# Evaluated when used, i.e. after `deps` has installed pkg-config's packages.
# libsystemd (sd_notify, socket activation) when it is there; without it
# the daemon builds, and --version says what it lacks (src/master/notify.h).
# SYSTEMD=no builds without it (make check-nosystemd does, in make test).
ifneq ($(SYSTEMD),no)
SYSTEMD_CFLAGS = $(shell pkg-config --exists libsystemd && echo -DHAVE_SYSTEMD $$(pkg-config --cflags libsystemd))
SYSTEMD_LIBS   = $(shell pkg-config --exists libsystemd && pkg-config --libs libsystemd)
endif
MASTER_CFLAGS = $(CFLAGS_COMMON) -Isrc/master $(shell pkg-config --cflags $(PKGS)) $(SYSTEMD_CFLAGS)
# http_parser (metrics.listen's requests) has no pkg-config file in Debian.
MASTER_LIBS   = $(LDFLAGS_SAN) $(shell pkg-config --libs $(PKGS)) $(SYSTEMD_LIBS) -lhttp_parser
EXEC_CFLAGS   = $(CFLAGS_COMMON) -Isrc/executor $(shell pkg-config --cflags msgpack python3-embed)
EXEC_LIBS     = $(LDFLAGS_SAN) $(shell pkg-config --libs msgpack python3-embed)
TEST_CFLAGS   = $(MASTER_CFLAGS) $(shell pkg-config --cflags cmocka)
TEST_LIBS     = $(MASTER_LIBS) $(shell pkg-config --libs cmocka)

# Each program from its folder, plus what both link (src/common); the
# master<->executor contract is in include/pyrpool.
COMMON_SRC := $(addprefix common/,mpk.c rbuf.c frame.c init.c log.c)
MASTER_SRC := $(addprefix master/,main.c config.c route.c rpc.c conn.c listener.c pool.c executor.c \
              board_map.c method.c admin.c call.c reply.c deadline.c outq.c reload.c template.c child.c \
              notify.c activation.c state.c check.c access.c hist.c tally.c stats.c http.c metrics.c \
              logq.c linesplit.c capture.c) \
              $(COMMON_SRC) common/xalloc.c
EXEC_SRC   := $(addprefix executor/,main.c confine.c serial.c threads.c wire.c stop.c slow.c forkserver.c guard.c \
              pyrun.c pyconv.c proctitle.c) $(COMMON_SRC)
UNIT_TESTS := test_mpk test_frame test_route test_config test_rpc test_hist test_metrics test_linesplit

MASTER_OBJ := $(MASTER_SRC:%.c=$(BUILD)/master/%.o)
EXEC_OBJ   := $(EXEC_SRC:%.c=$(BUILD)/exec/%.o)

.PHONY: all deps run test unit e2e bench clean check-config check-calls fuzz fuzz-deps offtheshelf check-nosystemd install uninstall
.DEFAULT_GOAL := all

all: $(BUILD)/pyrpoold $(BUILD)/pyrpool-executor $(BUILD)/pyrpoolctl

# Installs the Debian packages that are missing (scripts/install-deps.sh
# checks each one: quick when nothing is).
deps:
	@sh scripts/install-deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	exec ./$(BUILD)/pyrpoold -c pyrpoold.yaml

check-config: deps
	@$(MAKE) --no-print-directory all
	./$(BUILD)/pyrpoold --check -c pyrpoold.yaml

test: deps
	@$(MAKE) --no-print-directory all unit-bins offtheshelf
	@$(MAKE) --no-print-directory check-calls check-nosystemd unit client-c-test erlang-test e2e

# The daemon builds and runs without libsystemd, and says so.
check-nosystemd:
	@$(MAKE) --no-print-directory -s BUILD=$(BUILD)/nosystemd SYSTEMD=no $(BUILD)/nosystemd/pyrpoold
	@$(BUILD)/nosystemd/pyrpoold --version | grep -q "built without libsystemd" || \
	    { echo "check-nosystemd: --version does not say it is built without libsystemd"; exit 1; }
	@echo "check-nosystemd: builds without libsystemd, and --version says so"

# No two of the master's files call each other in a loop (events go up
# through pointers): read from the objects' symbol tables.
check-calls: $(BUILD)/pyrpoold
	@$(PYTHON) scripts/check-calls.py $(filter $(BUILD)/master/master/%,$(MASTER_OBJ))

# Off-the-shelf MessagePack-RPC clients for tests/e2e/test_offtheshelf.py:
# Go's net/rpc with ugorji's codec, built offline from Debian's packages
# (GOPATH mode), and msgpack-rpc-lite from npm (the version the lock file pins).
OTS := $(BUILD)/offtheshelf
offtheshelf: $(OTS)/go_msgpackrpc $(OTS)/node/node_modules/.installed

$(OTS)/go_msgpackrpc: tests/offtheshelf/go_msgpackrpc.go
	@mkdir -p $(OTS)/gocache
	GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=$(abspath $(OTS))/gocache GOFLAGS= \
	    timeout 300 go build -o $@ $<

$(OTS)/node/node_modules/.installed: examples/node/package.json examples/node/package-lock.json
	@mkdir -p $(OTS)/node
	cp examples/node/package.json examples/node/package-lock.json $(OTS)/node/
	cd $(OTS)/node && timeout 300 npm ci --no-audit --no-fund --loglevel=error
	@touch $@

unit-bins: $(UNIT_TESTS:%=$(BUILD)/%)

unit: unit-bins
	@set -e; for t in $(UNIT_TESTS); do echo "== $$t"; timeout 60 ./$(BUILD)/$$t; done

bench: deps
	@$(MAKE) --no-print-directory all bench-bins erlang
	$(PYTHON) bench/run.py

e2e: all
	cd tests/e2e && timeout 900 $(PYTHON) -m pytest -p no:cacheprovider -q --timeout=120 \
	    $(if $(VALGRIND),--valgrind) $(PYTEST_ARGS) .

$(BUILD)/pyrpoold: $(MASTER_OBJ)
	$(CC) -o $@ $^ $(MASTER_LIBS)

$(BUILD)/pyrpool-executor: $(EXEC_OBJ)
	$(CC) -o $@ $^ $(EXEC_LIBS)

# pyrpoolctl (src/ctl), on the C client library (clients/c/client.mk).
CTL_SRC   := $(addprefix ctl/,main.c address.c value.c table.c stats.c term.c top.c) common/xalloc.c
CTL_OBJ   := $(CTL_SRC:%.c=$(BUILD)/ctl/%.o)
CTL_CFLAGS = $(CFLAGS_COMMON) -Isrc/ctl $(shell pkg-config --cflags msgpack yaml-0.1) \
             -DPYRPOOL_SYSCONFDIR='"$(SYSCONFDIR)"'

$(BUILD)/ctl/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(CTL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/pyrpoolctl: $(CTL_OBJ) $(BUILD)/libpyrpool.a
	$(CC) -o $@ $(CTL_OBJ) $(BUILD)/libpyrpool.a $(LDFLAGS_SAN) $(shell pkg-config --libs msgpack yaml-0.1) -lm

$(BUILD)/master/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(MASTER_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/exec/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(EXEC_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/test_mpk: tests/unit/common/test_mpk.c $(BUILD)/master/common/mpk.o
	$(CC) $(TEST_CFLAGS) -o $@ $^ $(TEST_LIBS)

$(BUILD)/test_frame: tests/unit/common/test_frame.c $(BUILD)/master/common/frame.o \
                     $(BUILD)/master/common/init.o $(BUILD)/master/common/mpk.o
	$(CC) $(TEST_CFLAGS) -o $@ $^ $(TEST_LIBS)

$(BUILD)/test_route: tests/unit/master/test_route.c $(BUILD)/master/master/route.o $(BUILD)/master/common/xalloc.o
	$(CC) $(TEST_CFLAGS) -o $@ $^ $(TEST_LIBS)

$(BUILD)/test_config: tests/unit/master/test_config.c $(BUILD)/master/master/config.o \
                      $(BUILD)/master/common/xalloc.o $(BUILD)/master/common/log.o
	$(CC) $(TEST_CFLAGS) -o $@ $^ $(TEST_LIBS)

$(BUILD)/test_rpc: tests/unit/master/test_rpc.c $(BUILD)/master/master/rpc.o $(BUILD)/master/common/mpk.o
	$(CC) $(TEST_CFLAGS) -o $@ $^ $(TEST_LIBS)

$(BUILD)/test_hist: tests/unit/master/test_hist.c $(BUILD)/master/master/hist.o
	$(CC) $(TEST_CFLAGS) -o $@ $^ $(TEST_LIBS)

$(BUILD)/test_metrics: tests/unit/master/test_metrics.c $(BUILD)/master/master/metrics.o
	$(CC) $(TEST_CFLAGS) -o $@ $^ $(TEST_LIBS)

$(BUILD)/test_linesplit: tests/unit/master/test_linesplit.c $(BUILD)/master/master/linesplit.o \
                         $(BUILD)/master/common/xalloc.o
	$(CC) $(TEST_CFLAGS) -o $@ $^ $(TEST_LIBS)

# libFuzzer targets (tests/fuzz), each run FUZZ_SECONDS under ASan + UBSan
# from its seeds (tests/fuzz/seeds, plus the shipped configs for the config
# loader); a crash, a leak or a failed cross-check fails the run and leaves
# the input in build/fuzz/.
FUZZ_TARGETS := fuzz_request fuzz_config fuzz_init fuzz_pyconv
FUZZ_SECONDS ?= 20
FUZZ_CFLAGS = -std=gnu11 -g -O1 -Wall -Wextra -Werror -Wno-unused-parameter -D_GNU_SOURCE \
              -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
              -Iinclude/pyrpool -Isrc/common -Isrc/master $(shell pkg-config --cflags msgpack yaml-0.1) \
              -DPYRPOOL_PYTHON_VERSION='"$(shell pkg-config --modversion python3-embed)"'
FUZZ_LIBS = $(shell pkg-config --libs msgpack yaml-0.1)

fuzz-deps:
	@if ! command -v clang >/dev/null 2>&1 || \
	    [ ! -f "$$(clang -print-file-name=libclang_rt.fuzzer-x86_64.a)" ]; then \
	    sh scripts/install-deps.sh fuzz; fi

fuzz: deps fuzz-deps
	@$(MAKE) --no-print-directory $(FUZZ_TARGETS:%=$(BUILD)/fuzz/%)
	@set -e; for t in $(FUZZ_TARGETS); do \
	    corpus=$$(mktemp -d); cp tests/fuzz/seeds/$$t/* $$corpus/; \
	    if [ $$t = fuzz_config ]; then cp pyrpoold.yaml conf/*.yaml $$corpus/; fi; \
	    echo "== $$t ($(FUZZ_SECONDS) s)"; \
	    opts=""; if [ $$t = fuzz_pyconv ]; then opts=-detect_leaks=0; fi; \
	    if ! ./$(BUILD)/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$(BUILD)/fuzz/$$t- $$opts \
	            $$corpus > $(BUILD)/fuzz/$$t.log 2>&1; then \
	        tail -40 $(BUILD)/fuzz/$$t.log; rm -rf $$corpus; exit 1; fi; \
	    grep -E "^Done|DONE" $(BUILD)/fuzz/$$t.log | tail -1; rm -rf $$corpus; done

$(BUILD)/fuzz/fuzz_request: tests/fuzz/fuzz_request.c src/common/mpk.c src/master/rpc.c
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -o $@ $^ $(FUZZ_LIBS)

$(BUILD)/fuzz/fuzz_config: tests/fuzz/fuzz_config.c src/master/config.c src/common/xalloc.c src/common/log.c
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -o $@ $^ $(FUZZ_LIBS)

# Python keeps caches that a per-input leak check would take for leaks:
# that target runs without it (refcount leaks stay reachable anyway).
$(BUILD)/fuzz/fuzz_pyconv: tests/fuzz/fuzz_pyconv.c src/executor/pyconv.c src/common/mpk.c
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -Isrc/executor $(shell pkg-config --cflags python3-embed) -o $@ $^ $(FUZZ_LIBS) \
	    $(shell pkg-config --libs python3-embed)

$(BUILD)/fuzz/fuzz_init: tests/fuzz/fuzz_init.c src/common/init.c src/common/frame.c src/common/mpk.c
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -o $@ $^ $(FUZZ_LIBS)

# make install [PREFIX=/usr/local] [DESTDIR=]: the daemon in sbin, its
# executor in libexec/pyrpoold (found relative to the daemon, so a DESTDIR
# copy runs as it is), pyrpoolctl in bin with its bash completion, the C
# client library with its header and pyrpool.pc, man pages, the systemd
# units (binary path filled in),
# the sysusers file for the pyrpool user, and the default config as
# SYSCONFDIR/pyrpoold/pyrpoold.yaml unless one is there. make uninstall
# removes what install put there (the config only if unchanged).
PREFIX     ?= /usr/local
SYSCONFDIR ?= /etc
SBINDIR    := $(PREFIX)/sbin
BINDIR     := $(PREFIX)/bin
LIBEXECDIR := $(PREFIX)/libexec/pyrpoold
MANDIR     := $(PREFIX)/share/man
UNITDIR    := $(PREFIX)/lib/systemd/system
SYSUSERSDIR := $(PREFIX)/lib/sysusers.d
MASTER_CFLAGS += -DPYRPOOL_LIBEXECDIR='"$(LIBEXECDIR)"' \
                 -DPYRPOOL_PYTHON_VERSION='"$(shell pkg-config --modversion python3-embed)"'
INSTALLED_CONFIG := $(DESTDIR)$(SYSCONFDIR)/pyrpoold/pyrpoold.yaml

COMPLETIONDIR := $(PREFIX)/share/bash-completion/completions

install: all install-client-c
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(SYSCONFDIR)/pyrpoold \
	    $(DESTDIR)$(COMPLETIONDIR)
	install -m 755 $(BUILD)/pyrpoold $(DESTDIR)$(SBINDIR)/pyrpoold
	install -m 755 $(BUILD)/pyrpoolctl $(DESTDIR)$(BINDIR)/pyrpoolctl
	install -m 755 $(BUILD)/pyrpool-executor $(DESTDIR)$(LIBEXECDIR)/pyrpool-executor
	install -m 644 man/pyrpoold.8 $(DESTDIR)$(MANDIR)/man8/pyrpoold.8
	install -m 644 man/pyrpoolctl.8 $(DESTDIR)$(MANDIR)/man8/pyrpoolctl.8
	install -m 644 man/pyrpoold.yaml.5 $(DESTDIR)$(MANDIR)/man5/pyrpoold.yaml.5
	install -m 644 conf/pyrpoolctl.bash-completion $(DESTDIR)$(COMPLETIONDIR)/pyrpoolctl
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' conf/pyrpoold.service \
	    > $(DESTDIR)$(UNITDIR)/pyrpoold.service
	install -m 644 conf/pyrpoold.socket $(DESTDIR)$(UNITDIR)/pyrpoold.socket
	install -m 644 conf/pyrpoold.sysusers $(DESTDIR)$(SYSUSERSDIR)/pyrpoold.conf
	@if [ -e $(INSTALLED_CONFIG) ]; then \
	    echo "install: $(INSTALLED_CONFIG) exists: left as it is"; \
	else install -m 644 conf/pyrpoold.system.yaml $(INSTALLED_CONFIG); fi

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/pyrpoold $(DESTDIR)$(BINDIR)/pyrpoolctl $(DESTDIR)$(LIBEXECDIR)/pyrpool-executor \
	    $(DESTDIR)$(MANDIR)/man8/pyrpoold.8 $(DESTDIR)$(MANDIR)/man8/pyrpoolctl.8 \
	    $(DESTDIR)$(MANDIR)/man5/pyrpoold.yaml.5 $(DESTDIR)$(COMPLETIONDIR)/pyrpoolctl \
	    $(DESTDIR)$(UNITDIR)/pyrpoold.service $(DESTDIR)$(UNITDIR)/pyrpoold.socket \
	    $(DESTDIR)$(SYSUSERSDIR)/pyrpoold.conf \
	    $(DESTDIR)$(PREFIX)/include/pyrpool/client.h $(DESTDIR)$(PREFIX)/lib/libpyrpool.a \
	    $(DESTDIR)$(PREFIX)/lib/libpyrpool.so $(DESTDIR)$(PREFIX)/lib/libpyrpool.so.* \
	    $(DESTDIR)$(PREFIX)/lib/pkgconfig/pyrpool.pc
	-rmdir $(DESTDIR)$(PREFIX)/include/pyrpool 2>/dev/null
	-rmdir $(DESTDIR)$(LIBEXECDIR) 2>/dev/null
	@if [ -e $(INSTALLED_CONFIG) ] && cmp -s conf/pyrpoold.system.yaml $(INSTALLED_CONFIG); then \
	    rm -f $(INSTALLED_CONFIG); rmdir $(DESTDIR)$(SYSCONFDIR)/pyrpoold 2>/dev/null || true; \
	elif [ -e $(INSTALLED_CONFIG) ]; then echo "uninstall: $(INSTALLED_CONFIG) was changed: left in place"; fi

clean:
	rm -rf $(BUILD)

-include bench/bench.mk
include clients/c/client.mk
-include clients/erlang/erlang.mk
-include $(MASTER_OBJ:.o=.d) $(EXEC_OBJ:.o=.d) $(CTL_OBJ:.o=.d)
