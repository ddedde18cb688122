#!/usr/bin/env bash
# hermes-venv.sh — a venv with the real Hermes agent gateway, for tests/hermes_real.rs.
# Idempotent: reuses the venv when it already has the pinned version. Prints its path.
#
# Environment (optional):
#   RESPAWN_HERMES_VENV   where the venv lives (default <cache>/hermes-venv, where
#                         <cache> is /var/cache/respawn or ~/.cache/respawn)
set -euo pipefail

# Pinned: the test relies on this version's stop marker, exit code 75 and state file.
HERMES_VERSION=0.19.0

if [ -n "${RESPAWN_HERMES_VENV:-}" ]; then
    venv=$RESPAWN_HERMES_VENV
elif [ -w /var/cache ] || [ -w /var/cache/respawn ]; then
    venv=/var/cache/respawn/hermes-venv
else
    venv=${XDG_CACHE_HOME:-$HOME/.cache}/respawn/hermes-venv
fi

have=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("hermes-agent"))' 2>/dev/null || true)
if [ "$have" != "$HERMES_VERSION" ]; then
    echo "hermes-venv: installing hermes-agent==$HERMES_VERSION into $venv" >&2
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "hermes-agent==$HERMES_VERSION" >&2
fi
echo "$venv"
