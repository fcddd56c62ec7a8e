"""Every sentence a user reads, by key and language. Handlers and jobs never hold prose.

``text(lang, key, **params)`` fills a template; a language without the key falls back to English,
and a test checks that every translation has the same placeholders as its English original.
"""

from __future__ import annotations

import string

DEFAULT_LANGUAGE = "en"

EN: dict[str, str] = {
    "welcome": (
        "👋 Hi {name}! Send me an idea (a sentence, or a photo with a caption) and I will turn it into a "
        "vertical AI video.\n\n💳 You have {credits} credits; a video costs from {min_price}."
    ),
    "welcome_starter": "🎁 {starter} free credits to start with.",
    "help": (
        "How it works:\n"
        "1. Send an idea: a text, or a photo with or without a caption.\n"
        "2. I show the model and the price; confirm to start.\n"
        "3. One message shows the progress; the video arrives in a few minutes.\n"
        "If a video fails, its credits come back automatically.\n\n"
        "/balance: your credits\n/history: your recent videos\n/cancel: drop the current idea\n/help: this text"
    ),
    "balance": "💳 You have {credits} credits.",
    "cancelled": "Okay, dropped.",
    "nothing_to_cancel": "There is nothing to cancel. Send me an idea!",
    "idea_too_long": "That idea is {length} characters long; please keep it under {limit}.",
    "photo_too_big": "That photo is {size_mb} MB; the limit is {limit_mb} MB. Please send a smaller one.",
    "unsupported": "I can't use that. Send an idea as text, or a photo with or without a caption.",
    "unknown_command": "I don't know that command. /help lists what I can do.",
    "confirm": "🎬 {idea}\n\nModel: {model}\nPrice: {price} credits (you have {credits})\n\nMake the video?",
    "confirm_photo_idea": "📷 Your photo, {idea}",
    "confirm_photo_only": "📷 Your photo, brought to life",
    "button_confirm": "✅ Make it ({price} credits)",
    "button_cancel": "✖️ Cancel",
    "button_model": "{model} · {price}",
    "button_regenerate": "🔁 Regenerate",
    "button_history_item": "▶️ {when} · {idea}",
    "not_enough_credits": "This video costs {price} credits and you have {credits}.",
    "too_many_active": "You already have {active} video(s) in progress; wait for it to finish first.",
    "already_started": "This video is already on its way.",
    "draft_gone": "This proposal is no longer open. Send your idea again.",
    "model_changed": "Model changed.",
    "status_queued": "⏳ In line: number {position}, starting in {eta}.\nModel: {model} · {price} credits",
    "status_waiting": (
        "⏸ The video service is down right now, so your video is waiting in line. It starts as soon as the "
        "service is back; until then you can cancel for a full refund.\nModel: {model} · {price} credits"
    ),
    "status_prompting": "✍️ Writing the prompt…",
    "status_rendering": "🎬 Rendering… {elapsed}",
    "status_uploading": "📤 Uploading your video…",
    "status_done": "✅ Done! Your video is below.",
    "status_done_late": "✅ Done, and free: it arrived late. Your video is below.",
    "status_overdue": (
        "⏰ This is taking longer than it should, so your {price} credits are back (you have {credits}). If the "
        "video still arrives within {minutes} minutes, I will send it to you for free."
    ),
    "status_never_arrived": "❌ The video never arrived. Your credits were refunded earlier.",
    "status_cancelled": "✖️ Cancelled.\n💳 {price} credits refunded. You have {credits}.",
    "button_cancel_generation": "✖️ Cancel and refund",
    "cancel_too_late": "It has already started rendering and can no longer be cancelled.",
    "proposal_provider_down": (
        "⚠️ The video service is down right now. If you confirm, your video waits in line and starts as soon "
        "as it is back; you can cancel for a full refund until then."
    ),
    "service_unavailable": "The video service is unavailable right now, so nothing was charged. Please try later.",
    "eta_soon": "under a minute",
    "eta_minutes": "about {minutes} min",
    "status_failed": "❌ {reason}\n💳 {price} credits refunded. You have {credits}.",
    "reason_content": "The video service's content rules turned this idea down. Please try describing it differently.",
    "reason_photo": "I could not read that photo. Please send it again, as a photo (not a file).",
    "reason_busy": "The video service is not available right now. Please try again later.",
    "reason_render": "The video service could not render this one.",
    "reason_timeout": "The video took too long to render.",
    "reason_waited": "The video service stayed down for too long.",
    "reason_undeliverable": "The video could not be delivered.",
    "reason_internal": "Something went wrong on our side.",
    "video_caption": "🎬 {idea}",
    "video_free_note": "🎁 It arrived late, so it is free.",
    "video_link": "🎬 Your video is too large for Telegram to accept from a bot. Download it here (the link "
    "expires after a while):\n{url}",
    "history_empty": "No videos yet. Send me an idea!",
    "history": "🎞 Your recent videos; tap one to get it again:",
    "history_gone": "That video is no longer available.",
    "rate_limited": "⏳ You are sending messages too fast. Wait a minute, then try again.",
    "error": "⚠️ Something went wrong on our side. Please try again.",
    "admin_account_problem": (
        "💥 {provider} account problem ({code}): {message}. New videos are refused (nothing charged); those "
        "already paid wait in line. Fix the account; the bot notices by itself when it works again."
    ),
    "admin_provider_down": (
        "💥 {provider} is down: {reason}. New videos wait in line (users may cancel for a refund); a probe "
        "asks it again with backoff."
    ),
    "admin_provider_up": "✅ {provider} is back after {duration}. Waiting videos are starting.",
    "admin_low_balance": "⚠️ {provider} balance is {balance}, under {minimum}. Top it up before it runs out.",
}

CATALOGUE: dict[str, dict[str, str]] = {"en": EN}


def language(code: str | None) -> str:
    """The catalogue language for a Telegram language_code such as 'en' or 'pt-br'."""
    base = (code or "").split("-")[0].lower()
    return base if base in CATALOGUE else DEFAULT_LANGUAGE


def text(lang: str, key: str, **params: object) -> str:
    template = CATALOGUE.get(lang, EN).get(key) or EN[key]
    return template.format(**params)


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}
