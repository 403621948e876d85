// The three users' journeys, clicked through in Debian's headless Chromium against a running
// `licentia serve` with the demo workspace. Driven by crates/licentia/tests/journeys.rs, which
// starts the server and passes:
//   LICENTIA_BASE     http://127.0.0.1:PORT
//   LICENTIA_LOGINS   JSON {email: password} of the demo users
//   LICENTIA_CSV      a small CSV (columns …, target) for the licensee to upload
//   LICENTIA_SHOTS    folder for one screenshot per step
// After the journeys, every page each user visited or can reach from the navigation is checked
// with axe-core (no serious or critical violation), and the registry, an agreement and a run
// page are shown at 390 px (a phone) without horizontal page scroll.
// Every step asserts what a person would look for; the first failure exits non-zero (with a
// screenshot of the page as it was), which fails the Rust test and so CI.
import { chromium } from "playwright-core";
import { mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const base = process.env.LICENTIA_BASE;
const logins = JSON.parse(process.env.LICENTIA_LOGINS || "{}");
const csvPath = process.env.LICENTIA_CSV;
const shots = process.env.LICENTIA_SHOTS || "screenshots";
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
mkdirSync(shots, { recursive: true });
const axeSource = readFileSync(join(dirname(fileURLToPath(import.meta.url)), "node_modules/axe-core/axe.min.js"), "utf8");
// Each user's page and the addresses it showed, for the accessibility pass at the end.
const users = new Map();
const problems = [];
let checked = 0;
// axe-core's serious and critical violations on the page as it is now.
async function axeCheck(page) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  checked += 1;
  for (const v of result.violations.filter((v) => v.impact === "serious" || v.impact === "critical")) {
    problems.push(`${new URL(page.url()).pathname}: ${v.id} (${v.impact}) ${v.help}: ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join("; ")}`);
  }
}

let step = 0;
let current = null; // the page of the step in progress, for the failure screenshot
async function shot(page, name, fullPage = true) {
  users.get(page)?.add(page.url());
  step += 1;
  const file = join(shots, `${String(step).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file, fullPage });
  console.log(`step ${step}: ${name} ✓ (${file})`);
}
function expect(cond, what) {
  if (!cond) throw new Error(`expected: ${what}`);
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  // Closed network here: without these Chromium keeps dialling Google's hosts.
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
});

const dialogs = [];

// Each user gets their own browser context: separate cookie jars, as on separate machines.
async function logIn(email) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  current = page;
  page.on("pageerror", (e) => { throw new Error(`script error on ${page.url()}: ${e.message}`); });
  // Binding actions ask first: record what was asked and confirm, as a user would.
  page.on("dialog", async (d) => { dialogs.push(d.message()); await d.accept(); });
  await page.goto(`${base}/login`);
  if (users.size === 0) await axeCheck(page);
  await page.fill('input[name="email"]', email);
  await page.fill('input[name="password"]', logins[email]);
  await Promise.all([page.waitForURL((u) => !u.pathname.startsWith("/login")), page.click('button[type="submit"]')]);
  users.set(page, new Set([`${base}/login`]));
  return page;
}

const title = `Journey licence ${Date.now()}`;
try {
  // 0. A manager registers a US patent with the form: a grant date before the filing date is
  // shown beside its field with everything typed kept; corrected, the patent's maintenance fees
  // are listed and the first is marked paid.
  const manager = await logIn("manager@aurora.example");
  await manager.goto(`${base}/assets`);
  await Promise.all([manager.waitForURL(/\/assets\/new/), manager.click('a:has-text("Add an asset")')]);
  await manager.selectOption('#f-kind', "patent");
  expect(await manager.locator('fieldset[data-kinds="trademark"]').isHidden(), "only the patent's fields are shown");
  const patentTitle = `Journey patent ${Date.now()}`;
  await manager.fill("#f-title", patentTitle);
  await manager.selectOption("#f-status", "granted");
  await manager.fill("#f-jurisdiction", "US");
  await manager.fill("#f-application_number", "17/654,321");
  await manager.fill("#f-filing_date", "2020-02-03");
  await manager.fill("#f-grant_date", "2019-11-05");
  await manager.fill("#f-inventors", "Grace Hopper, Edsger Dijkstra");
  await Promise.all([manager.waitForLoadState("load"), manager.click('#asset-form button[type="submit"]')]);
  expect((await manager.textContent("#e-grant_date")).includes("is before the filing date"), "the grant date's problem beside it");
  expect((await manager.inputValue("#f-title")) === patentTitle && (await manager.inputValue("#f-inventors")) === "Grace Hopper, Edsger Dijkstra", "the form kept what was typed");
  await manager.locator("#f-grant_date").scrollIntoViewIfNeeded();
  await shot(manager, "manager-patent-form-shows-problem", false);
  await manager.fill("#f-grant_date", "2022-05-10");
  await Promise.all([manager.waitForURL(/\/assets\/[0-9a-f-]{36}\?ok=/), manager.click('#asset-form button[type="submit"]')]);
  expect((await manager.textContent("h1")).includes(patentTitle), "the new patent's page");
  const fees = await manager.locator('#deadlines tbody tr:has-text("Maintenance fee")').allTextContents();
  expect(fees.length === 3 && fees[0].includes("2025-11-10"), `three maintenance fees, the first due 3.5 years after the grant (got ${fees.length}: ${fees[0]})`);
  const first = manager.locator('#deadlines tbody tr:has-text("Maintenance fee 1")');
  await first.locator('select[name="state"]').selectOption("done");
  await Promise.all([manager.waitForLoadState("load"), first.locator('button:has-text("Mark")').click()]);
  expect((await manager.textContent('#deadlines tbody tr:has-text("Maintenance fee 1")')).includes("done"), "the first fee marked done");
  await shot(manager, "manager-marks-maintenance-fee-paid");

  // 1. A manager drafts a licence, revises the royalty, and submits it for review.
  await manager.goto(`${base}/agreements`);
  await manager.selectOption('#new-agreement select[name="kind"]', "non_exclusive_licence");
  await manager.fill('#new-agreement input[name="title"]', title);
  await manager.selectOption('#new-agreement select[name="licensee_id"]', { label: "Borealis Analytics" });
  await manager.locator('#new-agreement input[name="assets"]').first().check();
  // The licensed model too: the licence will grant its published version to fine-tune.
  await manager.locator('#new-agreement label:has-text("Credit risk MLP") input[name="assets"]').check();
  await manager.fill('#new-agreement input[name="territory"]', "DE, FR, NL");
  await manager.fill('#new-agreement input[name="effective_date"]', "2027-01-01");
  await manager.fill('#new-agreement input[name="end_date"]', "2031-12-31");
  await manager.fill('#new-agreement input[name="royalty_percent"]', "3");
  await manager.fill('#new-agreement input[name="comment"]', "first draft");
  await shot(manager, "manager-drafts-licence");
  await Promise.all([manager.waitForURL(/\/agreements\/[0-9a-f-]{36}/), manager.click('#new-agreement button[type="submit"]')]);
  const agreementUrl = manager.url().split("?")[0];
  expect((await manager.textContent("h1")).includes(title), "the new agreement's page");
  // A clause pasted far beyond what the server accepts is not sent: the editor says so and keeps
  // the text (it used to come back as a bare 413 with the edits gone).
  const clause = manager.locator('form[action$="/versions"] textarea').first();
  const original = await clause.inputValue();
  const huge = "All rights reserved. ".repeat(60000);
  await clause.fill(huge);
  await manager.click("#save-version");
  await manager.waitForSelector(".form-too-large");
  expect((await manager.textContent(".form-too-large")).includes("Not sent"), "the editor says the form is too large");
  expect((await clause.inputValue()).length === huge.length && manager.url().split("?")[0] === agreementUrl, "the text is still there, nothing was sent");
  await clause.fill(original);
  await manager.fill('form[action$="/versions"] input[name="royalty_percent"]', "4.5");
  await manager.fill('form[action$="/versions"] input[name="comment"]', "royalty raised after negotiation");
  await Promise.all([manager.waitForLoadState("load"), manager.click("#save-version")]);
  await manager.waitForSelector('a:has-text("redline from 1")');
  await Promise.all([manager.waitForLoadState("load"), manager.click('button[data-to="in_review"]')]);
  await manager.waitForSelector(".badge.status-in_review");
  // Four eyes: the author is not offered the approval.
  expect((await manager.locator("#approve").count()) === 0, "no Approve button for the author");
  expect((await manager.locator("#four-eyes").count()) === 1, "the page says another manager must approve");
  await shot(manager, "manager-submits-for-review");

  // 2. A second manager finds the version waiting on the home page, reads the redline and approves.
  const reviewer = await logIn("reviewer@aurora.example");
  await reviewer.goto(`${base}/`);
  const waiting = reviewer.locator(`#inbox-approvals a:has-text("${title}")`);
  expect((await waiting.count()) === 1, "the home page lists the version waiting for approval");
  await shot(reviewer, "reviewer-finds-approval-in-inbox", false);
  await Promise.all([reviewer.waitForURL(agreementUrl), waiting.click()]);
  await Promise.all([reviewer.waitForLoadState("load"), reviewer.click('a:has-text("redline from 1")')]);
  const diff = await reviewer.textContent("main");
  expect((await reviewer.textContent("#terms-change")).includes("3 % → 4.5 %"), "the redline lists the royalty change");
  expect((await reviewer.textContent("#redline ins")).includes("4.5") && (await reviewer.textContent("#redline del")).includes("3"), "the prose marks the old and new rate");
  expect(diff.length > 0, "a redline page");
  await shot(reviewer, "reviewer-reads-redline");
  await reviewer.goto(agreementUrl);
  await Promise.all([reviewer.waitForLoadState("load"), reviewer.click("#approve")]);
  await reviewer.waitForSelector(".badge.status-approved");
  expect((dialogs.at(-1) || "").startsWith("Approve version"), `approving asks first (asked: ${dialogs.at(-1)})`);
  await shot(reviewer, "reviewer-approves");

  // 3. The licensee accepts in the portal.
  const licensee = await logIn("licensee@borealis.example");
  await licensee.goto(`${base}/agreements`);
  await Promise.all([licensee.waitForLoadState("load"), licensee.click(`a:has-text("${title}")`)]);
  await Promise.all([licensee.waitForLoadState("load"), licensee.click("#accept")]);
  await licensee.waitForSelector('#acceptances li:has-text("licensee")');
  expect((dialogs.at(-1) || "").includes("binds your organisation"), `accepting asks first (asked: ${dialogs.at(-1)})`);
  await shot(licensee, "licensee-accepts");

  // 4. The manager countersigns (now executed) and issues a training licence under the agreement.
  current = manager;
  await manager.goto(agreementUrl);
  await Promise.all([manager.waitForLoadState("load"), manager.click("#accept")]);
  await manager.waitForSelector(".badge.status-executed");
  await manager.check('#issue-licence input[value="tabular-binary-mlp"]');
  // The version the licensor published (`licentia model train`), granted to fine-tune.
  await manager.locator('#issue-licence input[name="model_versions"]').first().check();
  await manager.fill('#issue-licence input[name="valid_until"]', "2031-12-31");
  await manager.fill('#issue-licence input[name="quota_runs"]', "10");
  await manager.fill('#issue-licence input[name="quota_compute_units"]', "100000");
  await Promise.all([manager.waitForLoadState("load"), manager.click('#issue-licence button[type="submit"]')]);
  await manager.waitForSelector('#training-licences li:has-text("tabular-binary-mlp")');
  expect((await manager.textContent("#training-licences")).includes("1 model version(s) to fine-tune"), "the licence grants the version");
  await shot(manager, "manager-countersigns-and-issues-licence");
  current = licensee;
  // The licensee uploads a dataset, launches a run and watches it reach the end.

  await licensee.goto(`${base}/training`);
  const datasetsBefore = await licensee.locator("#datasets tbody tr td.mono").count();
  await licensee.setInputFiles('#dataset-upload input[type="file"]', csvPath);
  // The page reloads once the encrypted upload is stored: wait for the new row, not any row.
  await licensee.click('#dataset-upload button[type="submit"]');
  await licensee.waitForFunction((n) => document.querySelectorAll("#datasets tbody tr td.mono").length === n + 1, datasetsBefore, { timeout: 60000 });
  // Chromium restores a reloaded page's form state once it has loaded: let it, before typing.
  await licensee.waitForLoadState("networkidle");
  const rows = readFileSync(csvPath, "utf8").trim().split("\n").length - 1;
  expect((await licensee.textContent("#datasets tbody tr:first-child")).includes(String(rows)), `the new dataset with its ${rows} rows`);
  await licensee.selectOption('select[name="licence_id"]', { label: title });
  await licensee.selectOption('select[name="dataset_id"]', { index: 0 });
  // The target is picked from the chosen dataset's columns, which the form previews.
  expect((await licensee.locator("#dataset-columns tbody tr").count()) > 1, "the dataset's columns are previewed");
  await licensee.selectOption('select[name="target"]', "target");
  await licensee.fill('input[name="epochs"]', "40");
  await licensee.fill('input[name="batch_size"]', "1");
  // The estimate follows the form (debounced): wait for the one of 40 epochs.
  await licensee.waitForFunction(() => document.getElementById("quota-preview").textContent.includes("× 40 epochs"), null, { timeout: 10000 });
  expect((await licensee.textContent("#quota-preview")).includes("compute units"), "the launch form previews the reservation");
  // What the licensee sees before launching (the viewport: a full-page capture resizes the view,
  // and a click right after it on a tall page can miss).
  await licensee.locator("#launch").scrollIntoViewIfNeeded();
  await shot(licensee, "licensee-uploads-dataset", false);
  await Promise.all([licensee.waitForURL(/\/runs\/[0-9a-f-]{36}/), licensee.click("#launch-button")]);
  // The bar moves by server-sent events, without reloading the page.
  await licensee.waitForFunction(() => {
    const v = Number(document.getElementById("run-progress").value);
    return v > 0 && v < 100 && document.getElementById("run-status").textContent.trim() === "running";
  }, null, { timeout: 120000, polling: 50 });
  await shot(licensee, "licensee-watches-progress");
  await licensee.waitForFunction(() => document.getElementById("run-status").textContent.trim() === "succeeded", null, { timeout: 180000 });
  // The page then reloads into its final form: metrics per epoch, units used, the receipt.
  await licensee.waitForSelector('#run-live[data-terminal="true"]', { timeout: 30000 });
  expect(Number(await licensee.getAttribute("#run-progress", "value")) === 100, "the progress bar at 100");
  expect((await licensee.locator("#run-metrics tbody tr").count()) === 40, "a metrics row per epoch");
  expect((await licensee.getAttribute("#train-line", "points")).split(" ").length >= 2, "a loss curve with a point per epoch");
  await shot(licensee, "licensee-run-finished");

  // The licensee fine-tunes the licensor's published version on the same data: the weights it
  // starts from never reach the browser; the run page says where it started.
  await licensee.goto(`${base}/training`);
  await licensee.selectOption('select[name="licence_id"]', { label: title });
  await licensee.selectOption('select[name="dataset_id"]', { index: 0 });
  await licensee.selectOption('select[name="target"]', "target");
  await licensee.selectOption("#base-version", { index: 1 });
  await licensee.fill('input[name="epochs"]', "5");
  await licensee.fill('input[name="batch_size"]', "32");
  await licensee.fill('input[name="name"]', "fine-tuned");
  await licensee.waitForFunction(() => document.getElementById("quota-preview").textContent.includes("× 5 epochs"), null, { timeout: 10000 });
  await licensee.locator("#launch").scrollIntoViewIfNeeded();
  await Promise.all([licensee.waitForURL(/\/runs\/[0-9a-f-]{36}/), licensee.click("#launch-button")]);
  await licensee.waitForFunction(() => document.getElementById("run-status").textContent.trim() === "succeeded", null, { timeout: 180000 });
  await licensee.waitForSelector('#run-live[data-terminal="true"]', { timeout: 30000 });
  expect((await licensee.textContent("#run-base")).includes("fine-tuned from a published model version"), "the run page names its start");
  await shot(licensee, "licensee-fine-tunes-published-version");
  // The licensor sees which licensee fine-tuned which version, not its data.
  current = manager;
  await manager.goto(`${base}/assets`);
  await Promise.all([manager.waitForLoadState("load"), manager.click('a:has-text("Credit risk MLP")')]);
  expect((await manager.locator("#model-versions tbody tr").count()) === 1, "version 1 on the model's page");
  expect((await manager.textContent("#model-lineage")).includes("Borealis Analytics"), "the lineage names the licensee");
  await shot(manager, "manager-sees-model-lineage");
  current = licensee;

  // 5. The auditor filters the log, verifies the chain and exports CSV.
  const auditor = await logIn("auditor@aurora.example");
  await auditor.goto(`${base}/audit`);
  await auditor.fill('input[name="action"]', "agreement.");
  await Promise.all([auditor.waitForLoadState("load"), auditor.click('form.filters button[type="submit"]')]);
  const actions = await auditor.locator("#audit-entries tbody tr").allTextContents();
  expect(actions.length > 0 && actions.every((r) => r.includes("agreement.")), "only agreement.* entries after filtering");
  expect(actions.some((r) => r.includes("agreement.approved")), "the approval is in the log");
  await shot(auditor, "auditor-filters-log");
  await Promise.all([auditor.waitForLoadState("load"), auditor.click("#verify")]);
  expect((await auditor.textContent("#verify-result")).includes("The chain verifies."), "the chain verifies");
  await shot(auditor, "auditor-verifies-chain");
  await auditor.goBack();
  const [download] = await Promise.all([auditor.waitForEvent("download"), auditor.click("#export-csv")]);
  const csv = readFileSync(await download.path(), "utf8");
  const lines = csv.trim().split("\n");
  expect(lines[0].includes("seq") && lines.length - 1 >= actions.length, `CSV with a header and at least the ${actions.length} rows shown (got ${lines.length - 1})`);
  expect(lines.slice(1).every((l) => l.includes("agreement.")), "the export honours the filter");
  console.log(`step ${step + 1}: auditor exports CSV ✓ (${lines.length - 1} rows, ${download.suggestedFilename()})`);
  step += 1;

  // 6. A phone (390 px wide): the navigation folds behind a Menu button, tables scroll in their
  // own box, and the page itself never scrolls sideways.
  const runUrl = licensee.url().split("?")[0];
  for (const [who, url, name] of [[manager, `${base}/assets`, "mobile-registry"], [manager, agreementUrl, "mobile-agreement"], [licensee, runUrl, "mobile-run"]]) {
    const phone = await who.context().newPage();
    current = phone;
    await phone.setViewportSize({ width: 390, height: 844 });
    await phone.goto(url);
    expect(await phone.locator("#main-nav").isHidden(), `${name}: the navigation is folded`);
    const width = await phone.evaluate(() => ({ page: document.documentElement.scrollWidth, view: window.innerWidth }));
    expect(width.page <= width.view, `${name}: no horizontal page scroll (page ${width.page} px in a ${width.view} px view)`);
    await shot(phone, name, false);
    if (name === "mobile-registry") {
      await phone.click(".nav-toggle");
      expect(await phone.locator("#main-nav").isVisible(), "the Menu button shows the navigation");
      expect((await phone.getAttribute(".nav-toggle", "aria-expanded")) === "true", "and says so to screen readers");
    }
    await phone.close();
  }

  // 6b. The API reference: the vendored viewer renders every operation of the OpenAPI document,
  // and the page's content security policy (no inline script or style) refuses nothing.
  {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const docs = await context.newPage();
    current = docs;
    const refused = [];
    docs.on("console", (m) => { if (m.type() === "error" && /Content Security Policy|Refused to/.test(m.text())) refused.push(m.text()); });
    docs.on("pageerror", (e) => refused.push(`script error: ${e.message}`));
    await docs.addInitScript(() => document.addEventListener("securitypolicyviolation", (e) => console.error(`Refused to load ${e.blockedURI} (${e.violatedDirective})`)));
    await docs.goto(`${base}/api/docs`);
    await docs.waitForSelector(".opblock", { timeout: 20000 });
    const spec = await (await context.request.get(`${base}/api/v1/openapi.json`)).json();
    const operations = Object.values(spec.paths).reduce((n, item) => n + Object.keys(item).length, 0);
    const shown = await docs.locator(".opblock").count();
    expect(shown === operations, `the reference shows every operation (${shown} of ${operations})`);
    expect((await docs.textContent(".info .title")).includes("Licentia API"), "the document's title");
    await docs.locator(".opblock-summary-path", { hasText: "/api/v1/agreements/{id}/approve" }).first().click();
    expect(await docs.locator("text=agreement_approve").first().isVisible(), "an operation names the permission it needs");
    expect(refused.length === 0, `the page's CSP refused nothing: ${refused.join("; ")}`);
    await shot(docs, "api-reference", false);
    await context.close();
  }

  // 7. Accessibility: axe-core over every page each user saw or can open from the navigation.
  for (const [page, seen] of users) {
    current = page;
    await page.goto(`${base}/`);
    const nav = await page.locator("#main-nav a").evaluateAll((as) => as.map((a) => a.href));
    for (const url of new Set([...seen, ...nav])) {
      if (url.startsWith(`${base}/login`)) continue;
      await page.goto(url);
      await axeCheck(page);
    }
  }
  expect(problems.length === 0, `no serious or critical axe-core violation, found:\n  ${problems.join("\n  ")}`);
  console.log(`step ${step + 1}: axe-core finds no serious or critical violation on ${checked} pages ✓`);
  await browser.close();
} catch (e) {
  console.error(`FAILED after step ${step}: ${e.message}`);
  if (current) {
    try { await current.screenshot({ path: join(shots, "failure.png"), fullPage: true }); } catch {}
  }
  await browser.close();
  process.exit(1);
}
