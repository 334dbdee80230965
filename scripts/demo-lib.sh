# demo-lib.sh: what demo.sh and demo-s3.sh share. Sourced, never run:
#   . "$(dirname "$0")/demo-lib.sh"; demo_init NAME "${1:-bin/qxfer}"
# It sets BIN (absolute), WORK (a temporary directory removed on exit)
# and PORT (QXFER_DEMO_PORT or a random one); processes started with
# demo_bg are killed and waited for on exit.

# demo_init NAME BIN sets BIN, WORK and PORT and installs the cleanup,
# which stops what demo_bg and demo_serve started, the last first.
demo_init() {
  BIN=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
  PORT=${QXFER_DEMO_PORT:-$((20000 + RANDOM % 20000))}
  DEMO_PIDS=()
  trap demo_cleanup EXIT
}

demo_cleanup() {
  local i pid
  for ((i = ${#DEMO_PIDS[@]} - 1; i >= 0; i--)); do # the last started first
    pid=${DEMO_PIDS[i]}
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}

# demo_bg LOG CMD... runs CMD in the background, its output in LOG, and
# has it stopped on exit.
demo_bg() {
  local log=$1
  shift
  "$@" >"$log" 2>&1 &
  DEMO_PIDS+=($!)
}

# Bold headings on a terminal only: a log file gets no escape codes.
if [ -t 1 ]; then
  say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
  say() { printf '\n== %s\n' "$*"; }
fi

# demo_authorize prints the client's fingerprint (qxfer id) and authorizes
# it on the server (qxfer authorize).
demo_authorize() {
  CLIENT_FP=$(QXFER_HOME="$WORK/client-home" "$BIN" id 2>/dev/null)
  echo "$CLIENT_FP"
  QXFER_HOME="$WORK/server-home" "$BIN" authorize "$CLIENT_FP" demo-client
}

# demo_serve ARGS... starts qxfer serve on 127.0.0.1:$PORT with ARGS (the
# root) and waits for it to print its fingerprint.
demo_serve() {
  mkdir -p "$WORK/server-home"
  QXFER_HOME="$WORK/server-home" "$BIN" serve "$@" --listen "127.0.0.1:$PORT" --log-level warn \
    >"$WORK/server.out" 2>"$WORK/server.log" &
  DEMO_PIDS+=($!)
  for _ in $(seq 50); do grep -q fingerprint "$WORK/server.out" 2>/dev/null && break; sleep 0.1; done
  cat "$WORK/server.out"
}

# demo_files MIB N makes the files to send under $WORK/src: MIB MiB of
# random bytes, an empty file, a unicode name and a tree of N small files.
demo_files() {
  mkdir -p "$WORK/src/tree/nested"
  head -c $(($1 << 20)) /dev/urandom > "$WORK/src/big.bin"
  : > "$WORK/src/empty"
  echo "héllo wörld" > "$WORK/src/中文 名字.txt"
  for i in $(seq 1 "$2"); do echo "file $i" > "$WORK/src/tree/nested/f$i.txt"; done
}

# demo_push pushes the files of demo_files into uploads/ on the server.
demo_push() {
  "$BIN" push -r "$WORK/src/big.bin" "$WORK/src/empty" "$WORK/src/中文 名字.txt" "$WORK/src/tree" "127.0.0.1:$PORT:uploads/"
}

# demo_pull_verify pulls uploads/ back into $WORK/dl and compares every
# file with what was pushed, byte for byte.
demo_pull_verify() {
  mkdir -p "$WORK/dl"
  say "qxfer pull -r"
  "$BIN" pull -r "127.0.0.1:$PORT:uploads" "$WORK/dl/"
  say "verify byte for byte"
  diff -r "$WORK/src/tree" "$WORK/dl/uploads/tree"
  cmp "$WORK/src/big.bin" "$WORK/dl/uploads/big.bin"
  cmp "$WORK/src/empty" "$WORK/dl/uploads/empty"
  cmp "$WORK/src/中文 名字.txt" "$WORK/dl/uploads/中文 名字.txt"
  echo "all files identical"
}
