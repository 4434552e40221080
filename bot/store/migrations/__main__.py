"""`python -m bot.store.migrations upgrade|check|new`: see `bot.store.migrations.main`."""

import sys

from bot.store.migrations import main

sys.exit(main())
