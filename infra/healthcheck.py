"""Container health check: exit 0 when the bot's /healthz answers 200 with status "ok".

The python:3.11-slim image has no curl or wget, so the Dockerfile's HEALTHCHECK
runs this with the bot's own interpreter. Standard library only. It asks the
bot on loopback at $PORT (default 3978), which works because the container
binds HOST=0.0.0.0.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request


def main() -> int:
    url = f"http://127.0.0.1:{os.environ.get('PORT', '3978')}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            body = json.load(response)
    except Exception as error:  # noqa: BLE001 - any failure means unhealthy
        print(f"unhealthy: {type(error).__name__}", file=sys.stderr)
        return 1
    if body.get("status") != "ok":
        print(f"unhealthy: status={body.get('status')!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
