# Conformance of the tests and the docs to spec/api.json.  Included by the
# GNUmakefile (which defines BUILD and PYTHON); also usable on its own line:
#   make -f GNUmakefile -f tests/conformance.mk conformance-tags api-reference-check

PYTHON ?= python3

.PHONY: conformance-tags api-reference-check

# Every implemented row of the table has a behavioural test tagged with its
# name (/* rows: ... */ above a Test(...); see tests/check_row_tags.py), and
# the self-test proves that the check fails when a row's tags are deleted.
conformance-tags:
	$(PYTHON) tests/check_row_tags.py spec/api.json tests
	$(PYTHON) tests/check_row_tags.py --self-test spec/api.json tests

# The API reference page is generated from the table, never edited.
spec/API.md: spec/api.json tests/gen_api_reference.py tests/gen_api_check.py
	$(PYTHON) tests/gen_api_reference.py spec/api.json $@

# Fails when spec/API.md is not what the table generates now.
api-reference-check:
	@mkdir -p $(BUILD)
	$(PYTHON) tests/gen_api_reference.py spec/api.json $(BUILD)/API.md
	@diff -u spec/API.md $(BUILD)/API.md >/dev/null || { \
	  diff -u spec/API.md $(BUILD)/API.md | head -40; \
	  echo "spec/API.md is stale: run 'make -B spec/API.md' and commit it"; exit 1; }
	@echo "api reference: spec/API.md is up to date"

# ---- wiring: the build fails on a missing tag or a stale page ----------------

# The tag check runs before the table's test file is generated, so a row
# without a tagged test stops the test build itself.  A stamp keeps it from
# running again while nothing it reads changed; order-only, so that a new
# stamp does not regenerate test_api_table.c.
$(BUILD)/gen/row-tags.ok: spec/api.json tests/check_row_tags.py \
                          $(wildcard tests/test_*.c)
	@mkdir -p $(@D)
	$(PYTHON) tests/check_row_tags.py spec/api.json tests
	@touch $@

$(BUILD)/gen/test_api_table.c: | $(BUILD)/gen/row-tags.ok

check: conformance-tags api-reference-check
