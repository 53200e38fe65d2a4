# Benchmarks (bench/README.md).  Included by the GNUmakefile, which defines
# BUILD, CC, STD, WARN and OPT and builds $(BUILD)/lib/libvrt.a.
#
#   make bench        every scenario side by side with its peers, median of
#                     5 rounds: bench/results/latest.md and latest.png, and
#                     the table in README.md's Benchmarks section
#   make bench-smoke  build everything, one short round of each scenario
#                     (part of make check; its report goes to build/bench/)

ifndef VRT_BENCH_MK
VRT_BENCH_MK := 1

BENCH_BIN   := $(BUILD)/bench
BENCH_RUNS  ?= 5
# The same flags for vrt and for every peer; vrt is linked statically.
BENCH_CC     = $(CC) $(STD) $(WARN) $(OPT) -Isrc -Iexamples
BENCH_PROGS := $(addprefix $(BENCH_BIN)/,bench_vrt bench_epoll bench_uv bench_ev http_uv)

.PHONY: bench bench-build bench-smoke

bench-build: $(BENCH_PROGS) $(BUILD)/examples/http_server

$(BENCH_BIN)/bench_vrt: bench/bench_vrt.c bench/bench.h $(BUILD)/lib/libvrt.a
	@mkdir -p $(@D)
	$(BENCH_CC) $< $(BUILD)/lib/libvrt.a -o $@

$(BENCH_BIN)/bench_epoll: bench/bench_epoll.c bench/bench.h
	@mkdir -p $(@D)
	$(BENCH_CC) $< -o $@

$(BENCH_BIN)/bench_uv: bench/bench_uv.c bench/bench.h
	@mkdir -p $(@D)
	$(BENCH_CC) $< -luv -o $@

$(BENCH_BIN)/bench_ev: bench/bench_ev.c bench/bench.h
	@mkdir -p $(@D)
	$(BENCH_CC) $< -lev -o $@

$(BENCH_BIN)/http_uv: bench/http_uv.c examples/http.h
	@mkdir -p $(@D)
	$(BENCH_CC) $< -luv -o $@

$(BUILD)/examples/http_server: examples/http.h

bench: bench-build
	@echo "== benchmarks: $(BENCH_RUNS) rounds, vrt and its peers side by side =="
	$(PYTHON) bench/run.py --bin $(BENCH_BIN) --examples $(BUILD)/examples \
	  --runs $(BENCH_RUNS) --out bench/results/latest.md --plot bench/results/latest.png \
	  --readme README.md

bench-smoke: bench-build
	@echo "== benchmarks: smoke run (one short round of every scenario) =="
	$(PYTHON) bench/run.py --bin $(BENCH_BIN) --examples $(BUILD)/examples --smoke \
	  --out $(BENCH_BIN)/smoke.md --plot $(BENCH_BIN)/smoke.png

check: bench-smoke

DEPS_PACKAGES += libuv1-dev libev-dev wrk gnuplot-nox

endif
