"""`python -m tests.support.offline_app`: `app.py` as production runs it, Microsoft offline.

For tests that run the bot as its own process with authentication on (a real
app id, RS256 channel tokens). Two calls would leave the machine, and only
those are redirected, as `tests/support/jwt.py` does in-process:

* inbound: the OpenID metadata the SDK validates channel tokens against is read
  from `TEST_OPENID_METADATA_URL` (the local JWKS server) instead of
  login.botframework.com; the validation itself runs unchanged;
* outbound: the bot's own access token (MSAL would ask
  login.microsoftonline.com) is a fixed string the connector stub ignores.

Everything else, settings included, is `app.main()` untouched.
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    from botframework.connector.auth import ChannelValidation
    from botframework.connector.auth.microsoft_app_credentials import MicrosoftAppCredentials

    from tests.support.jwt import OUTBOUND_TOKEN

    ChannelValidation.open_id_metadata_endpoint = os.environ["TEST_OPENID_METADATA_URL"]

    def fixed_token(self: MicrosoftAppCredentials, force_refresh: bool = False) -> str:
        return OUTBOUND_TOKEN

    MicrosoftAppCredentials.get_access_token = fixed_token  # type: ignore[method-assign]

    import app

    return app.main([])


if __name__ == "__main__":
    sys.exit(main())
