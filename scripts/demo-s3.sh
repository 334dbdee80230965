#!/usr/bin/env bash
# make demo-s3: qxfer serving an S3 bucket. versitygw (an S3 server that
# keeps each object as a plain file) runs on loopback with throwaway keys;
# qxfer serve --root s3://demo/team stores into it; a real push and pull,
# verified; then the store's own view: the objects are the files.
set -euo pipefail
. "$(dirname "$0")/demo-lib.sh"
VGW=$(command -v versitygw || true)
if [ -z "$VGW" ]; then
  echo "versitygw not found: run make tools (it installs it into .tools/)" >&2
  exit 1
fi
demo_init qxfer-demo-s3 "${1:-bin/qxfer}"
S3PORT=$((PORT + 1))

mkdir -p "$WORK/s3/demo" "$WORK/server-home" "$WORK/client-home"
export AWS_ACCESS_KEY_ID=demo-$RANDOM AWS_SECRET_ACCESS_KEY=secret-$RANDOM-$RANDOM
say "start versitygw on 127.0.0.1:$S3PORT, serving $WORK/s3 (bucket demo)"
demo_bg "$WORK/vgw.log" env ROOT_ACCESS_KEY="$AWS_ACCESS_KEY_ID" ROOT_SECRET_KEY="$AWS_SECRET_ACCESS_KEY" \
  "$VGW" --port "127.0.0.1:$S3PORT" --quiet posix "$WORK/s3"
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$S3PORT") 2>/dev/null && break; sleep 0.1; done

say "authorize a client, start qxfer serve --root s3://demo/team on 127.0.0.1:$PORT"
demo_authorize
demo_serve --root s3://demo/team --s3-endpoint "http://127.0.0.1:$S3PORT" --s3-region us-east-1

say "make files: 40 MiB random (a multipart upload), an empty file, a unicode name, a nested tree"
demo_files 40 20

export QXFER_HOME="$WORK/client-home"
say "qxfer push -r"
demo_push
say "qxfer ls (the server's view)"
"$BIN" ls "127.0.0.1:$PORT:uploads"
say "the store's own view: versitygw keeps object demo/KEY as the file s3/demo/KEY"
(cd "$WORK/s3/demo" && find team -type f | sort | head -30)
cmp "$WORK/src/big.bin" "$WORK/s3/demo/team/uploads/big.bin"
echo "object team/uploads/big.bin is the file, byte for byte"
demo_pull_verify
say "push again: everything is up to date (mtimes kept as object metadata)"
"$BIN" push -r "$WORK/src/tree" "127.0.0.1:$PORT:uploads"
say "demo-s3 passed"
