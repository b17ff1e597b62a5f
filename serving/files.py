"""Sending a stored file: opened before the answer starts, so retention cannot cut a download short.

:class:`OpenFile` is an ASGI response over a file that is already open. On POSIX a file deleted
while open stays readable to its end, so a piece pruned (by this replica, another one, or
``musiclake pieces prune``) while its WAV is being downloaded still arrives whole. ``HEAD`` gets the
same headers and no body.
"""

from __future__ import annotations

import os
from typing import BinaryIO

import anyio
from starlette.responses import Response

from serving.render import TAIL_S

CHUNK = 256 * 1024
WAV_HEADER = 44


def wav_bytes(duration_s: float, sample_rate: int, channels: int = 2, sample_bytes: int = 2) -> int:
    """The most a PCM WAV of a ``duration_s``-second piece takes (16-bit stereo, as :func:`serving.render.
    render_wav` writes it, with its release tail and a second to spare)."""
    return WAV_HEADER + int((duration_s + TAIL_S + 1.0) * sample_rate) * channels * sample_bytes


class OpenFile(Response):
    def __init__(self, handle: BinaryIO, media_type: str, filename: str):  # noqa: super: nothing to render
        self.handle, self.media_type, self.filename = handle, media_type, filename
        self.size = os.fstat(handle.fileno()).st_size
        self.status_code, self.background = 200, None
        self.raw_headers = self._header_list()

    def _header_list(self) -> list[tuple[bytes, bytes]]:
        return [(b"content-type", self.media_type.encode()), (b"content-length", str(self.size).encode()),
                (b"content-disposition", f'attachment; filename="{self.filename}"'.encode())]

    async def __call__(self, scope, receive, send):
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            if scope.get("method") == "HEAD":
                await send({"type": "http.response.body", "body": b""})
                return
            while True:
                chunk = await anyio.to_thread.run_sync(self.handle.read, CHUNK)
                more = len(chunk) == CHUNK
                await send({"type": "http.response.body", "body": chunk, "more_body": more})
                if not more:
                    break
        finally:
            self.handle.close()
