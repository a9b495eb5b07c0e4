"""Customer tags reach the bot only in a token signed by the shop; nothing a customer types or sends sets them."""
import time

import jwt
import pytest

from bot.channels.customer import verified_tags, with_verified_customer

SECRET = "test-secret-that-is-at-least-32-bytes-long"


def token(secret=SECRET, **claims):
    body = {"sub": "cust-9", "vip_tier": "gold", "lifetime_orders": 31, "open_tickets": 2,
            "exp": int(time.time()) + 300, **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, secret, algorithm="HS256")


def test_a_signed_token_becomes_the_customer_tags():
    metadata = with_verified_customer({"customer_token": token(), "page": "/cart"}, SECRET)
    assert metadata == {"page": "/cart", "customer": {"id": "cust-9", "vip_tier": "gold", "lifetime_orders": 31,
                                                       "open_tickets": 2}}


def test_tags_the_client_sends_itself_are_dropped():
    assert with_verified_customer({"customer": {"vip_tier": "platinum"}}, SECRET) == {}
    forged = {"customer": {"vip_tier": "platinum"}, "customer_token": token(secret="x" * 40)}
    assert with_verified_customer(forged, SECRET) == {}


@pytest.mark.parametrize("bad", [
    token(exp=int(time.time()) - 5),            # expired
    token(exp=None),                            # no expiry
    token(sub=None),                            # no customer id
    jwt.encode({"sub": "c", "vip_tier": "gold", "exp": int(time.time()) + 60}, None, algorithm="none"),
    "not-a-token", 12345, None, "x" * 5000,
])
def test_bad_tokens_give_no_tags(bad):
    assert verified_tags(bad, SECRET) is None


def test_without_a_secret_no_tags_are_ever_accepted():
    assert with_verified_customer({"customer_token": token()}, "") == {}


def test_odd_claim_values_are_cleaned():
    tags = verified_tags(token(vip_tier="Diamond", lifetime_orders=-3, open_tickets=True), SECRET)
    assert tags == {"id": "cust-9", "vip_tier": "none"}
