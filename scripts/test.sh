#!/usr/bin/env bash
# test.sh - the whole test suite: installs what is missing, builds, checks the
# Lua sources with luacheck and the docs with scripts/check_docs.sh, starts a
# throwaway cluster of its own, runs every busted spec under Lua 5.4 and under
# LuaJIT, stops the cluster, and ends with
# one line "N passed, N failed" totalling every suite.
#
#   scripts/test.sh              everything
#   REGSTORE_LONG=1 scripts/test.sh   also the long runs (5 GiB stream, 32x32 MiB)
#   REGSTORE_SANITIZE=1 scripts/test.sh   only the memory-safety suite (below)
#   REGSTORE_FUZZ_SECS=N          seconds per fuzz target (default 30)
#
# A killed OSD, after the Lua 5.4 and LuaJIT runs: a second
# throwaway cluster whose OSD keeps its objects on disk (filestore), where
# spec/driver/osd_killed_spec.lua SIGKILLs and restarts the OSD (on the
# memstore cluster of the other runs that spec is pending).
#
# Memory safety, after the Lua 5.4 and LuaJIT runs:
#   - the spec suite once more under Lua 5.4 against an ASan+UBSan build
#     of the engine and the binding (build-asan), leaks included, but for
#     the crash-point specs and the policy model (ASAN_SKIP, below);
#   - the driver specs under valgrind memcheck (normal build);
#   - each libFuzzer target of fuzz/ for REGSTORE_FUZZ_SECS (build-fuzz, clang).
# Any sanitizer report, valgrind error or leak, or fuzzer crash fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

scripts/deps.sh

build=build
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 >/dev/null
# The sanitizer build (Lua 5.4 module only) and the fuzz targets (clang).
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DREGSTORE_SANITIZE=ON -DREGSTORE_LUAJIT=OFF >/dev/null
cmake --build build-asan -j2 >/dev/null
if [[ ${REGSTORE_SANITIZE:-0} != 1 ]]; then
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DREGSTORE_FUZZ=ON \
		-DREGSTORE_LUA54=OFF -DREGSTORE_LUAJIT=OFF >/dev/null
	cmake --build build-fuzz -j2 >/dev/null
fi

# --- crash-point build ---
# A second tree with the crash points compiled in (REGSTORE_CRASH_AT,
# REGSTORE_CRASH_TRACE), for the children of spec/driver/crash_points_spec.lua; the
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
# Every relative link, anchor and cited repository path of the docs exists.
if scripts/check_docs.sh >"$logs/docs" 2>&1; then
	passed=$((passed + 1)); echo "docs: links and paths exist"
else
	failed=$((failed + 1)); cat "$logs/docs"; echo "docs: broken links or paths"
fi

# A cluster of our own, on a port and directory no other run uses; the long
# runs stream 5 GiB, more than the default 6 GiB memstore holds beside the rest.
[[ ${REGSTORE_LONG:-0} == 1 ]] && export REGSTORE_CLUSTER_BYTES=${REGSTORE_CLUSTER_BYTES:-12884901888}
port=$((3500 + $$ % 400))
cluster_dir=/tmp/regstore-test-$$
kill_dir=$cluster_dir-kill # the killed-OSD step's own cluster (below)
eval "$(scripts/cluster.sh start "$cluster_dir" "$port")"
trap 'scripts/cluster.sh stop "$cluster_dir" >/dev/null 2>&1 || true
	scripts/cluster.sh stop "$kill_dir" >/dev/null 2>&1 || true; rm -rf "$logs"' EXIT

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
# The installed regstore-serve of the LuaJIT tree, with no checkout on the
# Lua paths: spec/installed/serve.lua starts it on a free port against the
# cluster, pushes and pulls an image with skopeo, stops it. One check.
rock_serve() {
	local tree=$logs/rocks-luajit tap=$logs/rock-serve.tap
	(unset LUA_PATH LUA_CPATH LUA_PATH_5_4 LUA_CPATH_5_4 LUA_INIT LUA_INIT_5_4
		eval "$(luarocks --lua-version 5.1 --tree "$tree" path)"
		cd "$logs" && REGSTORE_ROCK_TREE=$tree luajit /usr/bin/busted -o TAP "$root/spec/installed/serve.lua") \
		>"$tap" 2>&1 || true
	grep -E '^not ok|^#' "$tap" | head -40 || true
	if ! grep -qE '^1\.\.[1-9]' "$tap"; then tail -20 "$tap"; failed=$((failed + 1)); fi
	count "$tap" "installed regstore-serve (luajit)"
}
if [[ ${REGSTORE_SANITIZE:-0} != 1 ]]; then
	mkdir -p "$logs/rock-src"
	cp -r CMakeLists.txt engine lua bin rockspec "$logs/rock-src/"
	mkdir -p "$logs/rock-src/examples" && cp -r examples/openresty-registry "$logs/rock-src/examples/"
	rock_smoke 5.4 lua5.4 5.4
	rock_smoke 5.1 luajit luajit LUA_INCDIR=/usr/include/luajit-2.1
	rock_serve
	rock_smoke 5.1 lua5.1 5.1
fi
# --- end installed rock smoke ---

luas=(lua5.4 luajit)
[[ ${REGSTORE_SANITIZE:-0} == 1 ]] && luas=()
for lua in "${luas[@]}"; do
	export REGSTORE_LUA=$lua
	export LUA_CPATH="$root/$build/$lua/?.so;;"
	# --- crash-point build ---
	if [[ -n $crash_build ]]; then export REGSTORE_CRASH_CPATH="$root/$crash_build/$lua/?.so;;"
	else unset REGSTORE_CRASH_CPATH; fi
	# --- end crash-point build ---
	"$lua" /usr/bin/busted -o TAP spec >"$logs/$lua.tap" 2>&1 || true
	grep -E '^not ok|^#' "$logs/$lua.tap" | head -100 || true
	count "$logs/$lua.tap" "busted ($lua)"
done
unset REGSTORE_CRASH_CPATH

# --- a killed OSD: SIGKILL and restart on a persistent store ---
# A cluster of its own (filestore OSD under $kill_dir, mon port 4300-4699,
# clear of the main cluster's 3500-3899 and of the distribution spec's
# registry), only spec/driver/osd_killed_spec.lua, under Lua 5.4 and LuaJIT;
# the cluster is stopped when the step ends.  A pending spec (the cluster is
# not persistent after all) fails the step.
killed_osd() {
	local t0=$SECONDS env lua tap
	if ! env=$(REGSTORE_CLUSTER_STORE=filestore scripts/cluster.sh start "$kill_dir" \
		"$((4300 + $$ % 400))" 2>"$logs/kill-cluster.log"); then
		tail -30 "$logs/kill-cluster.log"
		failed=$((failed + 1)); echo "killed OSD: the filestore cluster did not start"
		return
	fi
	for lua in lua5.4 luajit; do
		tap=$logs/kill-$lua.tap
		(eval "$env"
			REGSTORE_LUA=$lua LUA_CPATH="$root/$build/$lua/?.so;;" \
				"$lua" /usr/bin/busted -o TAP spec/driver/osd_killed_spec.lua) >"$tap" 2>&1 || true
		grep -E '^not ok|^#' "$tap" | head -60 || true
		if ! grep -qE '^1\.\.[1-9]' "$tap" || grep -q '# SKIP' "$tap"; then
			tail -20 "$tap"; failed=$((failed + 1)); echo "killed OSD ($lua): no result or pending"
		fi
		count "$tap" "busted killed OSD ($lua, filestore)"
	done
	scripts/cluster.sh stop "$kill_dir" >/dev/null 2>&1 || true
	echo "killed OSD: $((SECONDS - t0)) s with the cluster's start and stop"
}
[[ ${REGSTORE_SANITIZE:-0} != 1 ]] && killed_osd

# --- memory safety: the whole suite under ASan + UBSan (Lua 5.4) ---
# lua5.4 itself is not instrumented, so the ASan runtime is preloaded
# (libstdc++ first, so that ASan finds the __cxa_throw librados uses), and so
# is the module itself: Lua unloads C modules at lua_close, and a leak report
# made after that could not name regstore's functions.  Leak detection is on,
# without suppressions: the interpreter frees everything at lua_close (busted
# ends with os.exit(code, true)), and the outside tools the specs run (the
# ceph and rados CLIs, python, skopeo, docker-registry, curl) run through
# wrappers without the sanitizer runtime -- they are not ours to check.  A
# leak in regstore code is therefore always reported.  Reports go to files
# named after the process (log_path, log_exe_name), so that those of child
# processes count too: any report of a lua5.4 process -- the only processes
# that load regstore here -- fails the run.  Reports of other programs a
# spec runs through the shell (mktemp, tr, ... inherit LD_PRELOAD; several
# leak at exit) are listed and ignored: they are not ours.  exitcode=0
# keeps their exit status as it would be; the files decide.
# Not rerun here: the policies' crash-point specs (gc, purge-uploads, fsck
# and migrate SIGKILLed at every point) and the randomized policy model,
# about 2 min under ASan. They ran under both Luas above; their children
# make the engine calls the gc, fsck, migrate and registry specs make here,
# and a SIGKILLed child could not report a leak anyway. The driver's
# crash-point spec (the same file name) is left out too: here it would be
# pending (its children need a crash-point build of their own).
ASAN_SKIP=(--exclude-pattern='^crash_points_spec%.lua$' --exclude-pattern='^migrate_crash_points_spec%.lua$'
	--exclude-pattern='^randomized_model_spec%.lua$')
sanitizer_suite() {
	local dir=$logs/asan tap=$logs/asan.tap wrappers=$logs/nosan-bin t f ours others
	mkdir -p "$dir" "$wrappers"
	for t in ceph rados python3 skopeo docker-registry curl; do
		printf '#!/bin/sh\nexec env -u LD_PRELOAD -u ASAN_OPTIONS -u LSAN_OPTIONS -u UBSAN_OPTIONS %s "$@"\n' \
			"$(command -v "$t" || echo "/usr/bin/$t")" >"$wrappers/$t"
		chmod +x "$wrappers/$t"
	done
	(export PATH="$wrappers:$PATH" REGSTORE_LUA=lua5.4 LUA_CPATH="$root/build-asan/lua5.4/?.so;;"
		export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so) $root/build-asan/lua5.4/regstore/core.so"
		export ASAN_OPTIONS="detect_leaks=1:log_path=$dir/asan:log_exe_name=1:exitcode=0"
		export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$dir/ubsan:log_exe_name=1"
		lua5.4 /usr/bin/busted -o TAP "${ASAN_SKIP[@]}" spec) >"$tap" 2>&1 || true
	grep -E '^not ok|^#' "$tap" | head -100 || true
	count "$tap" "busted (lua5.4, ASan+UBSan, leaks)"
	ours=$(find "$dir" -type f -name '*.lua5.4.*' | sort)
	others=$(find "$dir" -type f ! -name '*.lua5.4.*' -printf '%f ' )
	[[ -n $others ]] && echo "sanitizers: ignored reports of other programs: $others"
	if [[ -n $ours ]]; then
		for f in $ours; do echo "--- $f"; head -60 "$f"; done
		failed=$((failed + 1)); echo "sanitizers: $(echo "$ours" | wc -l) report(s) of lua5.4 processes"
	else
		passed=$((passed + 1)); echo "sanitizers: no report of a lua5.4 process"
	fi
}
sanitizer_suite

# --- memory safety: the driver specs under valgrind memcheck ---
# The normal build, Lua 5.4.  Not run here: the specs that measure time
# bounds (the invariants spec's timeouts, the stopped OSD: valgrind makes every step
# slower than the bound), and the long or multi-process ones whose work
# happens in child processes (crash, stress, random stress, concurrency).
# scripts/valgrind.supp holds suppressions for librados, ceph and Lua
# internals only (commented, one by one).  Every leak kind counts.
valgrind_specs() {
	local dir=$logs/valgrind tap=$logs/valgrind.tap rc=0 bad
	local specs=(spec/driver/binding_spec.lua spec/driver/conformance_spec.lua spec/driver/errors_spec.lua
		spec/driver/rados_layout_spec.lua spec/driver/flaws_2015_spec.lua spec/driver/walk_spec.lua
		spec/driver/corrupt_metadata_spec.lua spec/driver/bad_input_spec.lua)
	mkdir -p "$dir"
	(export REGSTORE_LUA=lua5.4 LUA_CPATH="$root/$build/lua5.4/?.so;;" REGSTORE_BADINPUT_CALLS=1000
		exec valgrind --tool=memcheck --error-exitcode=97 --leak-check=full \
			--show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible \
			--suppressions="$root/scripts/valgrind.supp" --num-callers=40 --child-silent-after-fork=yes \
			--log-file="$dir/vg.%p" lua5.4 /usr/bin/busted -o TAP "${specs[@]}") >"$tap" 2>&1 || rc=$?
	grep -E '^not ok|^#' "$tap" | head -100 || true
	count "$tap" "busted (lua5.4, valgrind memcheck)"
	bad=$(grep -lE 'ERROR SUMMARY: [1-9]' "$dir"/vg.* 2>/dev/null || true)
	if ((rc == 97)) || [[ -n $bad ]]; then
		for f in $bad; do echo "--- $f"; grep -A30 -E '^==[0-9]+== (Invalid|Conditional|Syscall|Mismatched|[0-9,]+ bytes in)' "$f" | head -80; done
		failed=$((failed + 1)); echo "valgrind: errors or leaks (exit $rc)"
	else
		passed=$((passed + 1)); echo "valgrind: no error, no leak"
	fi
}
[[ ${REGSTORE_SANITIZE:-0} != 1 ]] && valgrind_specs

# --- fuzzing: each libFuzzer target for REGSTORE_FUZZ_SECS seconds ---
# From the committed corpus (fuzz/corpus/<target>/, seeds and every crash
# found so far), into a scratch copy; a crash or a failed property fails.
fuzz_targets() {
	local secs=${REGSTORE_FUZZ_SECS:-30} bin name dict runs total=0
	for bin in build-fuzz/fuzz_*; do
		[[ -x $bin ]] || continue
		name=$(basename "$bin")
		mkdir -p "$logs/fuzz/$name"
		dict=()
		[[ -f fuzz/${name#fuzz_}.dict ]] && dict=(-dict="$root/fuzz/${name#fuzz_}.dict")
		if (cd "$logs/fuzz" && "$root/$bin" -max_total_time="$secs" -print_final_stats=1 "${dict[@]}" \
			-artifact_prefix="$logs/fuzz/$name-" "$name" "$root/fuzz/corpus/$name") >"$logs/fuzz/$name.log" 2>&1; then
			runs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$logs/fuzz/$name.log" | grep -oE '[0-9]+$' || echo 0)
			total=$((total + runs))
			passed=$((passed + 1)); echo "fuzz $name: $runs executions in ${secs} s, no crash"
		else
			grep -E 'ERROR|runtime error|property failed|Test unit written' "$logs/fuzz/$name.log" | head -10
			failed=$((failed + 1)); echo "fuzz $name: crashed (reproducer above; add it to fuzz/corpus/$name)"
		fi
	done
	echo "fuzz: $total executions in all"
}
[[ ${REGSTORE_SANITIZE:-0} != 1 ]] && fuzz_targets

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
