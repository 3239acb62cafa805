// The consumer console (/ui/ on a consumer's admin listener) in headless
// Chromium: started by tests/e2e/test_consumer_console.py, which runs the
// consumer and produces the events. Checks the token prompt, the events with
// their decisions, the decision filter and that an <img> subject stays text.
// Environment: HB_ADMIN, HB_ADMIN_TOKEN, HB_SHOTS (optional).
"use strict";
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { chromium } = require("playwright-core");

const ADMIN = process.env.HB_ADMIN;
const TOKEN = process.env.HB_ADMIN_TOKEN;
const SHOTS = process.env.HB_SHOTS || "";
const TIMEOUT = 20000;

async function rows(page) {
  return page.$$eval("#rows tr", (trs) => trs.map((tr) => {
    const c = [...tr.children].map((td) => td.textContent);
    return { id: c[2], subject: c[4], decision: c[6], attempts: c[7], error: c[8] };
  }));
}

async function waitRows(page, pred, what) {
  const deadline = Date.now() + TIMEOUT;
  for (;;) {
    const r = await rows(page);
    if (pred(r)) return r;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(r)}`);
    await page.waitForTimeout(100);
  }
}

async function main() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "hb-chromium-"));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1400, height: 600 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    page.setDefaultTimeout(TIMEOUT);
    const first = await page.goto(`${ADMIN}/ui/`);
    assert.equal(first.status(), 401);
    await page.fill("#token", "wrong");
    await page.click("#loginform button");
    await page.waitForFunction(() => document.getElementById("loginerr").textContent.includes("refused"));
    await page.fill("#token", TOKEN);
    await page.click("#loginform button");
    await page.waitForSelector("#app:not([hidden])");
    const want = { "ok-1": "acted", "other-1": "filtered", "dead-1": "dead_lettered" };
    const r = await waitRows(page, (x) => Object.entries(want).every(([id, d]) =>
      x.some((e) => e.id === id && e.decision === d)), "the decisions");
    const ok = r.find((e) => e.id === "ok-1");
    assert.equal(ok.subject, "<img src=x onerror=window.__xss=1>");
    assert.equal(r.find((e) => e.id === "dead-1").error, "exit status 1: boom for dead-1");
    assert.equal(await page.evaluate(() => document.querySelectorAll("img").length), 0);
    assert.equal(await page.evaluate(() => window.__xss), undefined);
    if (SHOTS) await page.screenshot({ path: path.join(SHOTS, "console-events.png"), fullPage: true });
    await page.selectOption("#f-decision", "filtered");
    await waitRows(page, (x) => x.length === 1 && x[0].id === "other-1", "the decision filter");
    process.stdout.write(JSON.stringify({ ok: true }) + "\n");
  } finally {
    await ctx.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`browser test failed: ${e.stack || e}\n`);
  process.exit(1);
});
