"""``POST /app/api/invoices``: a createInvoiceLink for a package, opened by the page with
``Telegram.WebApp.openInvoice``. Credits come only from the successful_payment that follows
(core/bot/payments.py), never from this endpoint."""

from __future__ import annotations

from typing import Any

from aiogram.exceptions import TelegramAPIError

from core.pipeline.invoices import package_invoice_link
from core.web.miniapp.api import json_body
from core.web.miniapp.call import ApiError, Call, bad_request, not_found


async def post_invoice(call: Call) -> dict[str, Any]:
    body = await json_body(call)
    kind, wanted = body.get("kind"), body.get("id")
    if kind not in ("package", "plan") or not isinstance(wanted, str):
        raise bad_request()
    if kind == "plan":
        # Monthly plans are sold once their payments are credited (the "subs" branch).
        raise not_found()
    package = next((p for p in call.app.settings.product.credit_packages if p.id == wanted), None)
    if package is None:
        raise not_found()
    try:
        link = await package_invoice_link(call.app, call.lang, package, call.user.id)
    except TelegramAPIError as error:
        raise ApiError(503, "unavailable", "api_unavailable") from error
    return {"link": link}
