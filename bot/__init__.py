"""ICE Downtime Assistant: a Teams bot for the ICE radiology downtime procedure."""
