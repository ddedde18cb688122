#!/usr/bin/env bash
# hermes-venv.sh — a venv with the real Hermes agent gateway, for tests/hermes/gateway.rs.
# Idempotent: reuses the venv when it already has the pinned version. Prints its path.
#
# Environment (optional):
#   RESPAWN_HERMES_VENV   where the venv lives (default <cache>/hermes-venv; the
#                         cache dir is scripts/cache.sh's)
set -euo pipefail

# Pinned: the test relies on this version's stop marker, exit code 75 and state file.
HERMES_VERSION=0.19.0

# shellcheck source=scripts/cache.sh
source "$(dirname "${BASH_SOURCE[0]}")/cache.sh"
venv=${RESPAWN_HERMES_VENV:-$(respawn_cache_dir)/hermes-venv}

have=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("hermes-agent"))' 2>/dev/null || true)
if [ "$have" != "$HERMES_VERSION" ]; then
    echo "hermes-venv: installing hermes-agent==$HERMES_VERSION into $venv" >&2
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "hermes-agent==$HERMES_VERSION" >&2
fi
echo "$venv"
