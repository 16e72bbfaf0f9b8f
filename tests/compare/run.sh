#!/usr/bin/env bash
# run.sh runs the whole comparison: it installs what is missing (Redis
# and redis-benchmark from Debian's packages, redis-server and
# redis-tools; the Go modules come through the module proxy
# when go builds), builds the harness's commands into a temporary folder,
# and runs the harness with this script's arguments, for example
#
#	tests/compare/run.sh -d 5s -callers 1,16,64,256 -png compare.png
#
# Every server runs as a child of the harness, which stops them and which
# they die with; the trap stops the harness itself if this script is
# interrupted, so nothing is left running.
set -euo pipefail
cd "$(dirname "$0")"

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-benchmark >/dev/null || missing+=(redis-tools)
if [ ${#missing[@]} -gt 0 ]; then
	sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null || { echo "run.sh: ${missing[*]} missing; install as root" >&2; exit 1; }
		sudo=(sudo)
	fi
	echo "run.sh: installing ${missing[*]}" >&2
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
	# Debian's package starts a redis-server service; the harness starts
	# its own, so stop that one where systemd runs it.
	if command -v systemctl >/dev/null && systemctl is-active --quiet redis-server 2>/dev/null; then
		"${sudo[@]}" systemctl stop redis-server || true
	fi
fi

bin=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$bin"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

go build -o "$bin/" ./cmd/...
(cd ../.. && go build -o "$bin/" ./cmd/slacker-lua)
go build -o "$bin/compare" .
"$bin/compare" -bin "$bin" "$@" &
pid=$!
wait "$pid"
