#!/bin/sh
# scripts/old-binary.sh [COMMIT] — build respawn as of COMMIT (default b351e14, the
# commit issue 26 started from) as the "old" binary, then run the mixed-version test
# (tests/supervisor/faults.rs: an_old_supervisor_is_driven_by_the_new_cli_and_back) with it.
#
# The old source goes to $RESPAWN_OLD_CACHE/src-COMMIT (default
# /var/cache/respawn/old-binary), built with its own target dir there: about a minute
# when that target dir was seeded from a warm one (cp -a target …), several minutes
# cold on 2 cores. Linux, portable backend.
set -eu
commit="${1:-b351e14}"
cd "$(dirname "$0")/.."
cache="${RESPAWN_OLD_CACHE:-/var/cache/respawn/old-binary}"
src="$cache/src-$commit"
if [ ! -x "$src/target/debug/respawn" ]; then
    rm -rf "$src"
    mkdir -p "$src"
    git archive "$commit" | tar -x -C "$src"
    [ -d "$src/target" ] || { [ -d target ] && cp -a target "$src/target"; } || true
    (cd "$src" && cargo build --quiet --bin respawn)
fi
RESPAWN_OLD_BIN="$src/target/debug/respawn" \
    exec cargo test --test tests supervisor::faults::an_old_supervisor_is_driven_by_the_new_cli_and_back -- --nocapture
