# Coverage gate, fault injection, valgrind and ThreadSanitizer runs.
# Included by the GNUmakefile (which defines BUILD, CC, STD, WARN, SRC,
# KQ_SRC, TEST_CFLAGS, TEST_LIBS, SAN_FLAGS, ...).  See coverage/README.md.
#
#   make coverage        gcov build of src/ (library and vrt-oracle), the whole
#                        suite, HTML report in coverage/html/, fails under
#                        100% lines / 95% branches of src/
#   make fault-tests     every allocation and system call failed in turn,
#                        ASan+LSan, epoll and kqueue (over the emulation)
#   make valgrind-tests  the plain suite under valgrind memcheck
#   make tsan-test       wake() from 4 threads while the loop polls, TSan

ifndef VRT_COVERAGE_MK
VRT_COVERAGE_MK := 1

# ORACLE_SRC and ORACLE_SCN, before the rules below name them (the wildcard
# include may read this fragment first; oracle.mk is included only once).
include tests/oracle.mk

.PHONY: coverage coverage-run fault-tests valgrind-tests tsan-test

DEPS_PACKAGES += gcovr valgrind

# CI: the gate, the fault suites and the TSan test (about 2 minutes).  The
# valgrind run takes several minutes (a valgrind start per Criterion test)
# and is run on its own: make valgrind-tests.
check: coverage fault-tests tsan-test

COV_DIR      := $(BUILD)/cov
# Atomic counters: some tests wake the loop from other threads, and plain
# counters raced there can go negative, which gcovr refuses.
COV_FLAGS    := -O0 -g --coverage -fprofile-update=atomic
COV_LIB_OBJS := $(patsubst src/%.c,$(COV_DIR)/obj/%.o,$(SRC))
COV_KQ_OBJS  := $(patsubst src/%.c,$(COV_DIR)/kq/%.o,$(KQ_SRC))
COV_GATE     := --fail-under-line 100 --fail-under-branch 95

# The fault shim: every system call the library makes, wrapped at link time
# (tests/shim); the kqueue build also wraps the emulation's kqueue/kevent.
SHIM_WRAP    := -Wl,--wrap=epoll_create1,--wrap=epoll_ctl,--wrap=epoll_wait \
                -Wl,--wrap=pipe,--wrap=pipe2,--wrap=eventfd,--wrap=fcntl \
                -Wl,--wrap=read,--wrap=write
SHIM_KQ_WRAP := $(SHIM_WRAP) -Wl,--wrap=kqueue,--wrap=kevent
FAULT_SRC    := $(sort $(wildcard tests/test_fault_*.c))
FAULT_DEPS   := $(FAULT_SRC) tests/shim/shim.c tests/shim/shim.h tests/helpers.h \
                tests/io_helpers.h src/vrt_internal.h
FAULT_KQ_SRC := tests/shim/shim_kqueue.c tests/kqueue_emu/kqueue_emu.c

# $(call fault_epoll_cmd,FLAGS,LIBRARY) and fault_kqueue_cmd: link a fault suite.
define fault_epoll_cmd
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) $(1) $(SHIM_WRAP) $(FAULT_SRC) tests/shim/shim.c $(2) $(TEST_LIBS) -o $@
endef
define fault_kqueue_cmd
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) $(1) -Itests/kqueue_emu $(SHIM_KQ_WRAP) $(FAULT_SRC) tests/shim/shim.c \
	  $(FAULT_KQ_SRC) $(2) $(TEST_LIBS) -o $@
endef

# ---- fault injection ----------------------------------------------------------

$(BUILD)/fault/vrt-fault: $(FAULT_DEPS) $(BUILD)/asan/libvrt.a
	$(call fault_epoll_cmd,$(SAN_FLAGS),$(BUILD)/asan/libvrt.a)

$(BUILD)/fault/vrt-fault-kq: $(FAULT_DEPS) $(FAULT_KQ_SRC) $(KQ_OBJS)
	$(call fault_kqueue_cmd,$(SAN_FLAGS),$(KQ_OBJS))

# Each test prints "fault-sites OPERATION MODE N" and, per injected failure,
# "fault-pc OPERATION MODE KIND OFFSET" (the failed call's code address);
# the distinct (operation, call site) pairs must number at least 50.
FAULT_MIN_SITES := 50
define fault_summary
	@awk '$$1 == "fault-sites" { n[$$3] += $$4; ops[$$2] = 1 } \
	  $$1 == "fault-pc" && $$3 == "hard" { pairs[$$2 " " $$5] = 1; pcs[$$5] = 1 } \
	  END { printf "fault injection (%s): %d failures injected (operation, Nth call) over %d operations: %d distinct (operation, call site) pairs, %d distinct call sites in the library; %d EINTR retries; 0 leaks\n", \
	        "$(2)", n["hard"], length(ops), length(pairs), length(pcs), n["eintr"]; \
	        if (length(pairs) < $(FAULT_MIN_SITES)) { print "fewer than $(FAULT_MIN_SITES) sites"; exit 1 } }' $(1)
endef

fault-tests: $(BUILD)/fault/vrt-fault $(BUILD)/fault/vrt-fault-kq
	@echo "== fault injection: every allocation and system call failed in turn (ASan+LSan) =="
	$(call run_sanitized,$(BUILD)/fault/vrt-fault,fault)
	$(call fault_summary,$(BUILD)/fault.log,epoll)
	$(call run_sanitized,$(BUILD)/fault/vrt-fault-kq,fault-kq)
	$(call fault_summary,$(BUILD)/fault-kq.log,kqueue)

# ---- valgrind and ThreadSanitizer -------------------------------------------------

# memcheck follows Criterion's workers (--trace-children).  A leak found at
# a worker's exit does not fail its test (Criterion has its result by then),
# so with --quiet any "==PID==" line at all in the log fails the target.
# The CPU-time assertions skip themselves under valgrind.
VALGRIND := valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
            --show-leak-kinds=definite,indirect --trace-children=yes --quiet --child-silent-after-fork=yes

valgrind-tests: $(BUILD)/plain/vrt-tests
	@echo "== valgrind memcheck over the plain suite =="
	VRT_UNDER_VALGRIND=1 $(RUN_LIMIT) $(VALGRIND) $(BUILD)/plain/vrt-tests --jobs 2 \
	  >$(BUILD)/valgrind.log 2>&1 || { tail -60 $(BUILD)/valgrind.log; exit 1; }
	@tail -1 $(BUILD)/valgrind.log
	@if grep -qE '^==[0-9]+==' $(BUILD)/valgrind.log; then \
	  grep -E '^==[0-9]+==' $(BUILD)/valgrind.log | head -80; \
	  echo "valgrind: errors reported"; exit 1; fi
	@echo "valgrind: 0 errors"

TSAN_FLAGS := -fsanitize=thread -O1 -g
# TSan's shadow memory wants the classic layout: kernels with many bits of
# mmap randomisation break it, so run without ASLR where that is allowed.
TSAN_NO_ASLR = $(shell setarch $$(uname -m) -R true 2>/dev/null && echo setarch $$(uname -m) -R)
TSAN_SRC   := $(sort $(wildcard tests/test_threads*.c))

# A plain program: Criterion's runner does not survive TSan.
$(BUILD)/tsan/vrt-threads: $(TSAN_SRC) $(SRC) src/vrt.h src/vrt_internal.h src/backend.h
	@mkdir -p $(@D)
	$(CC) $(STD) $(WARN) -Isrc $(TSAN_FLAGS) $(TSAN_SRC) $(SRC) -pthread -o $@

tsan-test: $(BUILD)/tsan/vrt-threads
	@echo "== ThreadSanitizer: wake() from 4 threads while the loop polls =="
	TSAN_OPTIONS=halt_on_error=1:exitcode=66 $(RUN_LIMIT) $(TSAN_NO_ASLR) $(BUILD)/tsan/vrt-threads \
	  >$(BUILD)/tsan.log 2>&1 || { cat $(BUILD)/tsan.log; exit 1; }
	@! grep -q 'ThreadSanitizer' $(BUILD)/tsan.log || { cat $(BUILD)/tsan.log; exit 1; }
	@tail -1 $(BUILD)/tsan.log

# ---- coverage -------------------------------------------------------------------

$(COV_DIR)/obj/%.o: src/%.c src/vrt.h src/vrt_internal.h src/backend.h
	@mkdir -p $(@D)
	$(CC) $(STD) $(WARN) $(COV_FLAGS) -c $< -o $@

$(COV_DIR)/kq/%.o: src/%.c src/vrt.h src/vrt_internal.h src/backend.h
	@mkdir -p $(@D)
	$(CC) $(STD) $(WARN) $(COV_FLAGS) -Itests/kqueue_emu -c $< -o $@

$(COV_DIR)/vrt-tests: $(TEST_DEPS) $(COV_LIB_OBJS)
	$(CC) $(TEST_CFLAGS) $(COV_FLAGS) $(EPOLL_WRAP) $(TEST_ALL_SRC) $(COV_LIB_OBJS) $(TEST_LIBS) -o $@

$(COV_DIR)/vrt-tests-kq: $(KQ_TESTS) tests/helpers.h tests/io_helpers.h tests/kqueue_emu/kqueue_emu.c \
                         tests/kqueue_emu/sys/event.h $(COV_KQ_OBJS)
	$(CC) $(TEST_CFLAGS) $(COV_FLAGS) -Itests/kqueue_emu $(KQ_TESTS) \
	  tests/kqueue_emu/kqueue_emu.c $(COV_KQ_OBJS) $(TEST_LIBS) -o $@

$(COV_DIR)/vrt-fault: $(FAULT_DEPS) $(COV_LIB_OBJS)
	$(call fault_epoll_cmd,$(COV_FLAGS),$(COV_LIB_OBJS))

$(COV_DIR)/vrt-fault-kq: $(FAULT_DEPS) $(FAULT_KQ_SRC) $(COV_KQ_OBJS)
	$(call fault_kqueue_cmd,$(COV_FLAGS),$(COV_KQ_OBJS))

# With coverage/oracle_alloc_fail.c, whose VRT_ORACLE_FAIL_ALLOC=N fails the
# Nth allocation (coverage/oracle_errors.py runs the out-of-memory paths).
ORACLE_ALLOC_WRAP := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc

$(COV_DIR)/vrt-oracle: $(ORACLE_SRC) src/oracle/oracle.h coverage/oracle_alloc_fail.c $(COV_LIB_OBJS)
	$(CC) $(STD) $(WARN) $(COV_FLAGS) -Isrc $(ORACLE_ALLOC_WRAP) $(ORACLE_SRC) \
	  coverage/oracle_alloc_fail.c $(COV_LIB_OBJS) -o $@

# The oracle internals that no command line reaches (coverage/oracle_whitebox.c).
$(COV_DIR)/oracle-whitebox: coverage/oracle_whitebox.c src/oracle/scenario.c src/oracle/interp.c \
                            src/oracle/oracle.h
	$(CC) $(STD) $(WARN) $(COV_FLAGS) -Isrc $(filter %.c,$^) -o $@

COV_BINARIES := vrt-tests vrt-tests-kq vrt-fault vrt-fault-kq

# The fuzz corpus replay (fuzz/fuzz.mk), when that fragment provides it:
# its harnesses are rebuilt with gcov under $(COV_DIR)/fuzz and replayed.
COV_FUZZ_REPLAY := $(shell grep -qs '^fuzz-replay:' fuzz/fuzz.mk && echo yes)

coverage-run: $(addprefix $(COV_DIR)/,$(COV_BINARIES) vrt-oracle oracle-whitebox)
	@echo "== coverage: the suite over the gcov build of src/ =="
	@find $(COV_DIR) -name '*.gcda' -delete
	@for t in $(COV_BINARIES); do \
	  $(RUN_LIMIT) $(COV_DIR)/$$t --jobs 2 >$(COV_DIR)/$$t.log 2>&1 || \
	    { tail -40 $(COV_DIR)/$$t.log; echo "coverage: $$t failed"; exit 1; }; \
	done
	@$(COV_DIR)/vrt-oracle --check $(ORACLE_SCN) >$(COV_DIR)/oracle.log
	@$(COV_DIR)/vrt-oracle --compare $(ORACLE_SCN) >>$(COV_DIR)/oracle.log
	@$(PYTHON) coverage/oracle_errors.py $(COV_DIR)/vrt-oracle
	@$(COV_DIR)/oracle-whitebox
ifeq ($(COV_FUZZ_REPLAY),yes)
	$(MAKE) --no-print-directory fuzz-replay FUZZ_REPLAY_DIR=$(CURDIR)/$(COV_DIR)/fuzz \
	  FUZZ_REPLAY_CFLAGS='$(COV_FLAGS)'
else
	@echo "coverage: fuzz/fuzz.mk has no fuzz-replay target yet: corpus replay skipped"
endif

# The gate covers src/ as a whole, and each of its two parts on its own:
# the library (src/*.c) and vrt-oracle (src/oracle/*.c).
COV_GCOVR := gcovr -r . --exclude-unreachable-branches

coverage: coverage-run
	@rm -rf coverage/html && mkdir -p coverage/html/lib coverage/html/oracle
	@echo "== coverage of the library, src/*.c =="
	@set -o pipefail; $(COV_GCOVR) --filter 'src/[^/]*\.c$$' --html-details coverage/html/lib/index.html \
	  --print-summary $(COV_GATE) $(COV_DIR) | tee $(COV_DIR)/summary.txt
	@echo "== coverage of the oracle, src/oracle/ =="
	@set -o pipefail; $(COV_GCOVR) --filter 'src/oracle/' --html-details coverage/html/oracle/index.html \
	  --print-summary $(COV_GATE) $(COV_DIR) | tee -a $(COV_DIR)/summary.txt
	@echo "== coverage of src/ (gate: 100% lines, 95% branches) =="
	@set -o pipefail; $(COV_GCOVR) --filter 'src/' --html-details coverage/html/index.html \
	  --print-summary $(COV_GATE) $(COV_DIR) | tee -a $(COV_DIR)/summary.txt
	@echo "coverage: HTML report in coverage/html/index.html (library: coverage/html/lib/, oracle: coverage/html/oracle/)"

endif
