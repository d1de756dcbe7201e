#!/usr/bin/env bash
# cluster.sh - a throwaway one-mon, one-OSD Ceph cluster for regstore tests.
#
# Usage:
#   scripts/cluster.sh start  [DIR [PORT]]   start (or reuse) a cluster, print export lines
#   scripts/cluster.sh env    [DIR]          print export lines of the cluster in DIR
#   scripts/cluster.sh status [DIR]          exit 0 if the cluster in DIR is running
#   scripts/cluster.sh restart-osd [DIR]     SIGKILL the OSD (by pid file; if it runs), start it again,
#                                            wait until it is up and serves every PG
#                                            (persistent stores only)
#   scripts/cluster.sh stop   [DIR]          stop the daemons (by pid file) and remove DIR
#
#   eval "$(scripts/cluster.sh start)"
#
# Defaults: DIR=${REGSTORE_CLUSTER_DIR:-/tmp/regstore-cluster},
#           PORT=${REGSTORE_CLUSTER_PORT:-3310} (the mon's msgr2 port on 127.0.0.1).
# Environment: REGSTORE_CLUSTER_STORE  the OSD's object store (start only):
#                memstore   objects in memory, the default: fastest, but a
#                           killed OSD comes back empty
#                filestore  objects in files under DIR/osd, a journal file
#                           beside them: survives SIGKILL and restart-osd
#              REGSTORE_CLUSTER_BYTES  memstore capacity (default 6 GiB)
#              REGSTORE_CLUSTER_TIMEOUT seconds allowed for each wait in start
#                                       and restart-osd (default 60)
#
# stdout carries only `export NAME=VALUE` lines (start, env); progress and
# errors go to stderr. Everything the cluster writes lives under DIR: ceph.conf,
# keyrings, mon/ and osd/ data, run/ (pid files, admin sockets), log/.
# Daemons are only ever signalled through the pid files in DIR/run.

set -euo pipefail

readonly POOL=regstore
readonly PG_NUM=8
readonly MARKER=.regstore-cluster

# The caller's Ceph environment must not leak into the cluster's own commands.
unset CEPH_ARGS CEPH_KEYRING

say() { printf 'cluster.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

usage() {
	cat >&2 <<-'EOF'
	usage: cluster.sh start  [DIR [PORT]]
	       cluster.sh env    [DIR]
	       cluster.sh status [DIR]
	       cluster.sh restart-osd [DIR]
	       cluster.sh stop   [DIR]
	environment: REGSTORE_CLUSTER_STORE=memstore|filestore (start; default memstore)
	EOF
	exit 2
}

# ---------------------------------------------------------------- paths

set_paths() {
	local d=$1
	[[ -n $d ]] || die "empty cluster directory"
	[[ $d != *[[:space:]]* ]] || die "cluster directory must not contain white space: '$d'"
	DIR=$(realpath -m -- "$d")
	[[ $DIR != / ]] || die "refusing to use / as the cluster directory"
	CONF=$DIR/ceph.conf
	KEYRING=$DIR/keyring
	MON_DATA=$DIR/mon
	OSD_DATA=$DIR/osd
	RUN=$DIR/run
	LOG=$DIR/log
	MON_PID=$RUN/mon.a.pid
	OSD_PID=$RUN/osd.0.pid
}

# store_of: the OSD's object store, as the cluster's ceph.conf says.
store_of() { sed -n 's/^osd objectstore = //p' "$CONF" 2>/dev/null; }

print_env() {
	printf 'export CEPH_CONF=%q\n' "$CONF"
	printf 'export CEPH_KEYRING=%q\n' "$KEYRING"
	printf 'export REGSTORE_POOL=%q\n' "$POOL"
	printf 'export REGSTORE_CLUSTER_DIR=%q\n' "$DIR"
	printf 'export REGSTORE_CLUSTER_STORE=%q\n' "$(store_of)"
}

# ---------------------------------------------------------------- processes

# pid_of FILE: print the pid in FILE if it names a live ceph daemon.
pid_of() {
	local file=$1 pid cmd
	[[ -r $file ]] || return 1
	pid=$(<"$file") || return 1
	pid=${pid//[^0-9]/}
	[[ -n $pid ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	# Guard against a recycled pid: the process must be a ceph daemon of ours.
	cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
	[[ $cmd == *ceph-* && $cmd == *"$CONF"* ]] || return 1
	printf '%s\n' "$pid"
}

running() { pid_of "$MON_PID" >/dev/null && pid_of "$OSD_PID" >/dev/null; }

# alive PID...: true if any PID is still alive.
alive() {
	local p
	for p; do kill -0 "$p" 2>/dev/null && return 0; done
	return 1
}

# wait_gone TENTHS PID...: wait up to TENTHS/10 s for every PID to exit.
wait_gone() {
	local n=$1 i
	shift
	for ((i = 0; i < n; i++)); do
		alive "$@" || return 0
		sleep 0.1
	done
	! alive "$@"
}

# stop_daemons: TERM both daemons (found by pid file), wait up to 5 s, then KILL.
stop_daemons() {
	local pids=() p
	p=$(pid_of "$OSD_PID") && pids+=("$p")
	p=$(pid_of "$MON_PID") && pids+=("$p")
	((${#pids[@]})) || return 0
	kill -TERM "${pids[@]}" 2>/dev/null || true
	wait_gone 50 "${pids[@]}" && return 0
	for p in "${pids[@]}"; do
		if kill -0 "$p" 2>/dev/null; then
			say "pid $p did not exit after SIGTERM, sending SIGKILL"
			kill -KILL "$p" 2>/dev/null || true
		fi
	done
	wait_gone 50 "${pids[@]}" || say "warning: still alive after SIGKILL: ${pids[*]}"
}

# ---------------------------------------------------------------- ceph commands

# c ARGS: the ceph CLI against this cluster, bounded in time.
c() { timeout 20 ceph -c "$CONF" --connect-timeout 10 "$@"; }
r() { timeout 20 rados -c "$CONF" "$@"; }

# retry SECONDS DESCRIPTION CMD...: run CMD until it succeeds or time runs out.
retry() {
	local limit=$1 what=$2 end
	shift 2
	end=$((SECONDS + limit))
	until "$@" >"$DIR/log/last-retry.out" 2>&1; do
		if ((SECONDS >= end)); then
			say "timed out after ${limit}s waiting for: $what"
			say "last attempt ($*):"
			tail -n 20 "$DIR/log/last-retry.out" >&2 || true
			return 1
		fi
		sleep 0.3
	done
}

osd_up() { c osd stat 2>/dev/null | grep -Eq '(^|[^0-9])1 up'; }

probe() {
	r -p "$POOL" put regstore-probe "$CONF" &&
		r -p "$POOL" get regstore-probe "$RUN/probe.out" &&
		cmp -s "$CONF" "$RUN/probe.out" &&
		r -p "$POOL" rm regstore-probe
}

# osd_up_from: osd.0's up_from epoch in the osdmap; empty when it is down.
osd_up_from() {
	c osd dump 2>/dev/null |
		awk '$1 == "osd.0" && $2 == "up" { for (i = 3; i < NF; i++) if ($i == "up_from") print $(i + 1) }'
}

# osd_back OLD: osd.0 is up again in the osdmap, as a new instance (up_from
# other than OLD). A killed OSD stays "up" in the map until its new instance
# boots: with no peer to report it, the mon would wait 900 s to mark it down.
osd_back() {
	local e
	e=$(osd_up_from) && [[ -n $e && $e != "$1" ]]
}

# pgs_clean: every PG of the pool is active+clean on the OSD, as its admin
# socket says (this cluster has no mgr, so `ceph pg stat` never answers).
pgs_clean() {
	local out all clean
	out=$(timeout 20 ceph -c "$CONF" daemon osd.0 dump_pgstate_history) || return 1
	all=$(grep -c '"currently"' <<<"$out") || true
	clean=$(grep -c '"currently": "Started/Primary/Active/Clean"' <<<"$out") || true
	echo "$clean of $all PGs active+clean"
	((all >= PG_NUM && clean == all))
}

port_in_use() {
	ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

# ---------------------------------------------------------------- start

fail_start() {
	local f
	say "error: cluster start failed: $*"
	for f in "$LOG"/setup.log "$LOG"/mon.a.log "$LOG"/osd.0.log; do
		[[ -s $f ]] || continue
		say "---- tail of $f"
		tail -n 25 "$f" >&2 || true
	done
	stop_daemons
	say "logs kept in $LOG; the next start wipes $DIR"
	exit 1
}

# store_conf STORE BYTES: the [global] lines of the OSD's object store.
store_conf() {
	local store=$1 bytes=$2
	case $store in
	memstore)
		cat <<-EOF
		osd objectstore = memstore
		memstore device bytes = $bytes
		# memstore's own byte count can wrap below zero under writes, truncates and
		# removes (seen: used = 2^64 - 44 KiB), which trips the full failsafe and
		# blocks every write; the OSD then reckons fullness from PG stats instead.
		fake statfs for testing = $bytes
		EOF
		;;
	filestore)
		cat <<-EOF
		osd objectstore = filestore
		# Objects are files under osd data, a journal file beside them: the OSD
		# keeps what it acknowledged across SIGKILL and a restart.
		osd journal = $OSD_DATA/journal
		osd journal size = 256
		# osd data is usually on ext4, whose xattrs and names are short: without
		# these the OSD refuses to start (ENAMETOOLONG). regstore's object names
		# are at most 64 bytes, the specs' namespaces shorter.
		osd max object name len = 256
		osd max object namespace len = 64
		EOF
		;;
	*) die "unknown REGSTORE_CLUSTER_STORE '$store' (memstore or filestore)" ;;
	esac
}

write_conf() {
	local fsid=$1 port=$2 bytes=$3 store=$4
	cat >"$CONF" <<-EOF
	# Generated by regstore scripts/cluster.sh - throwaway test cluster.
	[global]
	fsid = $fsid
	mon host = v2:127.0.0.1:$port
	mon initial members = a
	keyring = $KEYRING
	run dir = $RUN

	auth cluster required = cephx
	auth service required = cephx
	auth client required = cephx

	osd pool default size = 1
	osd pool default min size = 1
	osd pool default pg num = 8
	osd pool default pgp num = 8
	osd pool default pg autoscale mode = off
	mon allow pool size one = true
	mon allow pool delete = true
	mon warn on pool no redundancy = false
	mon warn on insecure global id reclaim allowed = false
	mon max pg per osd = 1000
	osd crush chooseleaf type = 0
	mon data avail crit = 0
	mon data avail warn = 0

	$(store_conf "$store" "$bytes")
	osd class load list = *
	osd class default list = *

	[mon]
	mon data = $MON_DATA
	# Commit map changes quickly (default 1 s): faster start and pool creation.
	paxos propose interval = 0.1
	keyring = $MON_DATA/keyring
	pid file = $RUN/\$name.pid
	admin socket = $RUN/\$name.asok
	log file = $LOG/\$name.log

	[osd]
	osd data = $OSD_DATA
	keyring = $OSD_DATA/keyring
	pid file = $RUN/\$name.pid
	admin socket = $RUN/\$name.asok
	log file = $LOG/\$name.log
	public addr = 127.0.0.1
	cluster addr = 127.0.0.1
	# stop TERMs mon and osd together: do not wait for a mon ack on shutdown.
	osd fast shutdown notify mon = false
	EOF
}

cmd_start() {
	local port=$1 bytes=${REGSTORE_CLUSTER_BYTES:-6442450944}
	local limit=${REGSTORE_CLUSTER_TIMEOUT:-60} store=${REGSTORE_CLUSTER_STORE:-memstore}
	local t0=$SECONDS fsid osd_uuid osd_id

	if ! [[ $port =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
		die "bad port '$port'"
	fi
	[[ $store == memstore || $store == filestore ]] ||
		die "bad REGSTORE_CLUSTER_STORE '$store' (memstore or filestore)"
	[[ $bytes =~ ^[0-9]+$ ]] || die "bad REGSTORE_CLUSTER_BYTES '$bytes'"
	[[ $limit =~ ^[0-9]+$ ]] || die "bad REGSTORE_CLUSTER_TIMEOUT '$limit'"
	local t
	for t in ceph ceph-mon ceph-osd ceph-authtool monmaptool rados uuidgen timeout ss; do
		command -v "$t" >/dev/null || die "'$t' not found (run scripts/deps.sh)"
	done

	if [[ -e $DIR ]]; then
		if running; then
			say "cluster already running in $DIR (mon pid $(pid_of "$MON_PID"), osd pid $(pid_of "$OSD_PID"))"
			[[ $(store_of) == "$store" ]] ||
				say "warning: its OSD uses $(store_of), not $store (stop it to start another)"
			print_env
			return 0
		fi
		if [[ -f $DIR/$MARKER ]]; then
			say "wiping stale cluster directory $DIR"
			stop_daemons
			rm -rf -- "$DIR"
		elif [[ -d $DIR && -z $(ls -A -- "$DIR") ]]; then
			:
		else
			die "$DIR exists and is not a cluster directory made by this script; refusing to wipe it"
		fi
	fi

	if port_in_use "$port"; then
		die "port $port on this host is already in use (another cluster? use: cluster.sh start DIR PORT)"
	fi

	mkdir -p "$MON_DATA" "$OSD_DATA" "$RUN" "$LOG"
	: >"$DIR/$MARKER"
	fsid=$(uuidgen)
	osd_uuid=$(uuidgen)
	write_conf "$fsid" "$port" "$bytes" "$store"
	export CEPH_CONF=$CONF

	say "creating cluster $fsid in $DIR (mon on 127.0.0.1:$port, $store OSD)"
	{
		ceph-authtool -c /dev/null --create-keyring "$DIR/mon.keyring" --gen-key -n mon. --cap mon 'allow *' &&
			ceph-authtool -c /dev/null --create-keyring "$KEYRING" --gen-key -n client.admin \
				--cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' &&
			ceph-authtool -c /dev/null "$DIR/mon.keyring" --import-keyring "$KEYRING" &&
			monmaptool --create --fsid "$fsid" --add a "v2:127.0.0.1:$port" "$DIR/monmap" &&
			ceph-mon -c "$CONF" -i a --mkfs --monmap "$DIR/monmap" --keyring "$DIR/mon.keyring"
	} >>"$LOG/setup.log" 2>&1 || fail_start "mon mkfs failed (see $LOG/setup.log)"

	ceph-mon -c "$CONF" -i a >>"$LOG/setup.log" 2>&1 || fail_start "ceph-mon did not start"
	retry "$limit" "the monitor to answer" c mon stat || fail_start "monitor not reachable"
	say "mon up after $((SECONDS - t0))s"

	osd_id=$(c osd create "$osd_uuid" 2>>"$LOG/setup.log") || fail_start "ceph osd create failed"
	[[ $osd_id == 0 ]] || fail_start "expected osd id 0, got '$osd_id'"
	{
		c osd crush add osd.0 1 root=default &&
			c auth get-or-create osd.0 mon 'allow profile osd' osd 'allow *' -o "$OSD_DATA/keyring" &&
			ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$osd_uuid"
	} >>"$LOG/setup.log" 2>&1 || fail_start "osd setup failed (see $LOG/setup.log)"

	ceph-osd -c "$CONF" -i 0 >>"$LOG/setup.log" 2>&1 || fail_start "ceph-osd did not start"
	retry "$limit" "osd.0 to be up" osd_up || fail_start "osd.0 not up"
	say "osd up after $((SECONDS - t0))s"

	{
		c osd pool create "$POOL" "$PG_NUM" "$PG_NUM" &&
			c osd pool application enable "$POOL" regstore
	} >>"$LOG/setup.log" 2>&1 || fail_start "creating pool $POOL failed (see $LOG/setup.log)"
	# The first op on a new pool waits for its PGs to peer.
	retry "$limit" "a put/get on pool $POOL" probe || fail_start "probe on pool $POOL failed"

	running || fail_start "a daemon died during start"
	say "cluster ready in $((SECONDS - t0))s (mon pid $(pid_of "$MON_PID"), osd pid $(pid_of "$OSD_PID"))"
	print_env
}

# ---------------------------------------------------------------- restart-osd

fail_restart() {
	local f
	say "error: OSD restart failed: $*"
	for f in "$LOG"/restart.log "$LOG"/osd.0.log; do
		[[ -s $f ]] || continue
		say "---- tail of $f"
		tail -n 25 "$f" >&2 || true
	done
	exit 1
}

# The OSD dies as in a crash (SIGKILL, found by its pid file; unless it is
# dead already) and starts again on the same store; done when its new
# instance is up in the osdmap,
# every PG is active+clean, and a put/get on the pool goes through.
cmd_restart_osd() {
	local limit=${REGSTORE_CLUSTER_TIMEOUT:-60} t0=$SECONDS store pid old
	[[ $limit =~ ^[0-9]+$ ]] || die "bad REGSTORE_CLUSTER_TIMEOUT '$limit'"
	[[ -f $DIR/$MARKER ]] || die "$DIR is not a cluster directory made by this script"
	store=$(store_of)
	[[ $store != memstore ]] ||
		die "the OSD in $DIR is a memstore OSD: it would come back empty (start the cluster with REGSTORE_CLUSTER_STORE=filestore)"
	pid_of "$MON_PID" >/dev/null || die "no monitor running in $DIR"
	old=$(osd_up_from) || true

	if pid=$(pid_of "$OSD_PID"); then
		kill -KILL "$pid" 2>/dev/null || die "kill -KILL $pid failed"
		wait_gone 100 "$pid" || die "osd pid $pid still alive 10 s after SIGKILL"
		say "osd pid $pid killed (SIGKILL)"
	else
		say "no OSD running in $DIR (killed already?); starting it"
	fi

	ceph-osd -c "$CONF" -i 0 >>"$LOG/restart.log" 2>&1 || fail_restart "ceph-osd did not start"
	retry "$limit" "osd.0 to boot again" osd_back "$old" || fail_restart "osd.0 not up again"
	say "osd up again after $((SECONDS - t0))s"
	retry "$limit" "every PG of pool $POOL to be active+clean" pgs_clean || fail_restart "PGs not active+clean"
	retry "$limit" "a put/get on pool $POOL" probe || fail_restart "probe on pool $POOL failed"
	pid=$(pid_of "$OSD_PID") || fail_restart "the OSD died after its restart"
	say "osd restarted in $((SECONDS - t0))s (pid $pid, $store)"
}

# ---------------------------------------------------------------- stop / env / status

cmd_stop() {
	if [[ ! -e $DIR ]]; then
		say "no cluster directory $DIR; nothing to stop"
		return 0
	fi
	if [[ ! -f $DIR/$MARKER ]]; then
		die "$DIR is not a cluster directory made by this script; not touching it"
	fi
	stop_daemons
	if pid_of "$MON_PID" >/dev/null || pid_of "$OSD_PID" >/dev/null; then
		die "daemons still alive; $DIR kept"
	fi
	rm -rf -- "$DIR"
	say "stopped cluster in $DIR"
}

cmd_env() {
	print_env
	if ! running; then
		say "warning: no cluster running in $DIR (start it with: cluster.sh start $DIR)"
		return 1
	fi
}

cmd_status() {
	if running; then
		say "running in $DIR (mon pid $(pid_of "$MON_PID"), osd pid $(pid_of "$OSD_PID"))"
	else
		say "not running in $DIR"
		return 1
	fi
}

# ---------------------------------------------------------------- main

main() {
	local cmd=${1:-}
	(($# >= 1)) || usage
	shift
	case $cmd in
	start)
		(($# <= 2)) || usage
		set_paths "${1:-${REGSTORE_CLUSTER_DIR:-/tmp/regstore-cluster}}"
		cmd_start "${2:-${REGSTORE_CLUSTER_PORT:-3310}}"
		;;
	stop | env | status | restart-osd)
		(($# <= 1)) || usage
		set_paths "${1:-${REGSTORE_CLUSTER_DIR:-/tmp/regstore-cluster}}"
		"cmd_${cmd//-/_}"
		;;
	-h | --help | help) usage ;;
	*) usage ;;
	esac
}

main "$@"
