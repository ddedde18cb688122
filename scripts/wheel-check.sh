#!/usr/bin/env bash
# wheel-check.sh — build respawn's Python wheel (pyproject.toml, maturin, bindings =
# "bin") for this Linux machine, install it in a fresh venv with no network, and run
# what it installed. Exits non-zero with a message on the first thing that is wrong.
# Idempotent: a second run reuses the maturin venv and the incremental target dir.
#
#   scripts/wheel-check.sh
#   scripts/wheel-check.sh setup    only install the pinned maturin (scripts/setup)
#
# Environment (all optional):
#   RESPAWN_WIN_CACHE      root of the persistent state (default /var/cache/respawn, or
#                          ~/.cache/respawn when /var/cache is not writable); shared
#                          with scripts/windows-lane.sh
#   RESPAWN_WHEEL_TARGET   CARGO_TARGET_DIR for the wheel build (default
#                          $RESPAWN_WIN_CACHE/wheel-target: apart from ./target, so the
#                          two builds never wait on each other's lock, and kept between
#                          runs, so a second build is incremental)
#   RESPAWN_PYTHON         the Python that makes the venvs (default python3)
#   RESPAWN_KEEP_WHEEL     a folder to copy the built wheel into
#   RESPAWN_WINDOWS_WHEELS Windows wheels built elsewhere (MSVC, `maturin build
#                          --release` on Windows), space-separated: their exes must
#                          import only Windows' own DLLs (scripts/win-imports.sh)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

# Pinned: a new maturin can change what goes in a wheel. Bump it on purpose.
MATURIN_VERSION=1.16.0

# shellcheck source=scripts/cache.sh
source "$REPO/scripts/cache.sh"
CACHE="$(respawn_cache_dir)"
TOOL_VENV="$CACHE/maturin-venv"
WHEEL_TARGET="${RESPAWN_WHEEL_TARGET:-$CACHE/wheel-target}"
PYTHON="${RESPAWN_PYTHON:-python3}"

log() { printf '[wheel-check] %s\n' "$*" >&2; }
die() {
    log "FAIL: $*"
    exit 1
}

now() { echo "${EPOCHREALTIME:-$(date +%s.%N)}"; }
T_START="$(now)"
T_STEP="$T_START"
TIMINGS=()
# lap NAME: record how long the step that just ended took.
lap() {
    local t
    t="$(now)"
    TIMINGS+=("$(awk -v a="$T_STEP" -v b="$t" -v n="$1" 'BEGIN { printf "%7.1fs  %s", b - a, n }')")
    T_STEP="$t"
}
print_timings() {
    log "timings:"
    local line
    for line in "${TIMINGS[@]}"; do
        log "$line"
    done
    log "$(awk -v a="$T_START" -v b="$(now)" 'BEGIN { printf "%7.1fs  total", b - a }')"
}

WORK="$(mktemp -d "${TMPDIR:-/tmp}/respawn-wheel.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# ------------------------------------------------------------ preconditions ----

command -v "$PYTHON" >/dev/null || die "no $PYTHON: install Python 3.8+ (and python3-venv)"
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null ||
    die "$PYTHON can't make venvs: apt-get install python3-venv"
# maturin refuses to build without the readme that Cargo.toml and pyproject.toml name.
[ -f README.md ] || die "README.md is missing: Cargo.toml and pyproject.toml name it as the readme, and maturin won't build without it"
for f in LICENSE-MIT LICENSE-APACHE; do
    [ -f "$f" ] || die "$f is missing: pyproject.toml's license-files lists it"
done

# The rustup toolchain's cargo and rustc, even when Debian's /usr/bin/cargo (the
# Windows lane's) comes first on PATH.
if command -v rustup >/dev/null; then
    toolchain_bin="$(dirname "$(rustup which cargo)")"
    PATH="$toolchain_bin:$PATH"
fi
unset RUSTC RUSTDOC
command -v cargo >/dev/null || die "no cargo on PATH"

pkgid="$(cargo pkgid --locked --offline)" || die "cargo pkgid failed (is Cargo.lock up to date?)"
VERSION="${pkgid##*[#@]}"
[[ "$VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]] || die "can't read the version from cargo pkgid: $pkgid"
log "respawn $VERSION, cache $CACHE"

# ------------------------------------------------------------- maturin venv ----

mkdir -p "$CACHE"
have_maturin() {
    [ -x "$TOOL_VENV/bin/maturin" ] &&
        [ "$("$TOOL_VENV/bin/maturin" --version 2>/dev/null)" = "maturin $MATURIN_VERSION" ]
}
if ! have_maturin; then
    (
        # Two checks at once would both rebuild the venv; the second waits instead.
        flock 9
        if ! have_maturin; then
            log "installing maturin $MATURIN_VERSION into $TOOL_VENV"
            "$PYTHON" -m venv --clear "$TOOL_VENV"
            "$TOOL_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
                "maturin==$MATURIN_VERSION" ||
                die "pip could not install maturin==$MATURIN_VERSION (it comes from PyPI)"
        fi
    ) 9>"$CACHE/maturin-venv.lock"
    have_maturin || die "$TOOL_VENV/bin/maturin is not maturin $MATURIN_VERSION"
fi
lap "maturin $MATURIN_VERSION venv"
if [ "${1:-}" = setup ]; then
    log "maturin $MATURIN_VERSION is ready in $TOOL_VENV"
    exit 0
fi

# ---------------------------------------------------------- Windows wheels ----

# A LocalSystem host must not load a C runtime from a PATH folder its user can write
# (issue 25): a shipped Windows wheel's exes import only Windows' own DLLs.
if [ -n "${RESPAWN_WINDOWS_WHEELS:-}" ]; then
    # shellcheck disable=SC2086 # a list of paths, split on purpose
    "$REPO/scripts/win-imports.sh" $RESPAWN_WINDOWS_WHEELS >&2 ||
        die "a Windows wheel's exe imports a DLL that is not part of Windows (above)"
    lap "Windows wheels' imports"
fi

# -------------------------------------------------------------------- build ----

log "maturin build --release --locked (CARGO_TARGET_DIR=$WHEEL_TARGET)"
CARGO_TARGET_DIR="$WHEEL_TARGET" "$TOOL_VENV/bin/maturin" build \
    --release --locked --out "$WORK/dist" ||
    die "maturin build failed"
lap "maturin build"

shopt -s nullglob
wheels=("$WORK"/dist/*.whl)
shopt -u nullglob
[ "${#wheels[@]}" -eq 1 ] || die "expected one wheel in $WORK/dist, found ${#wheels[@]}"
WHEEL="${wheels[0]}"
name="$(basename "$WHEEL")"
log "built $name ($(du -k "$WHEEL" | cut -f1) KiB)"
# The distribution is respawn-cli (pyproject.toml); a wheel's file name spells it respawn_cli.
[[ "$name" == "respawn_cli-$VERSION-py3-none-"*linux*.whl ]] ||
    die "wheel name $name: expected respawn_cli-$VERSION-py3-none-<linux platform>.whl"

# What the wheel holds: the executables, the licenses and metadata, nothing else.
"$PYTHON" - "$WHEEL" "$VERSION" <<'EOF' || die "the wheel's contents are not what pyproject.toml says (above)"
import sys, zipfile

wheel, version = sys.argv[1], sys.argv[2]
names = set(zipfile.ZipFile(wheel).namelist())
data, info = f"respawn_cli-{version}.data/scripts/", f"respawn_cli-{version}.dist-info/"
problems = []
scripts = {n[len(data):] for n in names if n.startswith(data)}
if scripts != {"respawn", "respawnw"}:
    problems.append(f"executables {sorted(scripts)}, expected ['respawn', 'respawnw']")
for lic in ("LICENSE-MIT", "LICENSE-APACHE"):
    if not any(n.startswith(info) and n.endswith("/" + lic) for n in names):
        problems.append(f"{lic} is not in {info}")
meta = zipfile.ZipFile(wheel).read(info + "METADATA").decode()
for want in ("Name: respawn-cli", f"Version: {version}", "License-Expression: MIT OR Apache-2.0",
             "Requires-Python: >=3.8"):
    if want not in meta.splitlines():
        problems.append(f"METADATA has no line {want!r}")
other = [n for n in names if not (n.startswith(data) or n.startswith(info))]
if other:
    problems.append(f"unexpected files: {other}")
for p in problems:
    print(f"[wheel-check] {p}", file=sys.stderr)
sys.exit(1 if problems else 0)
EOF
if [ -n "${RESPAWN_KEEP_WHEEL:-}" ]; then
    mkdir -p "$RESPAWN_KEEP_WHEEL"
    cp "$WHEEL" "$RESPAWN_KEEP_WHEEL/"
    log "copied the wheel to $RESPAWN_KEEP_WHEEL/"
fi
lap "wheel contents"

# ------------------------------------------------------------------ install ----

VENV="$WORK/venv"
# A fresh venv, filled by pip (the tool venv's, through --python: no 3 s of ensurepip
# per run). --no-index: the wheel alone, no network; it has no dependencies.
"$PYTHON" -m venv --without-pip "$VENV" || die "$PYTHON -m venv failed"
"$TOOL_VENV/bin/python" -m pip --python "$VENV/bin/python" install --quiet \
    --disable-pip-version-check --no-index "$WHEEL" ||
    die "pip install of $name into a fresh venv failed"
lap "fresh venv + pip install"

# ---------------------------------------------------------------------- run ----

RESPAWN="$VENV/bin/respawn"
[ -x "$RESPAWN" ] || die "pip installed no $RESPAWN"
[ -x "$VENV/bin/respawnw" ] || die "pip installed no $VENV/bin/respawnw"
# Run from elsewhere, with a throwaway state dir: nothing may depend on the checkout.
export RESPAWN_STATE_DIR="$WORK/state"

# The version from Cargo.toml; a build from a git checkout adds its commit (build.rs).
version_ok() { [[ "$1" =~ ^respawn\ ${VERSION//./\\.}(\ \(commit\ [0-9a-f]{12}\))?$ ]]; }
out="$(cd "$WORK" && "$RESPAWN" --version)" || die "respawn --version exited $?"
version_ok "$out" ||
    die "respawn --version printed '$out', expected 'respawn $VERSION' (Cargo.toml), maybe with '(commit …)'"
out="$(cd "$WORK" && "$VENV/bin/respawnw" --version)" || die "respawnw --version exited $?"
version_ok "$out" ||
    die "respawnw --version printed '$out', expected 'respawn $VERSION', maybe with '(commit …)'"

spec="$REPO/examples/echo.toml"
out="$(cd "$WORK" && "$RESPAWN" check --spec "$spec" 2>&1)" ||
    die "respawn check --spec examples/echo.toml exited non-zero: $out"
[[ "$out" == "echo: ok"* ]] ||
    die "respawn check --spec examples/echo.toml printed '$out', expected 'echo: ok ...'"

# `pip install respawn-cli` into a program's venv: run by path, not activated, the
# preset finds the program beside respawn (a stand-in hermes here).
printf '#!/bin/sh\nexit 0\n' >"$VENV/bin/hermes"
chmod +x "$VENV/bin/hermes"
out="$(cd "$WORK" && env -u VIRTUAL_ENV PATH=/usr/bin:/bin "$RESPAWN" spec --preset hermes 2>&1)" ||
    die "respawn spec --preset hermes from the venv exited non-zero: $out"
[[ "$out" == *"command = \"$VENV/bin/hermes\""* ]] ||
    die "respawn spec --preset hermes did not find $VENV/bin/hermes beside itself: $out"

# What a user finds on PATH after activating the venv is this binary.
found="$(PATH="$VENV/bin:$PATH" command -v respawn)"
[ "$found" = "$RESPAWN" ] || die "respawn on the venv's PATH is $found, not $RESPAWN"
lap "run respawn from the venv"

log "ok: $name installs and runs (respawn $VERSION)"
print_timings
