"""What the pipeline knows of a video provider: four calls, and errors that say what they mean for us.

A provider renders a prompt (and optionally an input image) into a vertical video, asynchronously:
``create`` starts a task, ``state`` reads it (the authority, whatever a callback claimed),
``upload_image`` puts an input image where the provider can read it, ``balance`` reads the account's
credit (also the cheap probe of whether the provider answers at all).

Errors are provider-neutral. The pipeline never sees a vendor's code:

- ``Retryable``: rate limit, maintenance, server trouble, no answer. Wait and try again
  (``retry_after`` when the provider said how long). A run of them makes the provider unavailable.
- ``AccountProblem``: the key, the credit, a quota. Nothing a retry fixes; the operator must act.
- ``ContentRefused``: the prompt or the image was refused. The user should try another idea.
- ``FinalFailure``: this task cannot be made. Fail (and refund) now, do not retry.
- ``ModelUnavailable``: this model is refused (paused, not supported, unknown) while the provider works.
  The model leaves the menu and its waiting generations are refunded; the provider's health is untouched.
- ``Unanswered`` (a ``Retryable``): the request left, its answer never came (timeout, dropped
  connection). For a create the task may exist, billed: the pipeline must not create blindly again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from core.catalogue import VideoModel


class ProviderError(Exception):
    """A provider call failed; ``detail`` is for the operator's log and the generation's row, never
    for the user (the pipeline maps the class to a sentence of the catalogue). ``code`` is the
    provider's own code, for metrics and alerts only ("" when it gave none)."""

    def __init__(self, detail: str, *, code: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code


class Retryable(ProviderError):
    def __init__(self, detail: str, *, retry_after: float | None = None, code: str = "") -> None:
        super().__init__(detail, code=code)
        self.retry_after = retry_after


class Unanswered(Retryable):
    """The request was sent and its answer lost: the provider may have acted on it."""


class AccountProblem(ProviderError):
    """``code`` names the problem for the admins' alert (e.g. 402), one alert per code."""


class ContentRefused(ProviderError):
    pass


class FinalFailure(ProviderError):
    pass


class WorthAnotherTry(FinalFailure):
    """The task failed for good, but a new task with the same input often succeeds (Veo's "unable to
    generate audio"): the pipeline creates it once more, free, before refunding."""


class ModelUnavailable(ProviderError):
    """One model is gone (for now) while the provider's other models work: never a provider outage."""


@dataclass(frozen=True, slots=True)
class TaskState:
    """A task as the provider last reported it: running, done with a video, or failed for good."""

    finished: bool
    video_url: str | None = None
    failure: ProviderError | None = None  # ContentRefused or FinalFailure when finished without a video
    cost: float | None = None  # what the task cost, in the provider's credits, when the record says

    @property
    def succeeded(self) -> bool:
        return self.finished and self.video_url is not None


class VideoProvider(Protocol):
    name: str  # stable: stored in generations.provider and in the callback route /{name}/callback/{token}
    families: tuple[str, ...]  # the VIDEO_MODELS families it renders
    create_rate: tuple[int, float]  # at most this many creates per this many seconds, across every process
    min_balance: float  # under this credit the admins are told

    async def upload_image(self, data: bytes, file_name: str, mime: str = "image/jpeg") -> str:
        """Make ``data`` readable by the provider; the URL to pass to ``create``."""
        ...

    async def create(
        self,
        model: VideoModel,
        prompt: str,
        image_url: str | None,
        callback_url: str | None,
        duration_s: int | None = None,
    ) -> str:
        """Start a vertical render (of ``duration_s`` seconds when the model lets the user choose); the
        provider's task id."""
        ...

    async def state(self, model: VideoModel, task_id: str) -> TaskState: ...

    async def balance(self) -> float:
        """The account's remaining credit, in the provider's unit."""
        ...

    def callback_task_id(self, body: object) -> str:
        """The task id a callback body names ("" when it names none)."""
        ...

    def callback_authentic(self, task_id: str, headers: Mapping[str, str], now: float) -> bool:
        """Whether the callback's signature (if the provider signs them) is valid and fresh."""
        ...
