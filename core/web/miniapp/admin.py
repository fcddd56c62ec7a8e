"""The admins' screen: ``GET /app/api/stats`` (the /stats numbers and 14 days of revenue, generations
by model and failure rate) and ``GET /app/api/users/<id or @username>`` (/user's facts), from the
same code as the commands (core/pipeline/reports.py). ``endpoint(admin=True)`` turns others away (403)."""

from __future__ import annotations

from typing import Any

from core.pipeline import reports
from core.web.miniapp.call import Call, not_found
from db import admin as db_admin
from db import miniapp as db_miniapp

DAYS = 14


async def get_stats(call: Call) -> dict[str, Any]:
    pool = call.app.pool
    numbers = await reports.stats(pool)
    daily = await db_admin.stats_daily(pool, DAYS)
    by_model: dict[str, dict[str, int]] = {}
    for row in await db_miniapp.stats_models(pool, DAYS):
        by_model.setdefault(row.day.isoformat(), {})[row.model] = row.generations
    failures = {row.day.isoformat(): row for row in await db_miniapp.stats_failures(pool, DAYS)}
    days = []
    for day in daily:
        key = day.day.isoformat()
        ended = failures.get(key)
        days.append(
            {
                "date": key,
                "revenue_stars": day.stars,
                "generations": by_model.get(key, {}),
                "failure_rate": round(ended.failed / ended.finished, 4) if ended and ended.finished else 0,
            }
        )
    summary = {
        "users": {"total": numbers.users.total, "today": numbers.users.today, "active": numbers.users.active},
        "generations": {row.status: {"today": row.today, "total": row.total} for row in numbers.generations},
        "success_rate": round(numbers.done / numbers.finished, 4) if numbers.finished else None,
        "median_s": numbers.durations.median_s,
        "p95_s": numbers.durations.p95_s,
        "credits": {"sold": numbers.money.sold, "spent": numbers.money.spent, "refunded": numbers.money.refunded},
        "stars": {"total": numbers.money.stars, "today": numbers.money.stars_today},
        "queue": {row.kind: row.depth for row in numbers.queue},
    }
    return {"summary": summary, "days": days}


async def get_user(call: Call) -> dict[str, Any]:
    who = call.request.match_info["who"]
    facts = await reports.user_facts(call.app.pool, who) if len(who) <= 64 else None
    if facts is None:
        raise not_found()
    user = facts.profile
    return {
        "id": user.id,
        "username": user.username,
        "first_name": user.first_name,
        "language": user.language or user.language_code,
        "balance": user.credits,
        "joined": user.created_at.isoformat(),
        "seen": user.seen_at.isoformat() if user.seen_at else None,
        "banned": user.banned_at.isoformat() if user.banned_at else None,
        "ban_reason": user.ban_reason,
        "blocked": user.blocked_at.isoformat() if user.blocked_at else None,
        "moderation_flags": user.moderation_flags,
        "ledger": [
            {"at": e.created_at.isoformat(), "delta": e.delta, "reason": e.reason, "reference": e.reference}
            for e in facts.ledger
        ],
        "generations": [
            {"id": g.id, "status": g.status, "model": g.model, "price": g.price, "created_at": g.created_at.isoformat()}
            for g in facts.generations
        ],
    }
