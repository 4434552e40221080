"""Completed forms users attach in Teams: fetched safely, checked by their content."""
