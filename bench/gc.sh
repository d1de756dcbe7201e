#!/usr/bin/env bash
# bench/gc.sh - regstore gc and migrate against their peers, in one run:
#
#   * a synthetic registry (bench/gc_tree.lua: BENCH_GC_MANIFESTS manifests,
#     BENCH_GC_BLOBS blobs) written as a filesystem-driver tree on local
#     disk, loaded with `regstore migrate --from-fs` (files/s);
#     `regstore gc --dry-run` against Debian's `docker-registry
#     garbage-collect --dry-run` on that very tree (filesystem driver, local
#     disk), median of BENCH_GC_RUNS rounds, the contestants interleaved;
#     both must name the same number of blobs;
#   * the same at BENCH_GC_SCALE times the size (loaded with migrate too):
#     the time ratio (linear: at most the scale) and the peer at that size;
#   * with BENCH_GC_RGW=1: distribution's collector over its S3 driver on
#     Ceph's RGW (radosgw on the same cluster, the 1x tree uploaded to a
#     bucket; about ten minutes for 1,000 manifests here);
#   * `migrate --from-fs` of BENCH_GC_BIG blobs of 64 MiB, MB/s, against
#     `rados bench write -b 4M -t 16` of the same bytes (--max-objects);
#   * with BENCH_GC_BASE=<another checkout, built with cmake in its build/>:
#     that tree's `regstore` measured in the same run for every regstore row
#     (gc at both sizes, migrate of the 1x tree): before/after figures.
#
# Environment (all optional): REGSTORE_POOL, CEPH_CONF, CEPH_KEYRING (use
# this cluster, else a throwaway one in BENCH_CLUSTER_DIR, default
# /tmp/rs-bench-gc, mon port BENCH_CLUSTER_PORT, default 3440),
# REGSTORE_BUILD_DIR (default bench/.build), BENCH_GC_MANIFESTS (1000),
# BENCH_GC_BLOBS (5000), BENCH_GC_SCALE (10), BENCH_GC_RUNS (median of, 3),
# BENCH_GC_RGW (0), BENCH_GC_RGW_PORT (mon port + 40), BENCH_GC_BIG (8),
# BENCH_GC_BASE, BENCH_KEEP=1.
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
RGW=${BENCH_GC_RGW:-0}
BASE=${BENCH_GC_BASE:-}
RGW_PORT=${BENCH_GC_RGW_PORT:-$((CLUSTER_PORT + 40))}
T0=$SECONDS
say() { printf '[%4ds] %s\n' $((SECONDS - T0)) "$*" >&2; }
die() { say "error: $*"; exit 1; }
for t in cmake lua5.4 rados docker-registry curl sha256sum bc; do
	command -v "$t" >/dev/null || die "'$t' not found (see scripts/deps.sh)"
done

say "building in $BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 >/dev/null
export LUA_CPATH="$BUILD/lua5.4/?.so;;" LUA_PATH="$ROOT/lua/?.lua;$ROOT/lua/?/init.lua;;"

WORK=$(mktemp -d /var/tmp/rs-bench-gc-work.XXXXXX) # local disk: distribution's filesystem peer reads it
[[ -z $BASE || -f $BASE/build/lua5.4/regstore/core.so ]] || die "BENCH_GC_BASE=$BASE has no build/lua5.4/regstore/core.so"
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
# The OSD's admin socket (op counts) and process (its CPU), as bench/run.sh
# finds them (and passes them on); absent on a remote cluster.
if [[ -z ${BENCH_ASOK+x} ]]; then
	BENCH_ASOK=$(ceph-conf -c "$CEPH_CONF" --name osd.0 --show-config-value admin_socket 2>/dev/null || true)
fi
[[ -S $BENCH_ASOK ]] && ceph --admin-daemon "$BENCH_ASOK" perf dump >/dev/null 2>&1 || BENCH_ASOK=
if [[ -z ${BENCH_OSD_PID+x} ]]; then
	pidfile=$(ceph-conf -c "$CEPH_CONF" --name osd.0 --show-config-value pid_file 2>/dev/null || true)
	BENCH_OSD_PID=
	[[ -r $pidfile ]] && BENCH_OSD_PID=$(cat "$pidfile")
fi
[[ -n $BENCH_OSD_PID && -r /proc/$BENCH_OSD_PID/stat ]] || BENCH_OSD_PID=
regstore() { lua5.4 "$ROOT/bin/regstore" --pool "$POOL" --quiet "$@"; }
regstore_base() {
	LUA_CPATH="$BASE/build/lua5.4/?.so;;" LUA_PATH="$BASE/lua/?.lua;$BASE/lua/?/init.lua;;" \
		lua5.4 "$BASE/bin/regstore" --pool "$POOL" --quiet "$@"
}
now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc -l; }
timed() { # timed NAME command... -> appends the wall time to $WORK/times.NAME, stdout to $WORK/out.NAME
	local name=$1 s t
	shift
	s=$(now)
	"$@" >"$WORK/out.$name" 2>"$WORK/err.$name" || { cat "$WORK/err.$name" >&2; die "$* failed"; }
	t=$(elapsed "$s")
	echo "$t" >>"$WORK/times.$name"
}
median() { sort -g "$WORK/times.$1" | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
all_times() { sort -g "$WORK/times.$1" | awk '{printf "%s%.2f", (NR > 1 ? " " : ""), $1}'; }
count_json() { FIELD=$2 lua5.4 -e 'print(#require("cjson").decode(io.read("a"))[os.getenv("FIELD")])' <"$WORK/out.$1"; }
files_json() { lua5.4 -e 'print(require("cjson").decode(io.read("a")).files)' <"$1"; }
# What a migrate costs, as bench/small_ops.lua's cost() counts it: RADOS ops
# (osd.op, from the OSD's admin socket) and OSD CPU (its /proc/<pid>/stat),
# when the OSD is local, and the command's own CPU (this shell's children's
# times, librados' threads included); the perf dumps outside the readings.
osd_ops() {
	[[ -n $BENCH_ASOK ]] || return 0
	ceph --admin-daemon "$BENCH_ASOK" perf dump 2>/dev/null |
		lua5.4 -e 'local s = io.read("a"); print(s:match("\"op\": (%d+)", (s:find("\"osd\": {", 1, true))))'
}
proc_ticks() { if [[ -n $1 ]]; then awk '{print $14 + $15}' "/proc/$1/stat"; fi; } # user + system, clock ticks
# seconds of CPU this shell's waited-for children have used, from the file
# `times` (run in this shell, not in a subshell) wrote
children_cpu() { awk 'NR == 2 {for (i = 1; i <= 2; i++) {split($i, a, /[ms]/); t += a[1] * 60 + a[2]}; print t}' "$1"; }
# migrated KEY FILES COMMAND...: runs COMMAND (a migrate, its --json to
# $WORK/migrate-KEY.json) and sets mig_time[KEY], mig_files[KEY] and
# mig_cost[KEY] ("ops osd_ms client_ms" a file, "?" where not measured).
migrated() {
	local key=$1 o0 o1 c0 c1 k0 k1 s t
	shift
	o0=$(osd_ops) k0=$(proc_ticks "$BENCH_OSD_PID")
	times >"$WORK/times-before"
	s=$(now)
	"$@" >"$WORK/migrate-$key.json"
	t=$(elapsed "$s")
	times >"$WORK/times-after"
	k1=$(proc_ticks "$BENCH_OSD_PID") o1=$(osd_ops)
	c0=$(children_cpu "$WORK/times-before") c1=$(children_cpu "$WORK/times-after")
	mig_time[$key]=$t
	mig_files[$key]=$(files_json "$WORK/migrate-$key.json")
	local n=${mig_files[$key]} ops='?' osd='?'
	[[ -n $o0 && -n $o1 ]] && ops=$(printf '%.1f' "$(echo "($o1 - $o0) / $n" | bc -l)")
	[[ -n $k0 && -n $k1 ]] && osd=$(printf '%.2f' "$(echo "($k1 - $k0) * 10 / $n" | bc -l)")
	mig_cost[$key]="$ops $osd $(printf '%.2f' "$(echo "($c1 - $c0) * 1000 / $n" | bc -l)")"
	say "  $n files in $t s; a file: ${mig_cost[$key]% * *} RADOS ops, $(cut -d' ' -f2 <<<"${mig_cost[$key]}") ms of OSD CPU, ${mig_cost[$key]##* } ms of client CPU"
}

# --- the synthetic registries ---
declare -A gc_blobs dist_blobs mig_files mig_time mig_cost
for scale in 1 "$SCALE"; do
	dir=$WORK/tree-$scale
	say "writing a filesystem-driver tree of $((MANIFESTS * scale)) manifests, $((BLOBS * scale)) blobs"
	lua5.4 "$ROOT/bench/gc_tree.lua" "$dir" $((MANIFESTS * scale)) $((BLOBS * scale)) "$scale" >"$WORK/tree-$scale.txt"
	ns=bench-gc-$$-$scale
	if [[ -n $BASE && $scale == 1 ]]; then
		say "migrate --from-fs (BENCH_GC_BASE) into namespace $ns-base"
		migrated "base-$scale" regstore_base --namespace "$ns-base" migrate --from-fs "$dir" --json
		regstore --namespace "$ns-base" rm --recursive /docker
	fi
	say "migrate --from-fs into namespace $ns"
	migrated "$scale" regstore --namespace "$ns" migrate --from-fs "$dir" --json
	cat >"$WORK/fs-$scale.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $dir
  delete:
    enabled: true
EOF
	for ((r = 0; r < RUNS; r++)); do # interleaved, the order turned every other round
		order=(rs dist)
		[[ -n $BASE ]] && order+=(base)
		((r % 2)) && order=($(printf '%s\n' "${order[@]}" | tac))
		for who in "${order[@]}"; do
			case $who in
			rs) timed "rs-$scale" regstore --namespace "$ns" gc --dry-run --grace 0s --json ;;
			base) timed "base-$scale" regstore_base --namespace "$ns" gc --dry-run --grace 0s --json ;;
			dist) timed "dist-$scale" docker-registry garbage-collect --dry-run "$WORK/fs-$scale.yml" ;;
			esac
		done
	done
	gc_blobs[$scale]=$(count_json "rs-$scale" blobs)
	dist_blobs[$scale]=$(grep -c '^blob eligible for deletion' "$WORK/out.dist-$scale" || true)
	say "  regstore gc --dry-run: $(all_times "rs-$scale") s, ${gc_blobs[$scale]} blobs eligible"
	[[ -n $BASE ]] && say "  BENCH_GC_BASE's gc --dry-run: $(all_times "base-$scale") s, $(count_json "base-$scale" blobs) blobs"
	say "  docker-registry garbage-collect --dry-run (filesystem): $(all_times "dist-$scale") s, ${dist_blobs[$scale]} blobs"
	[[ ${dist_blobs[$scale]} == "${gc_blobs[$scale]}" ]] ||
		say "  MISMATCH: regstore names ${gc_blobs[$scale]} blobs, distribution ${dist_blobs[$scale]}"
done

# --- distribution's garbage-collect over S3 on RGW, same tree (BENCH_GC_RGW=1) ---
if [[ $RGW == 1 ]]; then
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
timed s3 docker-registry garbage-collect --dry-run "$WORK/s3.yml"
s3_blobs=$(grep -c '^blob eligible for deletion' "$WORK/out.s3" || true)
say "  docker-registry garbage-collect --dry-run (S3 on RGW): $(median s3) s, $s3_blobs blobs eligible"
fi

# --- migrate throughput against rados bench ---
say "writing $BIG blobs of 64 MiB"
for ((i = 0; i < BIG; i++)); do
	head -c $((64 << 20)) /dev/urandom >"$WORK/big"
	h=$(sha256sum "$WORK/big" | cut -c1-64)
	mkdir -p "$WORK/big-tree/docker/registry/v2/blobs/sha256/${h:0:2}/$h"
	mv "$WORK/big" "$WORK/big-tree/docker/registry/v2/blobs/sha256/${h:0:2}/$h/data"
done
ns=bench-gc-$$-big
# cpu_start / cpu_per_gib VAR: VAR is the CPU seconds per GiB of BIG x 64
# MiB, of the command (this shell's children: `times` in this shell, never
# in a subshell) and of the OSD, between the two calls
cpu_start() { times >"$WORK/times-before"; cpu_k0=$(proc_ticks "$BENCH_OSD_PID"); }
cpu_per_gib() {
	local k1 c0 c1 gib osd='?'
	k1=$(proc_ticks "$BENCH_OSD_PID")
	times >"$WORK/times-after"
	c0=$(children_cpu "$WORK/times-before") c1=$(children_cpu "$WORK/times-after")
	gib=$(echo "$BIG / 16" | bc -l)
	[[ -n $cpu_k0 && -n $k1 ]] && osd=$(printf '%.2f' "$(echo "($k1 - $cpu_k0) / 100 / $gib" | bc -l)")
	printf -v "$1" '%.2f s client, %s s OSD' "$(echo "($c1 - $c0) / $gib" | bc -l)" "$osd"
}
cpu_start
s=$(now)
regstore --namespace "$ns" migrate --from-fs "$WORK/big-tree" --json >"$WORK/migrate-big.json"
big_time=$(elapsed "$s")
cpu_per_gib mig_cpu
mig_mbs=$(echo "$BIG * 64 * 1048576 / 1000000 / $big_time" | bc -l)
regstore --namespace "$ns" rm --recursive /docker
# the same bytes (BIG x 64 MiB in 4 MiB objects), as bench/run.sh bounds it: a
# time-bound rados bench fills a memstore OSD at several hundred MB/s
cpu_start
rados -p "$POOL" bench 300 write -b 4194304 -O 4194304 -t 16 --max-objects $((BIG * 16)) \
	--run-name "rs-bench-gc-$$" --no-cleanup >"$WORK/rados-bench.txt" 2>&1
cpu_per_gib rados_cpu
rados_mbs=$(awk '/^Bandwidth \(MB\/sec\)/ {print $3}' "$WORK/rados-bench.txt")
rados -p "$POOL" cleanup --run-name "rs-bench-gc-$$" >/dev/null 2>&1 || true
rados_mbs_dec=$(echo "$rados_mbs * 1048576 / 1000000" | bc -l)

for scale in 1 "$SCALE"; do regstore --namespace "bench-gc-$$-$scale" rm --recursive /docker || true; done

ratio() { echo "$1 / $2" | bc -l; }
# met EXPR: ✓ when the bc expression holds, else ✗
met() { if (($(echo "$1" | bc -l))); then echo ✓; else echo ✗; fi; }
# target FORMAT ARGS...: a row with a target, also appended to BENCH_SUMMARY
# (bench/run.sh's table of issue 20's targets)
target() {
	# shellcheck disable=SC2059
	printf "$@" | tee -a "${BENCH_SUMMARY:-/dev/null}"
}
rs1=$(median rs-1) rsN=$(median "rs-$SCALE") d1=$(median dist-1) dN=$(median "dist-$SCALE")
printf '\n| figure | regstore | peer (same run) | ratio | target |\n|---|---|---|---|---|\n'
r=$(ratio "$rs1" "$d1")
target '| gc --dry-run, %d manifests / %d blobs (median of %d) | %.2f s | garbage-collect --dry-run, filesystem on local disk: %.2f s | %.2f× the time | ≤ 2× %s |\n' \
	"$MANIFESTS" "$BLOBS" "$RUNS" "$rs1" "$d1" "$r" "$(met "$r <= 2")"
r=$(ratio "$rsN" "$rs1")
target '| the same at %d× the size | %.2f s | filesystem: %.2f s (regstore at 1×: %.2f s) | %.2f× the peer; %.1f× regstore at 1× | ≤ %d× (linear) %s |\n' \
	"$SCALE" "$rsN" "$dN" "$rs1" "$(ratio "$rsN" "$dN")" "$r" "$SCALE" "$(met "$r <= $SCALE")"
printf '| blobs named (1× / %d×) | %s / %s | %s / %s | | equal |\n' "$SCALE" "${gc_blobs[1]}" "${gc_blobs[$SCALE]}" \
	"${dist_blobs[1]}" "${dist_blobs[$SCALE]}"
if [[ $RGW == 1 ]]; then
	r=$(ratio "$(median s3)" "$rs1")
	target '| gc --dry-run (1×) vs S3 on RGW | %.2f s | garbage-collect --dry-run, S3 on RGW: %.2f s | %.1f× faster | ≥ 10× %s |\n' \
		"$rs1" "$(median s3)" "$r" "$(met "$r >= 10")"
fi
for scale in 1 "$SCALE"; do
	r=$(ratio "${mig_files[$scale]}" "${mig_time[$scale]}")
	target '| migrate --from-fs, the %d× tree (%.0f files) | %.0f files/s | | | ≥ 2,000 files/s %s |\n' "$scale" \
		"${mig_files[$scale]}" "$r" "$(met "$r >= 2000")"
	read -r ops osd cli <<<"${mig_cost[$scale]}"
	core=''
	[[ $osd != '?' ]] && core=$(printf 'one OSD core: %.0f/s' "$(echo "1000 / $osd" | bc -l)")
	target '| migrate --from-fs, the %d× tree: a small file'"'"'s cost | %s RADOS ops, %s ms of OSD CPU, %s ms of client CPU | %s | | (information)  |\n' \
		"$scale" "$ops" "$osd" "$cli" "$core"
done
r=$(echo "$mig_mbs / $rados_mbs_dec" | bc -l)
target '| migrate --from-fs, %d × 64 MiB | %.0f MB/s | rados bench write -b 4M -t 16: %.0f MB/s | %.2f | ≥ 0.9 %s |\n' \
	"$BIG" "$mig_mbs" "$rados_mbs_dec" "$r" "$(met "$r >= 0.9")"
target '| migrate --from-fs, %d × 64 MiB: CPU per GiB (this machine: 2 cores) | %s | rados bench: %s | | (information)  |\n' \
	"$BIG" "$mig_cpu" "$rados_cpu"
if [[ -n $BASE ]]; then
	b1=$(median base-1) bN=$(median "base-$SCALE")
	printf '\n| BENCH_GC_BASE (%s) vs this tree, same run | before | after | after / before |\n|---|---|---|---|\n' "$BASE"
	printf '| gc --dry-run, 1× | %.2f s | %.2f s | %.2f |\n' "$b1" "$rs1" "$(ratio "$rs1" "$b1")"
	printf '| gc --dry-run, %d× | %.2f s | %.2f s | %.2f |\n' "$SCALE" "$bN" "$rsN" "$(ratio "$rsN" "$bN")"
	bf=$(ratio "${mig_files[base-1]}" "${mig_time[base-1]}") af=$(ratio "${mig_files[1]}" "${mig_time[1]}")
	printf '| migrate --from-fs, 1× tree | %.0f files/s | %.0f files/s | %.2f |\n' "$bf" "$af" "$(ratio "$af" "$bf")"
	for k in 0 1 2; do
		b=$(cut -d' ' -f$((k + 1)) <<<"${mig_cost[base-1]}") a=$(cut -d' ' -f$((k + 1)) <<<"${mig_cost[1]}")
		what=("RADOS ops" "ms of OSD CPU" "ms of client CPU")
		if [[ $b == '?' || $a == '?' || $b == 0.00 ]]; then r=''; else r=$(printf '%.2f' "$(ratio "$a" "$b")"); fi
		printf '| migrate, 1× tree: a small file'"'"'s %s | %s | %s | %s |\n' "${what[$k]}" "$b" "$a" "$r"
	done
	printf '\ngc every run (s): before 1× %s; after 1× %s; before %d× %s; after %d× %s\n' \
		"$(all_times base-1)" "$(all_times rs-1)" "$SCALE" "$(all_times "base-$SCALE")" "$SCALE" "$(all_times "rs-$SCALE")"
fi
printf 'every run (s): regstore 1× %s; filesystem 1× %s; regstore %d× %s; filesystem %d× %s\n' \
	"$(all_times rs-1)" "$(all_times dist-1)" "$SCALE" "$(all_times "rs-$SCALE")" "$SCALE" "$(all_times "dist-$SCALE")"
say "done"
