"""The Django side: a view that gives a logged-in user a token for the WebSocket server."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path

from examples.django_auth.tokens import issue_token


def websocket_token(request: HttpRequest) -> JsonResponse:
    # The page asks for a token, then opens wss://.../?token=...
    if not request.user.is_authenticated:
        return JsonResponse({"error": "log in first"}, status=401)
    return JsonResponse({"token": issue_token(request.user.pk)})


urlpatterns = [path("websocket-token/", websocket_token)]
