"""Stars invoices as links (``createInvoiceLink``): a package's, and a monthly plan's (a Stars
subscription, ``subscription_period`` 30 days). Used by /buy's plan button (core/bot/subscriptions.py)
and by the Mini App, which opens a link with ``WebApp.openInvoice``.

Each call is one Bot API request: never make it inside a database transaction (a handler makes it
after its commit, e.g. from a ``Deferred`` reply). The payload is signed as a chat invoice's
(core/stars.py), so pre-checkout and crediting treat a link's payment exactly as a sendInvoice's.
"""

from __future__ import annotations

from typing import Any

from aiogram.methods import CreateInvoiceLink, SendInvoice
from aiogram.types import LabeledPrice

from core.growth import SUBSCRIPTION_PERIOD, Plan
from core.pipeline.services import App
from core.stars import CURRENCY, Package, Priced, make_payload, payload_key
from core.ui.texts import text

_WORDING = {False: ("invoice_title", "invoice_description"), True: ("plan_invoice_title", "plan_invoice_description")}


def _fields(app: App, user_id: int, item: Priced, lang: str, *, monthly: bool) -> dict[str, Any]:
    title_key, description_key = _WORDING[monthly]
    title = text(lang, title_key, credits=item.credits)
    return {
        "title": title,
        "description": text(lang, description_key, credits=item.credits),
        "payload": make_payload(payload_key(app.settings.telegram.token), item, user_id, monthly=monthly),
        "currency": CURRENCY,
        "prices": [LabeledPrice(label=title, amount=item.stars)],
        "provider_token": "",  # Telegram Stars take no payment provider
    }


def package_invoice(app: App, user_id: int, package: Package, lang: str) -> SendInvoice:
    """The package's invoice as a chat message (the /buy buttons)."""
    return SendInvoice(chat_id=user_id, **_fields(app, user_id, package, lang, monthly=False))


async def package_invoice_link(app: App, user_id: int, package: Package, lang: str) -> str:
    """A link to pay for ``package`` once; only ``user_id`` can pay it (checked at pre-checkout)."""
    return await app.bot(CreateInvoiceLink(**_fields(app, user_id, package, lang, monthly=False)))


async def plan_invoice_link(app: App, user_id: int, plan: Plan, lang: str) -> str:
    """A link to subscribe to ``plan``: Telegram charges its stars now and every 30 days until
    cancelled, each charge a successful_payment carrying this link's payload."""
    fields = _fields(app, user_id, plan, lang, monthly=True)
    return await app.bot(CreateInvoiceLink(subscription_period=SUBSCRIPTION_PERIOD, **fields))
