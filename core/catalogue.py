"""The video models users can choose, with their prices in credits (VIDEO_MODELS).

Written as entries separated by commas, each ``id:family:price`` (one clip at one price), e.g.
``veo3_fast:veo:60,veo3:veo:250``, or ``id:family:<credits>/s:<seconds>,<seconds>...`` for a model
priced per second whose length the user picks, e.g. ``seedance-2-mini:seedance:9/s:5,10`` (5 s for
45 credits, 10 s for 90; the first length is the one proposed). A bare number after a per-second
entry is one more of its lengths, which keeps the comma-separated list readable. The family names the
provider that renders the model and the shape of its requests: KIE (core/providers/kie.py) serves
``veo``, ``kling``, ``kling3``, ``seedance`` and ``sora``. That every family has a provider is checked
at start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TITLES = {
    "veo3_fast": "Veo 3.1 Fast",
    "veo3": "Veo 3.1 Quality",
    "veo3_lite": "Veo 3.1 Lite",
    "kling-3.0-std": "Kling 3.0",
    "kling-3.0-pro": "Kling 3.0 Pro",
    "seedance-2": "Seedance 2",
    "seedance-2-fast": "Seedance 2 Fast",
    "seedance-2-mini": "Seedance 2 Mini",
}
# Families whose renders carry sound (Veo always; Kling and Seedance as we ask them: sound / generate_audio on).
SOUND_FAMILIES = frozenset({"veo", "kling", "kling3", "seedance"})
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_RATE = re.compile(r"^([0-9]+)/s$")
MAX_SECONDS = 60


@dataclass(frozen=True, slots=True)
class VideoModel:
    """One line of the catalogue. ``price`` is what the proposal offers first: the clip's price, or for a
    model priced per second (``per_second`` credits) the price of its first length in ``durations``."""

    id: str
    family: str
    price: int
    per_second: int | None = None
    durations: tuple[int, ...] = ()

    @property
    def title(self) -> str:
        return _TITLES.get(self.id) or self.id.replace("-", " ").title()

    @property
    def sound(self) -> bool:
        """Whether its videos have sound: the prompt then ends with a sound cue ("SFX: ...")."""
        return self.family in SOUND_FAMILIES

    @property
    def default_duration(self) -> int | None:
        """The length proposed first; None for a model whose clip length is fixed (Veo: 8 s)."""
        return self.durations[0] if self.durations else None

    def price_for(self, seconds: int | None) -> int | None:
        """The price of a clip of ``seconds``; None when the model does not offer that length."""
        if not self.durations:
            return self.price if seconds is None else None
        if seconds not in self.durations or self.per_second is None:
            return None
        return self.per_second * seconds


def parse_models(raw: str) -> dict[str, VideoModel]:
    models: dict[str, VideoModel] = {}
    last: VideoModel | None = None
    for entry in filter(None, (part.strip() for part in raw.split(","))):
        if entry.isdigit() and last is not None and last.per_second is not None:
            last = models[last.id] = _with_duration(last, entry)
            continue
        last = _parse_entry(entry)
        if last.id in models:
            raise ValueError(f"{last.id!r} is listed twice")
        models[last.id] = last
    if not models:
        raise ValueError("must list at least one model")
    return models


def _parse_entry(entry: str) -> VideoModel:
    parts = [p.strip() for p in entry.split(":")]
    if len(parts) not in (3, 4):
        raise ValueError(f"{entry!r} is not id:family:price (or id:family:<credits>/s:<seconds>,...)")
    model_id, family, price = parts[:3]
    if not _ID.match(model_id):
        raise ValueError(f"{entry!r}: the id may hold lowercase letters, digits, '.', '_' and '-'")
    if not _ID.match(family):
        raise ValueError(f"{entry!r}: the family is a lowercase name such as veo, kling3 or seedance")
    rate = _RATE.match(price)
    if rate is not None:
        if len(parts) != 4 or not parts[3]:
            raise ValueError(f"{entry!r}: a price per second needs its lengths, e.g. {model_id}:{family}:{price}:5,10")
        per_second = _positive(entry, rate.group(1), "the price per second")
        return _with_duration(VideoModel(model_id, family, per_second, per_second, ()), parts[3])
    if len(parts) == 4:
        raise ValueError(f"{entry!r}: lengths are given only with a price per second (<credits>/s)")
    return VideoModel(model_id, family, _positive(entry, price, "the price"))


def _with_duration(model: VideoModel, seconds: str) -> VideoModel:
    length = _positive(f"{model.id}: {seconds}", seconds, "a length")
    if length > MAX_SECONDS:
        raise ValueError(f"{model.id!r}: a length of {length} s is longer than {MAX_SECONDS} s")
    if length in model.durations:
        raise ValueError(f"{model.id!r}: the length {length} s is listed twice")
    durations = (*model.durations, length)
    per_second = model.per_second or 0
    return VideoModel(model.id, model.family, per_second * durations[0], per_second, durations)


def _positive(entry: str, value: str, what: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{entry!r}: {what} must be a whole number of credits (or seconds), at least 1")
    return int(value)
