#!/usr/bin/env node
// Render many Adaptive Cards with Microsoft's JS renderer (npm `adaptivecards`) in
// headless Debian Chromium, each in Teams light and dark at each width, in one
// browser session. Adapted from the team's single-card cardtools/render.mjs.
//
//   node render.mjs MANIFEST.json OUTDIR REPORT.json
//
// MANIFEST: {"cards": [{"name": "...", "card": {...}}], "themes": ["light", "dark"],
//            "widths": [500, 360]}
// Writes OUTDIR/<name>-<theme>-<width>.png and one JSON report to REPORT.json:
// per render, the renderer's parse/validation events, page errors, and what a
// reader would see cut: buttons whose label is truncated, and single words
// (addresses, numbers, links) that wrap onto a second line.
//
// Exit codes: 0 all rendered with no warnings, 1 could not render, 2 rendered
// with warnings (the report says which).
import { chromium } from "playwright-core";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const NM = path.join(HERE, "node_modules");
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const TARGET_VERSION = "1.5";

const [manifestPath, outDir, reportPath] = process.argv.slice(2);
if (!manifestPath || !outDir || !reportPath) {
  console.error("usage: node render.mjs MANIFEST.json OUTDIR REPORT.json");
  process.exit(1);
}
const manifest = JSON.parse(fs.readFileSync(manifestPath, "utf8"));
fs.mkdirSync(outDir, { recursive: true });

function theme(name) {
  const hostConfig = JSON.parse(fs.readFileSync(path.join(HERE, "hostconfigs", `microsoft-teams-${name}.json`), "utf8"));
  const css = fs.readFileSync(path.join(HERE, "hostconfigs", `teams-container-${name}.css`), "utf8")
    .replace(/background-image:\s*url\([^)]*\);?/g, "");
  const extra = fs.readFileSync(path.join(HERE, `teams-extra-${name}.css`), "utf8");
  // Teams' colours as the Adaptive Cards designer shows them.
  const pageBg = name === "dark" ? "#201E1F" : "#F6F6F6";
  const frameBg = hostConfig.containerStyles.default.backgroundColor;
  return { hostConfig, css: css + "\n" + extra, pageBg, frameBg };
}
const THEMES = Object.fromEntries(manifest.themes.map((t) => [t, theme(t)]));

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "cards-gallery-chromium-"));
const reports = [];
let failed = false;
let context;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: Math.max(...manifest.widths) + 64, height: 800 },
    deviceScaleFactor: 1,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  // Offline: the cards load nothing from the network.
  await context.route("**/*", (route) => {
    const u = route.request().url();
    return u.startsWith("data:") || u.startsWith("about:") ? route.continue() : route.abort();
  });
  const page = context.pages()[0] || (await context.newPage());
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  await page.setContent(`<!doctype html><html><head><meta charset="utf-8"><style id="theme"></style>
<style>html,body{margin:0;padding:0}#frame{display:inline-block;padding:16px}#host{box-sizing:border-box}</style>
</head><body><div id="frame"><div id="host" class="teams-card"></div></div></body></html>`);
  await page.addScriptTag({ path: path.join(NM, "markdown-it", "dist", "markdown-it.min.js") });
  await page.addScriptTag({ path: path.join(NM, "adaptivecards", "dist", "adaptivecards.min.js") });

  for (const { name, card } of manifest.cards) {
    for (const themeName of manifest.themes) {
      const t = THEMES[themeName];
      for (const width of manifest.widths) {
        pageErrors.length = 0;
        const result = await page.evaluate(({ card, t, width, targetVersion }) => {
          document.getElementById("theme").textContent =
            t.css + `\nhtml,body,#frame{background:${t.pageBg}}#host{width:${width}px;background:${t.frameBg}}`;
          const AC = window.AdaptiveCards;
          const host = document.getElementById("host");
          host.innerHTML = "";
          const ac = new AC.AdaptiveCard();
          ac.hostConfig = new AC.HostConfig(t.hostConfig);
          const [maj, min] = targetVersion.split(".").map(Number);
          const ctx = new AC.SerializationContext(new AC.Version(maj, min));
          ac.parse(card, ctx);
          const events = [];
          for (let i = 0; i < ctx.eventCount; i++) events.push(ctx.getEventAt(i).message);
          for (const e of ac.validateProperties().validationEvents) events.push(e.message);
          const el = ac.render();
          if (!el) return { rendered: false, events };
          host.appendChild(el);
          // Buttons whose label does not fit show "…": the reader cannot tell them apart.
          // (The label sits in the button or in an element inside it, whichever clips.)
          const clipped = (b) => [b, ...b.querySelectorAll("*")].find((e) => e.scrollWidth > e.clientWidth + 1);
          const cutButtons = [...host.querySelectorAll("button")]
            .filter((b) => clipped(b))
            .map((b) => { const e = clipped(b); return { title: b.textContent, width: e.clientWidth, needs: e.scrollWidth }; });
          // A word with no spaces (an address, a number, a link) drawn on two lines is
          // broken mid-address: a reader copies or types it wrong.
          const brokenWords = [];
          const walker = document.createTreeWalker(host, NodeFilter.SHOW_TEXT);
          for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            for (const m of node.textContent.matchAll(/\S+/g)) {
              if (m[0].length < 12) continue;
              const range = document.createRange();
              range.setStart(node, m.index);
              range.setEnd(node, m.index + m[0].length);
              const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
              if (tops.size > 1) brokenWords.push(m[0]);
            }
          }
          const buttonWidths = [...host.querySelectorAll("button")]
            .map((b) => ({ title: b.textContent, width: b.clientWidth, row: b.parentElement ? b.parentElement.children.length : 1 }));
          return { rendered: true, events, cutButtons, brokenWords, buttonWidths };
        }, { card, t, width, targetVersion: TARGET_VERSION });
        const png = path.join(outDir, `${name}-${themeName}-${width}.png`);
        if (result.rendered) {
          await page.evaluate(() => document.fonts.ready);
          await page.locator("#frame").screenshot({ path: png });
        } else {
          failed = true;
        }
        reports.push({ name, theme: themeName, width, png, pageErrors: [...pageErrors], ...result });
      }
    }
  }
} catch (e) {
  console.error(`fatal: ${e && e.stack ? e.stack : e}`);
  failed = true;
} finally {
  if (context) await context.close().catch(() => {});
  fs.rmSync(userDataDir, { recursive: true, force: true });
}

const warned = reports.some((r) => r.events?.length || r.pageErrors.length || r.cutButtons?.length || r.brokenWords?.length);
fs.writeFileSync(reportPath, JSON.stringify(reports, null, 1));
process.exit(failed ? 1 : warned ? 2 : 0);
