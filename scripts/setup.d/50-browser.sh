#!/usr/bin/env bash
# The demo's browser test (tests/cli/test_browser.py) drives Debian's headless
# Chromium through chromedriver, so no browser is ever downloaded. Its Python
# side, selenium, comes with the `test` extra of pyproject.toml.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi
# Other installs may hold the dpkg lock: wait for it rather than fail.
apt-get -o DPkg::Lock::Timeout=600 update -qq
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends chromium chromium-driver fonts-liberation
