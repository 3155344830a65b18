#!/usr/bin/env bash
# Makes sure code-server 4.100.3 (VS Code 1.100.3 in a browser) and Debian's Chromium are installed for the
# end-to-end tier (test/e2e), then prints the code-server executable's path on stdout. Second run: instant.
#
#   scripts/test-code-server.sh
#   MLC_CACHE_DIR   where code-server is installed (default ~/.cache/ml-containers); it stays out of node_modules
#                   because it is 400 MB of native modules nobody needs for the unit or Docker tiers
set -euo pipefail

VERSION=4.100.3
CACHE=${MLC_CACHE_DIR:-$HOME/.cache/ml-containers}
PREFIX=$CACHE/code-server-$VERSION
BIN=$PREFIX/node_modules/.bin/code-server
TMP=${TMPDIR:-/tmp}
export DEBIAN_FRONTEND=noninteractive

log() { printf '[test-code-server] %s\n' "$*" >&2; }
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

# Build headers for code-server's native modules, ripgrep for its search, Chromium to drive it.
apt_install chromium ripgrep libkrb5-dev libsecret-1-dev libx11-dev libxkbfile-dev

if [ ! -x "$BIN" ]; then
  # code-server's bundled @vscode/ripgrep downloads rg from GitHub in its postinstall, which is unreachable here:
  # seed the cache it looks in with Debian's rg instead, for every version of that package it may ask for.
  rgdir=$(mktemp -d)
  cp /usr/bin/rg "$rgdir/rg"
  for v in 1.15.9 1.15.10 1.15.11 1.15.12 1.15.13 1.15.14 1.16.0 1.17.0; do
    mkdir -p "$TMP/vscode-ripgrep-cache-$v"
    tar -C "$rgdir" -czf "$TMP/vscode-ripgrep-cache-$v/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" rg
  done
  rm -rf "$rgdir"
  log "installing code-server $VERSION into $PREFIX (about 2 minutes)"
  mkdir -p "$PREFIX"
  (cd "$PREFIX" && npm_config_yes=true npm_config_unsafe_perm=true \
    npm install --no-audit --no-fund --no-save --loglevel=error "code-server@$VERSION" >&2)
fi
[ -x "$BIN" ] || { log "code-server did not install into $PREFIX"; exit 1; }
echo "$BIN"
