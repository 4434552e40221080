"""Load benchmark: the bot against a bare aiohttp floor and the stock botbuilder echo bot.

Entry point: `python -m bench.run` (or `make bench`). See docs/performance.md.
"""
