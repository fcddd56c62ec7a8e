"""``POST /app/api/invoices``: a createInvoiceLink for a package or a monthly plan, opened by the page with
``Telegram.WebApp.openInvoice``. Credits come only from the successful_payment that follows
(core/bot/payments.py), never from this endpoint."""

from __future__ import annotations

from typing import Any

from aiogram.exceptions import TelegramAPIError

from core.pipeline.invoices import package_invoice_link, plan_invoice_link
from core.web.miniapp.api import json_body
from core.web.miniapp.call import ApiError, Call, bad_request, not_found


async def post_invoice(call: Call) -> dict[str, Any]:
    body = await json_body(call)
    kind, wanted = body.get("kind"), body.get("id")
    if kind not in ("package", "plan") or not isinstance(wanted, str):
        raise bad_request()
    app, user_id, lang = call.app, call.user.id, call.lang
    try:
        if kind == "plan":
            plan = next((p for p in app.settings.growth.subscription_plans if p.id == wanted), None)
            if plan is None:
                raise not_found()
            link = await plan_invoice_link(app, user_id, plan, lang)
        else:
            package = next((p for p in app.settings.product.credit_packages if p.id == wanted), None)
            if package is None:
                raise not_found()
            link = await package_invoice_link(app, user_id, package, lang)
    except TelegramAPIError as error:
        raise ApiError(503, "unavailable", "api_unavailable") from error
    return {"link": link}
