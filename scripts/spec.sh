#!/usr/bin/env bash
# spec.sh - the edit-test loop: builds what the specs load (the normal and
# the crash-point builds), starts a throwaway cluster of its own, runs the
# given spec files or layers under Lua 5.4 and LuaJIT, stops the cluster.
#
#   scripts/spec.sh spec/policy/gc_spec.lua [more files...]
#   scripts/spec.sh policy             every spec/policy/*_spec.lua (a layer, a
#                                      directory of spec/: driver, registry,
#                                      policy, cli, unit, http)
#   REGSTORE_LUAS=lua5.4 scripts/spec.sh ...    one interpreter only
#   REGSTORE_CLUSTER_DIR=/tmp/mine scripts/spec.sh ...   reuse a running cluster
#                                      (started with scripts/cluster.sh; left running)
#
# HTTP specs (spec/http/*_http.lua) run under LuaJIT only, inside nginx, as
# scripts/test.sh runs them. The whole suite is scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
(($#)) || { echo "usage: scripts/spec.sh FILE.lua|LAYER..." >&2; exit 2; }

files=() http=()
for a in "$@"; do
	if [[ -f $a ]]; then
		if [[ $a == *_http.lua ]]; then http+=("$a"); else files+=("$a"); fi
	elif [[ ${a#spec/} == http || ${a#spec/} == http/ ]]; then
		http+=(spec/http/*_http.lua)
	elif a=${a#spec/} a=${a%/} && compgen -G "spec/$a/*_spec.lua" >/dev/null; then
		files+=(spec/"$a"/*_spec.lua)
	else
		echo "spec.sh: no spec file or layer '$a'" >&2; exit 2
	fi
done

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 >/dev/null
cmake -S . -B build-crash -DREGSTORE_CRASH_POINTS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-crash -j2 >/dev/null

if [[ -n ${REGSTORE_CLUSTER_DIR:-} ]] && scripts/cluster.sh status "$REGSTORE_CLUSTER_DIR"; then
	eval "$(scripts/cluster.sh env "$REGSTORE_CLUSTER_DIR")"
else
	dir=/tmp/regstore-spec-$$
	eval "$(scripts/cluster.sh start "$dir" "$((3900 + $$ % 300))")"
	trap 'scripts/cluster.sh stop "$dir" >/dev/null 2>&1 || true' EXIT
fi

rc=0
if ((${#files[@]})); then
	for lua in ${REGSTORE_LUAS:-lua5.4 luajit}; do
		echo "== $lua: ${files[*]}"
		REGSTORE_LUA=$lua LUA_CPATH="$root/build/$lua/?.so;;" REGSTORE_CRASH_CPATH="$root/build-crash/$lua/?.so;;" \
			"$lua" /usr/bin/busted "${files[@]}" || rc=1
	done
fi
if ((${#http[@]})); then
	echo "== luajit in nginx: ${http[*]}"
	REGSTORE_LUA=luajit LUA_CPATH="$root/build/luajit/?.so;;" REGSTORE_LUAJIT_CPATH="$root/build/luajit/?.so;;" \
		luajit /usr/bin/busted --pattern=_http "${http[@]}" || rc=1
fi
exit $rc
