#!/usr/bin/env bash
# wskit.pubsub tests run a real Redis: install Debian's redis-server binary
# (idempotently). The tests start their own server on a free port with a
# temporary directory, so the system service is neither started nor needed.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
    exit 0
fi
source "$(dirname "${BASH_SOURCE[0]}")/../lib/apt.sh"
apt_install_without_services redis-server
command -v redis-server >/dev/null
