#!/usr/bin/env bash
# bench/http.sh - the OpenResty registry on regstore against Debian's
# docker-registry (distribution 2.8), with skopeo as the client, on one
# throwaway cluster; then whether nginx's event loop stays free while blobs
# stream.
#
#   bench/http.sh
#
# 1. skopeo push and pull of an image of 10 layers x 20 MiB through
#    examples/openresty-registry/serve (one nginx worker), through
#    docker-registry with its filesystem driver on local disk, and through
#    docker-registry with its S3 driver on Ceph's RGW (Debian's radosgw on the
#    same cluster, beast with tcp_nodelay). Each round pushes a fresh image
#    (new content) to each registry, in an order that alternates, and pulls
#    it back into a `dir:` on local disk; the best round of each is kept.
# 2. One nginx worker; 4 clients stream 256 MiB blobs (2 upload, 2 download,
#    over and over for BENCH_HTTP_STREAM_SECONDS); a fifth asks for GET /v2/
#    and a small manifest in batches on one connection: p50 and p99 of each,
#    idle and under the streams; the worker's RSS sampled meanwhile.
#
# Environment (optional): REGSTORE_POOL + CEPH_CONF (use that cluster, else a
# throwaway one in BENCH_CLUSTER_DIR=/tmp/rs-bench-http on port
# BENCH_CLUSTER_PORT=3450), BENCH_HTTP_PORT (first of 4 ports, 5380),
# BENCH_HTTP_ROUNDS (3), BENCH_HTTP_LAYERS (10), BENCH_HTTP_LAYER_MIB (20),
# BENCH_HTTP_STREAM_MIB (256), BENCH_HTTP_STREAM_SECONDS (15),
# BENCH_HTTP_NO_RGW=1 (skip the RGW peer), REGSTORE_BUILD_DIR (build),
# BENCH_KEEP=1 (keep the work directory).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${REGSTORE_BUILD_DIR:-$ROOT/build}
PORT=${BENCH_HTTP_PORT:-5380}
ROUNDS=${BENCH_HTTP_ROUNDS:-3}
LAYERS=${BENCH_HTTP_LAYERS:-10}
LAYER_MIB=${BENCH_HTTP_LAYER_MIB:-20}
STREAM_MIB=${BENCH_HTTP_STREAM_MIB:-256}
STREAM_SECONDS=${BENCH_HTTP_STREAM_SECONDS:-15}
CLUSTER_DIR=${BENCH_CLUSTER_DIR:-/tmp/rs-bench-http}
CLUSTER_PORT=${BENCH_CLUSTER_PORT:-3450}
SERVE_PORT=$PORT FS_PORT=$((PORT + 1)) S3_PORT=$((PORT + 2)) RGW_PORT=$((PORT + 3))

T0=$SECONDS
say() { printf '[%4ds] %s\n' $((SECONDS - T0)) "$*" >&2; }
die() { say "error: $*"; exit 1; }
for t in skopeo curl docker-registry nginx openssl lua5.4 luajit; do
	command -v "$t" >/dev/null || die "'$t' not found (scripts/deps.sh installs it)"
done

WORK=$(mktemp -d /var/tmp/regstore-bench-http.XXXXXX) # local disk: the filesystem peer lives here
LOG=$WORK/log
RESULTS=$WORK/results
: >"$RESULTS"
PIDS=()
STARTED=0
NS=bench-http-$$-$RANDOM

cleanup() {
	set +e
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	if ((STARTED)); then
		say "stopping the throwaway cluster in $CLUSTER_DIR"
		"$ROOT/scripts/cluster.sh" stop "$CLUSTER_DIR" >>"$LOG" 2>&1
	elif [[ -n ${REGSTORE_POOL:-} ]]; then
		LUA_PATH="$ROOT/lua/?.lua;;" LUA_CPATH="$BUILD/luajit/?.so;;" luajit -e "
			local d = assert(require('regstore').connect{ pool = os.getenv 'REGSTORE_POOL', namespace = '$NS' })
			d:delete('/docker')" >>"$LOG" 2>&1
	fi
	if [[ ${BENCH_KEEP:-0} == 1 ]]; then say "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ build, cluster
if [[ ! -f $BUILD/luajit/regstore/core.so ]]; then
	say "building the LuaJIT module in $BUILD"
	cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >>"$LOG" 2>&1
	cmake --build "$BUILD" -j2 --target luajit >>"$LOG" 2>&1 || die "build failed (see $LOG)"
fi
if [[ -n ${REGSTORE_POOL:-} && -n ${CEPH_CONF:-} ]]; then
	say "using the cluster of CEPH_CONF=$CEPH_CONF, pool $REGSTORE_POOL"
else
	say "starting a throwaway cluster in $CLUSTER_DIR (port $CLUSTER_PORT)"
	eval "$("$ROOT/scripts/cluster.sh" start "$CLUSTER_DIR" "$CLUSTER_PORT" 2>>"$LOG")"
	STARTED=1
fi
export CEPH_CONF REGSTORE_POOL

wait_http() { # URL PID NAME
	local i
	for i in $(seq 300); do
		curl -s -o /dev/null "$1" && return 0
		kill -0 "$2" 2>/dev/null || die "$3 exited (see $LOG)"
		sleep 0.1
	done
	die "$3 did not answer at $1"
}

# ------------------------------------------------------------------ the registries
say "serve on 127.0.0.1:$SERVE_PORT (one worker, namespace $NS)"
LUA_PATH= LUA_CPATH="$BUILD/luajit/?.so;;" "$ROOT/examples/openresty-registry/serve" \
	--listen "127.0.0.1:$SERVE_PORT" --workers 1 --namespace "$NS" ${BENCH_HTTP_SERVE_OPTS:-} >"$WORK/serve.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$SERVE_PORT/v2/" "${PIDS[-1]}" serve

registry_conf() { # FILE PORT STORAGE-YAML
	cat >"$1" <<-CONF
	version: 0.1
	log:
	  level: error
	  accesslog:
	    disabled: true
	storage:
	$3
	  redirect:
	    disable: true
	  delete:
	    enabled: true
	http:
	  addr: 127.0.0.1:$2
	CONF
}

say "docker-registry (filesystem, $WORK/fs) on 127.0.0.1:$FS_PORT"
registry_conf "$WORK/fs.yml" "$FS_PORT" "  filesystem:
    rootdirectory: $WORK/fs"
docker-registry serve "$WORK/fs.yml" >>"$LOG" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$FS_PORT/v2/" "${PIDS[-1]}" "docker-registry (filesystem)"

PEERS=(regstore fs)
declare -A URL=([regstore]=127.0.0.1:$SERVE_PORT [fs]=127.0.0.1:$FS_PORT [s3]=127.0.0.1:$S3_PORT)
declare -A LABEL=([regstore]="regstore (OpenResty)" [fs]="distribution, filesystem" [s3]="distribution, S3 on RGW")
if [[ ${BENCH_HTTP_NO_RGW:-0} != 1 ]] && command -v radosgw >/dev/null && command -v s3cmd >/dev/null; then
	say "radosgw on 127.0.0.1:$RGW_PORT, docker-registry (S3 driver) on 127.0.0.1:$S3_PORT"
	mkdir -p "$WORK/rgw"
	radosgw -f -c "$CEPH_CONF" -n client.admin --rgw-frontends "beast endpoint=127.0.0.1:$RGW_PORT tcp_nodelay=1" \
		--rgw-data "$WORK/rgw" --log-file "$WORK/rgw/rgw.log" --admin-socket "$WORK/rgw/rgw.asok" \
		--pid-file "$WORK/rgw/rgw.pid" >>"$LOG" 2>&1 &
	PIDS+=($!)
	wait_http "http://127.0.0.1:$RGW_PORT/" "${PIDS[-1]}" radosgw
	radosgw-admin -c "$CEPH_CONF" -n client.admin user create --uid=bench --display-name=bench \
		--access-key=BENCHKEY --secret=BENCHSECRET >>"$LOG" 2>&1 || true
	printf '[default]\naccess_key = BENCHKEY\nsecret_key = BENCHSECRET\nhost_base = 127.0.0.1:%s\nhost_bucket = 127.0.0.1:%s\nuse_https = False\nsignature_v2 = False\n' \
		"$RGW_PORT" "$RGW_PORT" >"$WORK/s3cfg"
	s3cmd -c "$WORK/s3cfg" mb "s3://$NS" >>"$LOG" 2>&1 || die "cannot create the RGW bucket (see $LOG)"
	registry_conf "$WORK/s3.yml" "$S3_PORT" "  s3:
    accesskey: BENCHKEY
    secretkey: BENCHSECRET
    region: us-east-1
    regionendpoint: http://127.0.0.1:$RGW_PORT
    bucket: $NS
    secure: false
    v4auth: true"
	# distribution's S3 driver refuses to start with AWS_CA_BUNDLE set
	env -u AWS_CA_BUNDLE docker-registry serve "$WORK/s3.yml" >>"$LOG" 2>&1 &
	PIDS+=($!)
	wait_http "http://127.0.0.1:$S3_PORT/v2/" "${PIDS[-1]}" "docker-registry (S3)"
	PEERS+=(s3)
else
	say "no RGW peer (radosgw or s3cmd missing, or BENCH_HTTP_NO_RGW=1)"
fi

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
result() { echo "RESULT $*" >>"$RESULTS"; echo "  $*" >&2; }

# CPU time, in clock ticks (USER_HZ, 100 a second): busy_ticks, of every
# core of the machine (what a push or pull costs all its processes, client,
# registry and storage, on cores they share); osd_ticks, of the OSD when it
# is local (its pid file, from the cluster's conf).
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
OSD_PIDFILE=$(ceph-conf -c "$CEPH_CONF" --name osd.0 --show-config-value pid_file 2>/dev/null || true)
osd_ticks() {
	local pid
	pid=$(cat "$OSD_PIDFILE" 2>/dev/null) && [[ -r /proc/$pid/stat ]] &&
		awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat" || echo 0
}

# ------------------------------------------------------------------ 1: skopeo
MB=$((LAYERS * LAYER_MIB * 1048576))
sizes=()
for ((i = 0; i < LAYERS; i++)); do sizes+=($((LAYER_MIB * 1048576))); done
for ((r = 1; r <= ROUNDS; r++)); do
	say "round $r: building an image of $LAYERS x $LAYER_MIB MiB"
	rm -rf "$WORK/img"
	lua5.4 "$ROOT/scripts/mkimage.lua" image "$WORK/img" img amd64 "bench-$$-$r" "${sizes[@]}" >>"$LOG"
	order=("${PEERS[@]}")
	((r % 2 == 0)) && order=($(printf '%s\n' "${PEERS[@]}" | tac))
	for p in "${order[@]}"; do
		ref="${URL[$p]}/bench/img$r:v1"
		b0=$(busy_ticks) o0=$(osd_ticks) t=$(now)
		skopeo copy --retry-times 0 --dest-tls-verify=false --preserve-digests "oci:$WORK/img:img" "docker://$ref" \
			>>"$LOG" 2>&1 || die "push to ${LABEL[$p]} failed (see $LOG)"
		push=$(elapsed "$t" "$(now)")
		b1=$(busy_ticks) o1=$(osd_ticks)
		rm -rf "$WORK/pull"
		t=$(now)
		skopeo copy --retry-times 0 --src-tls-verify=false --preserve-digests "docker://$ref" "dir:$WORK/pull" \
			>>"$LOG" 2>&1 || die "pull from ${LABEL[$p]} failed (see $LOG)"
		pull=$(elapsed "$t" "$(now)")
		b2=$(busy_ticks) o2=$(osd_ticks)
		rm -rf "$WORK/pull"
		result "skopeo $p round $r push_s $push pull_s $pull"
		result "cpu $p round $r push_busy_ticks $((b1 - b0)) push_osd_ticks $((o1 - o0)) pull_busy_ticks $((b2 - b1)) pull_osd_ticks $((o2 - o1))"
	done
done

# ------------------------------------------------------------------ 2: latency under streams
say "streams: $STREAM_MIB MiB blobs, 2 up and 2 down for ${STREAM_SECONDS}s; latency from a fifth client"
R=http://127.0.0.1:$SERVE_PORT
head -c $((STREAM_MIB * 1048576)) /dev/zero |
	openssl enc -aes-128-ctr -nosalt -pass "pass:stream-$$" -pbkdf2 2>/dev/null >"$WORK/stream"
SDIG=sha256:$(sha256sum "$WORK/stream" | cut -d' ' -f1)
upload() { # REPO FILE DIGEST
	local loc
	loc=$(curl -s -D - -o /dev/null -X POST "$R/v2/$1/blobs/uploads/" | tr -d '\r' | awk '/^Location:/ {print $2}')
	curl -s -f -o /dev/null -X PATCH -H 'Content-Type: application/octet-stream' -T "$2" "$R$loc" &&
		curl -s -f -o /dev/null -X PUT "$R$loc?digest=$3"
}
upload bench/stream "$WORK/stream" "$SDIG" || die "stream blob upload failed"
printf '{}' >"$WORK/config"
CDIG=sha256:$(sha256sum "$WORK/config" | cut -d' ' -f1)
upload bench/small "$WORK/config" "$CDIG" || die "config upload failed"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":2},"layers":[]}' \
	"$CDIG" >"$WORK/manifest"
curl -s -f -o /dev/null -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
	--data-binary @"$WORK/manifest" "$R/v2/bench/small/manifests/v1" || die "manifest put failed"

probe() { # SECONDS OUT: batches of 10 requests on one connection, /v2/ and the manifest in turn
	local end=$((SECONDS + $1)) urls=() i
	for i in 1 2 3 4 5; do urls+=("$R/v2/" "$R/v2/bench/small/manifests/v1"); done
	while ((SECONDS < end)); do
		curl -s -o /dev/null -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
			-w '%{url} %{http_code} %{time_total}\n' "${urls[@]}" >>"$2"
		sleep 0.05
	done
}
percentiles() { # FILE KIND -> "p50_ms p99_ms n"
	local pat=$2
	awk -v pat="$pat" '$1 ~ pat && $2 == 200 { print $3 * 1000 }' "$1" | sort -n |
		awk '{ v[NR] = $1 } END { if (!NR) { print "nan nan 0"; exit }
			i50 = int(NR * 0.50 + 0.999); i99 = int(NR * 0.99 + 0.999)
			printf "%.2f %.2f %d\n", v[i50], v[i99], NR }'
}

loop() { curl -s "$R/_regstore/loop" | tr -d '{}"' | tr ',:' '  '; } # n N p50_ms X p99_ms Y max_ms Z
loop >/dev/null
probe 5 "$WORK/idle"
result "loop idle $(loop)"
read -r a b n <<<"$(percentiles "$WORK/idle" '/v2/$')"; result "latency idle v2 p50_ms $a p99_ms $b n $n"
read -r a b n <<<"$(percentiles "$WORK/idle" 'manifests')"; result "latency idle manifest p50_ms $a p99_ms $b n $n"

MASTER=$(sed -n 's/.*nginx pid \([0-9]*\).*/\1/p' "$WORK/serve.log" | head -1)
WORKER=$(pgrep -P "$MASTER" | head -1)
stream_up() { # N: repeats uploads of the blob into its own repository
	local end=$((SECONDS + STREAM_SECONDS)) n=0
	while ((SECONDS < end)); do upload "bench/up$1" "$WORK/stream" "$SDIG" && n=$((n + 1)); done
	echo "$n" >"$WORK/up$1.count"
}
stream_down() {
	local end=$((SECONDS + STREAM_SECONDS)) n=0
	while ((SECONDS < end)); do
		curl -s -f -o /dev/null "$R/v2/bench/stream/blobs/$SDIG" && n=$((n + 1))
	done
	echo "$n" >"$WORK/down$1.count"
}
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$WORKER/status" 2>/dev/null || echo 0; }
rss0=$(rss)
loopcpu() { awk '{ printf "%.0f %.0f", $1 / 1e6, $2 / 1e6 }' "/proc/$WORKER/task/$WORKER/schedstat"; } # run, wait ms
read -r cpu0 wait0 <<<"$(loopcpu)"
t=$(now)
spids=()
stream_up 1 & spids+=($!)
stream_up 2 & spids+=($!)
stream_down 1 & spids+=($!)
stream_down 2 & spids+=($!)
probe "$STREAM_SECONDS" "$WORK/busy" & spids+=($!)
peak=0
while kill -0 "${spids[0]}" 2>/dev/null || kill -0 "${spids[2]}" 2>/dev/null; do
	v=$(rss); ((v > peak)) && peak=$v
	sleep 0.2
done
wait "${spids[@]}"
dt=$(elapsed "$t" "$(now)")
result "loop streams $(loop)"
read -r cpu1 wait1 <<<"$(loopcpu)"
result "loopthread cpu_ms $((cpu1 - cpu0)) runqueue_ms $((wait1 - wait0)) seconds $dt"
# The machine's own floor: the same loop, no traffic, while 2 x nproc shells
# spin at nice 0 (what the OSD, the clients and the hashing do to it above).
say "control: the loop's lag with no traffic while $((2 * $(nproc))) busy loops run for 8s"
cpids=()
for ((i = 0; i < 2 * $(nproc); i++)); do timeout 8 sh -c 'while :; do :; done' & cpids+=($!); done
wait "${cpids[@]}" || true
result "loop control $(loop)"
moved=$(cat "$WORK"/up*.count "$WORK"/down*.count | awk -v m="$STREAM_MIB" '{ s += $1 } END { print s * m }')
read -r a b n <<<"$(percentiles "$WORK/busy" '/v2/$')"; result "latency streams v2 p50_ms $a p99_ms $b n $n"
read -r a b n <<<"$(percentiles "$WORK/busy" 'manifests')"; result "latency streams manifest p50_ms $a p99_ms $b n $n"
sum() { cat "$@" | awk '{ s += $1 } END { print s + 0 }'; }
result "streams MiB $moved seconds $dt up $(sum "$WORK"/up*.count) down $(sum "$WORK"/down*.count)"
result "worker rss_kib idle $rss0 peak $peak"

# ------------------------------------------------------------------ report
say "report"
awk -v mb="$MB" -v peers="${PEERS[*]}" -v summary="${BENCH_SUMMARY:-}" -v ncores="$(nproc)" '
	$2 == "skopeo" {
		p = $3; if (!(p in push) || $7 < push[p]) push[p] = $7; if (!(p in pull) || $9 < pull[p]) pull[p] = $9
	}
	$2 == "cpu" {
		p = $3; ncpu[p]++
		cpush[p] += $7 / 100; cpushosd[p] += $9 / 100; cpull[p] += $11 / 100; cpullosd[p] += $13 / 100
	}
	$2 == "latency" { lat[$3 " " $4] = $6 " / " $8 " ms (n=" $10 ")"; p99[$3 " " $4] = $8 }
	$2 == "streams" { streams = sprintf("%d MiB in %.1f s = %.0f MiB/s (%d uploads, %d downloads)", $4, $6, $4 / $6, $8, $10) }
	$2 == "loop" { loop[$3] = sprintf("p50 %s / p99 %s / max %s ms (%d ticks)", $7, $9, $11, $5) }
	$2 == "loopthread" { lt_cpu = $4; lt_wait = $6; lt_s = $8 }
	$2 == "streams" { moved = $4 }
	$2 == "worker" { rss = sprintf("idle %.0f MiB, peak %.0f MiB during the streams", $5 / 1024, $7 / 1024); peak = $7 / 1024 }
	# a row of issue 20s targets (bench/summary.lua): ratio r, met when ok
	function row(figure, rs, peer, r, target, ok) {
		if (summary == "") return
		printf "| %s | %s | %s | %s | %s %s |\n", figure, rs, peer, r == "" ? "" : sprintf("%.2f", r), target,
			ok == -1 ? "" : ok ? "✓" : "✗" >>summary
	}
	END {
		n = split(peers, P, " ")
		if (!("regstore" in push)) n = 0
		if (n) printf "\nskopeo, %d MB image (best round), seconds and MB/s:\n", mb / 1e6
		if (n) printf "  %-28s %8s %8s %8s %8s\n", "registry", "push s", "MB/s", "pull s", "MB/s"
		for (i = 1; i <= n; i++) { p = P[i]
			printf "  %-28s %8.2f %8.0f %8.2f %8.0f\n", p, push[p], mb / 1e6 / push[p], pull[p], mb / 1e6 / pull[p] }
		if (n) printf "\nCPU of the whole machine (%d cores: every process, client, registry, storage), mean of the rounds, seconds:\n", ncores
		for (i = 1; i <= n; i++) { p = P[i]
			if (ncpu[p]) printf "  %-28s push %5.2f (OSD %5.2f)   pull %5.2f (OSD %5.2f)\n", p,
				cpush[p] / ncpu[p], cpushosd[p] / ncpu[p], cpull[p] / ncpu[p], cpullosd[p] / ncpu[p] }
		if (n && ncpu["regstore"] && ncpu["fs"]) {
			row("skopeo push, CPU of the whole machine", sprintf("%.2f s (OSD %.2f s)", cpush["regstore"] / ncpu["regstore"],
				cpushosd["regstore"] / ncpu["regstore"]), sprintf("distribution, local disk: %.2f s", cpush["fs"] / ncpu["fs"]),
				(cpush["regstore"] / ncpu["regstore"]) / (cpush["fs"] / ncpu["fs"]), "(information)", -1)
			row("skopeo pull, CPU of the whole machine", sprintf("%.2f s (OSD %.2f s)", cpull["regstore"] / ncpu["regstore"],
				cpullosd["regstore"] / ncpu["regstore"]), sprintf("distribution, local disk: %.2f s", cpull["fs"] / ncpu["fs"]),
				(cpull["regstore"] / ncpu["regstore"]) / (cpull["fs"] / ncpu["fs"]), "(information)", -1)
		}
		if ("s3" in push) printf "  regstore vs distribution on RGW: push %.2fx, pull %.2fx faster (target >= 3, >= 1.5)\n",
			push["s3"] / push["regstore"], pull["s3"] / pull["regstore"]
		if (n) printf "  regstore vs distribution on local disk: push %.2fx, pull %.2fx the time (target <= 1.0)\n",
			push["regstore"] / push["fs"], pull["regstore"] / pull["fs"]
		if (n) {
			r = push["regstore"] / push["fs"]
			row("skopeo push 10 × 20 MiB, time", sprintf("%.2f s", push["regstore"]),
				sprintf("distribution, local disk: %.2f s", push["fs"]), r, "≤ 1.0", r <= 1.0)
			r = pull["regstore"] / pull["fs"]
			row("skopeo pull, time", sprintf("%.2f s", pull["regstore"]),
				sprintf("distribution, local disk: %.2f s", pull["fs"]), r, "≤ 1.0", r <= 1.0)
		}
		if (n && ("s3" in push)) {
			r = push["s3"] / push["regstore"]
			row("skopeo push, times faster", sprintf("%.2f s", push["regstore"]),
				sprintf("distribution, S3 on RGW: %.2f s", push["s3"]), r, "≥ 3", r >= 3)
			r = pull["s3"] / pull["regstore"]
			row("skopeo pull, times faster", sprintf("%.2f s", pull["regstore"]),
				sprintf("distribution, S3 on RGW: %.2f s", pull["s3"]), r, "≥ 1.5", r >= 1.5)
		}
		if ("streams manifest" in p99)
			row("manifest GET p99, 4 × 256 MiB streams through one worker", p99["streams manifest"] " ms",
				"idle: " p99["idle manifest"] " ms", "", "< 50 ms", p99["streams manifest"] < 50)
		if (peak) row("nginx worker RSS during the streams", sprintf("%.0f MiB", peak), "", "", "< 128 MiB", peak < 128)
		printf "\none nginx worker, p50 / p99 latency:\n"
		printf "  GET /v2/ idle: %s; under the streams: %s\n", lat["idle v2"], lat["streams v2"]
		printf "  GET manifest idle: %s; under the streams: %s\n", lat["idle manifest"], lat["streams manifest"]
		printf "  event loop lag (a 10 ms timer in the worker) idle: %s\n", loop["idle"]
		printf "  event loop lag under the streams: %s\n", loop["streams"]
		printf "  event loop lag, no traffic, CPUs kept busy (control): %s\n", loop["control"]
		printf "  the loop thread during the streams: %d ms of CPU in %.1f s (%.2f ms per MiB moved), %d ms runnable but waiting for a CPU\n",
			lt_cpu, lt_s, lt_cpu / (moved ? moved : 1), lt_wait
		printf "  streams: %s\n  worker RSS: %s\n", streams, rss
	}' "$RESULTS"
