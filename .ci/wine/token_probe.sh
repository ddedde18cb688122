#!/usr/bin/env bash
# Rebuild and rerun the token/session/security probe of docs/wine.md ("Tokens, sessions
# and file security") in the lane's prefix: once as an ordinary process, once as a
# service under Wine's SCM. Prints both logs.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="$(mktemp -d)"
x86_64-w64-mingw32-gcc -municode -O1 -Wall -o "$out/token_probe.exe" "$REPO/.ci/wine/token_probe.c" \
    -lwtsapi32 -luserenv -ladvapi32 -lsecur32
win() { printf 'Z:%s' "$(echo "$1" | tr / '\\')"; }
"$REPO/scripts/windows-lane.sh" wine "$out/token_probe.exe" proc "$(win "$out/proc.log")"
"$REPO/scripts/windows-lane.sh" wine "$out/token_probe.exe" install "$(win "$out/svc.log")"
cat "$out/proc.log" "$out/svc.log"
rm -rf "$out"
