# make proofs: Frama-C WP over the scheduler core, the event loop's tables
# and the task group (proofs/README.md).  Included by the GNUmakefile.
.PHONY: proofs proofs-clean proofs-setup

DEPS_PACKAGES += frama-c-base why3 z3 cvc4 cvc5

# Nothing to set up beyond the packages: proofs/run.sh writes its own Why3
# configuration each run (proofs/out/why3.conf, through WHY3CONFIG), with
# cvc5 declared by hand.  There is no Alt-Ergo here.
proofs-setup: deps-packages

deps: proofs-setup

proofs:
	bash proofs/run.sh

# Forget the prover cache: the next make proofs runs every prover.
proofs-clean:
	rm -rf proofs/out proofs/wp-session proofs/wp-session-smoke proofs/wp-cache

check: proofs
