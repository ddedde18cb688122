#!/usr/bin/env bash
# respawn vs supervisord on one tiny child: restart overhead after SIGKILL, idle RSS,
# idle wakeups. Prints a table with the goals, and a markdown table for the README.
#
# Usage: bench/compare.sh [--kills N] [--idle SECONDS] [--settle SECONDS] [--strict] [--keep-tmp]
#
# Environment:
#   BENCH_CACHE         venv for supervisord (default /var/cache/respawn/bench-venv,
#                       or ~/.cache/respawn/bench-venv when that is not writable);
#                       reused when it already has the wanted supervisor version
#   SUPERVISOR_VERSION  supervisor release from PyPI (default 4.3.0)
#   RESPAWN_BIN         use this respawn binary instead of building one
#   CARGO_TARGET_DIR    honoured by the release build, as usual
#   PYTHON              Python 3 interpreter (default python3)
#
# Linux only (it reads /proc). Runs everything locally; stops what it starts by pid.
# Exit code: 0 when it measured (goals met or not; --strict: 3 on a missed goal),
# 1 on an error.
set -euo pipefail

die() { echo "compare.sh: error: $*" >&2; exit 1; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

[[ "$(uname -s)" == Linux ]] || die "this benchmark needs Linux (/proc)"

PYTHON="${PYTHON:-python3}"
command -v "$PYTHON" >/dev/null 2>&1 ||
    die "python3 not found; install Python 3 (e.g. apt-get install python3 python3-venv) or set PYTHON"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 8))' ||
    die "$PYTHON is older than Python 3.8"

# ---- respawn, release build
if [[ -n "${RESPAWN_BIN:-}" ]]; then
    [[ -x "$RESPAWN_BIN" ]] || die "RESPAWN_BIN=$RESPAWN_BIN is not an executable"
    respawn="$RESPAWN_BIN"
else
    command -v cargo >/dev/null 2>&1 ||
        die "cargo not found; install Rust (https://rustup.rs) or set RESPAWN_BIN to a release build"
    echo "building respawn (release)..." >&2
    (cd "$repo" && cargo build --release --quiet --bin respawn) ||
        die "cargo build --release failed"
    target_dir="${CARGO_TARGET_DIR:-$repo/target}"
    [[ "$target_dir" == /* ]] || target_dir="$repo/$target_dir"
    respawn="$target_dir/release/respawn"
    [[ -x "$respawn" ]] || die "build finished but $respawn is missing"
fi

# ---- supervisord, from PyPI into a cached venv
want="${SUPERVISOR_VERSION:-4.3.0}"
default_cache=/var/cache/respawn/bench-venv
if [[ -z "${BENCH_CACHE:-}" ]]; then
    if mkdir -p "$(dirname "$default_cache")" 2>/dev/null && [[ -w "$(dirname "$default_cache")" ]]; then
        BENCH_CACHE="$default_cache"
    else
        BENCH_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/respawn/bench-venv"
    fi
fi
venv="$BENCH_CACHE"
supervisord="$venv/bin/supervisord"
have="$("$supervisord" --version 2>/dev/null || true)"
if [[ "$have" != "$want" ]]; then
    echo "installing supervisor==$want into $venv (pip, PyPI)..." >&2
    mkdir -p "$(dirname "$venv")" || die "cannot create $(dirname "$venv"); set BENCH_CACHE to a writable folder"
    if ! "$venv/bin/python" -c '' 2>/dev/null; then
        rm -rf "$venv"  # missing or broken (e.g. its base Python is gone): make a new one
        "$PYTHON" -m venv "$venv" ||
            die "cannot create a venv with $PYTHON (Debian: apt-get install python3-venv)"
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "supervisor==$want" ||
        die "pip install supervisor==$want failed (is PyPI reachable?)"
    have="$("$supervisord" --version 2>/dev/null || true)"
    [[ "$have" == "$want" ]] || die "supervisord in $venv reports version '$have', wanted $want"
fi

exec "$PYTHON" "$here/compare.py" --respawn "$respawn" --supervisord "$supervisord" "$@"
