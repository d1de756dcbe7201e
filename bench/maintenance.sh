#!/usr/bin/env bash
# bench/maintenance.sh - what a scheduled gc costs the requests `serve`
# answers meanwhile: p50 and p99 of `GET /v2/` and of a manifest GET on a
# quiet registry, then while serve's own scheduled gc (--gc-every) sweeps a
# synthetic registry (bench/gc_tree.lua, loaded with `regstore migrate
# --from-fs`), without a rate limit and with --gc-rate; the target is a
# p99 within 2x of the quiet one.
#
# Environment (all optional): REGSTORE_POOL, CEPH_CONF, CEPH_KEYRING (use
# this cluster, else a throwaway one in BENCH_CLUSTER_DIR, default
# /tmp/rs-bench-maint, mon port BENCH_CLUSTER_PORT, default 3460),
# REGSTORE_BUILD_DIR (bench/.build), BENCH_MAINT_MANIFESTS (1000),
# BENCH_MAINT_BLOBS (5000), BENCH_MAINT_RATE (the limited run's --gc-rate,
# 60), BENCH_MAINT_PORT (5460), BENCH_KEEP=1.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${REGSTORE_BUILD_DIR:-$ROOT/bench/.build}
CLUSTER_DIR=${BENCH_CLUSTER_DIR:-/tmp/rs-bench-maint}
CLUSTER_PORT=${BENCH_CLUSTER_PORT:-3460}
MANIFESTS=${BENCH_MAINT_MANIFESTS:-1000}
BLOBS=${BENCH_MAINT_BLOBS:-5000}
RATE=${BENCH_MAINT_RATE:-60}
PORT=${BENCH_MAINT_PORT:-5460}
BATCH=20 # requests per curl: one connection, each request timed
T0=$SECONDS
say() { printf '[%4ds] %s\n' $((SECONDS - T0)) "$*" >&2; }
die() { say "error: $*"; exit 1; }
for t in cmake lua5.4 luajit curl nginx; do
	command -v "$t" >/dev/null || [[ -x /usr/sbin/$t ]] || die "'$t' not found (see scripts/deps.sh)"
done

say "building in $BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 >/dev/null
export LUA_CPATH="$BUILD/lua5.4/?.so;;" LUA_PATH="$ROOT/lua/?.lua;$ROOT/lua/?/init.lua;$ROOT/spec/?.lua;;"

WORK=$(mktemp -d /tmp/rs-bench-maint-work.XXXXXX)
started=0 serve_pid=
stop_serve() {
	if [[ -n $serve_pid ]]; then
		kill -TERM "$serve_pid" 2>/dev/null || true
		wait "$serve_pid" 2>/dev/null || true
		serve_pid=
	fi
}
cleanup() {
	stop_serve
	if ((started)); then "$ROOT/scripts/cluster.sh" stop "$CLUSTER_DIR" >/dev/null 2>&1 || true; fi
	[[ ${BENCH_KEEP:-0} == 1 ]] || rm -rf "$WORK"
}
trap cleanup EXIT
if [[ -z ${REGSTORE_POOL:-} || -z ${CEPH_CONF:-} ]]; then
	say "starting a throwaway cluster in $CLUSTER_DIR"
	eval "$("$ROOT/scripts/cluster.sh" start "$CLUSTER_DIR" "$CLUSTER_PORT")"
	started=1
fi
NS=bench-maint-$$
regstore() { lua5.4 "$ROOT/bin/regstore" --pool "$REGSTORE_POOL" --namespace "$NS" --quiet "$@"; }

say "a registry of $MANIFESTS manifests over $BLOBS blobs (bench/gc_tree.lua), loaded with migrate --from-fs"
lua5.4 "$ROOT/bench/gc_tree.lua" "$WORK/tree" "$MANIFESTS" "$BLOBS" >"$WORK/tree.txt"
load() { regstore migrate --from-fs "$WORK/tree" --json >"$WORK/migrate.json"; }
load
# the manifest every round GETs: a small image pushed through the registry API
cat >"$WORK/probe.lua" <<'LUA'
local rs = require "regstore"
local drv = assert(rs.connect(require("regstore.env").options { namespace = arg[1] }))
local schedule = require "regstore.policy.schedule"
if arg[2] == "push" then
  local util = require "fixtures.registry.util"
  local _, _, d = util.push_image(require("regstore.registry").new(drv):repository("bench/probe"),
    "probe cfg", { "probe layer" }, { tag = "t" })
  print(d)
elseif arg[2] == "forget" then
  drv:delete("/docker/registry/v2/_schedule/gc")
else
  local r = schedule.last(drv, "gc")
  print(r and (r.started .. " " .. r.duration .. " " .. (r.summary and r.summary.blobs_deleted or 0)) or "")
end
LUA
DIGEST=$(lua5.4 "$WORK/probe.lua" "$NS" push)
MT=application/vnd.docker.distribution.manifest.v2+json

start_serve() { # extra options...
	LUA_PATH= LUA_CPATH="$BUILD/luajit/?.so;;" "$ROOT/examples/openresty-registry/serve" \
		--listen "127.0.0.1:$PORT" --namespace "$NS" "$@" >"$WORK/serve.log" 2>&1 &
	serve_pid=$!
	for _ in $(seq 100); do
		curl -s -o /dev/null "http://127.0.0.1:$PORT/readyz" && return 0
		sleep 0.1
	done
	die "serve did not start: $(cat "$WORK/serve.log")"
}

# One batch of BATCH requests of URL on one connection, a time in ms a line.
batch() { # URL [curl options]
	local url=$1 args=() i
	shift
	for ((i = 0; i < BATCH; i++)); do args+=(-o /dev/null "$url"); done
	curl -s "$@" -w '%{time_total}\n' "${args[@]}" | awk '{printf "%.3f\n", $1 * 1000}'
}
round() { # OUT-PREFIX: one batch of each request
	batch "http://127.0.0.1:$PORT/v2/" >>"$1.base"
	batch "http://127.0.0.1:$PORT/v2/bench/probe/manifests/$DIGEST" -H "Accept: $MT" >>"$1.manifest"
}
pct() { sort -n "$1" | awk -v p="$2" '{a[NR] = $1} END {i = int(NR * p + 0.999); if (i < 1) i = 1; printf "%.2f", a[i]}'; }
gc_started() { lua5.4 "$WORK/probe.lua" "$NS" last; }

say "quiet: $((BATCH * 20)) of each request"
start_serve
for _ in $(seq 20); do round "$WORK/quiet"; done
stop_serve

during() { # NAME [serve options]: requests while serve's scheduled gc runs
	local name=$1 rec
	shift
	say "$name: serve with --gc-every 1h --gc-grace 0s $*; requests until the gc's record appears"
	load
	lua5.4 "$WORK/probe.lua" "$NS" forget
	start_serve --gc-every 1h --gc-grace 0s "$@"
	while :; do
		rec=$(gc_started)
		[[ -n $rec ]] && break
		round "$WORK/$name"
	done
	stop_serve
	echo "$rec" >"$WORK/$name.gc"
	say "  gc: started, took (s), blobs deleted: $rec; $(wc -l <"$WORK/$name.base") samples of each"
}
during gc
during gc-rate --gc-rate "$RATE"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'; }
row() { # LABEL PREFIX
	local b50 b99 m50 m99 gc=
	b50=$(pct "$2.base" 0.5) b99=$(pct "$2.base" 0.99) m50=$(pct "$2.manifest" 0.5) m99=$(pct "$2.manifest" 0.99)
	[[ -f $2.gc ]] && gc=$(awk '{printf "%.1f s, %d blobs", $2, $3}' "$2.gc")
	printf '| %s | %s / %s ms | %s / %s ms | %s | %s |\n' "$1" "$b50" "$b99" "$m50" "$m99" \
		"$(ratio "$b99" "$(pct "$WORK/quiet.base" 0.99)") / $(ratio "$m99" "$(pct "$WORK/quiet.manifest" 0.99)")" "$gc"
}
echo
echo "| serve, one worker | GET /v2/ p50 / p99 | manifest GET p50 / p99 | p99 / quiet p99 (target <= 2) | the gc |"
echo "|---|---|---|---|---|"
row "quiet" "$WORK/quiet"
row "during scheduled gc, no rate limit" "$WORK/gc"
row "during scheduled gc, --gc-rate $RATE" "$WORK/gc-rate"
echo
echo "$(date -u +%Y-%m-%d), $(nproc) cores; $(cat "$WORK/tree.txt"); migrate: $(cat "$WORK/migrate.json")"
