#!/usr/bin/env bash
# check_docs.sh - every relative link, anchor and cited repository path in
# README.md, NEWS.md, docs/*.md, bench/README.md and examples/**/README.md
# exists (scripts/check_docs.lua says exactly what is checked). Exit 0 when
# all do, 1 otherwise. A step of scripts/test.sh, right after luacheck.
set -euo pipefail
cd "$(dirname "$0")/.."
lua=lua5.4 # utf8 (slugs) is 5.3+
exec "$lua" scripts/check_docs.lua
