#!/usr/bin/env bash
# windows-fixtures.sh — real Windows programs nobody here wrote, for the Windows lane's
# tests (tests/windows/proc.rs). Idempotent and cached (scripts/cache.sh); prints the
# fixture dir. Each piece is fetched with its registry's ordinary client:
#
#   t64.exe        pip's console-script launcher (distlib), from the pip wheel on PyPI:
#                  what `pip install` turns into hermes.exe on Windows
#   main.zip       a zip holding __main__.py, made with Python's zipfile as distlib
#                  does; the test appends `#!<program>\n` + this zip to t64.exe
#   esbuild.exe    esbuild's Windows binary from npm: serve mode exits 0 on stdin EOF
#
# Environment (optional):
#   RESPAWN_WIN_FIXTURES   where the files go (default <cache>/win-fixtures)
set -euo pipefail

# Pinned: the tests rely on this launcher's layout and this esbuild's serve flags.
PIP_VERSION=25.0.1
ESBUILD_VERSION=0.28.2

# shellcheck source=scripts/cache.sh
source "$(dirname "${BASH_SOURCE[0]}")/cache.sh"
dir=${RESPAWN_WIN_FIXTURES:-$(respawn_cache_dir)/win-fixtures}
mkdir -p "$dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

stamp="$dir/.pip-$PIP_VERSION"
if [ ! -f "$stamp" ] || [ ! -f "$dir/t64.exe" ]; then
    echo "windows-fixtures: pip $PIP_VERSION wheel -> t64.exe" >&2
    python3 -m pip download --quiet --disable-pip-version-check --no-deps \
        "pip==$PIP_VERSION" -d "$work" >&2
    python3 - "$work/pip-$PIP_VERSION-py3-none-any.whl" "$dir/t64.exe.tmp" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as whl:
    open(sys.argv[2], "wb").write(whl.read("pip/_vendor/distlib/t64.exe"))
PY
    mv -f "$dir/t64.exe.tmp" "$dir/t64.exe"
    touch "$stamp"
fi

if [ ! -f "$dir/main.zip" ]; then
    # What distlib's ScriptMaker._write_script puts after the shebang line.
    python3 - "$dir/main.zip.tmp" <<'PY'
import io, sys, zipfile
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as zf:
    zf.writestr("__main__.py", b"import sys\nsys.exit('a test launcher script')\n")
open(sys.argv[1], "wb").write(buf.getvalue())
PY
    mv -f "$dir/main.zip.tmp" "$dir/main.zip"
fi

stamp="$dir/.esbuild-$ESBUILD_VERSION"
if [ ! -f "$stamp" ] || [ ! -f "$dir/esbuild.exe" ]; then
    echo "windows-fixtures: @esbuild/win32-x64@$ESBUILD_VERSION -> esbuild.exe" >&2
    (cd "$work" && npm pack --silent "@esbuild/win32-x64@$ESBUILD_VERSION" >/dev/null)
    tar -xzf "$work"/esbuild-win32-x64-*.tgz -C "$work" package/esbuild.exe
    mv -f "$work/package/esbuild.exe" "$dir/esbuild.exe"
    touch "$stamp"
fi
echo "$dir"
