"""Settings for the whole test suite."""

from __future__ import annotations

import os

# Clients use the proxy that environment variables configure, and the tests
# connect to servers on 127.0.0.1: a proxy set on the machine running them
# (http_proxy, all_proxy...) must not come in between. Tests about proxies
# set their own. Subprocesses started by tests inherit this environment.
for name in [name for name in os.environ if name.lower().endswith("_proxy")]:
    del os.environ[name]
