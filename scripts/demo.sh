#!/usr/bin/env bash
# make demo: a real server on loopback, a real push and pull, verified.
set -euo pipefail
BIN=${1:-bin/qxfer}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/qxfer-demo.XXXXXX")
PORT=${QXFER_DEMO_PORT:-$((20000 + RANDOM % 20000))}
SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
# Bold headings on a terminal only: a log file gets no escape codes.
if [ -t 1 ]; then
  say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
  say() { printf '\n== %s\n' "$*"; }
fi

mkdir -p "$WORK/server-home" "$WORK/client-home" "$WORK/root" "$WORK/src/tree/nested" "$WORK/dl"
say "client identity (qxfer id)"
CLIENT_FP=$(QXFER_HOME="$WORK/client-home" "$BIN" id 2>/dev/null)
echo "$CLIENT_FP"
say "authorize the client on the server (qxfer authorize)"
QXFER_HOME="$WORK/server-home" "$BIN" authorize "$CLIENT_FP" demo-client
cat "$WORK/server-home/authorized_clients"

say "start the server on 127.0.0.1:$PORT"
QXFER_HOME="$WORK/server-home" "$BIN" serve --root "$WORK/root" --listen "127.0.0.1:$PORT" --log-level warn >"$WORK/server.out" 2>"$WORK/server.log" &
SERVER_PID=$!
for _ in $(seq 50); do grep -q fingerprint "$WORK/server.out" 2>/dev/null && break; sleep 0.1; done
cat "$WORK/server.out"

say "make files: 64 MiB random, an empty file, a unicode name, a nested tree"
head -c $((64 << 20)) /dev/urandom > "$WORK/src/big.bin"
: > "$WORK/src/empty"
echo "héllo wörld" > "$WORK/src/中文 名字.txt"
for i in $(seq 1 50); do echo "file $i" > "$WORK/src/tree/nested/f$i.txt"; done

export QXFER_HOME="$WORK/client-home"
say "qxfer push -r (first contact pins the server fingerprint)"
"$BIN" push -r "$WORK/src/big.bin" "$WORK/src/empty" "$WORK/src/中文 名字.txt" "$WORK/src/tree" "127.0.0.1:$PORT:uploads/"
say "qxfer ls"
"$BIN" ls "127.0.0.1:$PORT:uploads"
say "qxfer pull -r"
"$BIN" pull -r "127.0.0.1:$PORT:uploads" "$WORK/dl/"
say "verify byte for byte"
diff -r "$WORK/src/tree" "$WORK/dl/uploads/tree"
cmp "$WORK/src/big.bin" "$WORK/dl/uploads/big.bin"
cmp "$WORK/src/empty" "$WORK/dl/uploads/empty"
cmp "$WORK/src/中文 名字.txt" "$WORK/dl/uploads/中文 名字.txt"
echo "all files identical"
say "push again: everything is up to date"
"$BIN" push -r "$WORK/src/tree" "127.0.0.1:$PORT:uploads"
say "demo passed"
