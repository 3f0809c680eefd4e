// The dashboard in headless Chromium against `outcall demo`: what a person does and
// sees. Run with `npm run e2e` (after `cargo build -p outcall-server`).
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { API_KEY, api, launchBrowser, screenshotDir, signedInContext, startDemo } from "./harness.mjs";

let demo;
let browser;

before(async () => {
  demo = await startDemo();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await demo?.stop();
});

async function signedInPage() {
  const context = await signedInContext(browser, { viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error("page error:", e.message));
  return page;
}

test("sign in: a wrong key shows the API's message, the right one opens the overview", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(demo.base);
  await page.getByLabel("API key").fill("not-the-key");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").filter({ hasText: "missing or invalid API key" }).waitFor();
  await page.getByLabel("API key").fill(API_KEY);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem("outcall.apiKey")), API_KEY);
  // A reload stays signed in (same tab); the key never reaches localStorage.
  await page.reload();
  await page.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
  assert.equal(await page.evaluate(() => localStorage.length), 0);
  await context.close();
});

test("live calls: a transcript grows while the call is live, then its detail shows the whole call", async () => {
  const page = await signedInPage();
  await page.goto(`${demo.base}/#/live`);
  const deadline = Date.now() + 90_000;
  let grown = null;
  while (!grown && Date.now() < deadline) {
    // A live call whose conversation has started (voicemail and busy ones have no words).
    const card = page.locator(".live-call", { has: page.locator(".turn") }).first();
    await card.waitFor({ timeout: 60_000 });
    const sid = await card.getAttribute("data-call-sid");
    const turns = page.locator(`.live-call[data-call-sid="${sid}"] .turn`);
    const first = await turns.count();
    const until = Date.now() + 20_000;
    while (Date.now() < until) {
      const now = await turns.count();
      if (now > first) {
        grown = { sid, first, now };
        break;
      }
      if ((await page.locator(`.live-call[data-call-sid="${sid}"]`).count()) === 0) break; // ended before speaking again
      await page.waitForTimeout(250);
    }
  }
  assert.ok(grown, "no live transcript grew within 90 s");
  assert.ok(grown.now > grown.first);

  // The card leaves the live page when the call ends.
  await page.locator(`.live-call[data-call-sid="${grown.sid}"]`).waitFor({ state: "detached", timeout: 60_000 });
  await page.goto(`${demo.base}/#/calls/${grown.sid}`);
  await page.locator(".call-status", { hasText: "completed" }).waitFor({ timeout: 20_000 });
  // The stored transcript can trail the status by a moment (the last live turns, then the
  // post-call webhook); the page follows the call's events, so it catches up.
  await page
    .waitForFunction((n) => document.querySelectorAll(".transcript .turn").length >= n, grown.now, { timeout: 30_000 })
    .catch(() => {});
  const turns = await page.locator(".transcript .turn").count();
  assert.ok(turns >= grown.now, `detail shows ${turns} turns, the live page showed ${grown.now}`);
  await page.locator(".timeline li", { hasText: "status change" }).first().waitFor();
  assert.ok((await page.locator(".timeline li").count()) >= 3, "the status timeline lists the call's events");
  await page.close();
});

test("campaigns: create one from a CSV upload, then start and pause it", async () => {
  const page = await signedInPage();
  await page.goto(`${demo.base}/#/campaigns`);
  await page.getByRole("link", { name: "New campaign" }).click();
  await page.getByLabel("Name", { exact: true }).fill("Spring solar leads");
  await page.getByLabel("Agent prompt").fill("You are Sam from Acme Solar.");
  await page.getByLabel("First message").fill("Hi, this is Sam from Acme Solar.");
  await page.getByLabel("Seconds between calls").fill("30");
  const csv = "name,phone,email,tags\nAda Lovelace,+14155550161,ada@example.com,vip\nGrace Hopper,(415) 555-0162,,\nAlan Turing,415-555-0163,,vip;math\nBad Row,not-a-number,,\n";
  await page.getByLabel("Contacts CSV (optional)").setInputFiles({ name: "leads.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
  await page.getByRole("button", { name: "Create campaign" }).click();

  await page.getByRole("heading", { name: /Spring solar leads/ }).waitFor();
  const summary = page.locator(".import-result");
  await summary.waitFor();
  assert.match(await summary.innerText(), /3 created/);
  assert.match(await summary.innerText(), /1 invalid/);
  const contacts = page.locator(".kpi", { hasText: "Contacts" }).locator(".kpi-value");
  assert.equal(await contacts.innerText(), "3");
  // The campaign's contacts, each waiting to be dialled.
  const rows = page.locator(".card", { hasText: "Contacts in this campaign" }).locator("tbody tr");
  await rows.nth(2).waitFor();
  assert.equal(await rows.count(), 3);
  assert.equal(await rows.filter({ hasText: "pending" }).count(), 3);
  const heading = page.getByRole("heading", { level: 1 });
  assert.match(await heading.innerText(), /draft/);

  await page.getByRole("button", { name: "Start" }).click();
  await heading.filter({ hasText: "active" }).waitFor();
  await page.getByRole("button", { name: "Pause" }).click();
  await heading.filter({ hasText: "paused" }).waitFor();
  await page.getByRole("button", { name: "Resume" }).waitFor();
  await page.close();
});

test("campaigns: import contacts from the demo's Google Sheet", async () => {
  const created = await api(demo.base, "POST", "/api/db/campaigns", { name: "From the sheet", prompt: "You are Sam." });
  const id = created._id ?? created.data?._id;
  const page = await signedInPage();
  await page.goto(`${demo.base}/#/campaigns/${id}`);
  await page.getByRole("heading", { name: /From the sheet/ }).waitFor();
  await page.getByText("Import contacts from Google Sheets").click();
  const form = page.locator(".sheets-form");
  await form.locator("input[name=spreadsheetId]").fill("demo-leads");
  await form.locator("input[name=sheetName]").fill("Leads");
  await form.locator("input[name=statusColumn]").fill("Call status");
  await page.getByRole("button", { name: "Import from Google Sheets" }).click();
  const summary = page.locator(".sheets-form .import-result");
  await summary.waitFor({ timeout: 20_000 });
  // Every row of the sheet is imported and added (a number the other tests already
  // stored counts as updated, not created).
  assert.match(await summary.innerText(), /Imported 12 rows/);
  assert.match(await summary.innerText(), /12 added to the campaign/);
  const contacts = page.locator(".kpi", { hasText: "Contacts" }).locator(".kpi-value");
  await contacts.filter({ hasText: "12" }).waitFor();
  await page.close();
});

test("contacts: mark one do-not-call and see the badge", async () => {
  await api(demo.base, "POST", "/api/db/contacts", { phoneNumber: "+14155550177", name: "Katherine Johnson", tags: ["nasa"] });
  const page = await signedInPage();
  await page.goto(`${demo.base}/#/contacts`);
  await page.getByLabel("Search").fill("katherine");
  await page.getByRole("button", { name: "Search" }).click();
  await page.getByRole("link", { name: "Katherine Johnson" }).click();
  await page.getByRole("heading", { name: /Katherine Johnson/ }).waitFor();
  await page.getByRole("button", { name: "Mark do-not-call" }).click();
  await page.getByRole("heading", { level: 1 }).filter({ hasText: "do not call" }).waitFor();
  await page.getByRole("button", { name: "Allow calls again" }).waitFor();
  // The list shows it too.
  await page.goto(`${demo.base}/#/contacts?status=do-not-call`);
  const row = page.locator("tbody tr", { hasText: "Katherine Johnson" });
  await row.waitFor();
  assert.match(await row.locator(".badge").innerText(), /do not call/);
  await page.close();
});

test("screenshots of every page at 1280×800 and 390×844, light and dark", async () => {
  const calls = await api(demo.base, "GET", "/api/db/calls?status=completed&limit=1");
  const campaigns = await api(demo.base, "GET", "/api/db/campaigns?limit=1");
  const contacts = await api(demo.base, "GET", "/api/db/contacts?limit=1&q=katherine");
  const pages = [
    ["overview", "#/"],
    ["live", "#/live"],
    ["calls", "#/calls"],
    ["call-detail", `#/calls/${calls.data?.[0]?.callSid ?? "none"}`],
    ["campaigns", "#/campaigns"],
    ["campaign-new", "#/campaigns/new"],
    ["campaign-detail", `#/campaigns/${campaigns.data?.[0]?._id ?? "none"}`],
    ["contacts", "#/contacts"],
    ["contact-detail", `#/contacts/${contacts.data?.[0]?._id ?? "none"}`],
    ["analytics", "#/analytics"],
  ];
  mkdirSync(screenshotDir, { recursive: true });
  const shots = [
    ["desktop", { width: 1280, height: 800 }, "light"],
    ["phone", { width: 390, height: 844 }, "light"],
    ["desktop-dark", { width: 1280, height: 800 }, "dark"],
    ["phone-dark", { width: 390, height: 844 }, "dark"],
  ];
  let taken = 0;
  for (const [size, viewport, colorScheme] of shots) {
    const signIn = await browser.newContext({ viewport, colorScheme });
    const p = await signIn.newPage();
    await p.goto(demo.base);
    await p.getByLabel("API key").waitFor();
    await p.screenshot({ path: join(screenshotDir, `signin-${size}.png`) });
    await signIn.close();
    taken++;
    const context = await signedInContext(browser, { viewport, colorScheme, deviceScaleFactor: 1 });
    const page = await context.newPage();
    for (const [name, hash] of pages) {
      await page.goto(`${demo.base}/${hash}`);
      await page.locator("main .page").waitFor({ timeout: 10_000 }).catch(() => {
        throw new Error(`${name} at ${size} shows no page`);
      });
      // Let lists and charts load (spinners gone).
      await page.waitForFunction(() => !document.querySelector(".loading"), null, { timeout: 10_000 }).catch(() => {});
      await page.waitForTimeout(300);
      // Nothing may be wider than the viewport: wide tables scroll inside their card.
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${name} at ${size} is ${overflow}px wider than the screen`);
      await page.screenshot({ path: join(screenshotDir, `${name}-${size}.png`), fullPage: true });
      taken++;
    }
    await context.close();
  }
  assert.equal(taken, shots.length * (pages.length + 1));
});
