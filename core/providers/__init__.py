"""The services that make videos: video providers behind one interface (core/providers/base.py),
KIE first, and the prompt writer. ``Providers`` finds the provider of a model by its family."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from core.catalogue import VideoModel
from core.providers.base import VideoProvider


class Providers:
    def __init__(self, providers: Iterable[VideoProvider]) -> None:
        self._by_name: dict[str, VideoProvider] = {}
        self._by_family: dict[str, VideoProvider] = {}
        for provider in providers:
            self._by_name[provider.name] = provider
            for family in provider.families:
                self._by_family.setdefault(family, provider)

    def check(self, models: Mapping[str, VideoModel]) -> list[str]:
        """Problems with VIDEO_MODELS: families no provider renders."""
        return [
            f"VIDEO_MODELS: {m.id!r} is of family {m.family!r}, which no provider renders "
            f"(known: {', '.join(sorted(self._by_family))})"
            for m in models.values()
            if m.family not in self._by_family
        ]

    def for_model(self, model: VideoModel) -> VideoProvider:
        return self._by_family[model.family]

    def named(self, name: str) -> VideoProvider | None:
        return self._by_name.get(name)

    def __iter__(self) -> Iterator[VideoProvider]:
        return iter(self._by_name.values())
