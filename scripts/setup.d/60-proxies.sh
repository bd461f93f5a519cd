#!/usr/bin/env bash
# tests/deployment run the deployment guides' own nginx and HAProxy
# configurations in front of a wskit server: install Debian's nginx and
# haproxy binaries (idempotently). The tests start each proxy themselves, on
# free ports with a temporary directory, so the system services are neither
# started nor needed.
set -euo pipefail
if command -v nginx >/dev/null 2>&1 && command -v haproxy >/dev/null 2>&1; then
    exit 0
fi
source "$(dirname "${BASH_SOURCE[0]}")/../lib/apt.sh"
apt_install_without_services nginx haproxy
command -v nginx >/dev/null
command -v haproxy >/dev/null
