#!/usr/bin/env bash
# `make build`: the workspace in release, then the module (target/release/libvigil.so) built
# again guided by a profile when it can be (profile-guided optimisation, PGO):
#
#   1. the module built instrumented (target/pgo/gen): each branch counts how it goes;
#   2. scripts/pgo-train.sh runs it in a redis-server of its own through the common paths of
#      every command family; the module writes its counts when the server exits;
#   3. llvm-profdata merges them (target/pgo/vigil.profdata);
#   4. the module built with `-Cprofile-use` (target/pgo/use): the compiler lays the hot paths
#      out together and the cold ones aside, and inlines by what the run did. Same source, same
#      behaviour; only the machine code's layout and inlining change (ALERT.ADD about 15% less
#      server time, BENCHMARKS.md). It replaces target/release/libvigil.so (a new file, moved
#      in: a server that has the old one loaded keeps it).
#
# Steps 1-4 are skipped when the module built last time is newer than cargo's plain one and
# than the training script (nothing changed since). A later plain `cargo build --release`
# links cargo's own module back to target/release/libvigil.so; `make build` puts the
# profile-guided one back.
#
# The plain module stays, with a message, when PGO cannot run: no llvm-profdata for this rustc
# (scripts/install-deps.sh adds the rustup component llvm-tools), no redis-server,
# redis-benchmark or redis-cli, a failed step, or VIGIL_PGO=0. Arguments are passed to every
# `cargo build` (e.g. --locked).
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO=${CARGO:-cargo}
pgo=target/pgo
module=target/release/libvigil.so

$CARGO build --release "$@"

plain() {
    echo "build: $1; $module is the plain release build (no PGO)" >&2
    exit 0
}

if [[ ${VIGIL_PGO:-1} == 0 ]]; then
    plain "VIGIL_PGO=0"
fi
host=$(rustc -vV | sed -n 's/^host: //p')
profdata="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata"
if [[ ! -x $profdata ]]; then
    plain "no llvm-profdata in $(rustc --print sysroot) (rustup component add llvm-tools)"
fi
for tool in "${VIGIL_REDIS_SERVER:-redis-server}" redis-benchmark redis-cli; do
    command -v "$tool" >/dev/null || plain "no $tool for the training run"
done

guided=$pgo/use/release/libvigil.so
if [[ -f $guided && $guided -nt target/release/deps/libvigil.so && $guided -nt scripts/pgo-train.sh ]]; then
    echo "build: the profile-guided module is up to date ($guided)" >&2
else
    root=$(pwd)
    # Without its outputs cargo builds the guided module again, with the new profile.
    rm -rf "$pgo/raw" "$guided" "$pgo/use/release/deps/libvigil.so"
    mkdir -p "$pgo/raw"
    echo "build: PGO 1/3, the instrumented module (target/pgo/gen)" >&2
    CARGO_TARGET_DIR=$pgo/gen RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-generate=$root/$pgo/raw" \
        $CARGO build --release -p vigil "$@" || plain "the instrumented build failed"
    echo "build: PGO 2/3, the training run (scripts/pgo-train.sh)" >&2
    timeout 600 scripts/pgo-train.sh "$pgo/gen/release/libvigil.so" \
        "$root/$pgo/raw/vigil-%m.profraw" || plain "the training run failed (or took 10 minutes)"
    shopt -s nullglob
    raw=("$pgo"/raw/vigil-*.profraw)
    ((${#raw[@]} > 0)) || plain "the training run left no profile"
    "$profdata" merge -o "$pgo/vigil.profdata" "${raw[@]}" || plain "llvm-profdata failed"
    echo "build: PGO 3/3, the module built with the profile (target/pgo/use)" >&2
    CARGO_TARGET_DIR=$pgo/use RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-use=$root/$pgo/vigil.profdata" \
        $CARGO build --release -p vigil "$@" || plain "the build with the profile failed"
fi
cp "$guided" "$module.pgo-tmp"
mv -f "$module.pgo-tmp" "$module"
echo "build: $module is the profile-guided build" >&2
