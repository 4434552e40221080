"""ICE incidents: declared by admins and announced everywhere; the downtime log,
the reconciliation when ICE is back, and the bot's own reminder."""
