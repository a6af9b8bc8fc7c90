"""The payment page behind `confirmation_url`: a person clicks "Pay" or "Cancel" in a browser."""

from __future__ import annotations

from html import escape

from scifikpi_tools.standins.yookassa.objects import Payment
from scifikpi_tools.standins.yookassa.values import money

_STYLE = """
body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0;padding:40px}
.card{max-width:420px;margin:auto;background:#fff;border-radius:12px;padding:28px;
box-shadow:0 2px 12px rgba(0,0,0,.08)}
h1{font-size:20px;margin:0 0 4px} .muted{color:#667;font-size:13px}
.amount{font-size:32px;font-weight:600;margin:18px 0}
.row{display:flex;gap:12px;margin-top:22px} form{flex:1}
button{width:100%;padding:12px;border:0;border-radius:8px;font-size:16px;cursor:pointer}
.pay{background:#7b61ff;color:#fff} .cancel{background:#e6e7eb;color:#222}
.status{padding:10px 12px;border-radius:8px;background:#eef;margin-top:16px}
code{font-size:12px}
"""


def checkout_page(payment: Payment, shop_id: str) -> str:
    """HTML of the payment page: details, then buttons (pending) or the outcome."""
    title = escape(payment.description or "Payment")
    amount = f"{money(payment.amount)} {escape(payment.currency)}"
    return_url = (payment.confirmation or {}).get("return_url")
    if payment.status == "pending":
        action = f"/_control/payments/{escape(payment.id)}"
        body = f"""
<div class="row">
  <form method="post" action="{action}/pay"><button class="pay" type="submit">Pay</button></form>
  <form method="post" action="{action}/cancel"><button class="cancel" type="submit">Cancel</button>
  </form>
</div>
<p class="muted">Test mode: no card is charged. "Pay" plays the customer paying with a test
card; "Cancel" plays the customer giving up.</p>"""
    else:
        outcome = {
            "succeeded": "Paid. The shop has been notified.",
            "waiting_for_capture": "Paid; the shop still has to capture the payment.",
            "canceled": "Canceled. No money was taken.",
        }.get(payment.status, payment.status)
        back = f'<p><a href="{escape(return_url)}">Return to the shop</a></p>' if return_url else ""
        body = f'<div class="status">{escape(outcome)}</div>{back}'
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>YooKassa test payment</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><style>{_STYLE}</style></head>
<body><div class="card">
<div class="muted">YooKassa (local fake) · shop {escape(shop_id)} · test mode</div>
<h1>{title}</h1>
<div class="amount">{amount}</div>
<div class="muted">payment <code>{escape(payment.id)}</code> · status
<b id="status">{escape(payment.status)}</b></div>
{body}
</div></body></html>
"""


def not_found_page(payment_id: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Not found</title></head>"
        f"<body><p>No payment <code>{escape(payment_id)}</code> here.</p></body></html>"
    )
