#!/usr/bin/env bash
# ready-latency.sh — how long `respawn start` takes to call an HTTP server ready,
# next to the moment the server really answered.
#
# Installs (portable backend, a private state dir) a python3 HTTP server that starts
# listening DELAY seconds after it starts, with an HTTP probe (`ready = "probe"`,
# interval 30s), runs `respawn start` ROUNDS times (stop in between) and prints per
# round, both from the moment `start` was called: when the server began to listen
# (it writes the time itself), when `start` returned saying it was ready, and the
# difference (the probe schedule plus `start`'s 50 ms look at the state file). The goal
# (issue 23, item 9): the probe starts at 50 ms and doubles, so a server up at 0.3 s
# is ready at about 0.35 s, not at the first full second.
#
# Usage: bench/ready-latency.sh [ROUNDS] [DELAY]   (defaults: 5 0.3)
# Environment: RESPAWN_BIN (default: target/debug/respawn, built if missing).
# Stops what it starts (`respawn stop`), and removes its folder.
set -euo pipefail

rounds=${1:-5}
delay=${2:-0.3}
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
if [[ -z "${RESPAWN_BIN:-}" ]]; then
    (cd "$repo" && cargo build --quiet --bin respawn)
    RESPAWN_BIN="${CARGO_TARGET_DIR:-$repo/target}/debug/respawn"
fi

tmp=$(mktemp -d)
export RESPAWN_STATE_DIR="$tmp/state"
cleanup() {
    "$RESPAWN_BIN" stop latency >/dev/null 2>&1 || true
    [[ -n "${KEEP:-}" ]] || rm -rf "$tmp"; [[ -n "${KEEP:-}" ]] && echo "kept $tmp"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# The server writes the wall-clock time at which it listens (it answers from then on).
server="import http.server, time
time.sleep($delay)
srv = http.server.HTTPServer(('127.0.0.1', $port), http.server.BaseHTTPRequestHandler)
open('$tmp/up', 'w').write('%.3f' % time.time())
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b'ok')
    def log_message(self, *a): pass
srv.RequestHandlerClass = H
srv.serve_forever()"

cat > "$tmp/latency.toml" <<SPEC
name = "latency"
command = "python3"
args = ["-c", '''$server''']
[health]
http = "http://127.0.0.1:$port/"
interval = "30s"
SPEC
"$RESPAWN_BIN" install --backend portable --spec "$tmp/latency.toml" >/dev/null

printf '%-6s %-24s %-30s %s\n' round "server listening at" "start returned \"ready\" at" "respawn's lag"
for i in $(seq 1 "$rounds"); do
    rm -f "$tmp/up"
    t0=$(date +%s.%N)
    out=$("$RESPAWN_BIN" start latency 2>&1)
    t1=$(date +%s.%N)
    grep -q "is ready in" <<<"$out" || { echo "not ready: $out" >&2; exit 1; }
    ready=$(python3 -c "print('%.2f' % ($t1 - $t0))")
    up=$(python3 -c "print('%.2f' % ($(cat "$tmp/up") - $t0))" 2>/dev/null || echo "?")
    lag=$(python3 -c "print('%.2f s' % (${ready:-0} - $up))" 2>/dev/null || echo "?")
    printf '%-6s %-24s %-30s %s\n' "$i" "$up s after start" "$ready s after start" "$lag"
    "$RESPAWN_BIN" stop latency >/dev/null
done
echo "(times from the \`respawn start\` call; the server sleeps ${delay} s after python3 has started, then listens)"
