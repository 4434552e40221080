"""The downtime radiology request: its model, its checks and its printable form."""
