# shellcheck shell=bash
# cache.sh — sourced by the scripts here: where persistent build and tool state lives.
# RESPAWN_WIN_CACHE if set, else /var/cache/respawn when writable (CI runs as root),
# else ~/.cache/respawn. Outside the checkout on purpose: CI clones main afresh each
# run, and what is cached here (build-std output, the Wine prefix, tool venvs) is
# what keeps the suite fast.
respawn_cache_dir() {
    if [ -n "${RESPAWN_WIN_CACHE:-}" ]; then
        echo "$RESPAWN_WIN_CACHE"
    elif [ -w /var/cache ] || { [ -d /var/cache/respawn ] && [ -w /var/cache/respawn ]; }; then
        echo /var/cache/respawn
    else
        echo "${XDG_CACHE_HOME:-$HOME/.cache}/respawn"
    fi
}
