#!/usr/bin/env bash
# bench/run.sh - regstore against its peers, every figure and its peer from one run.
#
#   bench/run.sh
#
# Builds (incrementally) if needed, starts a throwaway cluster unless
# REGSTORE_POOL and CEPH_CONF are already set, runs every measurement,
# prints the table and stops the cluster it started.  Bench data is deleted
# as it goes.  See bench/README.md for what each figure means.
#
# Environment (all optional):
#   REGSTORE_POOL, CEPH_CONF, CEPH_KEYRING  use this cluster instead of a new one
#   REGSTORE_BUILD_DIR   build directory (default: bench/.build, the bench's own, so
#                        that it never races a build running in build/)
#   BENCH_CLUSTER_DIR    throwaway cluster directory (default /tmp/rs-bench)
#   BENCH_CLUSTER_PORT   its mon port (default 3430)
#   BENCH_COUNT          4 MiB objects per stream (default 256 = 1 GiB)
#   BENCH_INFLIGHT       ops in flight for the raw peers (default 16)
#   BENCH_WINDOWS        regstore windows to try (default "8 16")
#   BENCH_PIECE          bytes per writer:write (default 4194304)
#   BENCH_ROUNDS         at most this many rounds of the 1 GiB streams, best kept
#                        (default 4); BENCH_MIN_ROUNDS (default 2) are always
#                        run, more only while they fit, at the pace so far, in
#                        BENCH_STREAM_BUDGET seconds of streams (default 150)
#   BENCH_READ_REPS      reads of each 1 GiB written, best kept (default 2)
#   BENCH_SMALL_N        4 KiB ops per kind in C (default 500)
#   BENCH_LUA_SMALL_N    4 KiB ops per kind in Lua (default 2000)
#   BENCH_LIST_N         directory entries for the listing (default 10000)
#   BENCH_THREADS        connections creating those entries (default 4)
#   BENCH_KEEP           1: keep the work directory (results, logs, binary)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${REGSTORE_BUILD_DIR:-$ROOT/bench/.build}
CLUSTER_DIR=${BENCH_CLUSTER_DIR:-/tmp/rs-bench}
CLUSTER_PORT=${BENCH_CLUSTER_PORT:-3430}
COUNT=${BENCH_COUNT:-256}
INFLIGHT=${BENCH_INFLIGHT:-16}
WINDOWS=${BENCH_WINDOWS:-"8 16"}
PIECE=${BENCH_PIECE:-4194304}
ROUNDS=${BENCH_ROUNDS:-4}
MIN_ROUNDS=${BENCH_MIN_ROUNDS:-2}
STREAM_BUDGET=${BENCH_STREAM_BUDGET:-150}
READ_REPS=${BENCH_READ_REPS:-2}
SMALL_N=${BENCH_SMALL_N:-500}
LUA_SMALL_N=${BENCH_LUA_SMALL_N:-2000}
LIST_N=${BENCH_LIST_N:-10000}
export BENCH_THREADS=${BENCH_THREADS:-4} BENCH_INFLIGHT=$INFLIGHT
OBJ=4194304
TOTAL=$((COUNT * OBJ))
LUA=lua5.4

T0=$SECONDS
say() { printf '[%4ds] %s\n' $((SECONDS - T0)) "$*" >&2; }
die() { say "error: $*"; exit 1; }

for t in cmake gcc "$LUA" rados ceph ceph-conf date; do
	command -v "$t" >/dev/null || die "'$t' not found (see scripts/deps.sh)"
done
[[ -r /usr/include/radosstriper/libradosstriper.h ]] || die "libradosstriper headers missing (libradosstriper-dev)"

WORK=$(mktemp -d /tmp/regstore-bench.XXXXXX)
RESULTS=$WORK/results
LOG=$WORK/log
: >"$RESULTS"
# every part appends its rows of issue 20's targets here (bench/summary.lua)
export BENCH_SUMMARY=$WORK/summary
: >"$BENCH_SUMMARY"
STARTED=0
DATA=0
DONE=0
TAG=$$-$RANDOM
export BENCH_TAG=$TAG
RADOS_ARGS=()

cleanup() {
	local rc=$?
	set +e
	if ((DATA && !DONE && !STARTED)); then
		# A cluster that stays: take away whatever a failed run left behind.
		say "removing leftover bench data from pool $REGSTORE_POOL"
		"$LUA" "$ROOT/bench/delete.lua" "/bench-$TAG" >>"$LOG" 2>&1
		rados "${RADOS_ARGS[@]}" cleanup --run-name "bench-$TAG" >>"$LOG" 2>&1
		# The C peers' objects (aio, striper, small files): by name.
		rados "${RADOS_ARGS[@]}" ls 2>>"$LOG" | grep -E "^bench-(aio|striper|small)-$TAG" |
			while read -r obj; do rados "${RADOS_ARGS[@]}" rm "$obj"; done >>"$LOG" 2>&1
	fi
	if ((STARTED)); then
		say "stopping the throwaway cluster in $CLUSTER_DIR"
		"$ROOT/scripts/cluster.sh" stop "$CLUSTER_DIR" 2>>"$LOG"
	fi
	if ((rc != 0)) || [[ ${BENCH_KEEP:-0} == 1 ]]; then
		say "work directory kept: $WORK (results, log)"
		((rc != 0)) && tail -n 30 "$LOG" >&2
	else
		rm -rf -- "$WORK"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ build

say "building (cmake, incremental) in $BUILD"
if [[ ! -f $BUILD/CMakeCache.txt ]]; then
	cmake -S "$ROOT" -B "$BUILD" >>"$LOG" 2>&1 || die "cmake configure failed (see $LOG)"
fi
cmake --build "$BUILD" -j2 --target regstore lua5.4 >>"$LOG" 2>&1 || die "build failed (see $LOG)"
# Work on a copy of the build products: a rebuild in $BUILD during the run
# (somebody else's) must not swap libraries under the measurements.
LIB=$WORK/lib
mkdir -p "$LIB/lua5.4/regstore"
cp "$BUILD/lua5.4/regstore/core.so" "$LIB/lua5.4/regstore/core.so" &&
	cp -L "$BUILD/libregstore.so" "$LIB/libregstore.so" &&
	cp -L "$BUILD/libregstore.so.0" "$LIB/libregstore.so.0" || die "build products missing in $BUILD"
gcc -O2 -Wall -Wextra -std=gnu11 -I"$ROOT/engine/include" "$ROOT/bench/peers.c" -o "$WORK/peers" \
	-L"$LIB" -lregstore -lradosstriper -lrados -lpthread -Wl,-rpath,"$LIB" >>"$LOG" 2>&1 ||
	die "building bench/peers.c failed (see $LOG)"

export LUA_PATH="$ROOT/bench/?.lua;$ROOT/lua/?.lua;;"
export LUA_CPATH="$LIB/lua5.4/?.so;;"
"$LUA" -e 'require "regstore"' >>"$LOG" 2>&1 && "$WORK/peers" info >>"$LOG" 2>&1 ||
	die "the build products do not load (a build running elsewhere in $BUILD?); see $LOG"

# ------------------------------------------------------------------ cluster

if [[ -n ${REGSTORE_POOL:-} && -n ${CEPH_CONF:-} ]]; then
	say "using the cluster of CEPH_CONF=$CEPH_CONF, pool $REGSTORE_POOL"
else
	if "$ROOT/scripts/cluster.sh" status "$CLUSTER_DIR" 2>/dev/null; then
		# Somebody's cluster already runs there: use it, leave it running.
		say "using the cluster already running in $CLUSTER_DIR"
		ENVS=$("$ROOT/scripts/cluster.sh" env "$CLUSTER_DIR" 2>>"$LOG")
	else
		say "starting a throwaway cluster in $CLUSTER_DIR (port $CLUSTER_PORT)"
		STARTED=1
		ENVS=$("$ROOT/scripts/cluster.sh" start "$CLUSTER_DIR" "$CLUSTER_PORT" 2>>"$LOG") ||
			die "cluster start failed (see $LOG)"
	fi
	eval "$ENVS"
fi
export REGSTORE_POOL CEPH_CONF
[[ -n ${CEPH_KEYRING:-} ]] && export CEPH_KEYRING
RADOS_ARGS=(-p "$REGSTORE_POOL")
[[ -n ${CEPH_KEYRING:-} ]] && RADOS_ARGS+=(--keyring "$CEPH_KEYRING")

# The OSD's admin socket, for op counts (osd.op); absent on a remote cluster.
ASOK=$(ceph-conf -c "$CEPH_CONF" --name osd.0 --show-config-value admin_socket 2>/dev/null || true)
if [[ -S $ASOK ]] && ceph --admin-daemon "$ASOK" perf dump >/dev/null 2>&1; then
	export BENCH_ASOK=$ASOK
else
	say "no OSD admin socket here: round trips are not counted"
	export BENCH_ASOK=
fi

# The OSD's process, for the CPU a small operation costs it; absent on a remote cluster.
OSD_PIDFILE=$(ceph-conf -c "$CEPH_CONF" --name osd.0 --show-config-value pid_file 2>/dev/null || true)
export BENCH_OSD_PID=
[[ -r $OSD_PIDFILE ]] && [[ -d /proc/$(cat "$OSD_PIDFILE") ]] && BENCH_OSD_PID=$(cat "$OSD_PIDFILE")

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
DATA=1

# run CMD...: run a measurement, its RESULT lines into the results file.
run() {
	local out
	out=$("$@" 2>>"$LOG") || die "failed: $* (see $LOG)"
	printf '%s\n' "$out" >>"$LOG"
	printf '%s\n' "$out" | grep '^RESULT ' >>"$RESULTS" || true
}
stream() { run "$LUA" "$ROOT/bench/stream.lua" "$@"; }
peers() { run "$WORK/peers" "$@"; }

# ------------------------------------------------------------------ 1, 2, 5: streams
#
# Each contestant writes 1 GiB, reads it back READ_REPS times and deletes
# it: regstore at each window (Lua 5.4), the C aio peer (4 MiB ops, and
# regstore's own op size when that is smaller), rados bench and
# libradosstriper.  On a small shared machine a write's speed swings with
# the load and with the OSD's memory, so: an untimed warm-up first, then
# rounds (MIN_ROUNDS, and more up to ROUNDS while within STREAM_BUDGET
# seconds), the order reversed every other round, and the best of each
# figure kept (the report lists every run).  At most 1 GiB is stored at once.

DIR=/bench-$TAG
MIB=$((TOTAL / 1048576))

rs_stream() { # WINDOW ROUND
	local w=$1 path=$DIR/stream-$1-$2 k
	say "regstore (Lua 5.4): write $MIB MiB, window $w, $PIECE-byte pieces; read x $READ_REPS"
	stream write "rs_w$w" "$path" "$w" "$PIECE" "$TOTAL"
	for ((k = 1; k <= READ_REPS; k++)); do
		if ((k < READ_REPS)); then
			stream read "rs_r$w" "$path" "$w" "$PIECE" "$TOTAL"
		else
			stream read "rs_r$w" "$path" "$w" "$PIECE" "$TOTAL" delete
		fi
	done
}

aio_stream() { # [OPSIZE]
	local k
	if (($# == 0)); then
		say "C peer: $COUNT x 4 MiB rados_aio_write_full / rados_aio_read, $INFLIGHT in flight; read x $READ_REPS"
	else
		say "C peer, regstore's pattern: 4 MiB objects in $1-byte aio ops, $INFLIGHT in flight; read x $READ_REPS"
	fi
	peers aio-write "$COUNT" "$INFLIGHT" "$@"
	for ((k = 1; k <= READ_REPS; k++)); do peers aio-read "$COUNT" "$INFLIGHT" "$@"; done
	peers aio-rm "$COUNT" "$INFLIGHT"
}

rb_result() { # KEY OUTPUT: the "Bandwidth (MB/sec)" of rados bench (MiB/s in fact)
	printf '%s\n' "$2" >>"$LOG"
	awk -F: -v key="$1" '/^Bandwidth \(MB\/sec\)/ {gsub(/ /, "", $2); print "RESULT", key, $2}' <<<"$2" >>"$RESULTS"
}

rb_stream() {
	local out made k
	say "rados bench: write $COUNT x 4 MiB, -t $INFLIGHT; seq x $READ_REPS"
	out=$(rados "${RADOS_ARGS[@]}" bench 300 write -b $OBJ -O $OBJ -t "$INFLIGHT" --max-objects "$COUNT" \
		--no-cleanup --run-name "bench-$TAG" 2>&1) || die "rados bench write failed: $out"
	made=$(awk -F: '/^Total writes made/ {gsub(/ /, "", $2); print $2}' <<<"$out")
	[[ $made == "$COUNT" ]] || say "warning: rados bench wrote $made objects, not $COUNT"
	rb_result rb_write_mibs "$out"
	for ((k = 1; k <= READ_REPS; k++)); do
		out=$(rados "${RADOS_ARGS[@]}" bench 300 seq -t "$INFLIGHT" --no-verify --run-name "bench-$TAG" 2>&1) ||
			die "rados bench seq failed: $out"
		rb_result rb_seq_mibs "$out"
	done
	rados "${RADOS_ARGS[@]}" cleanup --run-name "bench-$TAG" >>"$LOG" 2>&1 || die "rados bench cleanup failed"
}

engine_stream() { # WINDOW: the engine alone, in C (what the Lua figures add to it)
	say "engine alone (C, no Lua): $COUNT x 4 MiB through rs_writer / rs_reader, window $1"
	peers engine-stream "$COUNT" "$1"
}

striper_stream() {
	say "libradosstriper: $COUNT x 4 MiB rados_striper_write, then rados_striper_read"
	peers striper "$COUNT"
}

run "$WORK/peers" info
# The engine's I/O unit: when it is below 4 MiB, a C peer with that op size
# shows what regstore's own I/O pattern costs raw.
UNIT=$(awk '$2 == "io_unit_kib" {print $3 * 1024}' "$RESULTS")

# The memstore OSD's write speed depends on its memory: on the 2-core VM
# this was written on, writes ran at 130-160 MiB/s while the OSD had to take
# fresh memory and at 400-1300 MiB/s once it reused its own (not reliably:
# see bench/README.md).  2 x the stream size is written and removed first,
# unmeasured, so that no contestant pays for the OSD's growth alone.
say "warm-up (not measured): 2 x $MIB MiB through the C peer, then removed"
"$WORK/peers" aio-write $((2 * COUNT)) "$INFLIGHT" >>"$LOG" 2>&1 || die "warm-up write failed (see $LOG)"
"$WORK/peers" aio-rm $((2 * COUNT)) "$INFLIGHT" >>"$LOG" 2>&1 || die "warm-up remove failed (see $LOG)"

CONTESTANTS=()
for w in $WINDOWS; do
	CONTESTANTS+=("rs $w")
	if ((${#CONTESTANTS[@]} == 1)); then CONTESTANTS+=(aio); fi
done
if [[ -n $UNIT ]] && ((UNIT < OBJ)); then CONTESTANTS+=(aiou); fi
CONTESTANTS+=(rb striper "eng ${WINDOWS##* }")
STREAMS_T0=$SECONDS
for ((round = 1; round <= ROUNDS; round++)); do
	spent=$((SECONDS - STREAMS_T0))
	# Another round only when, at the pace so far, it ends within the budget.
	if ((round > MIN_ROUNDS && spent + spent / (round - 1) > STREAM_BUDGET)); then
		say "streams: $((round - 1)) rounds took ${spent}s; another would pass the ${STREAM_BUDGET}s budget"
		break
	fi
	say "---- streams, round $round (at most $ROUNDS)"
	order=("${CONTESTANTS[@]}")
	if ((round % 2 == 0)); then
		order=()
		for ((i = ${#CONTESTANTS[@]} - 1; i >= 0; i--)); do order+=("${CONTESTANTS[i]}"); done
	fi
	for c in "${order[@]}"; do
		case $c in
		rs\ *) rs_stream "${c#rs }" "$round" ;;
		aio) aio_stream ;;
		aiou) aio_stream "$UNIT" ;;
		rb) rb_stream ;;
		striper) striper_stream ;;
		eng\ *) engine_stream "${c#eng }" ;;
		esac
	done
done

# ------------------------------------------------------------------ 3: small files

say "4 KiB files: $SMALL_N rs_put/rs_get vs rados_write_full/rados_read, in C"
peers small "$SMALL_N"
for ((k = 1; k <= 2; k++)); do
	say "4 KiB files, back to back, round $k of 2: $LUA_SMALL_N rs_put/rs_get in C, then from Lua"
	peers batch "$LUA_SMALL_N"
	run "$LUA" "$ROOT/bench/small.lua" "$DIR/lsmall" "$LUA_SMALL_N"
done

# ------------------------------------------------------------------ 4: listing

say "listing: creating $LIST_N entries in $DIR/list ($BENCH_THREADS connections)"
peers list-create "$LIST_N" "$DIR/list"
say "listing: rs_list vs the 2015 driver's one key a round trip"
peers list "$DIR/list"
say "listing: drv:list from Lua, then drv:delete of the directory"
run "$LUA" "$ROOT/bench/list.lua" "$DIR/list"

# ------------------------------------------------------------------ 6: registry layer

say "registry: upload of $MIB MiB in 8 MiB chunks vs the raw writer, manifest latency, 10,000 tags"
REGISTRY_TABLE=$("$LUA" "$ROOT/bench/registry.lua" "$MIB" 2>>"$LOG") || die "bench/registry.lua failed (see $LOG)"

DONE=1
say "done; load average before: $LOAD0, after: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
echo
BENCH_STREAM_MIB=$MIB "$LUA" "$ROOT/bench/report.lua" "$RESULTS"
echo
echo "registry layer (bench/registry.lua), Lua 5.4:"
printf '%s\n' "$REGISTRY_TABLE"

# ------------------------------------------------------------------ 7: the OpenResty registry
# skopeo through examples/openresty-registry against docker-registry
# (filesystem; S3 on RGW), and the event loop under 4 streams, on this
# cluster (bench/http.sh; BENCH_HTTP=0 skips it).
if [[ ${BENCH_HTTP:-1} == 1 ]]; then
	echo
	say "the OpenResty registry: bench/http.sh"
	"$ROOT/bench/http.sh" || say "bench/http.sh failed"
fi

# ------------------------------------------------------------------ 8: small operations
# manifest put against put_content, tags:tag one at a time and from
# BENCH_TAGGERS processes at once (bench/small_ops.lua; BENCH_SMALL_OPS=0
# skips it).
if [[ ${BENCH_SMALL_OPS:-1} == 1 ]]; then
	echo
	say "small operations: bench/small_ops.lua"
	if out=$("$LUA" "$ROOT/bench/small_ops.lua" 2>&1); then
		printf '%s\n' "$out" | grep -v '^RESULT ' || true
	else
		printf '%s\n' "$out" >>"$LOG"
		say "bench/small_ops.lua failed (see $LOG)"
	fi
fi

# ------------------------------------------------------------------ 9: gc and migrate
# gc --dry-run against distribution's garbage-collect at 1x and
# BENCH_GC_SCALE x (10; loading the 10x tree through migrate takes 10-20
# minutes here), migrate of small files and of large blobs against rados
# bench (bench/gc.sh, on this cluster; BENCH_GC=0 skips it).
if [[ ${BENCH_GC:-1} == 1 ]]; then
	echo
	say "gc and migrate: bench/gc.sh"
	REGSTORE_BUILD_DIR=$BUILD "$ROOT/bench/gc.sh" 2>>"$LOG" || say "bench/gc.sh failed (see $LOG)"
fi

# ------------------------------------------------------------------ issue 20's targets
echo
echo "issue 20's targets, every row measured in this run (✓ met, ✗ missed):"
echo
echo "| figure | regstore | peer (same run) | ratio | target |"
echo "|---|---|---|---|---|"
cat "$BENCH_SUMMARY"
