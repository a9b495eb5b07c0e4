"""Who may open a socket.io connection: the Rasa server's own origin, plus CHAT_ALLOWED_ORIGINS."""
from __future__ import annotations

from typing import Dict

import pytest

from bot.channels.socketio import ChatSocketServer, allowed_origins


def environ(origin_host: str = "bot.example:5005", scheme: str = "http") -> Dict[str, str]:
    return {"wsgi.url_scheme": scheme, "HTTP_HOST": origin_host, "REQUEST_METHOD": "GET"}


@pytest.mark.parametrize("raw, expected", [
    (None, []),
    ("", []),
    ("https://shop.example", ["https://shop.example"]),
    (" https://shop.example/ , https://www.shop.example ,", ["https://shop.example", "https://www.shop.example"]),
    ("https://shop.example,*", "*"),
])
def test_allowed_origins_from_the_environment(raw, expected):
    assert allowed_origins(raw) == expected


def test_the_own_origin_is_always_allowed_and_listed_ones_besides():
    default = ChatSocketServer(allowed_origins(None), async_mode="asgi")
    assert default.eio._cors_allowed_origins(environ()) == ["http://bot.example:5005"]
    listed = ChatSocketServer(allowed_origins("https://shop.example"), async_mode="asgi")
    assert listed.eio._cors_allowed_origins(environ()) == ["http://bot.example:5005", "https://shop.example"]
    behind_tls_proxy = {**environ(), "HTTP_X_FORWARDED_PROTO": "https"}
    assert "https://bot.example:5005" in listed.eio._cors_allowed_origins(behind_tls_proxy)
    anyone = ChatSocketServer(allowed_origins("*"), async_mode="asgi")
    assert anyone.eio._cors_allowed_origins(environ()) is None  # python-engineio: no check
    # the Rasa server's CORS sets the headers; Engine.IO adding its own would duplicate them
    assert listed.eio._cors_headers({**environ(), "HTTP_ORIGIN": "https://shop.example"}) == []
