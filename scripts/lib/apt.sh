# Sourced by scripts/setup.d/*.sh: Debian packages installed without starting
# the services they bring.

# apt_install_without_services PACKAGE...: install Debian's PACKAGEs (and
# not their recommends), quietly. A policy-rc.d answering 101 keeps their
# postinst from starting a service: we may be in a container without
# systemd, or on a machine where the service's usual port is someone else's.
# The policy is removed when the calling script exits, unless it was there
# before. Another setup script (or the machine's own updates) may hold
# dpkg's lock: apt waits for it rather than fail.
apt_install_without_services() {
    local policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod +x "$policy"
        # Expanded now: the trap runs after this function's locals are gone.
        trap "rm -f '$policy'" EXIT
    fi
    local apt=(apt-get -o DPkg::Lock::Timeout=600)
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" update -qq
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq --no-install-recommends "$@" \
        >/dev/null
}
