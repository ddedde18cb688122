#!/usr/bin/env bash
# win-imports.sh — list the DLLs that Windows executables import, and fail if any is
# not part of Windows itself (issue 25). respawn.exe runs as LocalSystem (the service
# host); a DLL that is not in System32 is looked for along the DLL search order, which
# ends in the PATH folders, and one of those may be writable by the user (whose agent
# runs whatever a chat asks): the C runtime of the MSVC toolchain (vcruntime140.dll,
# msvcp140.dll, api-ms-win-crt-*.dll, ucrtbase.dll before Windows 10) or mingw's
# (libgcc_s_seh-1.dll, libwinpthread-1.dll, libstdc++-6.dll) would be loaded from
# there as SYSTEM. The release build links the C runtime statically (+crt-static,
# .cargo/config.toml); this check is what shows it did.
#
#   scripts/win-imports.sh FILE...
#
# FILE: a PE file (.exe, .dll), or a wheel (.whl: every .exe in it is checked).
# Prints each file's imports; exits 1 if any import is not on the list of Windows'
# own DLLs below (an allow-list: a DLL nobody put on it is refused until someone
# does, on purpose), 2 on bad usage or a file that cannot be read.
set -euo pipefail

# Windows' own DLLs (System32 on every supported Windows), lower case. API sets of the
# core (api-ms-win-core-*) are resolved by the loader itself and are allowed too; the
# C runtime's (api-ms-win-crt-*) are not: before Windows 10 they come with the
# redistributable, which may be app-local.
SYSTEM_DLLS=(
    advapi32 bcrypt bcryptprimitives combase comctl32 crypt32 dbghelp gdi32
    iphlpapi kernel32 kernelbase msvcrt netapi32 ntdll ole32 oleaut32 powrprof psapi
    rpcrt4 secur32 shell32 shlwapi sspicli user32 userenv version ws2_32 wtsapi32
)

die() {
    echo "win-imports: $*" >&2
    exit 2
}

[ "$#" -gt 0 ] || die "usage: win-imports.sh FILE... (a .exe/.dll, or a .whl)"

OBJDUMP=""
for tool in x86_64-w64-mingw32-objdump llvm-objdump; do
    if command -v "$tool" >/dev/null; then
        OBJDUMP="$tool"
        break
    fi
done
[ -n "$OBJDUMP" ] ||
    die "no x86_64-w64-mingw32-objdump (apt-get install binutils-mingw-w64-x86-64) nor llvm-objdump"

is_system() {
    local dll="${1,,}"
    dll="${dll%.dll}"
    [[ "$dll" == api-ms-win-core-* ]] && return 0
    local ok
    for ok in "${SYSTEM_DLLS[@]}"; do
        [ "$dll" = "$ok" ] && return 0
    done
    return 1
}

bad=0
# check PE [NAME]: print its imports, count the ones that are not Windows' own.
check() {
    local pe="$1" name="${2:-$1}" dump dlls dll
    dump="$("$OBJDUMP" -p "$pe" 2>&1)" || die "cannot read $name as a PE file: $dump"
    dlls="$(sed -n 's/^[[:space:]]*DLL Name:[[:space:]]*//p' <<<"$dump" | sort -fu)"
    # Every Windows program imports kernel32 at least: none found means the dump was
    # not understood, which must not pass as "nothing wrong".
    [ -n "$dlls" ] || die "found no imported DLL in $name (not a PE file, or $OBJDUMP did not list them)"
    echo "$name imports:"
    while IFS= read -r dll; do
        if is_system "$dll"; then
            echo "  $dll"
        else
            echo "  $dll   <- NOT part of Windows: a LocalSystem host would look for it along the DLL search order (PATH folders a user can write); link it statically (+crt-static) or drop it"
            bad=$((bad + 1))
        fi
    done <<<"$dlls"
}

work=""
trap '[ -z "$work" ] || rm -rf "$work"' EXIT
for file in "$@"; do
    [ -f "$file" ] || die "no such file: $file"
    case "${file,,}" in
        *.whl)
            [ -n "$work" ] || work="$(mktemp -d)"
            dest="$work/$(basename "$file")"
            mkdir -p "$dest"
            python3 - "$file" "$dest" <<'EOF' || die "cannot read the wheel $file"
import sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
exes = [n for n in zipfile.ZipFile(wheel).namelist() if n.lower().endswith(".exe")]
if not exes:
    sys.exit(f"win-imports: the wheel {wheel} holds no .exe")
for n in exes:
    zipfile.ZipFile(wheel).extract(n, dest)
EOF
            while IFS= read -r exe; do
                check "$dest/$exe" "$(basename "$file")!$exe"
            done < <(cd "$dest" && find . -iname '*.exe' | sed 's|^\./||' | sort)
            ;;
        *) check "$file" ;;
    esac
done
if [ "$bad" -gt 0 ]; then
    echo "win-imports: FAIL: $bad import(s) of DLLs that are not part of Windows (above)" >&2
    exit 1
fi
echo "win-imports: ok: only Windows' own DLLs"
