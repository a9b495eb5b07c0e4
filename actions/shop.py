"""The shop's order system, seen through one client class.

`SampleShop` is the demo back-end (orders from a JSON file, changes kept in memory). A real shop
implements the same three methods against its order API and sets SHOP_BACKEND to its class path.
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
    def get_order(self, order_number: str) -> Optional[Order]: ...

    def change_address(self, order_number: str, address: str) -> ChangeResult: ...

    def create_return(self, order_number: str, reason: str) -> "tuple[ReturnResult, Optional[str]]": ...


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
        )

    def get_order(self, order_number: str) -> Optional[Order]:
        return self._load().get(order_number)

    def change_address(self, order_number: str, address: str) -> ChangeResult:
        order = self.get_order(order_number)
        if order is None:
            return ChangeResult.NOT_FOUND
        if order.status is not OrderStatus.PROCESSING:
            return ChangeResult.TOO_LATE
        with self._lock:
            self._addresses[order_number] = address
        return ChangeResult.DONE

    def create_return(self, order_number: str, reason: str) -> "tuple[ReturnResult, Optional[str]]":
        order = self.get_order(order_number)
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


def format_date(day: Optional[dt.date]) -> str:
    return day.strftime("%A %d %B").replace(" 0", " ") if day else "unknown"
