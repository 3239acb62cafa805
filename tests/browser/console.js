// The gateway console in a real browser: playwright-core driving Debian's
// chromium (headless) against a running gateway. Started by
// tests/e2e/test_console_browser.py, which owns the processes; this script
// sends the webhooks, drives the page and exits non-zero on the first
// failed expectation. Prints one JSON line: what it redelivered.
//
// Environment: HB_GATEWAY (webhook base URL), HB_ADMIN (admin base URL),
// HB_ADMIN_TOKEN, HB_GENERIC_TOKEN (the `gen` receiver's secret),
// HB_SHOTS (directory for screenshots, optional).
"use strict";
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { chromium } = require("playwright-core");

const env = (k) => {
  if (!process.env[k]) throw new Error(`${k} is not set`);
  return process.env[k];
};
const GATEWAY = env("HB_GATEWAY");
const ADMIN = env("HB_ADMIN");
const ADMIN_TOKEN = env("HB_ADMIN_TOKEN");
const GEN_TOKEN = env("HB_GENERIC_TOKEN");
const SHOTS = process.env.HB_SHOTS || "";
const XSS = "<img src=x onerror=window.__xss=1>";
const TIMEOUT = 15000;

async function webhook(receiver, body, headers) {
  const r = await fetch(`${GATEWAY}/webhooks/${receiver}`, {
    method: "POST", body: JSON.stringify(body),
    headers: Object.assign({ "Content-Type": "application/json" }, headers),
  });
  return r.status;
}

async function rows(page) {
  return page.$$eval("#rows tr", (trs) => trs.map((tr) => {
    const c = [...tr.children].map((td) => td.textContent);
    return { id: c[0], receiver: c[2], delivery: c[4], status: c[5] };
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
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "hookbus-chromium-"));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1400, height: 800 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    page.setDefaultTimeout(TIMEOUT);
    const dialogs = [];
    page.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss(); });

    // Without a token: the page asks for one and shows no data.
    const first = await page.goto(`${ADMIN}/ui/`);
    assert.equal(first.status(), 401);
    await page.waitForSelector("#login:not([hidden])");
    // A wrong token is refused.
    await page.fill("#token", "not-the-token");
    await page.click("#loginform button");
    await page.waitForFunction(() => document.getElementById("loginerr").textContent.includes("refused"));
    assert.equal(await page.isHidden("#app"), true);
    if (SHOTS) await page.screenshot({ path: path.join(SHOTS, "console-login.png") });

    // The right token: the (empty) list.
    await page.fill("#token", ADMIN_TOKEN);
    await page.click("#loginform button");
    await page.waitForSelector("#app:not([hidden])");
    await page.waitForSelector("#empty:not([hidden])");

    // Deliveries appear as webhooks arrive, without a reload.
    const repo = "https://github.com/acme/lib";
    assert.equal(await webhook("gen", { ref: "main", repository: repo },
      { Authorization: GEN_TOKEN, "X-Request-Id": "browser-1" }), 202);
    await waitRows(page, (r) => r.length === 1 && r[0].delivery === "browser-1", "the first delivery");
    assert.equal(await webhook("gen", { ref: XSS, repository: repo },
      { Authorization: GEN_TOKEN, "X-Request-Id": "browser-xss" }), 202);
    assert.equal(await webhook("gen", { ref: "main", repository: repo },
      { Authorization: "wrong", "X-Request-Id": "browser-forged" }), 401);
    assert.equal(await webhook("ce", { specversion: "1.0" },
      { Authorization: GEN_TOKEN }), 415);
    let r = await waitRows(page, (x) => x.length === 4, "four deliveries");
    assert.deepEqual(r.map((x) => x.status), ["415", "401", "202", "202"]);

    // Filters: receiver, then status.
    await page.selectOption("#f-receiver", "ce");
    r = await waitRows(page, (x) => x.length === 1, "the receiver filter");
    assert.equal(r[0].receiver, "ce");
    await page.selectOption("#f-receiver", "");
    await page.selectOption("#f-status", "401");
    r = await waitRows(page, (x) => x.length === 1, "the status filter");
    assert.equal(r[0].status, "401");
    await page.selectOption("#f-status", "2xx");
    r = await waitRows(page, (x) => x.length === 2, "the status class filter");
    assert.deepEqual(r.map((x) => x.delivery), ["browser-xss", "browser-1"]);
    await page.selectOption("#f-status", "");
    await waitRows(page, (x) => x.length === 4, "no filter");

    // The XSS probe is text: in the list, the detail and the body.
    const xssRow = page.locator("#rows tr", { hasText: "browser-xss" });
    await xssRow.click();
    await page.waitForFunction(() => document.getElementById("d-title").textContent.length > 0);
    await page.waitForFunction((x) => document.getElementById("d-body").textContent.includes(x), XSS);
    const subjects = await page.$$eval("#d-events tr", (trs) => trs.map((tr) => tr.children[2].textContent));
    assert.ok(subjects.some((s) => s.includes(XSS)), `subject shows the branch as text: ${subjects}`);
    assert.equal(await page.evaluate(() => document.querySelectorAll("img").length), 0);
    assert.equal(await page.evaluate(() => window.__xss), undefined);
    if (SHOTS) await page.screenshot({ path: path.join(SHOTS, "console-deliveries.png"), fullPage: true });

    // Redeliver publishes the same id again; the redelivery is listed too.
    await page.click("#redeliver");
    await page.waitForFunction(() => document.getElementById("d-result").textContent.startsWith("published again"));
    const result = await page.textContent("#d-result");
    assert.equal(result, "published again: browser-xss");
    r = await waitRows(page, (x) => x.length === 5, "the redelivery in the list");
    assert.equal(r[0].delivery, "browser-xss");

    // The 401's detail: no body, no redeliver.
    await page.locator("#rows tr")
      .filter({ has: page.locator("td:nth-child(6)", { hasText: /^401$/ }) }).click();
    await page.waitForFunction(() => document.getElementById("d-body").textContent.includes("not kept"));
    assert.equal(await page.isDisabled("#redeliver"), true);

    assert.equal(await page.evaluate(() => window.__xss), undefined);
    assert.deepEqual(dialogs, []);
    process.stdout.write(JSON.stringify({ redelivered: ["browser-xss"] }) + "\n");
  } finally {
    await ctx.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`browser test failed: ${e.stack || e}\n`);
  process.exit(1);
});
