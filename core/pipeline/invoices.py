"""Stars invoices for a package: the same title, description and signed payload whether the chat
sends the invoice (sendInvoice under /buy) or the Mini App opens it (createInvoiceLink, then
``Telegram.WebApp.openInvoice``). Credits come only from the successful_payment that follows
(core/bot/payments.py), which reads the payload back, so both ways credit through one path."""

from __future__ import annotations

from typing import Any

from aiogram.methods import CreateInvoiceLink
from aiogram.types import LabeledPrice

from core.pipeline.services import App
from core.stars import CURRENCY, Package, make_payload, payload_key
from core.ui.texts import text


def package_invoice(app: App, lang: str, package: Package, user_id: int) -> dict[str, Any]:
    """The invoice's fields (sendInvoice and createInvoiceLink take the same ones)."""
    title = text(lang, "invoice_title", credits=package.credits)
    return {
        "title": title,
        "description": text(lang, "invoice_description", credits=package.credits),
        "payload": make_payload(payload_key(app.settings.telegram.token), package, user_id),
        "currency": CURRENCY,
        "prices": [LabeledPrice(label=title, amount=package.stars)],
        "provider_token": "",  # Telegram Stars take no payment provider
    }


async def package_invoice_link(app: App, lang: str, package: Package, user_id: int) -> str:
    """A link that opens the package's invoice; a network call, so never inside a transaction."""
    return await app.bot(CreateInvoiceLink(**package_invoice(app, lang, package, user_id)))
