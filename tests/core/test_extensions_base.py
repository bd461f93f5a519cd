"""Tests for wskit.extensions.base: the interfaces extensions implement."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

import wskit.extensions
from wskit.exceptions import NegotiationError
from wskit.extensions.base import ClientExtensionFactory, Extension, ServerExtensionFactory
from wskit.frames import BINARY, Frame
from wskit.typing import ExtensionName, ExtensionParameter


def test_package_exports_the_interfaces() -> None:
    assert wskit.extensions.Extension is Extension
    assert wskit.extensions.ClientExtensionFactory is ClientExtensionFactory
    assert wskit.extensions.ServerExtensionFactory is ServerExtensionFactory


def test_base_methods_must_be_overridden() -> None:
    frame = Frame(BINARY, b"")
    with pytest.raises(NotImplementedError):
        Extension().decode(frame)
    with pytest.raises(NotImplementedError):
        Extension().encode(frame)
    with pytest.raises(NotImplementedError):
        ClientExtensionFactory().get_request_params()
    with pytest.raises(NotImplementedError):
        ClientExtensionFactory().process_response_params([], [])
    with pytest.raises(NotImplementedError):
        ServerExtensionFactory().process_request_params([], [])


class Reverse(Extension):
    """A toy extension: reverses binary payloads both ways."""

    name = ExtensionName("x-reverse")

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        return Frame(frame.opcode, bytes(frame.data)[::-1], frame.fin)

    def encode(self, frame: Frame) -> Frame:
        return Frame(frame.opcode, bytes(frame.data)[::-1], frame.fin)


class ReverseServerFactory(ServerExtensionFactory):
    name = ExtensionName("x-reverse")

    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> tuple[list[ExtensionParameter], Extension]:
        if params:
            raise NegotiationError("x-reverse takes no parameters")
        return [], Reverse()


def test_a_subclass_plugs_into_frame_serialization() -> None:
    _, extension = ReverseServerFactory().process_request_params([], [])
    assert Frame(BINARY, b"abc").serialize(mask=False, extensions=[extension]) == b"\x82\x03cba"
    assert extension.decode(Frame(BINARY, b"cba")).data == b"abc"


def test_a_factory_declines_with_negotiation_error() -> None:
    with pytest.raises(NegotiationError):
        ReverseServerFactory().process_request_params([("x", None)], [])
