"""TLS contexts from command-line options, with readable errors."""

from __future__ import annotations

import ssl

from .errors import UsageError

__all__ = ["client_context", "server_context"]


def client_context(
    cafile: str | None = None,
    insecure: bool = False,
    certfile: str | None = None,
    keyfile: str | None = None,
) -> ssl.SSLContext:
    """Return the context for ``wss://`` connections.

    Args:
        cafile: Certificates to trust, in PEM, instead of the system's.
        insecure: Don't check the certificate or the host name at all.
        certfile: The client's certificate chain, in PEM, for servers that
            ask for one; it may hold the key too.
        keyfile: The client's private key, when it isn't in ``certfile``.

    Raises:
        UsageError: ``cafile`` or the client certificate can't be loaded, or
            ``keyfile`` comes without ``certfile``.
    """
    try:
        context = ssl.create_default_context(cafile=cafile)
    except OSError as exc:  # ssl.SSLError is an OSError too
        raise UsageError(f"cannot load --cacert {cafile}: {exc.strerror or exc}") from None
    if certfile is not None:
        try:
            context.load_cert_chain(certfile, keyfile)
        except OSError as exc:
            raise UsageError(f"cannot load --cert {certfile}: {exc.strerror or exc}") from None
    elif keyfile is not None:
        raise UsageError("--key needs --cert")
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def server_context(certfile: str | None, keyfile: str | None) -> ssl.SSLContext | None:
    """Return the context of a ``wss://`` server, or :obj:`None` without ``certfile``.

    Args:
        certfile: The certificate chain, in PEM; it may hold the key too.
        keyfile: The private key, when it isn't in ``certfile``.

    Raises:
        UsageError: ``keyfile`` comes without ``certfile``, or they can't be loaded.
    """
    if certfile is None:
        if keyfile is not None:
            raise UsageError("--keyfile needs --certfile")
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(certfile, keyfile)
    except OSError as exc:
        raise UsageError(f"cannot load --certfile {certfile}: {exc.strerror or exc}") from None
    return context
