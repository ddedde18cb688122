#!/usr/bin/env bash
# ready-latency.sh — how long `respawn start` takes to call an HTTP server ready,
# next to the moment the server really answered.
#
# Installs (portable backend, a private state dir) a python3 HTTP server that starts
# listening DELAY seconds after it starts, with an HTTP probe (`ready = "probe"`,
# interval 30s), runs `respawn start` ROUNDS times (stop in between) and prints per
# round: the `start` → "ready" time as respawn reports it, the time the server
# itself logged its first answer (from its own start), and the difference. The goal
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
    rm -rf "$tmp"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# The server writes, at its first answer, how long after its own start that was.
server="import http.server, time, os
t0 = time.monotonic()
time.sleep($delay)
first = []
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if not first:
            first.append(time.monotonic() - t0)
            open('$tmp/answered', 'w').write('%.3f' % first[0])
        self.send_response(200); self.end_headers(); self.wfile.write(b'ok')
    def log_message(self, *a): pass
http.server.HTTPServer(('127.0.0.1', $port), H).serve_forever()"

cat > "$tmp/latency.toml" <<SPEC
name = "latency"
command = "python3"
args = ["-c", '''$server''']
[health]
http = "http://127.0.0.1:$port/"
interval = "30s"
SPEC
"$RESPAWN_BIN" install --backend portable --spec "$tmp/latency.toml" >/dev/null

printf '%-6s %-22s %-24s %s\n' round "start→ready (respawn)" "first answer (server)" "respawn's lag"
for i in $(seq 1 "$rounds"); do
    rm -f "$tmp/answered"
    out=$("$RESPAWN_BIN" start latency 2>&1)
    ready=$(sed -n 's/.* is ready in \([0-9.]*\) s.*/\1/p' <<<"$out")
    answered=$(cat "$tmp/answered" 2>/dev/null || echo "?")
    lag=$(python3 -c "print('%.3f s' % ($ready - $answered))" 2>/dev/null || echo "?")
    printf '%-6s %-22s %-24s %s\n' "$i" "${ready:-?} s" "$answered s" "$lag"
    "$RESPAWN_BIN" stop latency >/dev/null
done
echo "(the server starts listening ${delay} s after its start; respawn's start also includes spawning python3)"
