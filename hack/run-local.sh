#!/usr/bin/env bash
# Runs a local 3-node Yzma cluster on 127.0.0.1-3, each node with its own
# ports and data directory under .local/. Ctrl-C stops every node cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin
go build -o bin/node ./cmd/node
pids=()
stop() {
	trap - INT TERM
	echo "stopping..."
	kill -TERM "${pids[@]}" 2>/dev/null || true
	wait "${pids[@]}" 2>/dev/null || true
}
trap stop INT TERM
for i in 1 2 3; do
	ip=127.0.0.$i
	mkdir -p ".local/node$i"
	seeds=""
	[ "$i" -gt 1 ] && seeds="127.0.0.1:7947"
	YZMA_PEERING_NAME="node$i" \
	YZMA_API_BIND="$ip:$((8079 + i))" \
	YZMA_PEERING_BIND_ADDR="$ip" \
	YZMA_PEERING_BIND_PORT="$((7946 + i))" \
	YZMA_PEERING_JOIN="$seeds" \
	YZMA_DB_PATH=".local/node$i/yzma.db" \
		bin/node -log-level "${LOG_LEVEL:-info}" 2>"$PWD/.local/node$i/node.log" &
	pids+=($!)
	echo "node$i: http://$ip:$((8079 + i))  (gossip $ip:$((7946 + i)), data .local/node$i/, log .local/node$i/node.log)"
done
echo "Ctrl-C stops the cluster."
wait "${pids[@]}"
