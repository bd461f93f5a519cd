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
# policy-rc.d answering 101 keeps the packages' postinst from starting the
# services (we may be in a container without systemd, or on a machine where
# port 80 is someone else's).
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
# Other setup scripts (or the machine's own updates) may hold dpkg's lock:
# wait for it rather than fail.
apt=(apt-get -o DPkg::Lock::Timeout=600)
"${apt[@]}" update -qq
"${apt[@]}" install -y -qq --no-install-recommends nginx haproxy >/dev/null
command -v nginx >/dev/null
command -v haproxy >/dev/null
