#!/bin/sh
# scripts/old-binary.sh [build|test] [COMMIT] — respawn as of COMMIT (default b351e14,
# the commit issue 26 started from, which calls itself `respawn 0.1.0`) as the "old"
# binary of the mixed-version tests (an older respawn's supervisors driven by this CLI).
#
#   build  build it if it is not cached yet and print its path (scripts/test does this
#          and exports the path as RESPAWN_OLD_BIN, with RESPAWN_REQUIRE_OLD_BIN=1)
#   test   (the default) build, then run the mixed-version tests with it
#   build-windows  the same for Windows: build its respawn.exe and respawnw.exe (debug,
#          x86_64-pc-windows-gnu, with scripts/windows-lane.sh's toolchain and
#          -Zbuild-std) if not cached yet, and print their folder
#          $RESPAWN_OLD_CACHE/windows-COMMIT; scripts/windows-lane.sh test exports it as
#          RESPAWN_OLD_WIN_DIR for tests/windows/old_binary.rs. Seeded from the lane's
#          debug target ($RESPAWN_WIN_TARGET): about 80 s on 2 cores; cold (no seed, std
#          built too) several minutes; cached: free.
#
# The binary is cached as $RESPAWN_OLD_CACHE/respawn-COMMIT (default
# /var/cache/respawn/old-binary, or ~/.cache/respawn/old-binary where /var/cache is not
# writable): built once per machine, then free. The build happens in a scratch folder
# there that is removed afterwards; its target dir is seeded from this checkout's
# ./target/debug when that has the dependencies built (the old commit's Cargo.lock is
# this one's), so only the respawn crate itself compiles: about a minute on 2 cores,
# several minutes cold. The old source comes from `git archive COMMIT`; a clone without
# that commit (a shallow one, or a copy with no history) takes it from the pinned copy
# tests/fixtures/old-respawn-COMMIT.tar.xz (what the binary needs of it: the manifest,
# the lock file, src/, presets/, examples/, docs/reference.md), which tests/scripts.rs keeps equal to git's.
# Neither there: it fails, loudly.
set -eu
mode="${1:-test}"
commit="${2:-b351e14}"
case "$mode" in build | test | build-windows) ;; *)
    echo "usage: scripts/old-binary.sh [build|build-windows|test] [COMMIT]" >&2
    exit 2
    ;;
esac
cd "$(dirname "$0")/.."
. scripts/cache.sh
cache="${RESPAWN_OLD_CACHE:-$(respawn_cache_dir)/old-binary}"
# Take COMMIT's source into $1/src: git's, or the pinned copy in a clone without it.
old_source() {
    pinned="tests/fixtures/old-respawn-$commit.tar.xz"
    if git cat-file -e "$commit^{commit}" 2>/dev/null; then
        git archive "$commit" | tar -x -C "$1/src"
    elif [ -f "$pinned" ]; then
        echo "scripts/old-binary.sh: $commit is not in this clone's history; using $pinned" >&2
        tar -xJf "$pinned" -C "$1/src"
    else
        echo "scripts/old-binary.sh: $commit is not in this clone's history and there is no $pinned: clone with history (not --depth) or pass a COMMIT it has" >&2
        rm -rf "$1"
        exit 1
    fi
}
# Copy the dependencies' build products (not this crate's own) of target dir $1 to $2.
seed_deps() {
    [ -d "$1/deps" ] || return 0
    mkdir -p "$2/deps"
    cp -a "$1/.fingerprint" "$1/build" "$2/" 2>/dev/null || true
    find "$1/deps" -maxdepth 1 -type f ! -name 'respawn*' ! -name 'librespawn*' \
        ! -name 'tests-*' -exec cp -a -t "$2/deps/" {} + || true
}
if [ "$mode" = build-windows ]; then
    win="$cache/windows-$commit"
    if [ ! -f "$win/respawn.exe" ] || [ ! -f "$win/respawnw.exe" ]; then
        started=$(date +%s)
        work="$cache/build-win-$commit.$$"
        rm -rf "$work"
        mkdir -p "$work/src" "$work/target"
        old_source "$work"
        lane="${RESPAWN_WIN_TARGET:-$(respawn_cache_dir)/windows-target}"
        seed_deps "$lane/debug" "$work/target/debug"
        seed_deps "$lane/x86_64-pc-windows-gnu/debug" "$work/target/x86_64-pc-windows-gnu/debug"
        (cd "$work/src" && CARGO_INCREMENTAL=0 CARGO_TARGET_DIR="$work/target" \
            RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 \
            /usr/bin/cargo build --quiet --locked -Zbuild-std=std,panic_abort \
            --target x86_64-pc-windows-gnu --bins) >&2
        mkdir -p "$win.$$"
        cp "$work/target/x86_64-pc-windows-gnu/debug/respawn.exe" \
            "$work/target/x86_64-pc-windows-gnu/debug/respawnw.exe" "$win.$$/"
        rm -rf "$win"
        mv "$win.$$" "$win"
        rm -rf "$work"
        echo "scripts/old-binary.sh: built respawn $commit for Windows in $(($(date +%s) - started)) s: $win" >&2
    fi
    echo "$win"
    exit 0
fi
bin="$cache/respawn-$commit"
if [ ! -x "$bin" ]; then
    started=$(date +%s)
    work="$cache/build-$commit.$$"
    rm -rf "$work"
    mkdir -p "$work/src" "$work/target/debug"
    old_source "$work"
    # The dependencies only: not this crate's own (large) test binaries.
    seed_deps target/debug "$work/target/debug"
    (cd "$work/src" && CARGO_INCREMENTAL=0 CARGO_TARGET_DIR="$work/target" \
        cargo build --quiet --locked --bin respawn) >&2
    cp "$work/target/debug/respawn" "$bin.$$"
    mv "$bin.$$" "$bin"
    rm -rf "$work"
    echo "scripts/old-binary.sh: built respawn $commit in $(($(date +%s) - started)) s: $bin" >&2
fi
"$bin" --version >/dev/null || {
    echo "scripts/old-binary.sh: $bin does not run; remove it to build it again" >&2
    exit 1
}
if [ "$mode" = build ]; then
    echo "$bin"
    exit 0
fi
RESPAWN_OLD_BIN="$bin" RESPAWN_REQUIRE_OLD_BIN=1 \
    exec cargo test --test tests old_supervisor -- --nocapture
