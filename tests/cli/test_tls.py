"""TLS contexts from command-line options."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from wskit.cli.errors import UsageError
from wskit.cli.tls import client_context, server_context

CERTIFICATE = str(Path(__file__).parents[2] / "examples" / "localhost.pem")


def test_client_context_checks_certificates_by_default() -> None:
    context = client_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


def test_client_context_trusts_cacert() -> None:
    context = client_context(CERTIFICATE)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert len(context.get_ca_certs()) == 1


def test_client_context_insecure_checks_nothing() -> None:
    context = client_context(insecure=True)
    assert context.verify_mode == ssl.CERT_NONE
    assert not context.check_hostname


@pytest.mark.parametrize(
    ("path", "error"),
    [("/nonexistent.pem", "No such file or directory"), (__file__, "")],
)
def test_client_context_with_bad_cacert(path: str, error: str) -> None:
    with pytest.raises(UsageError, match=f"^cannot load --cacert {path}: .*{error}"):
        client_context(path)


def test_server_context() -> None:
    assert server_context(None, None) is None
    context = server_context(CERTIFICATE, None)
    assert isinstance(context, ssl.SSLContext)
    assert context.protocol == ssl.PROTOCOL_TLS_SERVER
    assert isinstance(server_context(CERTIFICATE, CERTIFICATE), ssl.SSLContext)


def test_server_context_errors() -> None:
    with pytest.raises(UsageError, match=r"^--keyfile needs --certfile$"):
        server_context(None, CERTIFICATE)
    with pytest.raises(UsageError, match=r"^cannot load --certfile /nonexistent\.pem: No such"):
        server_context("/nonexistent.pem", None)
    with pytest.raises(UsageError, match=f"^cannot load --certfile {__file__}: "):
        server_context(__file__, None)
