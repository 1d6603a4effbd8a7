#!/usr/bin/env bash
# Installs what Realize needs on a Debian machine with Node 20 (run as root), then the npm
# packages. Each step is skipped when what it installs is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
# The mount tests also drive real tools (git, rsync, sqlite3, tar) and python3 (raw syscalls as
# another user); the benchmarks (and their spec) compare against bindfs and an rsync daemon.
for pkg in libfuse2 fuse libfuse-dev git rsync sqlite3 tar python3 bindfs; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

stamp=node_modules/.realize-installed
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ package.json -nt "$stamp" ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund
  touch "$stamp"
fi
