// Runs one oracle page in headless Chromium and prints what it found, as one JSON line.
//
// Why a separate Node process: playwright-core drives the Debian chromium binary (it downloads no
// browser), and the Python test reads its verdict from stdout. Every request to an origin not listed in
// `allowedOrigins` is refused (and listed in the answer), so nothing leaves the machine and a test can
// tell whether the SDK needed another host. DNS is also disabled inside Chromium as a second fence.
//
// Input (argv[2], a JSON file): {playwrightCore, executablePath, url, allowedOrigins: [...], timeoutMs,
// timezoneId, userDataDir, trustedSpki: [base64 SHA-256 of a server certificate's public key]}.
// The page may ask for a real mouse click by setting window.__xpgeo.clickAt = [x, y] (page coordinates);
// the driver clicks and counts it in window.__xpgeo.clicked.
// Output: {verdict, refused: [urls], requests: [urls], console: [...], pageErrors: [...]}.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const input = JSON.parse(readFileSync(process.argv[2], "utf8"));
// playwright-core lives in the oracle folder (XPGEO_ORACLE_DIR/sdk/node_modules), not beside this file.
const { chromium } = await import(pathToFileURL(input.playwrightCore).href);
const allowed = new Set(input.allowedOrigins);
const refused = [];
const requests = [];
const consoleLines = [];
const pageErrors = [];

const context = await chromium.launchPersistentContext(input.userDataDir, {
  executablePath: input.executablePath,
  headless: true,
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    // TLS stays verified: only the test's own server certificate (by its public key) is accepted.
    ...(input.trustedSpki?.length ? [`--ignore-certificate-errors-spki-list=${input.trustedSpki.join(",")}`] : []),
  ],
  serviceWorkers: "block",
  timezoneId: input.timezoneId,
  viewport: { width: 1000, height: 700 },
});

let verdict = null;
try {
  await context.route("**/*", (route) => {
    const url = route.request().url();
    let origin = null;
    try { origin = new URL(url).origin; } catch { /* not a URL: refuse */ }
    if (origin !== null && allowed.has(origin)) {
      requests.push(url);
      return route.continue();
    }
    refused.push(url);
    return route.abort("blockedbyclient");
  });
  const page = context.pages()[0] ?? await context.newPage();
  page.on("console", (msg) => consoleLines.push(`${msg.type()}: ${msg.text()}`.slice(0, 2000)));
  page.on("worker", (worker) => {
    worker.on("console", (msg) => consoleLines.push(`worker ${msg.type()}: ${msg.text()}`.slice(0, 2000)));
  });
  page.on("pageerror", (err) => pageErrors.push(String(err && err.stack || err).slice(0, 2000)));
  await page.goto(input.url, { waitUntil: "load", timeout: input.timeoutMs });
  for (;;) {
    await page.waitForFunction(() => window.__xpgeo && (window.__xpgeo.done || window.__xpgeo.clickAt), null,
                               { timeout: input.timeoutMs, polling: 100 });
    const state = await page.evaluate(() => ({ done: window.__xpgeo.done, clickAt: window.__xpgeo.clickAt }));
    if (state.done) break;
    await page.mouse.click(state.clickAt[0], state.clickAt[1]);
    await page.evaluate(() => { window.__xpgeo.clickAt = null; window.__xpgeo.clicked += 1; });
  }
  verdict = await page.evaluate(() => window.__xpgeo);
} catch (err) {
  let partial = null;
  try { partial = await context.pages()[0]?.evaluate(() => window.__xpgeo ?? null); } catch { /* page gone */ }
  verdict = { ...(partial ?? {}), done: false, error: `driver: ${String(err && err.message || err).slice(0, 2000)}` };
} finally {
  await context.close();
}
process.stdout.write(JSON.stringify({ verdict, refused, requests, console: consoleLines, pageErrors }) + "\n");
