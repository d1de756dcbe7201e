#!/usr/bin/env bash
# main.sh - the main job: a container registry on regstore.
#
# Installs what is missing, builds, starts a throwaway Ceph cluster and the
# OpenResty registry on it (examples/openresty-registry/serve), pushes a
# sample image with skopeo, pulls it back and compares digests, prints the
# registry's address and how to push to it, and keeps serving until Ctrl-C
# (which stops the registry and the cluster).
#
#   scripts/main.sh                      # registry on 127.0.0.1:5000
#   REGSTORE_LISTEN=127.0.0.1:5080 scripts/main.sh
#
# The benchmarks are one command away: bench/run.sh (the engine, the
# registry layer, and this registry against docker-registry; bench/http.sh
# alone for the last part).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
listen=${REGSTORE_LISTEN:-127.0.0.1:5000}
cluster_dir=${REGSTORE_MAIN_DIR:-/tmp/regstore-main}
cluster_port=${REGSTORE_MAIN_CLUSTER_PORT:-3320}

scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 >/dev/null

work=$(mktemp -d /tmp/regstore-main-work.XXXXXX)
serve_pid=
stop() {
	set +e
	if [[ -n $serve_pid ]]; then
		kill -TERM "$serve_pid" 2>/dev/null
		wait "$serve_pid" 2>/dev/null
	fi
	scripts/cluster.sh stop "$cluster_dir" >/dev/null 2>&1
	rm -rf "$work"
}
trap stop EXIT
trap 'echo; echo "main.sh: stopping" >&2; exit 0' INT TERM

eval "$(scripts/cluster.sh start "$cluster_dir" "$cluster_port")"
export CEPH_CONF REGSTORE_POOL

LUA_PATH= LUA_CPATH="$root/build/luajit/?.so;;" examples/openresty-registry/serve --listen "$listen" &
serve_pid=$!
for _ in $(seq 100); do
	curl -s -o /dev/null "http://$listen/v2/" && break
	kill -0 "$serve_pid" 2>/dev/null || { echo "main.sh: serve did not start" >&2; exit 1; }
	sleep 0.1
done

# A sample image, built here (there is no registry to pull one from): three
# layers, one of them 70 MB, as an OCI layout.
echo "main.sh: building a sample image (3 layers) in $work/image" >&2
lua5.4 scripts/mkimage.lua image "$work/image" latest amd64 main-sample 1048576 70000000 8388608 >/dev/null
ref="$listen/sample/hello:latest"
echo "main.sh: skopeo copy oci:$work/image:latest docker://$ref" >&2
start=$(date +%s.%N)
skopeo copy --quiet --dest-tls-verify=false --preserve-digests --digestfile "$work/pushed" \
	"oci:$work/image:latest" "docker://$ref"
push_s=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
start=$(date +%s.%N)
skopeo copy --quiet --src-tls-verify=false --preserve-digests "docker://$ref" "dir:$work/pulled"
pull_s=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')

# The pulled manifest has the pushed digest, and every pulled blob the
# digest it is named by, and is one of the image's.
pushed=$(cat "$work/pushed")
got=sha256:$(sha256sum "$work/pulled/manifest.json" | cut -d' ' -f1)
[[ $got == "$pushed" ]] || { echo "main.sh: pulled manifest $got, pushed $pushed" >&2; exit 1; }
n=0
for f in "$work"/pulled/*; do
	b=$(basename "$f")
	[[ $b =~ ^[0-9a-f]{64}$ ]] || continue
	[[ $(sha256sum "$f" | cut -d' ' -f1) == "$b" && -f $work/image/blobs/sha256/$b ]] ||
		{ echo "main.sh: pulled blob $b does not match" >&2; exit 1; }
	n=$((n + 1))
done
echo "main.sh: pushed in ${push_s}s, pulled in ${pull_s}s: manifest $pushed and $n blobs, digests match" >&2

cat <<MSG

The registry is serving at http://$listen/v2/ (regstore on the throwaway cluster in $cluster_dir).

Push an image to it, e.g. an OCI layout directory:
  skopeo copy --dest-tls-verify=false oci:DIR:TAG docker://$listen/REPO:TAG
  podman push --tls-verify=false IMAGE $listen/REPO:TAG
  (build one with: lua5.4 scripts/mkimage.lua image DIR TAG amd64 SEED SIZE...)
Look around:
  curl http://$listen/v2/_catalog
  curl http://$listen/v2/sample/hello/tags/list
  skopeo inspect --tls-verify=false docker://$ref
Benchmarks: bench/run.sh (bench/http.sh for the registry alone).

Ctrl-C stops the registry and the cluster.
MSG
wait "$serve_pid"
