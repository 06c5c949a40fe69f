"""The JSON shapes of the API: field names and order as the real implementation emits them;
and the cache of rendered orders."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from urllib.parse import quote

import orjson

from simulator.clock import format_datetime
from simulator.guids import NULL_GUID
from simulator.model import Line, Manifest, Order, Ticket, Wallet

CACHED_ORDERS = 10_000  # rendered orders kept (a quantity-2 order renders to about 2.2 KB)
CACHED_BYTES = 32 * 1024 * 1024  # rendered bytes kept in all
MAX_CACHED_BYTES = 256 * 1024  # a larger order (over ~250 wallets) is rendered each time


def order_json(order: Order, base_url: str) -> dict:
    """The single-order JSON of create, get, confirm, replace and delete."""
    body = {
        "orderId": order.order_id,
        "status": order.status.value,
        "statusMessage": order.status_message,
        **_sold_by_and_to(order),
        "receivedAt": format_datetime(order.received_at),
        "jobId": order.job_id,
    }
    link = manifest_url(base_url, order.manifest) if order.manifest else ""
    if link:
        body["manifestUrl"] = link
    body["items"] = [_line(line, link, shells=order.ota) for line in order.lines]
    return body


class RenderCache:
    """Order JSON as sent, by order version: an order is never changed in place (a change
    commits a new version), so the bytes rendered for a version stay right. Bounded: the
    latest `max_orders` orders and `max_bytes` in all; an order over MAX_CACHED_BYTES is
    rendered each time."""

    def __init__(self, max_orders: int = CACHED_ORDERS, max_bytes: int = CACHED_BYTES):
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple, tuple[Order, str, bytes]] = OrderedDict()
        self._max_orders = max_orders
        self._max_bytes = max_bytes
        self._bytes = 0

    def order_bytes(self, order: Order, base_url: str) -> bytes:
        with self._lock:
            cached = self._entries.get(order.key)
            if cached is not None and cached[0] is order and cached[1] == base_url:
                self._entries.move_to_end(order.key)
                return cached[2]
        body = orjson.dumps(order_json(order, base_url))
        if len(body) <= MAX_CACHED_BYTES:
            self._keep(order, base_url, body)
        return body

    def _keep(self, order: Order, base_url: str, body: bytes) -> None:
        with self._lock:
            replaced = self._entries.pop(order.key, None)
            if replaced is not None:
                self._bytes -= len(replaced[2])
            self._entries[order.key] = (order, base_url, body)
            self._bytes += len(body)
            while len(self._entries) > self._max_orders or self._bytes > self._max_bytes:
                self._bytes -= len(self._entries.popitem(last=False)[1][2])


def order_summary(order: Order, base_url: str) -> dict:
    """The compact summary listOrdersByPartner returns (manifestUrl always present)."""
    return {
        "orderId": order.order_id,
        **_sold_by_and_to(order),
        "status": order.status.value,
        "statusMessage": order.status_message,
        "receivedAt": format_datetime(order.received_at),
        "jobId": order.job_id,
        "manifestUrl": manifest_url(base_url, order.manifest) if order.manifest else "",
    }


def manifest_url(base_url: str, manifest: Manifest) -> str:
    """A manifest URL in the real format (`mid`, `gid`, `kid`, `gen`, `sig`), served by us;
    a wallet's adds `&wallet={walletId}`."""
    kid = 0
    signed = f"GET|{kid}|{manifest.generated}|{manifest.manifest_id}|{manifest.template_id}"
    signature = hashlib.sha256(signed.encode()).hexdigest()
    return (
        f"{base_url}/_sim/manifest?mid={manifest.manifest_id}&gid={quote(manifest.template_id)}"
        f"&kid={kid}&gen={manifest.generated}&sig={signature}"
    )


def amount(value: float) -> int | float:
    """Decimals as JSON numbers: 80, not 80.0."""
    return int(value) if float(value).is_integer() else round(value, 2)


def _sold_by_and_to(order: Order) -> dict:
    fields = {
        "partnerId": order.partner_id,
        "sellToOrderReference": order.sell_to_order_reference,
    }
    if order.ota:
        fields["buyFromOrderReference"] = order.buy_from_order_reference
    return fields | {
        "sellToEmail": order.sell_to_email,
        "sellToName": order.sell_to_name,
        "sellToLanguage": order.sell_to_language,
        "paymentReference": order.payment_reference,
    }


def _line(line: Line, manifest_link: str, shells: bool = False) -> dict:
    body = {
        "lineNo": line.line_no,
        "itemNumber": line.item_number,
        "description": line.description,
        "isPackage": line.kind.has_components,
        "quantity": line.quantity,
        "visitDate": line.visit_date,
        "visitTime": line.visit_time,
        "sellToName": line.sell_to_name,
        "sellToEmail": line.sell_to_email,
        "sellToLanguage": line.sell_to_language,
    }
    if line.kind.has_components and line.component_schedule:
        body["componentSchedule"] = [
            {"itemNumber": entry.item_number, "visitDate": entry.visit_date, "visitTime": entry.visit_time}
            for entry in line.component_schedule
        ]
    if shells and not line.wallets:  # OTA: the wallets to be, until the worker mints them
        body["wallets"] = [_shell(line, seq_no) for seq_no in range(1, line.wallet_count + 1)]
    else:
        body["wallets"] = [_wallet(wallet, manifest_link) for wallet in line.wallets]
    return body


def _shell(line: Line, seq_no: int) -> dict:
    def supplied(values: list[str]) -> str:
        return values[seq_no - 1] if len(values) >= seq_no else ""

    return {
        "seqNo": seq_no,
        "walletId": NULL_GUID,
        "walletReferenceNumber": "",
        "externalReferenceNumber": supplied(line.requested_references),
        "name": supplied(line.requested_names),
        "issuedAt": "",
        "unitPriceExclVat": 0,
        "unitPriceInclVat": 0,
        "currencyCode": "",
        "assets": [],
    }


def _wallet(wallet: Wallet, manifest_link: str) -> dict:
    body = {
        "seqNo": wallet.seq_no,
        "walletId": wallet.wallet_id,
        "walletReferenceNumber": wallet.reference_number,
        "externalReferenceNumber": wallet.external_reference_number,
        "name": wallet.name,
        "issuedAt": format_datetime(wallet.issued_at),
        "unitPriceExclVat": amount(wallet.price_excl_vat),
        "unitPriceInclVat": amount(wallet.price_incl_vat),
        "currencyCode": wallet.currency_code,
    }
    if manifest_link:
        body["manifestUrl"] = f"{manifest_link}&wallet={wallet.wallet_id}"
    body["assets"] = [_asset(ticket) for ticket in wallet.tickets]
    return body


def _asset(ticket: Ticket) -> dict:
    return {
        "id": ticket.id,
        "type": ticket.kind.value,
        "assetId": ticket.asset_id,
        "referenceNumber": ticket.number,
        "itemNumber": ticket.item_number,
        "description": ticket.description,
    }
