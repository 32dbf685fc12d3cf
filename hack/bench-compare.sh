#!/usr/bin/env bash
# Runs ../shared/bench/compare.sh (Yzma 3 nodes vs 3-member etcd vs Redis
# with appendfsync always vs a bare Go HTTP server, on loopback) RUNS times
# and prints every run's ratios and their medians: the machine is noisy, so
# one run's ratios are the figure and the median of several the report.
# usage: hack/bench-compare.sh [runs] [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3} dur=${2:-10} conns=${3:-64}
compare=${BENCH_COMPARE:-../shared/bench/compare.sh}
[ -x "$compare" ] || { echo "no $compare (set BENCH_COMPARE)"; exit 2; }
out=$(mktemp -t yzbench.XXXXXX)
trap 'rm -f "$out"' EXIT
for i in $(seq "$runs"); do
	echo "== run $i of $runs"
	"$compare" . "$dur" "$conns" | tee -a "$out"
done
# compare.sh ends with a line such as
#   ratios: yzma/etcd writes=1.50 reads=4.95  yzma/redis-fsync writes=0.08  reads/bare-http=0.53
awk 'BEGIN { split("yzma/etcd-writes yzma/etcd-reads yzma/redis-fsync-writes reads/bare-http", name, " ") }
/^ratios:/ {
	runs++; k = 0
	for (f = 2; f <= NF; f++) if (split($f, kv, "=") == 2) v[++k, runs] = kv[2]
}
END {
	printf "median of %d runs:", runs
	for (k = 1; k <= 4; k++) {
		for (i = 1; i <= runs; i++) a[i] = v[k, i] + 0
		for (i = 1; i <= runs; i++) for (j = i + 1; j <= runs; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		m = (runs % 2) ? a[(runs + 1) / 2] : (a[runs / 2] + a[runs / 2 + 1]) / 2
		printf "  %s=%.2f", name[k], m
	}
	print ""
}' "$out"
