#!/usr/bin/env bash
# bench/gc.sh - regstore gc and migrate against their peers, in one run:
#
#   * a synthetic registry (bench/gc_tree.lua: BENCH_GC_MANIFESTS manifests,
#     BENCH_GC_BLOBS blobs) written as a filesystem-driver tree, loaded with
#     `regstore migrate --from-fs`; `regstore gc --dry-run` against Debian's
#     `docker-registry garbage-collect --dry-run` over its S3 driver on Ceph's
#     RGW (radosgw on the same cluster, the same tree uploaded to a bucket);
#     both must name the same number of blobs;
#   * the same regstore gc at BENCH_GC_SCALE times the size (time ratio);
#   * `migrate --from-fs` of BENCH_GC_BIG blobs of 64 MiB, MB/s, against
#     `rados bench write -b 4M -t 16`.
#
# Environment (all optional): REGSTORE_POOL, CEPH_CONF, CEPH_KEYRING (use
# this cluster, else a throwaway one in BENCH_CLUSTER_DIR, default
# /tmp/rs-bench-gc, mon port BENCH_CLUSTER_PORT, default 3440),
# REGSTORE_BUILD_DIR (default bench/.build), BENCH_GC_MANIFESTS (1000),
# BENCH_GC_BLOBS (5000), BENCH_GC_SCALE (10), BENCH_GC_RUNS (best of, 3),
# BENCH_GC_RGW_PORT (mon port + 40), BENCH_GC_BIG (8), BENCH_KEEP=1.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${REGSTORE_BUILD_DIR:-$ROOT/bench/.build}
CLUSTER_DIR=${BENCH_CLUSTER_DIR:-/tmp/rs-bench-gc}
CLUSTER_PORT=${BENCH_CLUSTER_PORT:-3440}
MANIFESTS=${BENCH_GC_MANIFESTS:-1000}
BLOBS=${BENCH_GC_BLOBS:-5000}
SCALE=${BENCH_GC_SCALE:-10}
RUNS=${BENCH_GC_RUNS:-3}
BIG=${BENCH_GC_BIG:-8}
RGW_PORT=${BENCH_GC_RGW_PORT:-$((CLUSTER_PORT + 40))}
T0=$SECONDS
say() { printf '[%4ds] %s\n' $((SECONDS - T0)) "$*" >&2; }
die() { say "error: $*"; exit 1; }
for t in cmake lua5.4 rados radosgw radosgw-admin docker-registry curl sha256sum; do
	command -v "$t" >/dev/null || die "'$t' not found (see scripts/deps.sh)"
done

say "building in $BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 >/dev/null
export LUA_CPATH="$BUILD/lua5.4/?.so;;" LUA_PATH="$ROOT/lua/?.lua;$ROOT/lua/?/init.lua;;"

WORK=$(mktemp -d /tmp/rs-bench-gc-work.XXXXXX)
started=0 rgw_pid=
cleanup() {
	[[ -n $rgw_pid ]] && kill "$rgw_pid" 2>/dev/null || true
	if ((started)); then "$ROOT/scripts/cluster.sh" stop "$CLUSTER_DIR" >/dev/null 2>&1 || true; fi
	[[ ${BENCH_KEEP:-0} == 1 ]] || rm -rf "$WORK"
}
trap cleanup EXIT
if [[ -z ${REGSTORE_POOL:-} || -z ${CEPH_CONF:-} ]]; then
	say "starting a throwaway cluster in $CLUSTER_DIR"
	eval "$("$ROOT/scripts/cluster.sh" start "$CLUSTER_DIR" "$CLUSTER_PORT")"
	started=1
fi
POOL=$REGSTORE_POOL
regstore() { lua5.4 "$ROOT/bin/regstore" --pool "$POOL" --quiet "$@"; }
now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc -l; }
best_of() { # best_of N command... -> prints the best wall time, keeps the last stdout in $WORK/out
	local n=$1 best= t s
	shift
	for ((i = 0; i < n; i++)); do
		s=$(now)
		"$@" >"$WORK/out" 2>"$WORK/err" || { cat "$WORK/err" >&2; die "$* failed"; }
		t=$(elapsed "$s")
		if [[ -z $best ]] || (($(echo "$t < $best" | bc -l))); then best=$t; fi
	done
	echo "$best"
}
count_json() { FIELD=$1 lua5.4 -e 'print(#require("cjson").decode(io.read("a"))[os.getenv("FIELD")])' <"$WORK/out"; }

# --- the synthetic registries ---
declare -A gc_time gc_blobs
for scale in 1 "$SCALE"; do
	dir=$WORK/tree-$scale
	say "writing a filesystem-driver tree of $((MANIFESTS * scale)) manifests, $((BLOBS * scale)) blobs"
	lua5.4 "$ROOT/bench/gc_tree.lua" "$dir" $((MANIFESTS * scale)) $((BLOBS * scale)) "$scale" >"$WORK/tree-$scale.txt"
	ns=bench-gc-$$-$scale
	say "migrate --from-fs into namespace $ns"
	s=$(now)
	regstore --namespace "$ns" migrate --from-fs "$dir" --json >"$WORK/migrate-$scale.json"
	say "  $(cat "$WORK/migrate-$scale.json") in $(elapsed "$s") s"
	gc_time[$scale]=$(best_of "$RUNS" regstore --namespace "$ns" gc --dry-run --grace 0s --json)
	gc_blobs[$scale]=$(count_json blobs)
	say "  regstore gc --dry-run: ${gc_time[$scale]} s, ${gc_blobs[$scale]} blobs eligible"
done

# --- distribution's garbage-collect over S3 on RGW, same tree ---
say "starting radosgw on 127.0.0.1:$RGW_PORT"
mkdir -p "$WORK/rgw"
radosgw -c "$CEPH_CONF" --id admin --rgw-frontends "beast endpoint=127.0.0.1:$RGW_PORT" \
	--rgw-data "$WORK/rgw" --pid-file "$WORK/rgw/pid" --log-file "$WORK/rgw/log" \
	--admin-socket "$WORK/rgw/asok" -f >"$WORK/rgw/out" 2>&1 &
rgw_pid=$!
for _ in $(seq 1 60); do
	[[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$RGW_PORT/") == 200 ]] && break
	sleep 1
done
KEY=BENCH$$ SECRET=bench-secret-$$
radosgw-admin -c "$CEPH_CONF" --id admin user create --uid="bench-$$" --display-name=bench \
	--access-key="$KEY" --secret="$SECRET" >/dev/null 2>&1
S3=(--aws-sigv4 "aws:amz:us-east-1:s3" --user "$KEY:$SECRET" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
BUCKET=registry-$$
[[ $(curl -s -o /dev/null -w '%{http_code}' "${S3[@]}" -X PUT "http://127.0.0.1:$RGW_PORT/$BUCKET") == 200 ]] ||
	die "cannot create bucket $BUCKET"
say "uploading the tree to s3://$BUCKET"
(cd "$WORK/tree-1" && find docker -type f) | while read -r f; do
	printf 'upload-file = "%s"\nurl = "http://127.0.0.1:%s/%s/%s"\noutput = "/dev/null"\n' \
		"$WORK/tree-1/$f" "$RGW_PORT" "$BUCKET" "$f"
done >"$WORK/curl.conf"
curl -s --no-progress-meter --fail --parallel --parallel-max 32 "${S3[@]}" -K "$WORK/curl.conf" \
	2>"$WORK/curl.log" || die "upload failed (see $WORK/curl.log)"
cat >"$WORK/s3.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  s3:
    accesskey: $KEY
    secretkey: $SECRET
    region: us-east-1
    regionendpoint: http://127.0.0.1:$RGW_PORT
    bucket: $BUCKET
    secure: false
    v4auth: true
  delete:
    enabled: true
EOF
dist_time=$(best_of "$RUNS" docker-registry garbage-collect --dry-run "$WORK/s3.yml")
dist_blobs=$(grep -c '^blob eligible for deletion' "$WORK/out" || true)
say "  docker-registry garbage-collect --dry-run (S3 on RGW): $dist_time s, $dist_blobs blobs eligible"
[[ $dist_blobs == "${gc_blobs[1]}" ]] || say "  MISMATCH: regstore names ${gc_blobs[1]} blobs, distribution $dist_blobs"

# --- migrate throughput against rados bench ---
say "writing $BIG blobs of 64 MiB"
for ((i = 0; i < BIG; i++)); do
	head -c $((64 << 20)) /dev/urandom >"$WORK/big"
	h=$(sha256sum "$WORK/big" | cut -c1-64)
	mkdir -p "$WORK/big-tree/docker/registry/v2/blobs/sha256/${h:0:2}/$h"
	mv "$WORK/big" "$WORK/big-tree/docker/registry/v2/blobs/sha256/${h:0:2}/$h/data"
done
ns=bench-gc-$$-big
s=$(now)
regstore --namespace "$ns" migrate --from-fs "$WORK/big-tree" --json >"$WORK/migrate-big.json"
mig_time=$(elapsed "$s")
mig_mbs=$(echo "$BIG * 64 * 1048576 / 1000000 / $mig_time" | bc -l)
regstore --namespace "$ns" rm --recursive /docker
rados -p "$POOL" bench 10 write -b 4194304 -t 16 --run-name "rs-bench-gc-$$" --no-cleanup >"$WORK/rados-bench.txt" 2>&1
rados_mbs=$(awk '/^Bandwidth \(MB\/sec\)/ {print $3}' "$WORK/rados-bench.txt")
rados -p "$POOL" cleanup --run-name "rs-bench-gc-$$" >/dev/null 2>&1 || true
rados_mbs_dec=$(echo "$rados_mbs * 1048576 / 1000000" | bc -l)

for scale in 1 "$SCALE"; do regstore --namespace "bench-gc-$$-$scale" rm --recursive /docker || true; done

printf '\n| figure | regstore | peer (same run) | ratio | target |\n|---|---|---|---|---|\n'
printf '| gc --dry-run, %d manifests / %d blobs | %.2f s | garbage-collect --dry-run, S3 on RGW: %.2f s | %.1f× faster | ≥ 10× |\n' \
	"$MANIFESTS" "$BLOBS" "${gc_time[1]}" "$dist_time" "$(echo "$dist_time / ${gc_time[1]}" | bc -l)"
printf '| the same at %d× the size | %.2f s | (regstore at 1×: %.2f s) | %.1f× the time | ≤ %d× |\n' \
	"$SCALE" "${gc_time[$SCALE]}" "${gc_time[1]}" "$(echo "${gc_time[$SCALE]} / ${gc_time[1]}" | bc -l)" \
	$((SCALE * 12 / 10))
printf '| blobs named (1×) | %s | %s | | equal |\n' "${gc_blobs[1]}" "$dist_blobs"
printf '| migrate --from-fs, %d × 64 MiB | %.0f MB/s | rados bench write -b 4M -t 16: %.0f MB/s | %.2f | |\n' \
	"$BIG" "$mig_mbs" "$rados_mbs_dec" "$(echo "$mig_mbs / $rados_mbs_dec" | bc -l)"
say "done"
