#!/usr/bin/env bash
# vulncheck.sh: run govulncheck (pinned by the tool directive in go.mod) over
# the module; `make vulncheck` and `make test` call it.
#
# govulncheck needs its vulnerability database, vuln.go.dev (GOVULNDB
# overrides, e.g. a mirror or a file:// copy). Where the database cannot be
# reached, as on machines whose network reaches only the package registries,
# this prints a loud SKIPPED notice and exits 0: nothing was checked, and it
# says so. When the database is reachable, any finding or error fails.
set -uo pipefail
GO=${GO:-go}
db=${GOVULNDB:-https://vuln.go.dev}
probe_timeout=10

skip() {
	{
		echo
		echo "################################################################################"
		echo "##"
		echo "##  SKIPPED: govulncheck cannot reach its vulnerability database vuln.go.dev from this machine"
		echo "##"
		echo "##  database: $db"
		echo "##  reason:   $1"
		echo "##"
		echo "##  NO VULNERABILITY CHECK WAS DONE. Run 'make vulncheck' where $db"
		echo "##  is reachable, or set GOVULNDB to a reachable copy of the database."
		echo "##"
		echo "################################################################################"
		echo
	} >&2
	exit 0
}

# Probe the database's index with a short timeout, so an unreachable or
# black-holed network costs seconds, not govulncheck's long HTTP waits.
probe_err=$(mktemp)
trap 'rm -f "$probe_err"' EXIT
if command -v curl >/dev/null; then
	curl -fsS -m "$probe_timeout" -o /dev/null "$db/index/db.json" 2>"$probe_err" ||
		skip "$(head -n1 "$probe_err")"
elif command -v wget >/dev/null && [[ $db == http* ]]; then
	wget -q -T "$probe_timeout" -t 1 -O /dev/null "$db/index/db.json" 2>"$probe_err" ||
		skip "wget could not fetch $db/index/db.json $(head -n1 "$probe_err")"
fi
# Without curl or wget, govulncheck's own error is the probe (below).

out=$(mktemp)
trap 'rm -f "$probe_err" "$out"' EXIT
"$GO" tool govulncheck -db "$db" ./... 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
if [[ $status -ne 0 ]] && grep -q '^govulncheck: fetching vulnerabilities' "$out"; then
	skip "$(grep -m1 '^govulncheck: fetching vulnerabilities' "$out")"
fi
exit "$status"
