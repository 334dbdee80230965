#!/usr/bin/env bash
# make demo-s3: qxfer serving an S3 bucket. versitygw (an S3 server that
# keeps each object as a plain file) runs on loopback with throwaway keys;
# qxfer serve --root s3://demo/team stores into it; a real push and pull,
# verified; then the store's own view: the objects are the files.
set -euo pipefail
BIN=${1:-bin/qxfer}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
VGW=$(command -v versitygw || true)
if [ -z "$VGW" ]; then
  echo "versitygw not found: run make tools (it installs it into .tools/)" >&2
  exit 1
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/qxfer-demo-s3.XXXXXX")
PORT=${QXFER_DEMO_PORT:-$((20000 + RANDOM % 20000))}
S3PORT=$((PORT + 1))
SERVER_PID=
VGW_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  [ -n "$VGW_PID" ] && kill "$VGW_PID" 2>/dev/null && wait "$VGW_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
if [ -t 1 ]; then
  say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
  say() { printf '\n== %s\n' "$*"; }
fi

mkdir -p "$WORK/s3/demo" "$WORK/server-home" "$WORK/client-home" "$WORK/src/tree/nested" "$WORK/dl"
export AWS_ACCESS_KEY_ID=demo-$RANDOM AWS_SECRET_ACCESS_KEY=secret-$RANDOM-$RANDOM
say "start versitygw on 127.0.0.1:$S3PORT, serving $WORK/s3 (bucket demo)"
ROOT_ACCESS_KEY=$AWS_ACCESS_KEY_ID ROOT_SECRET_KEY=$AWS_SECRET_ACCESS_KEY \
  "$VGW" --port "127.0.0.1:$S3PORT" --quiet posix "$WORK/s3" >"$WORK/vgw.log" 2>&1 &
VGW_PID=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$S3PORT") 2>/dev/null && break; sleep 0.1; done

say "authorize a client, start qxfer serve --root s3://demo/team on 127.0.0.1:$PORT"
CLIENT_FP=$(QXFER_HOME="$WORK/client-home" "$BIN" id 2>/dev/null)
QXFER_HOME="$WORK/server-home" "$BIN" authorize "$CLIENT_FP" demo-client
QXFER_HOME="$WORK/server-home" "$BIN" serve --root s3://demo/team --s3-endpoint "http://127.0.0.1:$S3PORT" \
  --s3-region us-east-1 --listen "127.0.0.1:$PORT" --log-level warn >"$WORK/server.out" 2>"$WORK/server.log" &
SERVER_PID=$!
for _ in $(seq 50); do grep -q fingerprint "$WORK/server.out" 2>/dev/null && break; sleep 0.1; done
cat "$WORK/server.out"

say "make files: 40 MiB random (a multipart upload), an empty file, a unicode name, a nested tree"
head -c $((40 << 20)) /dev/urandom > "$WORK/src/big.bin"
: > "$WORK/src/empty"
echo "héllo wörld" > "$WORK/src/中文 名字.txt"
for i in $(seq 1 20); do echo "file $i" > "$WORK/src/tree/nested/f$i.txt"; done

export QXFER_HOME="$WORK/client-home"
say "qxfer push -r"
"$BIN" push -r "$WORK/src/big.bin" "$WORK/src/empty" "$WORK/src/中文 名字.txt" "$WORK/src/tree" "127.0.0.1:$PORT:uploads/"
say "qxfer ls (the server's view)"
"$BIN" ls "127.0.0.1:$PORT:uploads"
say "the store's own view: versitygw keeps object demo/KEY as the file s3/demo/KEY"
(cd "$WORK/s3/demo" && find team -type f | sort | head -30)
cmp "$WORK/src/big.bin" "$WORK/s3/demo/team/uploads/big.bin"
echo "object team/uploads/big.bin is the file, byte for byte"
say "qxfer pull -r"
"$BIN" pull -r "127.0.0.1:$PORT:uploads" "$WORK/dl/"
say "verify byte for byte"
diff -r "$WORK/src/tree" "$WORK/dl/uploads/tree"
cmp "$WORK/src/big.bin" "$WORK/dl/uploads/big.bin"
cmp "$WORK/src/empty" "$WORK/dl/uploads/empty"
cmp "$WORK/src/中文 名字.txt" "$WORK/dl/uploads/中文 名字.txt"
echo "all files identical"
say "push again: everything is up to date (mtimes kept as object metadata)"
"$BIN" push -r "$WORK/src/tree" "127.0.0.1:$PORT:uploads"
say "demo-s3 passed"
