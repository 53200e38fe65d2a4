# vrt-oracle: the scenario runner (spec/scenarios.md).  Included by the
# GNUmakefile, which defines BUILD, CC, STD, WARN, OPT and builds
# $(BUILD)/lib/libvrt.a.
#
#   make oracle-check     run spec/scenarios/*.scn on vrt, compare with .trace
#   make oracle-compare   run them on vrt and on the executable model
#   make oracle-coverage  every API row, divergence and errno is covered

# Included once even when named twice (make -f GNUmakefile -f tests/oracle.mk).
ifndef VRT_ORACLE_MK
VRT_ORACLE_MK := 1

ORACLE_SRC   := src/oracle/scenario.c src/oracle/interp.c src/oracle/engine_vrt.c \
                src/oracle/main.c src/oracle/model.c
ORACLE_SCN   := $(sort $(wildcard spec/scenarios/*.scn))

.PHONY: oracle oracle-check oracle-compare

oracle: $(BUILD)/vrt-oracle

$(BUILD)/vrt-oracle: $(ORACLE_SRC) src/oracle/oracle.h src/vrt.h $(BUILD)/lib/libvrt.a
	@mkdir -p $(@D)
	$(CC) $(STD) $(WARN) $(OPT) -Isrc $(ORACLE_SRC) $(BUILD)/lib/libvrt.a -o $@

oracle-check: $(BUILD)/vrt-oracle
	@echo "== oracle: vrt-oracle --check spec/scenarios/*.scn =="
	@$(BUILD)/vrt-oracle --check $(ORACLE_SCN)

oracle-compare: $(BUILD)/vrt-oracle
	@echo "== oracle: vrt against the executable model (vrt-oracle --compare) =="
	@$(BUILD)/vrt-oracle --compare $(ORACLE_SCN)

# Mutants: vrt built with one test-only flag that breaks it on purpose (a
# reversed sweep, a wrong errno).  Each must be caught twice: by --check
# against the stored traces and by --compare against the model.
ORACLE_MUTANTS := VRT_MUTANT_REVERSE_SWEEP VRT_MUTANT_FULL_IS_ENOMEM
LIB_SRC_ALL    := $(SRC)

.PHONY: oracle-mutants oracle-coverage

# Every implemented method/function row of spec/api.json, every D-entry of
# spec/DIVERGENCES.md and every errno of REQUIREMENTS section 3 is named by
# some scenario's `covers`, and every covers item names something real.
oracle-coverage:
	python3 tests/check_scenario_coverage.py spec/api.json spec/DIVERGENCES.md spec/scenarios

check: oracle-coverage

$(BUILD)/mutant/%/vrt-oracle: $(LIB_SRC_ALL) $(ORACLE_SRC) src/oracle/oracle.h src/vrt.h \
                              src/vrt_internal.h src/backend.h
	@mkdir -p $(@D)
	$(CC) $(STD) $(WARN) -O1 -D$* -Isrc $(LIB_SRC_ALL) $(ORACLE_SRC) -o $@

oracle-mutants: $(foreach m,$(ORACLE_MUTANTS),$(BUILD)/mutant/$(m)/vrt-oracle)
	@for m in $(ORACLE_MUTANTS); do \
	  o=$(BUILD)/mutant/$$m; \
	  if VRT_ORACLE_TIME_LIMIT=3 $$o/vrt-oracle --check $(ORACLE_SCN) > $$o/check.log 2>&1; then \
	    echo "mutant $$m survived vrt-oracle --check"; exit 1; fi; \
	  if VRT_ORACLE_TIME_LIMIT=3 $$o/vrt-oracle --compare $(ORACLE_SCN) > $$o/compare.log 2>&1; then \
	    echo "mutant $$m survived the model comparison"; exit 1; fi; \
	  echo "mutant $$m: caught by --check ($$(tail -n 1 $$o/check.log)) and by --compare ($$(tail -n 1 $$o/compare.log))"; \
	done

endif
