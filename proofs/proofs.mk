# make proofs: Frama-C WP over the scheduler core, the event loop's tables
# and the task group (proofs/README.md).  Included by the GNUmakefile.
.PHONY: proofs proofs-clean proofs-setup

DEPS_PACKAGES += frama-c-base why3 z3 cvc4

# Why3 finds the provers once per machine (there is no Alt-Ergo here).
proofs-setup: deps-packages
	@why3 config list-provers 2>/dev/null | grep -q 'Z3' && \
	 why3 config list-provers 2>/dev/null | grep -q 'CVC4' || why3 config detect

deps: proofs-setup

proofs:
	bash proofs/run.sh

# Forget the prover cache: the next make proofs runs every prover.
proofs-clean:
	rm -rf proofs/out proofs/wp-session proofs/wp-session-smoke proofs/wp-cache

check: proofs
