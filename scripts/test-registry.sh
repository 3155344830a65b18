#!/usr/bin/env bash
# Installs what test/docker/push.test.ts runs a real registry with: Debian's docker-registry (distribution 2.8,
# /usr/bin/docker-registry) and htpasswd (apache2-utils, for a registry with basic auth). The test starts and stops
# its own registries on 127.0.0.1 free ports; nothing is started here. Second run: nothing to do.
# On a machine with systemd, Debian's package also enables a docker-registry service on :5000 that the tests do not
# use (`sudo systemctl disable --now docker-registry` if you do not want it).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

log() { printf '[test-registry] %s\n' "$*"; }
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

apt_install docker-registry apache2-utils
log "$(/usr/bin/docker-registry --version), $(command -v htpasswd)"
