#!/usr/bin/env bash
# wskit.pubsub tests run a real Redis: install Debian's redis-server binary
# (idempotently). The tests start their own server on a free port with a
# temporary directory, so the system service is neither started nor needed.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
    exit 0
fi
# policy-rc.d answering 101 keeps the package's postinst from starting the
# service (we may be in a container without systemd, or on a machine where
# port 6379 is someone else's).
policy=/usr/sbin/policy-rc.d
created_policy=
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    created_policy=1
fi
remove_policy() {
    if [ -n "$created_policy" ]; then rm -f "$policy"; fi
}
trap remove_policy EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends redis-server >/dev/null
command -v redis-server >/dev/null
