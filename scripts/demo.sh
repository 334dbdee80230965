#!/usr/bin/env bash
# make demo: a real server on loopback, a real push and pull, verified.
set -euo pipefail
. "$(dirname "$0")/demo-lib.sh"
demo_init qxfer-demo "${1:-bin/qxfer}"

mkdir -p "$WORK/server-home" "$WORK/client-home" "$WORK/root"
say "client identity (qxfer id), authorized on the server (qxfer authorize)"
demo_authorize
cat "$WORK/server-home/authorized_clients"

say "start the server on 127.0.0.1:$PORT"
demo_serve --root "$WORK/root"

say "make files: 64 MiB random, an empty file, a unicode name, a nested tree"
demo_files 64 50

export QXFER_HOME="$WORK/client-home"
say "qxfer push -r (first contact pins the server fingerprint)"
demo_push
say "qxfer ls"
"$BIN" ls "127.0.0.1:$PORT:uploads"
demo_pull_verify
say "push again: everything is up to date"
"$BIN" push -r "$WORK/src/tree" "127.0.0.1:$PORT:uploads"
say "demo passed"
