"""The Teams edge: the only package that imports botbuilder.

Everything else in the bot works on the plain types in `bot.turns`, so a move
to the Teams SDK or the Microsoft 365 Agents SDK replaces this package only.
"""
