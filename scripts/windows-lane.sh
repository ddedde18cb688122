#!/usr/bin/env bash
# windows-lane.sh — build respawn for x86_64-pc-windows-gnu on Debian 12 and run
# it (and its tests) under Wine. See docs/wine.md for what Wine can and cannot do.
#
#   scripts/windows-lane.sh setup          install Debian's rust + std source, mingw, wine
#   scripts/windows-lane.sh prefix         (re)create the Wine prefix, install the shim DLL
#   scripts/windows-lane.sh build [ARGS]   cargo build --release for windows-gnu
#   scripts/windows-lane.sh test  [ARGS]   cargo test for windows-gnu, binaries run under Wine
#   scripts/windows-lane.sh wine CMD...    run CMD (an .exe or a Wine builtin) in the prefix
#   scripts/windows-lane.sh stop           kill every process of the prefix (services too) and its server
#   scripts/windows-lane.sh env            print the environment this script uses
#   scripts/windows-lane.sh run-exe EXE... cargo's target runner (used by `test`)
#
# Environment (all optional):
#   RESPAWN_WIN_CACHE   root of the persistent state   (default /var/cache/respawn,
#                       or ~/.cache/respawn when /var/cache is not writable)
#   RESPAWN_WIN_TARGET  CARGO_TARGET_DIR for this lane (default $RESPAWN_WIN_CACHE/windows-target)
#   WINEPREFIX          the Wine prefix                (default $RESPAWN_WIN_CACHE/wineprefix)
#   RESPAWN_WIN_DEBUG   passed on as WINEDEBUG         (default -all)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET=x86_64-pc-windows-gnu

# Debian's rustc ships the std *source*, not a Windows std: build-std compiles it.
# std,panic_abort works for both commands: cargo adds panic_unwind and `test` by
# itself for `cargo test` (should_panic works), and panic_abort must be listed or
# a profile with panic = "abort" fails with "can't find crate for panic_abort".
BUILD_STD=("-Zbuild-std=std,panic_abort")

# shellcheck source=scripts/cache.sh
source "$REPO/scripts/cache.sh"
CACHE="$(respawn_cache_dir)"
# Outside the checkout on purpose: CI clones main afresh each run, and build-std
# is the slow part; a persistent dir keeps the next run incremental.
WIN_TARGET="${RESPAWN_WIN_TARGET:-$CACHE/windows-target}"
export WINEPREFIX="${WINEPREFIX:-$CACHE/wineprefix}"
export WINEDEBUG="${RESPAWN_WIN_DEBUG:-${WINEDEBUG:--all}}"
# No Mono/Gecko (no network to fetch them, and nothing here needs .NET or HTML):
# without this, prefix creation stalls asking to download them.
export WINEDLLOVERRIDES="${WINEDLLOVERRIDES:-mscoree,mshtml=}"
# Wine must never try to open windows on a display we don't have.
unset DISPLAY WAYLAND_DISPLAY

WINE=/usr/lib/wine/wine64
WINESERVER=/usr/lib/wine/wineserver64

log() { printf '[windows-lane] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- setup ----

# Packages and the file each one provides; we only call apt when a file is missing,
# so a second `setup` costs nothing.
need_packages() {
    local missing=()
    [ -x /usr/bin/rustc ] || missing+=(rustc-web)
    [ -x /usr/bin/cargo ] || missing+=(cargo-web)
    [ -d /usr/lib/rustlib/src/rust/library/std ] || missing+=(rust-web-src)
    command -v x86_64-w64-mingw32-gcc >/dev/null || missing+=(gcc-mingw-w64-x86-64)
    [ -x "$WINE" ] || missing+=(wine64)
    printf '%s\n' "${missing[@]}"
}

cmd_setup() {
    local missing
    mapfile -t missing < <(need_packages | sed '/^$/d')
    if [ "${#missing[@]}" -eq 0 ]; then
        log "setup: everything already installed"
        return
    fi
    log "setup: installing ${missing[*]}"
    [ "$(id -u)" = 0 ] || die "setup needs root (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # The Rust 1.96 *-web packages live in bookworm-security; naming the release
    # makes apt take them from there. The rest comes from plain bookworm.
    local rust=() other=()
    for p in "${missing[@]}"; do
        case "$p" in *-web|*-web-src) rust+=("$p") ;; *) other+=("$p") ;; esac
    done
    if [ "${#rust[@]}" -gt 0 ]; then
        apt-get install -y -q --no-install-recommends -t bookworm-security "${rust[@]}"
    fi
    if [ "${#other[@]}" -gt 0 ]; then
        apt-get install -y -q --no-install-recommends "${other[@]}"
    fi
}

# --------------------------------------------------------------- prefix ----

shim_dll() { echo "$CACHE/shim/bcryptprimitives.dll"; }

# Rebuild the ProcessPrng shim only when its source changed.
build_shim() {
    local src="$REPO/.ci/wine" out
    out="$(shim_dll)"
    if [ -f "$out" ] && [ "$out" -nt "$src/bcryptprimitives.c" ] && [ "$out" -nt "$src/bcryptprimitives.def" ]; then
        return
    fi
    mkdir -p "$(dirname "$out")"
    x86_64-w64-mingw32-gcc -shared -O2 -o "$out" \
        "$src/bcryptprimitives.c" "$src/bcryptprimitives.def" -ladvapi32
    log "built $(shim_dll)"
}

# Copy only when it differs, and by rename: run-exe calls this for every test
# binary, and overwriting a DLL in place under a running Wine process corrupts it.
install_shim() {
    build_shim
    local dst="$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
    cmp -s "$(shim_dll)" "$dst" && return
    cp "$(shim_dll)" "$dst.tmp.$$"
    mv -f "$dst.tmp.$$" "$dst"
}

prefix_ready() { [ -f "$WINEPREFIX/system.reg" ] && [ -f "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" ]; }

# Windows need a graphics driver, and there is no display here: without Wine's null
# driver CreateWindowEx fails, and the hidden windows that hear the session's end
# (tests/windows_session_end.rs) cannot exist. Set once per prefix, before any window
# was made (the registry file is written when the server ends, so grep can miss a
# value set in the running session: `reg add` again is harmless).
null_graphics() {
    grep -q '"Graphics"="null"' "$WINEPREFIX/user.reg" 2>/dev/null && return
    "$WINE" reg add 'HKCU\Software\Wine\Drivers' /v Graphics /d null /f >/dev/null
}

# Create the prefix if it is missing (cheap no-op otherwise); `prefix` forces a fresh one.
ensure_prefix() {
    if prefix_ready; then
        install_shim   # keeps the shim current if its source changed
        null_graphics
        return
    fi
    mkdir -p "$WINEPREFIX"
    log "creating Wine prefix $WINEPREFIX"
    # wineboot --init creates the registry and drive_c and starts services.exe;
    # wineserver -w then waits until that first session is over.
    "$WINE" wineboot --init
    "$WINESERVER" -w
    install_shim
    null_graphics
}

cmd_prefix() {
    cmd_stop
    rm -rf "$WINEPREFIX"
    ensure_prefix
    log "prefix ready: $WINEPREFIX"
}

# ------------------------------------------------------------ build/test ----

# Cargo environment for this lane. RUSTC/RUSTDOC must be Debian's: with the rustup
# proxies first on PATH, cargo would pick rustup's (no Windows std; its rustdoc is
# another version and rejects our std for doctests). RUSTC_BOOTSTRAP=1 unlocks
# -Zbuild-std on this stable compiler. The test runner (Wine) comes from
# .cargo/config.toml: `runner = ["scripts/windows-lane.sh", "run-exe"]`.
lane_cargo() {
    RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 \
    CARGO_TARGET_DIR="$WIN_TARGET" /usr/bin/cargo "$@"
}

# The exes in $1 import only Windows' own DLLs (issue 25: a LocalSystem host must not
# look for a C runtime along PATH): scripts/win-imports.sh lists them and fails otherwise.
check_imports() {
    local exes=() f
    for f in respawn.exe respawnw.exe; do
        [ -f "$1/$f" ] && exes+=("$1/$f")
    done
    [ "${#exes[@]}" -eq 0 ] && return 0
    "$REPO/scripts/win-imports.sh" "${exes[@]}" >&2
}

cmd_build() {
    cmd_setup
    cd "$REPO"
    lane_cargo build --release "${BUILD_STD[@]}" --target "$TARGET" "$@"
    check_imports "$WIN_TARGET/$TARGET/release"
    log "built into $WIN_TARGET/$TARGET/release/"
}

cmd_test() {
    cmd_setup
    ensure_prefix
    start_server
    # Real Windows programs for tests/windows/proc.rs (pip's launcher, esbuild), cached.
    # Without them those tests SKIP (or fail with RESPAWN_REQUIRE_WINDOWS_FIXTURES=1).
    local fixtures
    if fixtures=$("$REPO/scripts/windows-fixtures.sh"); then
        export RESPAWN_WIN_FIXTURES="$fixtures"
    else
        log "warning: scripts/windows-fixtures.sh failed; tests that need its programs will skip"
    fi
    cd "$REPO"
    # Clippy runs on the Linux build only (Debian's toolchain has no clippy), so the
    # Windows-only code's compiler warnings fail the lane here instead.
    local log rc=0
    log=$(mktemp)
    lane_cargo test --no-run "${BUILD_STD[@]}" --target "$TARGET" "$@" 2>&1 | tee "$log" >&2
    # shellcheck disable=SC2016 # the backticks are cargo's, literal
    # The package is respawn-cli (Cargo.toml); cargo names it so in the summary line.
    if grep -E '^warning: `respawn-cli` .*generated [0-9]+ warning' "$log" >&2; then
        rm -f "$log"
        echo "windows-lane: the Windows build has warnings (see above); fix them" >&2
        return 1
    fi
    rm -f "$log"
    check_imports "$WIN_TARGET/$TARGET/debug" || return 1
    # The older respawn's Windows exes for tests/windows/old_binary.rs (issue 26), cached;
    # built after this build's dependencies, which seed it (only the old crate compiles)
    # (scripts/old-binary.sh build-windows). Without them that test SKIPs, or fails with
    # RESPAWN_REQUIRE_OLD_BIN=1 (scripts/test sets it).
    local old_win
    if old_win=$(RESPAWN_WIN_TARGET="$WIN_TARGET" "$REPO/scripts/old-binary.sh" build-windows); then
        export RESPAWN_OLD_WIN_DIR="$old_win"
    else
        log "warning: scripts/old-binary.sh build-windows failed; the mixed-version Windows test will skip"
    fi
    lane_cargo test "${BUILD_STD[@]}" --target "$TARGET" "$@" || rc=$?
    # Leave nothing behind: services started by the tests, stray children, the server.
    cmd_stop
    return "$rc"
}

# ----------------------------------------------------------------- wine ----

# Why a persistent server: without one, Wine shuts the prefix down ~1.5 s after its
# last ordinary process exits, and that kills every service the SCM started (no
# SERVICE_CONTROL_SHUTDOWN). With -p60 services outlive the `wine` call that
# started them, as on Windows, and each test binary skips the prefix start-up.
# It still ends by itself 60 s after the last ordinary process, so a forgotten
# `stop` cannot leak it for long. Exits 2 when a server already runs: fine.
start_server() { "$WINESERVER" -p60 || true; }

# Cargo's target runner: cargo calls `windows-lane.sh run-exe <test.exe> <args>`.
# The exit code of the Windows process is wine's exit code, so failures propagate.
cmd_run_exe() {
    ensure_prefix
    exec "$WINE" "$@"
}

cmd_wine() {
    [ "$#" -gt 0 ] || die "usage: windows-lane.sh wine CMD [ARGS...]"
    ensure_prefix
    start_server
    exec "$WINE" "$@"
}

# `wineserver -k` only talks to the server of *this* WINEPREFIX: it kills the
# processes of this prefix (services included) and nothing else on the machine.
cmd_stop() {
    [ -d "$WINEPREFIX" ] || return 0
    [ -x "$WINESERVER" ] || return 0
    "$WINESERVER" -k 2>/dev/null || true
    "$WINESERVER" -w 2>/dev/null || true
}

cmd_env() {
    cat <<EOF
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=$WIN_TARGET
export WINEPREFIX=$WINEPREFIX WINEDEBUG=$WINEDEBUG WINEDLLOVERRIDES=$WINEDLLOVERRIDES
# cargo:  /usr/bin/cargo test ${BUILD_STD[*]} --target $TARGET
# wine:   $WINE <exe>     server: $WINESERVER -k
EOF
}

main() {
    local cmd="${1:-}"
    [ "$#" -gt 0 ] && shift
    case "$cmd" in
        setup)   cmd_setup ;;
        prefix)  cmd_setup; cmd_prefix ;;
        build)   cmd_build "$@" ;;
        test)    cmd_test "$@" ;;
        wine)    cmd_wine "$@" ;;
        run-exe) cmd_run_exe "$@" ;;
        stop)    cmd_stop ;;
        env)     cmd_env ;;
        *) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; [ -z "$cmd" ] || exit 2 ;;
    esac
}

main "$@"
