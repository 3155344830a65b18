# Sourced by the scripts/test-*.sh set-up scripts, each of which defines its own log(). Root through sudo only when
# not root, never prompting without a terminal (CI); Debian packages installed only when missing.
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if [ -t 0 ]; then SUDO=(sudo); else SUDO=(sudo -n); fi
fi
as_root() { ${SUDO[@]+"${SUDO[@]}"} "$@"; }

# apt_install [--recommends] PKG…: installs the packages that are not installed; apt's output goes to stderr, so a
# script whose stdout is its answer (test-code-server.sh prints a path) keeps it clean.
apt_install() {
  local recommends=(--no-install-recommends) missing=() pkg
  if [ "${1:-}" = --recommends ]; then recommends=(); shift; fi
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${recommends[@]+"${recommends[@]}"} "${missing[@]}" >&2
}
