"""`make cards`: picture every card the bot can send, in every state, into docs/cards/.

Reads the one declared list of samples (`cards/gallery.py`), renders each card
in Teams light and dark at 500 and 360 px with Microsoft's renderer in headless
Chromium (`render.mjs` beside this file), shrinks the PNGs (1x, 32-colour
palette, optimised) and writes `docs/cards/README.md`, which shows them.

Fails if the renderer reports a warning, a button label is cut or an address
breaks across lines: what the rules test in `make test` predicts from metrics,
this checks in the renderer itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from cards.gallery import rendered, samples  # noqa: E402
from cards.render import CardRenderer  # noqa: E402

HERE = Path(__file__).resolve().parent
OUT = ROOT / "docs" / "cards"
THEMES = ("light", "dark")
WIDTHS = (500, 360)


def _shrink(png: Path) -> None:
    """Flat UI colours and anti-aliased text lose nothing visible in a 32-colour palette."""
    with Image.open(png) as image:
        small = image.convert("RGB").quantize(colors=32, method=Image.Quantize.MEDIANCUT)
    small.save(png, optimize=True)


def _index(drawn: list[tuple[str, str, str]]) -> str:
    lines = [
        "# Card gallery",
        "",
        "Every card the bot can send, in every state that looks different, drawn by",
        "Microsoft's Adaptive Cards renderer (`adaptivecards` 3.0.6) in headless Chromium",
        "with the Teams light and dark host configs, at 500 px (desktop) and 360 px (phone).",
        "Made by `make cards` from the samples declared in",
        "[`cards/gallery.py`](../../cards/gallery.py); the same list is checked by",
        "`tests/test_card_rules.py` in `make test`. Chromium here draws with DejaVu Sans,",
        "which is wider than Teams' Segoe UI, so a label that fits here fits in Teams.",
        "",
    ]
    for name, template, about in drawn:
        lines += [
            f"## {name}",
            "",
            f"{about} (`cards/templates/{template}.json.j2`)",
            "",
            "| light 500 px | dark 500 px | light 360 px | dark 360 px |",
            "|---|---|---|---|",
            "| "
            + " | ".join(
                f"![{name} {theme} {width}]({name}-{theme}-{width}.png)"
                for width in WIDTHS
                for theme in THEMES
            )
            + " |",
            "",
        ]
    return "\n".join(lines)


def main() -> int:
    renderer = CardRenderer()
    chosen = samples()
    manifest = {
        "cards": [{"name": s.name, "card": rendered(s, renderer)} for s in chosen],
        "themes": list(THEMES),
        "widths": list(WIDTHS),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.png"):
        old.unlink()
    with tempfile.TemporaryDirectory() as work:
        manifest_path, report_path = Path(work, "cards.json"), Path(work, "report.json")
        manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
        done = subprocess.run(
            ["node", str(HERE / "render.mjs"), str(manifest_path), str(OUT), str(report_path)],
            check=False,
        )
        if done.returncode == 1:
            return 1
        reports = json.loads(report_path.read_text(encoding="utf-8"))
    problems = []
    for report in reports:
        where = f"{report['name']} {report['theme']} {report['width']} px"
        problems += [f"{where}: renderer: {event}" for event in report.get("events", [])]
        problems += [f"{where}: page: {error}" for error in report["pageErrors"]]
        problems += [
            f"{where}: button cut: {b['title']!r} needs {b['needs']} px, has {b['width']}"
            for b in report.get("cutButtons", [])
        ]
        problems += [f"{where}: broken across lines: {w}" for w in report.get("brokenWords", [])]
        _shrink(Path(report["png"]))
    (OUT / "README.md").write_text(
        _index([(s.name, s.template, s.about) for s in chosen]) + "\n", encoding="utf-8"
    )
    size = sum(p.stat().st_size for p in OUT.glob("*.png"))
    print(f"{len(reports)} pictures of {len(chosen)} cards in {OUT} ({size / 1024:.0f} KiB)")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 2 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
