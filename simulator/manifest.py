"""The printable manifest page: an order's wallets (or one wallet) with scannable tickets."""

from __future__ import annotations

from html import escape

from simulator.model import Order, Wallet
from simulator.render import amount

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #111; }
h1 { font-size: 1.4rem; margin-bottom: .2rem; }
.order { color: #555; margin-bottom: 1.5rem; }
.wallet { border: 1px solid #999; border-radius: 6px; padding: 1rem; margin-bottom: 1rem;
          page-break-inside: avoid; }
.wallet h2 { font-size: 1.1rem; margin: 0 0 .4rem; }
.wallet dl { display: grid; grid-template-columns: max-content auto; gap: .1rem 1rem; margin: 0 0 .6rem; }
.wallet dt { color: #555; }
.tickets { display: flex; flex-wrap: wrap; gap: 1rem; }
.ticket { text-align: center; font-family: ui-monospace, monospace; font-size: .85rem; }
.ticket svg { display: block; margin: 0 auto .3rem; }
@media print { body { margin: 0; } }
"""


def manifest_page(order: Order, wallet_id: str | None = None) -> str | None:
    """The HTML page of the order's wallets, or of one of them; None if it has no such wallet."""
    wallets = [wallet for wallet in order.wallets if wallet_id in (None, wallet.wallet_id)]
    if not wallets:
        return None
    title = f"Order {order.sell_to_order_reference}"
    sections = "\n".join(_wallet(wallet) for wallet in wallets)
    about = " &middot; ".join(escape(part) for part in (order.order_id, order.sell_to_name, order.status.value))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{escape(title)}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>{escape(title)}</h1>
<p class="order">Order {about}</p>
{sections}
</body>
</html>
"""


def _wallet(wallet: Wallet) -> str:
    import segno  # only manifest pages need it

    tickets = "\n".join(
        f'<div class="ticket" data-ticket-number="{escape(ticket.number)}">'
        f"{segno.make(ticket.number, micro=False).svg_inline(scale=3)}"
        f"{escape(ticket.number)}<br>{escape(ticket.description)}<br>"
        f"{escape(ticket.visit_date)} {escape(ticket.slot)}</div>"
        for ticket in wallet.tickets
    )
    price = f"{amount(wallet.price_incl_vat)} {wallet.currency_code}"
    return f"""<section class="wallet" data-wallet-id="{escape(wallet.wallet_id)}">
<h2>{escape(wallet.name)}</h2>
<dl>
<dt>Wallet reference</dt><dd class="wallet-reference">{escape(wallet.reference_number)}</dd>
<dt>External reference</dt><dd>{escape(wallet.external_reference_number)}</dd>
<dt>Price</dt><dd>{escape(price)}</dd>
</dl>
<div class="tickets">
{tickets}
</div>
</section>"""
