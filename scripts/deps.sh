#!/usr/bin/env bash
# deps.sh - install regstore's build, test and cluster dependencies on Debian 12.
#
# Run as root. Installs only the packages that are missing (one `apt-get update`
# first, then `apt-get install -y --no-install-recommends`); prints nothing and
# exits 0 when everything is already installed.
#
# LuaJIT is OpenResty's (luajit2, libluajit2-5.1-dev): Debian's nginx Lua
# module needs it, and it conflicts with plain luajit/libluajit-5.1-dev. It
# installs the same paths (/usr/bin/luajit, /usr/include/luajit-2.1), so a
# machine that has plain LuaJIT gets it replaced here. nginx and its Lua
# module run the OpenResty registry (examples/openresty-registry); skopeo and
# podman are its clients in the specs, docker-registry, radosgw and s3cmd its
# peers in bench/http.sh. python3-prometheus-client parses the metrics the
# specs scrape (a real Prometheus text parser, not ours).

set -euo pipefail

PACKAGES=(
	build-essential cmake pkg-config
	lua5.4 liblua5.4-dev luajit2 libluajit2-5.1-dev lua5.1 liblua5.1-0-dev
	librados-dev libradosstriper-dev uuid-dev libssl-dev
	lua-busted lua-cjson lua-filesystem lua-check luarocks curl
	ceph-mon ceph-osd ceph-common
	valgrind skopeo podman docker-registry radosgw s3cmd openssl
	nginx libnginx-mod-http-lua
	clang libclang-rt-14-dev
	python3-prometheus-client lua-rex-pcre2
)

installed() {
	local status
	status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) || return 1
	[[ $status == "install ok installed" ]]
}

missing=()
for p in "${PACKAGES[@]}"; do
	installed "$p" || missing+=("$p")
done

((${#missing[@]})) || exit 0

if ((EUID != 0)); then
	echo "deps.sh: missing packages: ${missing[*]}" >&2
	echo "deps.sh: run as root to install them" >&2
	exit 1
fi

echo "deps.sh: installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -q --no-install-recommends "${missing[@]}"

still=()
for p in "${missing[@]}"; do
	installed "$p" || still+=("$p")
done
if ((${#still[@]})); then
	echo "deps.sh: still missing after install: ${still[*]}" >&2
	exit 1
fi
echo "deps.sh: done" >&2
