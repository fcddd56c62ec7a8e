"""The video models users can choose, with their prices in credits (VIDEO_MODELS).

Written as ``id:family:price`` entries separated by commas, e.g.
``veo3_fast:veo:60,veo3:veo:250,kling-2.6:kling:55,sora-2:sora:30``. The family names the provider
that renders the model and the shape of its requests: KIE (core/providers/kie.py) serves ``veo``,
``kling``, ``kling3`` and ``sora``. That every family has a provider is checked at start.
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
}
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


@dataclass(frozen=True, slots=True)
class VideoModel:
    id: str
    family: str
    price: int

    @property
    def title(self) -> str:
        return _TITLES.get(self.id) or self.id.replace("-", " ").title()


def parse_models(raw: str) -> dict[str, VideoModel]:
    models: dict[str, VideoModel] = {}
    for entry in filter(None, (part.strip() for part in raw.split(","))):
        parts = [p.strip() for p in entry.split(":")]
        if len(parts) != 3:
            raise ValueError(f"{entry!r} is not id:family:price")
        model_id, family, price = parts
        if not _ID.match(model_id):
            raise ValueError(f"{entry!r}: the id may hold lowercase letters, digits, '.', '_' and '-'")
        if not _ID.match(family):
            raise ValueError(f"{entry!r}: the family is a lowercase name such as veo, kling, kling3 or sora")
        if not price.isdigit() or int(price) < 1:
            raise ValueError(f"{entry!r}: the price must be a whole number of credits, at least 1")
        if model_id in models:
            raise ValueError(f"{model_id!r} is listed twice")
        models[model_id] = VideoModel(model_id, family, int(price))
    if not models:
        raise ValueError("must list at least one model")
    return models
