"""The shop's order system, seen through one client class.

`SampleShop` is the demo back-end (orders from a JSON file, changes kept in memory). A real shop
implements the same four async methods against its order API and sets SHOP_BACKEND to its class path.

Every method that reads or changes an order receives the verified customer (actions/ownership.py) and
acts only on an order that customer owns; for any other order it answers exactly as for an order that
does not exist, so a guessed number reveals nothing.
"""
from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import threading
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Dict, Optional, Protocol

from actions.ownership import VerifiedCustomer, answer_matches

DEFAULT_ORDERS_FILE = Path(__file__).with_name("sample_orders.json")
RETURN_WINDOW_DAYS = 30


class OrderStatus(str, Enum):
    PROCESSING = "processing"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Order:
    order_number: str
    status: OrderStatus
    placed_on: dt.date
    carrier: Optional[str] = None
    tracking_number: Optional[str] = None
    eta: Optional[dt.date] = None
    delivered_on: Optional[dt.date] = None
    customer_id: Optional[str] = None  # the shop account that placed it; None for a guest order
    email: Optional[str] = None  # what a guest proves the order is theirs with (either one)
    postcode: Optional[str] = None


class ChangeResult(str, Enum):
    DONE = "done"
    TOO_LATE = "too_late"
    NOT_FOUND = "not_found"


class ReturnResult(str, Enum):
    CREATED = "created"
    NOT_DELIVERED = "not_delivered"
    WINDOW_CLOSED = "window_closed"
    NOT_FOUND = "not_found"


class ShopClient(Protocol):
    async def order(self, order_number: str, customer: VerifiedCustomer) -> Optional[Order]:
        """The order if `customer` owns it; None when it does not exist or is someone else's."""

    async def verify_guest(self, order_number: str, answer: str) -> bool:
        """Whether `answer` is the e-mail address or postcode on the order (False when there is no such order)."""

    async def change_address(self, order_number: str, address: str, customer: VerifiedCustomer) -> ChangeResult:
        """Changes the delivery address of an order `customer` owns (NOT_FOUND for anyone else's)."""

    async def create_return(self, order_number: str, reason: str,
                            customer: VerifiedCustomer) -> "tuple[ReturnResult, Optional[str]]":
        """Opens a return for an order `customer` owns (NOT_FOUND for anyone else's)."""


class SampleShop:
    """Orders from a JSON file with dates relative to `today`; changes kept in memory."""

    def __init__(self, orders_file: Path = DEFAULT_ORDERS_FILE, today: Optional[dt.date] = None) -> None:
        self._today = today
        self._orders_file = orders_file
        self._orders: Optional[Dict[str, Order]] = None
        self._addresses: Dict[str, str] = {}
        self._returns: Dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def today(self) -> dt.date:
        return self._today or dt.date.today()

    def _load(self) -> Dict[str, Order]:
        if self._orders is None:
            raw = json.loads(self._orders_file.read_text())["orders"]
            self._orders = {o["order_number"]: self._order(o) for o in raw}
        return self._orders

    def _order(self, raw: Dict[str, object]) -> Order:
        def days(key: str, sign: int) -> Optional[dt.date]:
            value = raw.get(key)
            return None if value is None else self.today + dt.timedelta(days=sign * int(value))  # type: ignore[arg-type]

        return Order(
            order_number=str(raw["order_number"]),
            status=OrderStatus(raw["status"]),
            placed_on=days("placed_days_ago", -1) or self.today,
            carrier=raw.get("carrier"),  # type: ignore[arg-type]
            tracking_number=raw.get("tracking_number"),  # type: ignore[arg-type]
            eta=days("eta_in_days", +1),
            delivered_on=days("delivered_days_ago", -1),
            customer_id=raw.get("customer_id"),  # type: ignore[arg-type]
            email=raw.get("email"),  # type: ignore[arg-type]
            postcode=raw.get("postcode"),  # type: ignore[arg-type]
        )

    async def order(self, order_number: str, customer: VerifiedCustomer) -> Optional[Order]:
        order = self._load().get(order_number)
        return order if order is not None and customer.owns(order_number, order.customer_id) else None

    async def verify_guest(self, order_number: str, answer: str) -> bool:
        order = self._load().get(order_number)
        # No such order: False, exactly as for a wrong answer.
        return answer_matches(answer, order.email if order else None, order.postcode if order else None)

    async def change_address(self, order_number: str, address: str, customer: VerifiedCustomer) -> ChangeResult:
        order = await self.order(order_number, customer)
        if order is None:
            return ChangeResult.NOT_FOUND
        if order.status is not OrderStatus.PROCESSING:
            return ChangeResult.TOO_LATE
        with self._lock:
            self._addresses[order_number] = address
        return ChangeResult.DONE

    async def create_return(self, order_number: str, reason: str,
                            customer: VerifiedCustomer) -> "tuple[ReturnResult, Optional[str]]":
        order = await self.order(order_number, customer)
        if order is None:
            return ReturnResult.NOT_FOUND, None
        if order.status is not OrderStatus.DELIVERED or order.delivered_on is None:
            return ReturnResult.NOT_DELIVERED, None
        if (self.today - order.delivered_on).days > RETURN_WINDOW_DAYS:
            return ReturnResult.WINDOW_CLOSED, None
        with self._lock:
            return_id = self._returns.setdefault(order_number, f"R-{order_number}")
        return ReturnResult.CREATED, return_id


def shop_from_env() -> ShopClient:
    """The configured back-end: SHOP_BACKEND=package.module:Class, default the sample shop."""
    spec = os.environ.get("SHOP_BACKEND")
    if not spec:
        return SampleShop(Path(os.environ.get("SHOP_ORDERS_FILE", DEFAULT_ORDERS_FILE)))
    module, _, cls = spec.partition(":")
    return getattr(importlib.import_module(module), cls)()


ZH_WEEKDAYS = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")


def format_date(day: Optional[dt.date], language: Optional[str] = None) -> str:
    """A date as the customer reads it in their language ("Thursday 26 November", zh "11月26日（星期四）"): it is
    filled into the response, so an English date would stand in a Chinese sentence. Not locale-dependent."""
    if language == "zh":
        return f"{day.month}月{day.day}日（{ZH_WEEKDAYS[day.weekday()]}）" if day else "未知"
    return day.strftime("%A %d %B").replace(" 0", " ") if day else "unknown"


class UsesShop:
    """What an action or form validator that talks to the shop shares: the client, made on first use (never at
    import or construction, so the action server starts without the shop); tests pass their own."""

    def __init__(self, shop: Optional[ShopClient] = None) -> None:
        self._shop = shop

    @property
    def shop(self) -> ShopClient:
        if self._shop is None:
            self._shop = shop_from_env()
        return self._shop
