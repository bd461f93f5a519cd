"""The interfaces that WebSocket extensions implement (RFC 6455, section 9).

An extension is negotiated in the opening handshake by a pair of factories:

* the client's :class:`ClientExtensionFactory` writes an offer into the
  ``Sec-WebSocket-Extensions`` request header and checks the server's answer;
* the server's :class:`ServerExtensionFactory` reads an offer and either
  answers it or declines it.

Either way, the outcome is an :class:`Extension`: an object that transforms
frames on their way out (:meth:`Extension.encode`) and on their way in
(:meth:`Extension.decode`) for the lifetime of the connection.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..frames import Frame
from ..typing import ExtensionName, ExtensionParameter

__all__ = ["ClientExtensionFactory", "Extension", "ServerExtensionFactory"]


class Extension:
    """A negotiated extension, bound to one connection.

    Attributes:
        name: The registered name of the extension.
        compresses: Whether the extension compresses messages: ``send(...,
            compress=False)`` leaves such extensions out for that message.
    """

    name: ExtensionName
    compresses = False

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        """Transform a frame received from the peer.

        Args:
            frame: The incoming frame.
            max_size: How many bytes the decoded payload may hold;
                :obj:`None` means no limit.

        Returns:
            The decoded frame.

        Raises:
            PayloadTooBig: The decoded payload would exceed ``max_size``.
            ProtocolError: The frame breaks the rules of the extension.
        """
        raise NotImplementedError

    def encode(self, frame: Frame) -> Frame:
        """Transform a frame before it is sent to the peer.

        Args:
            frame: The outgoing frame.

        Returns:
            The encoded frame.
        """
        raise NotImplementedError


class ClientExtensionFactory:
    """Offers an extension from the client side and accepts the server's answer.

    Attributes:
        name: The registered name of the extension this factory negotiates.
    """

    name: ExtensionName

    def get_request_params(self) -> Sequence[ExtensionParameter]:
        """Build the parameters of the offer sent to the server.

        Returns:
            The parameters, in the order they should appear in the header.
        """
        raise NotImplementedError

    def process_response_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> Extension:
        """Check the server's answer and build the extension it agrees to.

        Args:
            params: The parameters the server sent back with this extension.
            accepted_extensions: The extensions already accepted, in order.

        Returns:
            The extension, ready to encode and decode frames.

        Raises:
            NegotiationError: The answer is not acceptable.
        """
        raise NotImplementedError


class ServerExtensionFactory:
    """Answers a client's offer for an extension from the server side.

    Attributes:
        name: The registered name of the extension this factory negotiates.
    """

    name: ExtensionName

    def process_request_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> tuple[list[ExtensionParameter], Extension]:
        """Check a client's offer and build the answer and the extension.

        Args:
            params: The parameters of one offer of this extension.
            accepted_extensions: The extensions already accepted, in order.

        Returns:
            The parameters to send back to the client and the extension,
            ready to encode and decode frames.

        Raises:
            NegotiationError: The offer is declined; the server may try the
                next offer.
        """
        raise NotImplementedError
