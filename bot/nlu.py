"""Placeholder; replaced by the real classifier in the next commit."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Parsed:
    intent: str
    slots: dict[str, str] = field(default_factory=dict)


def parse(text: str) -> Parsed:
    return Parsed("unknown")
