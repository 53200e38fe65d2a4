# make proofs: Frama-C WP over the scheduler core (proofs/README.md).
# Included from the GNUmakefile with:  include proofs/proofs.mk
.PHONY: proofs proofs-clean

proofs:
	bash proofs/run.sh

# Forget the prover cache: the next make proofs runs every prover.
proofs-clean:
	rm -rf proofs/out proofs/wp-session proofs/wp-session-smoke proofs/wp-cache
