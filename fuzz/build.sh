#!/bin/bash -eu
# OSS-Fuzz / ClusterFuzzLite build script for vrt's harnesses.
#
# The infrastructure sets CC, CXX, CFLAGS, CXXFLAGS (sanitizer and
# coverage flags), LIB_FUZZING_ENGINE (libFuzzer, AFL++ or honggfuzz's
# driver) and OUT.  For each harness this writes $OUT/<harness>, its seed
# corpus $OUT/<harness>_seed_corpus.zip and its dictionary
# $OUT/<harness>.dict.  Run from anywhere: the repository is the parent of
# this script's directory.  Locally, e.g.:
#   CC=clang CXX=clang++ CFLAGS=-fsanitize=address,fuzzer-no-link \
#   CXXFLAGS=-fsanitize=address LIB_FUZZING_ENGINE=-fsanitize=fuzzer \
#   OUT=/tmp/out fuzz/build.sh
cd "$(dirname "$0")/.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

lib_src=$(ls src/*.c | grep -v 'src/backend_')
lib_src="$lib_src src/backend_$([ "$(uname -s)" = Linux ] && echo epoll || echo kqueue).c"
oracle_src="src/oracle/scenario.c src/oracle/interp.c src/oracle/engine_vrt.c src/oracle/model.c"
flags="-std=c11 -D_POSIX_C_SOURCE=200809L -Isrc -Isrc/oracle"

compile() { # compile DIR FILE...: objects into DIR
    mkdir -p "$1"
    local dir=$1
    shift
    for f in "$@"; do
        $CC $CFLAGS $flags -c "$f" -o "$dir/$(basename "${f%.c}").o"
    done
}

# A zip of the files given, flat (python3: the zip tool may be missing).
zip_flat() {
    local zip_file=$1
    shift
    python3 - "$zip_file" "$@" <<'EOF'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    for path in sys.argv[2:]:
        z.write(path, os.path.basename(path))
EOF
}

compile "$work/lib" $lib_src
compile "$work/oracle" $oracle_src
compile "$work/harness" fuzz/fuzz_ops.c fuzz/fuzz_diff.c

# The engine's driver may be C++: link with CXX.
$CXX $CXXFLAGS "$work/harness/fuzz_ops.o" "$work"/lib/*.o $LIB_FUZZING_ENGINE -o "$OUT/fuzz_ops"
$CXX $CXXFLAGS "$work/harness/fuzz_diff.o" "$work"/oracle/*.o "$work"/lib/*.o \
    $LIB_FUZZING_ENGINE -o "$OUT/fuzz_diff"

zip_flat "$OUT/fuzz_ops_seed_corpus.zip" fuzz/corpus/fuzz_ops/*
zip_flat "$OUT/fuzz_diff_seed_corpus.zip" fuzz/corpus/fuzz_diff/* spec/scenarios/*.scn
cp fuzz/dict/fuzz_ops.dict fuzz/dict/fuzz_diff.dict "$OUT/"
