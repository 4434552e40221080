"""A loopback file server that plays SharePoint for `make chat`'s `/attach`.

Teams stores a file a user attaches in their OneDrive and gives the bot a
short-lived download URL. Here the chat client registers a local file under
a random token and serves it on 127.0.0.1, and the bot (in development mode,
which allows plain http from loopback hosts only) fetches it from there.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import quote

from aiohttp import web


class LocalFiles:
    """Files the chat client offers, by token; served read-only at /download/<token>/<name>."""

    def __init__(self) -> None:
        self._files: dict[str, Path] = {}
        self.base_url = ""

    def offer(self, path: Path) -> str:
        """Register `path`; the URL the bot is given to fetch it."""
        token = secrets.token_urlsafe(12)
        self._files[token] = path
        return f"{self.base_url}/download/{token}/{quote(path.name)}"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/download/{token}/{name}", self._download)
        return app

    async def _download(self, request: web.Request) -> web.StreamResponse:
        path = self._files.get(request.match_info["token"])
        if path is None or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path)

    async def start(self, host: str = "127.0.0.1") -> web.AppRunner:
        runner = web.AppRunner(self.app())
        await runner.setup()
        site = web.TCPSite(runner, host, 0)
        await site.start()
        port = runner.addresses[0][1]
        self.base_url = f"http://{host}:{port}"
        return runner
