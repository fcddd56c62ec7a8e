"""A local S3-compatible server: moto in server mode, on 127.0.0.1, speaking S3's real wire format.

The real client (aiobotocore) talks to it over HTTP exactly as to AWS, R2 or MinIO; moto keeps the
objects in memory and accepts any access key.
"""

from __future__ import annotations

import itertools

from moto.server import ThreadedMotoServer

from core.settings import Settings
from core.settings.sections import StorageSettings
from tests.helpers import SECRETS

_buckets = itertools.count(1)


class FakeS3:
    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.url = ""

    def start(self) -> FakeS3:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self._server.stop()

    def settings(self, **overrides: str) -> StorageSettings:
        """The storage section pointing at this server, with buckets of their own (tests share the server)."""
        n = next(_buckets)
        return Settings.from_env(
            {
                **SECRETS,
                "STORAGE_URL": self.url,
                "STORAGE_ACCESS_KEY": "test-access-key",
                "STORAGE_SECRET_KEY": "test-secret-key-0123456789",
                "STORAGE_INPUTS_BUCKET": f"inputs-{n}",
                "STORAGE_OUTPUTS_BUCKET": f"outputs-{n}",
                **overrides,
            }
        ).storage
