#!/usr/bin/env bash
# test.sh - the whole test suite: installs what is missing, builds, checks the
# Lua sources with luacheck, starts a throwaway cluster of its own, runs every
# busted spec under Lua 5.4 and under LuaJIT, stops the cluster, and ends with
# one line "N passed, N failed" totalling every suite.
#
#   scripts/test.sh              everything
#   REGSTORE_LONG=1 scripts/test.sh   also the long runs (5 GiB stream, 32x32 MiB)
#   REGSTORE_SANITIZE=1 scripts/test.sh   engine and binding under ASan/UBSan (Lua 5.4)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

scripts/deps.sh

build=build
cmake_flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
if [[ ${REGSTORE_SANITIZE:-0} == 1 ]]; then
	build=build-asan
	cmake_flags+=(-DREGSTORE_SANITIZE=ON -DREGSTORE_LUAJIT=OFF)
fi
cmake -S . -B "$build" "${cmake_flags[@]}" >/dev/null
cmake --build "$build" -j2 >/dev/null

# --- crash-point build ---
# A second tree with the crash points compiled in (REGSTORE_CRASH_AT,
# REGSTORE_CRASH_TRACE), for the children of spec/driver_crash_spec.lua; the
# specs themselves run on the normal build.  Not in sanitizer mode: there the
# crash spec is pending.
crash_build=
if [[ ${REGSTORE_SANITIZE:-0} != 1 ]]; then
	crash_build=build-crash
	cmake -S . -B "$crash_build" -DREGSTORE_CRASH_POINTS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build "$crash_build" -j2 >/dev/null
fi
# --- end crash-point build ---

passed=0 failed=0
count() { # adds up a TAP log
	local ok notok
	ok=$(grep -c '^ok ' "$1" || true)
	notok=$(grep -c '^not ok ' "$1" || true)
	passed=$((passed + ok)) failed=$((failed + notok))
	echo "$2: $ok passed, $notok failed"
}

logs=$(mktemp -d)
lua_dirs=()
for d in lua spec bench examples; do [[ -d $d ]] && lua_dirs+=("$d"); done
if luacheck -q "${lua_dirs[@]}" >"$logs/luacheck" 2>&1; then
	passed=$((passed + 1)); echo "luacheck: clean"
else
	failed=$((failed + 1)); cat "$logs/luacheck"; echo "luacheck: warnings"
fi

# A cluster of our own, on a port and directory no other run uses; the long
# runs stream 5 GiB, more than the default 6 GiB memstore holds beside the rest.
[[ ${REGSTORE_LONG:-0} == 1 ]] && export REGSTORE_CLUSTER_BYTES=${REGSTORE_CLUSTER_BYTES:-12884901888}
port=$((3500 + $$ % 400))
cluster_dir=/tmp/regstore-test-$$
eval "$(scripts/cluster.sh start "$cluster_dir" "$port")"
trap 'scripts/cluster.sh stop "$cluster_dir" >/dev/null 2>&1 || true; rm -rf "$logs"' EXIT

# --- installed rock smoke (luarocks make) ---
# The rock as users get it: `luarocks make` from a copy of the sources (as
# from a fresh clone elsewhere) into throwaway trees, for Lua 5.4, for LuaJIT
# (5.1 API, OpenResty's headers) and against plain Lua 5.1 headers; then
# spec/installed/smoke.lua runs through each INSTALLED copy, from a directory
# without .busted so that nothing puts lua/ of this tree on the path.
# --deps-mode none: no rocks server here; Debian's lua-cjson serves at run time.
rock_smoke() { # luarocks-lua-version interpreter name [VAR=value for luarocks make...]
	local ver=$1 lua=$2 name=$3 tree=$logs/rocks-$3 tap=$logs/rock-$3.tap
	shift 3
	rm -rf "$logs/rock-src/build.luarocks"
	if ! (cd "$logs/rock-src" && luarocks --lua-version "$ver" make --tree "$tree" --deps-mode none \
		rockspec/regstore-scm-1.rockspec "$@") >"$logs/rock-$name.log" 2>&1; then
		tail -20 "$logs/rock-$name.log"
		failed=$((failed + 1)); echo "installed rock ($name): luarocks make failed"
		return
	fi
	(unset LUA_PATH_5_4 LUA_CPATH_5_4 LUA_INIT LUA_INIT_5_4
		eval "$(luarocks --lua-version "$ver" --tree "$tree" path)"
		cd "$logs" && REGSTORE_ROCK_TREE=$tree "$lua" /usr/bin/busted -o TAP "$root/spec/installed/smoke.lua") \
		>"$tap" 2>&1 || true
	grep -E '^not ok|^#' "$tap" | head -40 || true
	if ! grep -qE '^1\.\.[1-9]' "$tap"; then # busted itself failed: no plan
		tail -20 "$tap"; failed=$((failed + 1))
	fi
	count "$tap" "installed rock ($name)"
}
mkdir -p "$logs/rock-src"
cp -r CMakeLists.txt engine lua bin rockspec "$logs/rock-src/"
rock_smoke 5.4 lua5.4 5.4
rock_smoke 5.1 luajit luajit LUA_INCDIR=/usr/include/luajit-2.1
rock_smoke 5.1 lua5.1 5.1
# --- end installed rock smoke ---

luas=(lua5.4 luajit)
[[ ${REGSTORE_SANITIZE:-0} == 1 ]] && luas=(lua5.4)
for lua in "${luas[@]}"; do
	export REGSTORE_LUA=$lua
	export LUA_CPATH="$root/$build/$lua/?.so;;"
	# --- crash-point build ---
	if [[ -n $crash_build ]]; then export REGSTORE_CRASH_CPATH="$root/$crash_build/$lua/?.so;;"
	else unset REGSTORE_CRASH_CPATH; fi
	# --- end crash-point build ---
	preload=()
	if [[ ${REGSTORE_SANITIZE:-0} == 1 ]]; then
		# libstdc++ first, so that ASan finds the __cxa_throw librados uses.
		preload=(env "LD_PRELOAD=$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so)"
			ASAN_OPTIONS=detect_leaks=0)
	fi
	"${preload[@]}" "$lua" /usr/bin/busted -o TAP spec >"$logs/$lua.tap" 2>&1 || true
	grep -E '^not ok|^#' "$logs/$lua.tap" | head -100 || true
	count "$logs/$lua.tap" "busted ($lua)"
done

# --- the OpenResty registry (spec/http/*_http.lua) ---
# examples/openresty-registry/serve runs the LuaJIT build inside Debian's
# nginx (lua-nginx-module); the specs drive it over HTTP, with curl, skopeo
# and podman, from a LuaJIT busted. Not in sanitizer mode (no LuaJIT build).
if [[ ${REGSTORE_SANITIZE:-0} != 1 ]]; then
	export REGSTORE_LUA=luajit LUA_CPATH="$root/$build/luajit/?.so;;"
	export REGSTORE_LUAJIT_CPATH="$root/$build/luajit/?.so;;"
	luajit /usr/bin/busted -o TAP --pattern=_http spec/http >"$logs/http.tap" 2>&1 || true
	grep -E '^not ok|^#' "$logs/http.tap" | head -100 || true
	if ! grep -qE '^1\.\.[1-9]' "$logs/http.tap"; then tail -20 "$logs/http.tap"; failed=$((failed + 1)); fi
	count "$logs/http.tap" "busted http (nginx, LuaJIT)"
fi
# --- end the OpenResty registry ---

echo "$passed passed, $failed failed"
((failed == 0))
