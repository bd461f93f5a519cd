"""Short-lived tokens that tell the wskit server who a user is, signed with Django's secret."""

from __future__ import annotations

from django.core import signing

# A token opens one connection, soon after the page got it.
MAX_AGE = 30  # seconds
SALT = "wskit-example-websocket"  # tokens signed for another purpose don't fit


def issue_token(user_id: int) -> str:
    token: str = signing.dumps(user_id, salt=SALT)
    return token


def read_token(token: str) -> int | None:
    """The user id in a valid token, or None if it's forged, altered or too old."""
    try:
        user_id = signing.loads(token, salt=SALT, max_age=MAX_AGE)
    except signing.BadSignature:  # SignatureExpired is one too
        return None
    return user_id if isinstance(user_id, int) else None
