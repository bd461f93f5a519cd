"""Run wstest with its listening sockets bound to 127.0.0.1 (Python 2.7 and 3).

wstest's fuzzing server listens on every interface and has no option to
choose one: this wrapper makes Twisted's ``listenTCP`` default to the
loopback interface, then runs wstest with the same command line.
"""

import autobahntestsuite  # noqa: F401 (installs the reactor wstest expects, first)
from autobahntestsuite import wstest
from twisted.internet import reactor

_listen_tcp = reactor.listenTCP


def _listen_tcp_locally(port, factory, backlog=50, interface=""):
    return _listen_tcp(port, factory, backlog, interface or "127.0.0.1")


reactor.listenTCP = _listen_tcp_locally

if __name__ == "__main__":
    wstest.run()
