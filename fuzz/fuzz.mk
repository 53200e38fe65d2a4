# Fuzzing (fuzz/README.md).  Included by the GNUmakefile, which defines
# BUILD, CC, STD, WARN, SAN_FLAGS and SRC (the library's sources).
#
#   make fuzz-replay    every corpus file through the plain (gcc) drivers
#   make fuzz-smoke     FUZZ_SMOKE_SECONDS (60) per harness per engine
#   make fuzz FUZZ_SECONDS=N ENGINE=libfuzzer|afl [HARNESS=fuzz_ops]
#   make fuzz-planted   a build with a planted bug: each engine must find it
#                       within FUZZ_PLANTED_SECONDS (60)

ifndef VRT_FUZZ_MK
VRT_FUZZ_MK := 1

DEPS_PACKAGES += clang libclang-rt-14-dev afl++

FUZZ_HARNESSES      := fuzz_ops fuzz_diff
FUZZ_ORACLE_SRC     := src/oracle/scenario.c src/oracle/interp.c src/oracle/engine_vrt.c \
                       src/oracle/model.c
FUZZ_SRC_fuzz_ops   := fuzz/fuzz_ops.c
FUZZ_SRC_fuzz_diff  := fuzz/fuzz_diff.c $(FUZZ_ORACLE_SRC)
FUZZ_DEPS           := $(SRC) src/vrt.h src/vrt_internal.h src/backend.h src/oracle/oracle.h \
                       fuzz/driver.c fuzz/fuzz_ops.c fuzz/fuzz_diff.c $(FUZZ_ORACLE_SRC)
FUZZ_DIR            := $(BUILD)/fuzz
FUZZ_CFLAGS         := $(STD) $(WARN) -g -O1 -Isrc -Isrc/oracle
FUZZ_SAN            := -fsanitize=address,undefined -fno-sanitize-recover=all

# The regression driver (gcc, fuzz/driver.c's main).  The coverage build
# makes its own with FUZZ_REPLAY_DIR=<dir> FUZZ_REPLAY_CFLAGS='--coverage -O0'.
FUZZ_REPLAY_CC      ?= $(CC)
FUZZ_REPLAY_CFLAGS  ?= $(SAN_FLAGS) -O1
FUZZ_REPLAY_DIR     ?= $(FUZZ_DIR)/replay

FUZZ_SECONDS        ?= 600
FUZZ_SMOKE_SECONDS  ?= 60
FUZZ_PLANTED_SECONDS ?= 60
FUZZ_PLANTED_FLAG   := VRT_MUTANT_CANCELLED_IS_EINVAL
ENGINE              ?= libfuzzer
HARNESS             ?= $(FUZZ_HARNESSES)

# AFL++ as root, on a shared machine, without a terminal.
FUZZ_AFL_ENV := AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 \
                AFL_NO_AFFINITY=1 AFL_FAST_CAL=1 AFL_NO_WARN_INSTABILITY=1

.PHONY: fuzz fuzz-build fuzz-replay fuzz-smoke fuzz-planted fuzz-seeds fuzz-help

fuzz-help:
	@sed -n '3,9p' fuzz/fuzz.mk

# ---- builds -------------------------------------------------------------------

$(FUZZ_REPLAY_DIR)/%: $(FUZZ_DEPS)
	@mkdir -p $(@D)
	$(FUZZ_REPLAY_CC) $(FUZZ_CFLAGS) $(FUZZ_REPLAY_CFLAGS) $(SRC) $(FUZZ_SRC_$*) fuzz/driver.c -o $@

$(FUZZ_DIR)/libfuzzer/%: $(FUZZ_DEPS)
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer $(FUZZ_SAN) $(SRC) $(FUZZ_SRC_$*) -o $@

$(FUZZ_DIR)/afl/%: $(FUZZ_DEPS)
	@mkdir -p $(@D)
	AFL_USE_ASAN=1 AFL_USE_UBSAN=1 AFL_QUIET=1 afl-clang-fast $(FUZZ_CFLAGS) \
	  $(SRC) $(FUZZ_SRC_$*) fuzz/driver.c -o $@

$(FUZZ_DIR)/planted-libfuzzer/%: $(FUZZ_DEPS)
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -D$(FUZZ_PLANTED_FLAG) -fsanitize=fuzzer $(FUZZ_SAN) \
	  $(SRC) $(FUZZ_SRC_$*) -o $@

$(FUZZ_DIR)/planted-afl/%: $(FUZZ_DEPS)
	@mkdir -p $(@D)
	AFL_USE_ASAN=1 AFL_USE_UBSAN=1 AFL_QUIET=1 afl-clang-fast $(FUZZ_CFLAGS) \
	  -D$(FUZZ_PLANTED_FLAG) $(SRC) $(FUZZ_SRC_$*) fuzz/driver.c -o $@

fuzz-build: $(foreach h,$(FUZZ_HARNESSES),$(FUZZ_REPLAY_DIR)/$(h) $(FUZZ_DIR)/libfuzzer/$(h) $(FUZZ_DIR)/afl/$(h))

# ---- seeds: fuzz/corpus/<harness>/, and for fuzz_diff every scenario ----------

fuzz-seeds:
	@for h in $(FUZZ_HARNESSES); do \
	  rm -rf $(FUZZ_DIR)/seeds/$$h && mkdir -p $(FUZZ_DIR)/seeds/$$h && \
	  cp fuzz/corpus/$$h/* $(FUZZ_DIR)/seeds/$$h/ || exit 1; \
	done
	@for f in spec/scenarios/*.scn; do \
	  cp $$f $(FUZZ_DIR)/seeds/fuzz_diff/scenario-$$(basename $$f); done

# ---- the corpus replay (CI, and the coverage report's input) ---------------------

fuzz-replay: fuzz-seeds $(foreach h,$(FUZZ_HARNESSES),$(FUZZ_REPLAY_DIR)/$(h))
	@echo "== fuzz: every seed through the regression drivers =="
	@for h in $(FUZZ_HARNESSES); do \
	  $(RUN_LIMIT) $(FUZZ_REPLAY_DIR)/$$h $(FUZZ_DIR)/seeds/$$h || exit 1; done

# ---- campaigns --------------------------------------------------------------------

# fuzz/run.sh ENGINE HARNESS SECONDS BINARY SEEDS WORKDIR: fails on a crash,
# a hang or a difference, and prints execs/s and edges.
fuzz: fuzz-seeds $(foreach h,$(HARNESS),$(FUZZ_DIR)/$(if $(filter afl,$(ENGINE)),afl,libfuzzer)/$(h))
	@for h in $(HARNESS); do \
	  $(FUZZ_AFL_ENV) nice -n 10 bash fuzz/run.sh $(ENGINE) $$h $(FUZZ_SECONDS) \
	    $(FUZZ_DIR)/$(if $(filter afl,$(ENGINE)),afl,libfuzzer)/$$h \
	    $(FUZZ_DIR)/seeds/$$h $(FUZZ_DIR)/campaign-$(ENGINE)-$$h || exit 1; \
	done

fuzz-smoke: fuzz-seeds $(foreach h,$(FUZZ_HARNESSES),$(FUZZ_DIR)/libfuzzer/$(h) $(FUZZ_DIR)/afl/$(h))
	@echo "== fuzz: $(FUZZ_SMOKE_SECONDS) s per harness per engine =="
	@for e in libfuzzer afl; do for h in $(FUZZ_HARNESSES); do \
	  $(FUZZ_AFL_ENV) bash fuzz/run.sh $$e $$h $(FUZZ_SMOKE_SECONDS) $(FUZZ_DIR)/$$e/$$h \
	    $(FUZZ_DIR)/seeds/$$h $(FUZZ_DIR)/smoke-$$e-$$h || exit 1; \
	done; done

# Each engine, on each harness, from one seed that does not show the bug,
# must find it within FUZZ_PLANTED_SECONDS.
fuzz-planted: $(foreach e,libfuzzer afl,$(foreach h,$(FUZZ_HARNESSES),$(FUZZ_DIR)/planted-$(e)/$(h)))
	@echo "== fuzz: the planted bug ($(FUZZ_PLANTED_FLAG)) must be found =="
	@for e in libfuzzer afl; do for h in $(FUZZ_HARNESSES); do \
	  $(FUZZ_AFL_ENV) bash fuzz/run.sh --planted $$e $$h $(FUZZ_PLANTED_SECONDS) \
	    $(FUZZ_DIR)/planted-$$e/$$h fuzz/planted/$$h $(FUZZ_DIR)/planted-$$e-$$h || exit 1; \
	done; done

check: fuzz-replay fuzz-smoke

endif
