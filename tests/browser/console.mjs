// An admin in the console, in real headless Chromium driven by Playwright: signs in with an
// admin token, then either uploads and publishes a package (ACTION=publish) or revokes one
// and walks the live views (ACTION=revoke). Screenshots of every page go to OUT_DIR;
// console errors fail it.
//
// Environment: ORIGIN_URL, TOKEN, OUT_DIR, ACTION, and for publish FILE, VERSION, MODELS;
// for revoke PACKAGE_ID and DEV_ID. CHROMIUM_BIN defaults to /usr/bin/chromium.
import { chromium } from "playwright-core";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const env = (k, d) => process.env[k] ?? d ?? (() => { throw new Error(`${k} is not set`); })();
const ORIGIN = env("ORIGIN_URL");
const OUT = env("OUT_DIR");
const ACTION = env("ACTION");
mkdirSync(OUT, { recursive: true });
const seen = { steps: [], console_errors: [] };
const check = (cond, what) => { if (!cond) throw new Error(`expectation failed: ${what}`); };

const browser = await chromium.launch({
  executablePath: env("CHROMIUM_BIN", "/usr/bin/chromium"),
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
let page = null;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: "en-US" });
  page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error") seen.console_errors.push(m.text()); });
  page.on("pageerror", (e) => seen.console_errors.push(String(e)));
  page.on("response", (r) => { if (r.status() >= 400) seen.console_errors.push(`${r.status()} ${r.url()}`); });
  let n = 0;
  const shot = async (name) => {
    n += 1;
    await page.screenshot({ path: join(OUT, `${String(n).padStart(2, "0")}-${name}.png`), fullPage: true });
    seen.steps.push(name);
  };

  await page.goto(`${ORIGIN}/admin/`);
  check(page.url().endsWith("/admin/sign-in"), `signed out goes to sign-in (${page.url()})`);
  await page.getByLabel("Admin token").fill(env("TOKEN"));
  await shot("sign-in");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Catalog" }).waitFor();

  if (ACTION === "publish") {
    await page.getByLabel("Name").fill("PDM Phone 1 firmware");
    await page.getByLabel("Version it installs").fill(env("VERSION"));
    await page.getByLabel("Models (comma-separated, * wildcards)").fill(env("MODELS"));
    await page.getByLabel("Lowest base firmware").fill("1.0.0");
    await page.getByLabel("Release notes (English)").fill("Uploaded in the console.");
    await page.getByLabel("Release notes (German)").fill("In der Konsole hochgeladen.");
    await page.getByLabel("Package file").setInputFiles(env("FILE"));
    await shot("upload-form");
    await page.getByRole("button", { name: "Upload and add" }).click();
    const notice = page.locator(".notice");
    await notice.waitFor();
    const m = (await notice.innerText()).match(/Package (\d+) added/);
    check(m, `added notice: ${await notice.innerText()}`);
    seen.package_id = Number(m[1]);
    const row = page.locator(`tr[data-package="${seen.package_id}"]`);
    check((await row.locator(".state").innerText()).trim() === "published", "published at once");
    await shot("catalog");
  } else if (ACTION === "revoke") {
    const id = env("PACKAGE_ID");
    await page.getByRole("button", { name: `Revoke package ${id}` }).click();
    await page.locator(".notice").waitFor();
    const row = page.locator(`tr[data-package="${id}"]`);
    check((await row.locator(".state").innerText()).trim() === "revoked", "revoked");
    await shot("revoked");
    await page.getByRole("link", { name: "Sessions" }).click();
    await page.getByRole("heading", { name: "Portal sessions" }).waitFor();
    seen.sessions_done = await page.locator("td .state.done").count();
    await shot("sessions");
    await page.getByRole("link", { name: "Devices" }).click();
    await page.getByLabel("DevId").fill(env("DEV_ID"));
    await page.getByRole("button", { name: "Look up" }).click();
    await page.getByRole("heading", { name: env("DEV_ID") }).waitFor();
    seen.device_results = await page.locator("#results tbody tr").count();
    seen.device_history = await page.locator("#history tbody tr").count();
    await shot("device");
    await page.getByRole("link", { name: "Results" }).click();
    await page.getByRole("heading", { name: "Results" }).waitFor();
    seen.chart_bars = await page.locator("svg rect.ok").count();
    seen.charts = await page.locator("svg[role=img]").count();
    await shot("results");
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("Admin token").waitFor();
    await page.goto(`${ORIGIN}/admin/catalog`);
    check(page.url().endsWith("/admin/sign-in"), "signed out for good");
  } else {
    throw new Error(`unknown ACTION ${ACTION}`);
  }
  check(seen.console_errors.length === 0, `console errors: ${seen.console_errors.join(" | ")}`);
  console.log(JSON.stringify({ ok: true, ...seen }));
} catch (e) {
  seen.error = String(e && e.stack || e);
  if (page) {
    await page.screenshot({ path: join(OUT, "failed.png"), fullPage: true }).catch(() => {});
    seen.failed_page = await page.locator("body").innerText().catch(() => "");
  }
  console.log(JSON.stringify({ ok: false, ...seen }));
  process.exitCode = 1;
} finally {
  writeFileSync(join(OUT, "summary.json"), JSON.stringify(seen, null, 2));
  await browser.close();
}
