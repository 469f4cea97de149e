// A handset's browser on the portal, in real headless Chromium driven by Playwright: it opens
// the portal through the edge, hands the trigger it receives to dmclient (as a phone's content
// dispatcher hands it to the DM client), chooses the recommended offer, confirms, and follows
// the progress to the end. Screenshots of every step go to OUT_DIR; console errors fail it.
//
// Configuration by environment: EDGE_URL, DMCLIENT_BIN, DMCLIENT_CONFIG, OUT_DIR, LOCALE
// (default en-US), JAVASCRIPT (1 or 0), CHROMIUM_BIN (default /usr/bin/chromium), and
// EXPECT (JSON: { "offers": [...versions], "done": "text", "lang": "en" }).
// Prints one JSON line with what it saw; exits non-zero on the first failed expectation.
import { chromium } from "playwright-core";
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const env = (k, d) => process.env[k] ?? d ?? (() => { throw new Error(`${k} is not set`); })();
const EDGE = env("EDGE_URL");
const OUT = env("OUT_DIR");
const LOCALE = env("LOCALE", "en-US");
const JS = env("JAVASCRIPT", "1") === "1";
const EXPECT = JSON.parse(env("EXPECT", "{}"));
mkdirSync(OUT, { recursive: true });

const seen = { steps: [], console_errors: [], offers: [], dmclient: null };
function check(cond, what) {
  if (!cond) throw new Error(`expectation failed: ${what}`);
}

// The flags this machine needs: no sandbox as root, and no background connections to the
// internet (the network is closed; Chromium would otherwise retry them at every start).
const browser = await chromium.launch({
  executablePath: env("CHROMIUM_BIN", "/usr/bin/chromium"),
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
let dmclient = null;
let page = null;
try {
  const context = await browser.newContext({
    viewport: { width: 360, height: 740 }, locale: LOCALE, javaScriptEnabled: JS, acceptDownloads: true,
  });
  page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error") seen.console_errors.push(m.text()); });
  page.on("pageerror", (e) => seen.console_errors.push(String(e)));
  // What each form or script post carried (for reading a failure).
  seen.posts = [];
  page.on("request", async (r) => {
    if (r.method() === "POST") {
      const h = await r.allHeaders();
      seen.posts.push(`${r.url()} origin=${h.origin} sec-fetch-site=${h["sec-fetch-site"]}`);
    }
  });
  // Which resource failed (the console only says that one did).
  page.on("response", (r) => { if (r.status() >= 400) seen.console_errors.push(`${r.status()} ${r.url()}`); });

  // The content dispatcher: the browser downloads the trigger type; it goes to dmclient.
  const triggered = new Promise((resolve, reject) => {
    page.on("download", async (d) => {
      try {
        const file = join(OUT, "trigger.bin");
        await d.saveAs(file);
        resolve(file);
      } catch (e) { reject(e); }
    });
  });
  const dispatch = (file) => {
    dmclient = spawn(env("DMCLIENT_BIN"), ["-c", env("DMCLIENT_CONFIG"), "trigger", file], { stdio: ["ignore", "pipe", "pipe"] });
    let log = "";
    dmclient.stdout.on("data", (b) => { log += b; });
    dmclient.stderr.on("data", (b) => { log += b; });
    dmclient.exited = new Promise((r) => dmclient.on("exit", (code) => r({ code, log })));
  };
  const heading = (text) => page.locator("#live-part h2").filter({ hasText: text });

  let n = 0;
  const shot = async (name) => {
    n += 1;
    const path = join(OUT, `${String(n).padStart(2, "0")}-${name}.png`);
    await page.screenshot({ path, fullPage: true });
    seen.steps.push(name);
  };
  const noHorizontalScroll = async () => {
    const w = await page.evaluate(() => document.documentElement.scrollWidth);
    check(w <= 360, `page fits 360 px (scrollWidth ${w})`);
  };

  await page.goto(`${EDGE}/portal/`);
  check((await page.getAttribute("html", "lang")) === (EXPECT.lang ?? "en"), "page language");
  await shot("landing");
  await noHorizontalScroll();
  if (!JS) {
    // Without JavaScript the user taps Start, then follows the progress page.
    await page.getByRole("link", { name: EXPECT.start ?? "Start on this phone" }).click();
  }
  const file = await Promise.race([triggered, new Promise((_, r) => setTimeout(() => r(new Error("no trigger download")), 15000))]);
  if (!JS) {
    await page.getByRole("link", { name: EXPECT.progress ?? "Check progress" }).click();
  }
  // The phone has not answered yet: the page says what is happening and what to do.
  await heading(EXPECT.waiting ?? "Waiting for your phone").waitFor({ timeout: 10000 });
  await shot("waiting");
  dispatch(file);

  // Before any offer: "is this your phone?", with its model and masked DevId; its owner says yes.
  const mine = page.getByRole("button", { name: EXPECT.mine ?? "Yes, this is my phone" });
  await mine.waitFor({ timeout: 30000 });
  const phone = (await page.locator("#live-part p.device").innerText()).trim();
  check(/•{4,}\d{4}\)$/.test(phone), `the phone is shown with its DevId masked: ${phone}`);
  check((await page.locator("li.offer").count()) === 0, "no offer before the phone is confirmed");
  await shot("identify");
  await mine.click();

  // The offers for this phone, grouped, the recommended one marked.
  const offers = page.locator("li.offer");
  await offers.first().waitFor({ timeout: 30000 });
  for (const o of await offers.all()) seen.offers.push((await o.locator("h4").innerText()).trim());
  await shot("offers");
  await noHorizontalScroll();
  if (EXPECT.offers) {
    check(JSON.stringify(seen.offers.map((t) => (t.match(/\d+\.\d+[\w.-]*/g) ?? []).pop())) === JSON.stringify(EXPECT.offers),
          `offers ${JSON.stringify(seen.offers)}`);
  }
  const recommended = page.locator("li.offer.recommended");
  check((await recommended.count()) === 1, "one recommended offer");
  for (const b of await page.getByRole("button").all()) {
    check(((await b.getAttribute("aria-label")) ?? (await b.innerText())).trim().length > 0, "every button is named");
  }

  // Choose, then confirm.
  await recommended.getByRole("button").click();
  const confirm = page.getByRole("button", { name: EXPECT.confirm ?? "Yes, install" });
  await confirm.waitFor({ timeout: 10000 });
  await shot("confirm");
  await confirm.click();
  await page.locator("#live-part progress, #live-part h2.ok").first().waitFor({ timeout: 10000 });
  await shot("progress");

  // Progress, then the end.
  await heading(EXPECT.done ?? "is installed").or(page.locator("h2.bad")).first().waitFor({ timeout: 60000 });
  await shot("result");
  seen.result = (await page.locator("#live-part h2").first().innerText()).trim();
  check(seen.result.includes(EXPECT.done ?? "is installed"), `result "${seen.result}"`);
  seen.dmclient = await dmclient.exited;
  check(seen.dmclient.code === 0, `dmclient exit ${seen.dmclient.code}: ${seen.dmclient.log}`);
  check(seen.console_errors.length === 0, `console errors: ${seen.console_errors.join(" | ")}`);
  console.log(JSON.stringify({ ok: true, ...seen }));
} catch (e) {
  seen.error = String(e && e.stack || e);
  // What the page showed when it failed.
  if (page) {
    await page.screenshot({ path: join(OUT, "failed.png"), fullPage: true }).catch(() => {});
    seen.failed_page = await page.locator("body").innerText().catch(() => "");
  }
  console.log(JSON.stringify({ ok: false, ...seen }));
  if (dmclient && dmclient.exitCode === null) dmclient.kill();
  process.exitCode = 1;
} finally {
  writeFileSync(join(OUT, "summary.json"), JSON.stringify(seen, null, 2));
  await browser.close();
}
