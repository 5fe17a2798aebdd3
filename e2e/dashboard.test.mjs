// End-to-end test of the dashboard page (issue 8): a real `samverkan serve` on 127.0.0.1 over a
// fresh data directory seeded with the fixtures, Debian's chromium driven by playwright-core.
// It picks dates on both sides of the HÖK's entry into force, opens the evidence behind a
// timeline item, records an event through the GraphQL API with a CLI-made token and waits for it
// in the live feed, and saves a screenshot to out/dashboard.png.
//
// A second server holds a generated history of 200,000 events (generate-history, imported with
// `samverkan import`, served with `--no-seed`), made while the first part runs: there the
// agreements table pages and filters on the server, and it must show its first page in 2 s (the
// heavier panels – findings, organisation, deadlines – come after it; their time is printed).
//
// SAMVERKAN_BIN names the binary (default: target/debug/samverkan under CARGO_TARGET_DIR or the
// repository), GENERATE_BIN the generator (default: generate-history beside it); CHROMIUM the
// browser (default /usr/bin/chromium).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { chromium } from 'playwright-core';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const targetDir = process.env.CARGO_TARGET_DIR ? resolve(process.env.CARGO_TARGET_DIR) : join(repo, 'target');
const bin = process.env.SAMVERKAN_BIN ?? join(targetDir, 'debug', 'samverkan');
const generateBin = process.env.GENERATE_BIN ?? join(dirname(bin), 'generate-history');
const browserPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const outDir = join(repo, 'out');

// Bounds on every wait: the test fails rather than hangs.
const SERVER_START_MS = 60_000;
const UI_MS = 20_000;
// Generating and importing 200,000 events in a debug build (about a minute on two cores).
const BIG_HISTORY_MS = 400_000;
const BIG_EVENTS = 200_000;
const BIG_SEED = 7;
// The dashboard's bound at that size (issue 15).
const BIG_READY_MS = 2_000;

let dataDir;
let profileDir;
let server;
let base;
// The origins the browser may reach: the servers this test started.
const ownOrigins = new Set();
let token;
let context;
let page;
const pageProblems = [];
const foreignRequests = [];

/** Starts `samverkan serve` on `dir`; resolves with { child, url } once it has printed where it
 * listens. */
function startServer(dir, extra = []) {
  return new Promise((resolvePromise, reject) => {
    let log = '';
    const child = spawn(bin, ['serve', '--data', dir, '--listen', '127.0.0.1:0', ...extra], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' },
    });
    const timer = setTimeout(() => reject(new Error(`server did not report its address in ${SERVER_START_MS} ms:\n${log}`)), SERVER_START_MS);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      log += chunk;
      const found = log.match(/serving (http:\/\/127\.0\.0\.1:\d+)\/graphql/);
      if (found) {
        clearTimeout(timer);
        ownOrigins.add(found[1]);
        resolvePromise({ child, url: found[1] });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited early (${code}):\n${log}`));
    });
  });
}

/** Runs a program to its end within `ms`, its standard output into `stdoutFile` (or ignored). */
function run(program, args, { ms, stdoutFile } = {}) {
  return new Promise((resolvePromise, reject) => {
    const out = stdoutFile ? openSync(stdoutFile, 'w') : 'ignore';
    let err = '';
    const child = spawn(program, args, { stdio: ['ignore', out, 'pipe'] });
    if (stdoutFile) closeSync(out);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => { err += chunk; });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${program} ${args.join(' ')} did not finish in ${ms} ms`));
    }, ms);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolvePromise(err);
      else reject(new Error(`${program} ${args.join(' ')} exited ${code}: ${err}`));
    });
  });
}

// The big history, made in the background from the start (the first part of the test needs one
// core, the import the other), and awaited by the second part.
const bigDir = mkdtempSync(join(tmpdir(), 'samverkan-e2e-big-'));
const bigHistory = (async () => {
  const started = Date.now();
  const file = join(bigDir, 'big.jsonl');
  await run(generateBin, [String(BIG_EVENTS), String(BIG_SEED)], { ms: BIG_HISTORY_MS, stdoutFile: file });
  const generatedMs = Date.now() - started;
  await run(bin, ['import', file, '--data', join(bigDir, 'data')], { ms: BIG_HISTORY_MS });
  const importedMs = Date.now() - started - generatedMs;
  // What the table must show, counted from the file itself.
  const drafted = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.includes('"type":"AgreementDrafted"')) drafted.push(JSON.parse(line).data);
  }
  rmSync(file, { force: true });
  return { drafted, generatedMs, importedMs };
})();
// A failure is reported by the part that awaits it, not as an unhandled rejection meanwhile.
bigHistory.catch(() => {});

async function waitForHealth(url) {
  const deadline = Date.now() + SERVER_START_MS;
  let last;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.ok) return response.json();
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = error.message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`/healthz not ready in ${SERVER_START_MS} ms: ${last}`);
}

async function stopServer(child) {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function graphql(queryText, variables, bearer) {
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
    body: JSON.stringify({ query: queryText, variables }),
  });
  const body = await response.json();
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  return body.data;
}

/** Types a date into the page's date field and waits until the page shows that date. */
async function pickDate(iso) {
  await page.getByLabel(/^(Datum|Date)$/).fill(iso);
  await page.locator(`main[data-ready="true"][data-at="${iso}"]`).waitFor({ timeout: UI_MS });
}

describe('the dashboard page', { timeout: 180_000 }, () => {
  before(async () => {
    assert.ok(existsSync(bin), `no samverkan binary at ${bin} (build it, or set SAMVERKAN_BIN)`);
    assert.ok(existsSync(browserPath), `no chromium at ${browserPath}`);
    dataDir = mkdtempSync(join(tmpdir(), 'samverkan-e2e-data-'));
    profileDir = mkdtempSync(join(tmpdir(), 'samverkan-e2e-chromium-'));
    // The token exists before the server starts; the server reads the token file per request.
    token = execFileSync(bin, ['token', 'create', '--role', 'SECRETARIAT', '--name', 'e2e-registrator', '--data', dataDir], { encoding: 'utf8' }).trim();
    assert.ok(token.length > 10, 'the CLI printed a token');
    ({ child: server, url: base } = await startServer(dataDir));
    const health = await waitForHealth(base);
    assert.ok(health.position >= 800, `the fixtures were seeded (head ${health.position})`);

    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: browserPath,
      headless: true,
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--lang=sv-SE',
      ],
      viewport: { width: 1440, height: 1000 },
      locale: 'sv-SE',
      timezoneId: 'Europe/Stockholm',
    });
    // The page must need nothing but this server: anything else is refused and remembered.
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (ownOrigins.has(url.origin)) return route.continue();
      foreignRequests.push(url.href);
      return route.abort();
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (error) => pageProblems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') pageProblems.push(`console: ${message.text()}`);
    });
    page.on('requestfailed', (request) => pageProblems.push(`failed: ${request.url()} ${request.failure()?.errorText}`));
    page.on('response', (response) => {
      if (response.status() >= 400) pageProblems.push(`HTTP ${response.status()}: ${response.url()}`);
    });
  });

  after(async () => {
    // The browser stays open for the second part; the first server is no longer needed.
    await stopServer(server);
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('loads from the server alone', async () => {
    await page.goto(`${base}/`);
    await page.locator('main[data-ready="true"]').waitFor({ timeout: UI_MS });
    await page.locator('[data-testid="feed-status"][data-state="live"]').waitFor({ timeout: UI_MS });
    assert.equal(await page.locator('h1').textContent(), 'Samverkan i Stockholms län');
    // Every panel drawn: none still says it is loading, none is marked busy.
    assert.equal(await page.getByTestId('panel-loading').count(), 0);
    assert.equal(await page.locator('section[aria-busy="true"]').count(), 0);
  });

  it('shows the HÖK not yet in force on 2022-07-01', async () => {
    await pickDate('2022-07-01');
    const card = page.getByTestId('hok-card');
    assert.equal(await card.getAttribute('data-in-force'), 'false');
    assert.notEqual(await page.getByTestId('agreement-hok').getAttribute('data-status'), 'IN_FORCE');
    // KSON adopted only on 2022-09-05: it is the party the HÖK waited for.
    const pending = await page.getByTestId('hok-pending').innerText();
    assert.match(pending, /Kommunalförbundet Sjukvård och omsorg i Norrtälje/);
    // Where version 1 stood (seed 003): recommended 2021-10-14, answers due 2022-06-30.
    assert.match(await card.innerText(), /2021-10-14.*2022-06-30/);
  });

  it('shows the HÖK in force on 2022-10-01', async () => {
    await pickDate('2022-10-01');
    const card = page.getByTestId('hok-card');
    assert.equal(await card.getAttribute('data-in-force'), 'true');
    assert.equal(await page.getByTestId('agreement-hok').getAttribute('data-status'), 'IN_FORCE');
    assert.match(await card.innerText(), /2022-09-05/);
    assert.equal(await page.getByTestId('hok-pending-party').count(), 0);
    assert.equal(await page.getByTestId('hok-adopted-party').count(), 28);
    // The organisation on that date: VIS and the five – then four – samrådsgrupper under the officials.
    assert.ok(await page.getByTestId('group-vis').isVisible());
    assert.ok(await page.getByTestId('group-samradsgrupp-aldre').isVisible());
  });

  it('answers "as known at" an earlier instant', async () => {
    // On 2022-08-01 the ledger knew the HÖK was not yet in force; on 2022-10-01 it knew it was.
    await page.getByTestId('known-now').uncheck();
    const known = page.getByTestId('known-input');
    await known.fill('2022-08-01T12:00:00');
    await page.locator('main[data-ready="true"][data-known^="2022-08-01"]').waitFor({ timeout: UI_MS });
    assert.equal(await page.getByTestId('hok-card').getAttribute('data-in-force'), 'false');
    // The historical view says so, above everything else (issue 15).
    const banner = page.getByTestId('history-banner');
    assert.ok(await banner.isVisible(), 'the banner shows while "as known at" is not now');
    assert.match(await banner.innerText(), /2022-08-01/);
    await page.getByTestId('known-now').check();
    await page.locator('main[data-ready="true"][data-known="now"]').waitFor({ timeout: UI_MS });
    assert.equal(await page.getByTestId('hok-card').getAttribute('data-in-force'), 'true');
    assert.ok(await banner.isHidden(), 'no banner when the view is now');
  });

  it('lists the findings of a date by kind, with names and their evidence', async () => {
    await pickDate('2024-06-01');
    const panel = page.getByTestId('findings');
    const group = panel.locator('[data-testid="finding-group"][data-kind="MUNICIPAL_FUNCTION_MISSING"]');
    await group.waitFor({ timeout: UI_MS });
    await group.locator('summary').click();
    const botkyrka = group.getByTestId('finding').filter({ hasText: 'Botkyrka kommun' });
    assert.equal(await botkyrka.count(), 1, 'findings speak in names');
    await botkyrka.click();
    const detail = page.getByTestId('finding-detail');
    await detail.getByTestId('because-event').first().waitFor({ timeout: UI_MS });
    assert.match(await detail.innerText(), /Riktlinje 7\.1\.1/);
    // Before the HÖK, nothing the sources ask is missing.
    await pickDate('2015-06-01');
    assert.equal(await panel.getByTestId('finding-group').count(), 0);
    // Back to the date the tests that follow expect.
    await pickDate('2022-10-01');
  });

  it('shows the events and sources behind a timeline item', async () => {
    const row = page.getByTestId('timeline-row-hok');
    await row.locator('[data-kind="in-force"]').first().click();
    const detail = page.getByTestId('detail');
    await detail.getByTestId('because-event').first().waitFor({ timeout: UI_MS });
    assert.ok((await detail.getByTestId('because-event').count()) >= 28, 'every adoption is part of the evidence');
    // The deciding event first: KSON's adoption, the last the HÖK waited for, before its publication.
    const first = await detail.getByTestId('because-event').first().innerText();
    assert.match(first, /PartyAdopted/);
    assert.match(first, /Norrtälje/);
    // Instants as YYYY-MM-DD HH:MM.
    assert.match(first, /\d{4}-\d{2}-\d{2} \d{2}:\d{2}/);
    assert.match(await detail.innerText(), /Protokollsutdrag|Huvudöverenskommelse/);
    // The keyboard reaches the items too: focus the row's tab stop and open the next item.
    await row.locator('[tabindex="0"]').focus();
    await page.keyboard.press('Home');
    await page.keyboard.press('Enter');
    await detail.getByTestId('because-source').first().waitFor({ timeout: UI_MS });
  });

  it('shows an event recorded through the API in the live feed', async () => {
    const caseId = `e2e-${randomUUID().slice(0, 8)}`;
    const data = await graphql(
      `mutation($input: OpenCaseInput!) { openCase(input: $input) { position type } }`,
      {
        input: {
          case: caseId,
          agreement: 'hok',
          kind: 'DEVIATION',
          parties: ['nacka', 'region-stockholm'],
          level: 'LOCAL',
          principled: false,
          summary: 'Oenighet om ansvar vid utskrivning (e2e-test)',
          effective: '2022-09-20',
          source: { title: 'E2E-test av översikten', note: 'recorded by e2e/dashboard.test.mjs' },
        },
      },
      token,
    );
    assert.equal(data.openCase.type, 'CaseOpened');
    const item = page.locator(`[data-testid="feed-item"][data-position="${data.openCase.position}"]`);
    await item.waitFor({ timeout: UI_MS });
    assert.equal(await item.getAttribute('data-type'), 'CaseOpened');
    // Known "now", the page refreshes itself: the new case stands on the ladder's first step.
    await page.locator(`[data-testid="ladder-step-LOCAL"] [data-case="${caseId}"]`).waitFor({ timeout: UI_MS });
  });

  it('names a bad date in the address in the page\'s language, and shows today instead', async () => {
    // Reloading cuts the requests in flight; those aborts are this test's doing, not the page's.
    const before = pageProblems.length;
    await page.goto(`${base}/#at=2022-02-30`);
    await page.reload();
    await page.locator('main[data-ready="true"]').waitFor({ timeout: UI_MS });
    assert.match(await page.getByTestId('status').innerText(), /2022-02-30.*ÅÅÅÅ-MM-DD/);
    await page.goto(`${base}/#at=tomorrow&lang=en`);
    await page.reload();
    await page.locator('main[data-ready="true"]').waitFor({ timeout: UI_MS });
    assert.match(await page.getByTestId('status').innerText(), /"tomorrow" is not a date/);
    await page.goto(`${base}/#at=2022-10-01`);
    await page.reload();
    await page.locator('main[data-ready="true"][data-at="2022-10-01"]').waitFor({ timeout: UI_MS });
    assert.equal(await page.getByTestId('status').innerText(), '');
    await page.locator('[data-testid="feed-status"][data-state="live"]').waitFor({ timeout: UI_MS });
    // The date field is entered as YYYY-MM-DD whatever the browser's locale, and says so.
    const field = page.getByTestId('date-input');
    assert.equal(await field.inputValue(), '2022-10-01');
    assert.equal(await field.getAttribute('placeholder'), 'ÅÅÅÅ-MM-DD');
    await field.fill('2022-13-01');
    await field.press('Tab');
    assert.match(await page.getByTestId('status').innerText(), /2022-13-01.*ÅÅÅÅ-MM-DD/);
    await pickDate('2022-10-01');
    assert.equal(await page.getByTestId('status').innerText(), '', 'the message goes once the date is right');
    pageProblems.push(...pageProblems.splice(before).filter((p) => !p.includes('net::ERR_ABORTED')));
  });

  it('tells every timeline row apart and keeps the chosen date clear of the year labels', async () => {
    await pickDate('2023-01-01');
    // The label's own text (its <title> child holds the whole title).
    const labels = await page.locator('.tl-label').evaluateAll((els) => els.map((e) => e.firstChild?.nodeValue ?? ''));
    assert.ok(labels.length > 5, 'the timeline has its rows');
    assert.equal(new Set(labels).size, labels.length, `two rows read the same: ${labels.join(' | ')}`);
    const boxes = async (selector) => Promise.all((await page.locator(selector).all()).map((l) => l.boundingBox()));
    const [at] = await boxes('.tl-at-label');
    assert.ok(at, 'the chosen date is labelled');
    for (const year of await boxes('.tl-year-label')) {
      const apart = year.x + year.width <= at.x || at.x + at.width <= year.x || year.y + year.height <= at.y || at.y + at.height <= year.y;
      assert.ok(apart, `a year label overlaps the chosen date's: ${JSON.stringify({ year, at })}`);
    }
    await pickDate('2022-10-01');
  });

  it('serves GraphiQL from the binary alone, and it answers a query', async () => {
    const ide = await context.newPage();
    const problems = [];
    ide.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    ide.on('console', (message) => { if (message.type() === 'error') problems.push(`console: ${message.text()}`); });
    ide.on('request', (request) => { if (!request.url().startsWith(base) && !request.url().startsWith('data:')) foreignRequests.push(request.url()); });
    await ide.goto(`${base}/graphql`);
    await ide.locator('.graphiql-container').waitFor({ timeout: UI_MS });
    const answered = ide.waitForResponse((r) => r.url() === `${base}/graphql` && r.request().method() === 'POST'
      && (r.request().postData() ?? '').includes('ledger'), { timeout: UI_MS });
    await ide.locator('.graphiql-execute-button').click();
    const response = await answered;
    assert.equal(response.status(), 200);
    await ide.locator('.result-window').getByText('headHash').waitFor({ timeout: UI_MS });
    assert.deepEqual(problems, [], 'GraphiQL reported errors');
    await ide.close();
  });

  it('switches the chrome to English and back', async () => {
    await page.getByRole('button', { name: 'EN', exact: true }).click();
    assert.equal(await page.locator('h1').textContent(), 'Collaboration in Stockholm county');
    assert.equal(await page.locator('html').getAttribute('lang'), 'en');
    await page.getByRole('button', { name: 'SV', exact: true }).click();
    assert.equal(await page.locator('h1').textContent(), 'Samverkan i Stockholms län');
  });

  it('works with a server whose reads need a token, kept for the tab only', async () => {
    const closedDir = mkdtempSync(join(tmpdir(), 'samverkan-e2e-closed-'));
    const { child, url } = await startServer(closedDir, ['--reads-require-token']);
    const tabProblems = [];
    try {
      await waitForHealth(url);
      // Made through the running server (issue 17: the command line goes through it).
      const reader = execFileSync(bin, ['token', 'create', '--role', 'READER', '--name', 'e2e-reader', '--data', closedDir], { encoding: 'utf8' }).trim();
      const tab = await context.newPage();
      tab.on('pageerror', (error) => tabProblems.push(`page error: ${error.message}`));
      await tab.goto(`${url}/`);
      const status = tab.getByTestId('status');
      await status.filter({ hasText: /token/ }).waitFor({ timeout: UI_MS });
      assert.equal(await tab.locator('main').getAttribute('data-ready'), 'false', 'nothing shown without a token');
      await tab.getByTestId('token-input').fill('svk_not-a-token');
      await tab.getByTestId('token-use').click();
      await status.filter({ hasText: /tog inte emot|did not accept/ }).waitFor({ timeout: UI_MS });
      await tab.getByTestId('token-input').fill(reader);
      await tab.getByTestId('token-use').click();
      await tab.locator('main[data-ready="true"]').waitFor({ timeout: UI_MS });
      await tab.locator('[data-testid="agreements-table"][data-ready="true"]').waitFor({ timeout: UI_MS });
      // The live feed subscribes with the token too.
      await tab.locator('[data-testid="feed-status"][data-state="live"]').waitFor({ timeout: UI_MS });
      // Kept for this tab: a reload needs no typing.
      await tab.reload();
      await tab.locator('main[data-ready="true"]').waitFor({ timeout: UI_MS });
      assert.equal(await tab.evaluate(() => sessionStorage.getItem('samverkan.token')), reader);
      // Another tab starts without it.
      const other = await context.newPage();
      await other.goto(`${url}/`);
      await other.getByTestId('status').filter({ hasText: /token/ }).waitFor({ timeout: UI_MS });
      assert.equal(await other.evaluate(() => sessionStorage.getItem('samverkan.token')), null);
      await other.close();
      await tab.close();
      assert.deepEqual(tabProblems, [], 'the page reported errors');
    } finally {
      await stopServer(child);
      rmSync(closedDir, { recursive: true, force: true });
    }
  });

  it('saves a screenshot and had no errors', async () => {
    mkdirSync(outDir, { recursive: true });
    await page.getByTestId('timeline-row-hok').locator('[data-kind="in-force"]').first().click();
    await page.getByTestId('detail').getByTestId('because-event').first().waitFor({ timeout: UI_MS });
    // From the top, so the sticky header sits where a reader sees it first.
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(outDir, 'dashboard.png'), fullPage: true });
    assert.deepEqual(foreignRequests, [], 'the page asked another host for something');
    assert.deepEqual(pageProblems, [], 'the page reported errors');
  });
});

describe('the dashboard at 200,000 events', { timeout: BIG_HISTORY_MS + 120_000 }, () => {
  let big;
  let bigServer;
  let bigPage;
  let history;
  const bigProblems = [];

  before(async () => {
    history = await bigHistory;
    ({ child: bigServer, url: big } = await startServer(join(bigDir, 'data'), ['--no-seed']));
    const health = await waitForHealth(big);
    assert.ok(health.position >= BIG_EVENTS, `the generated history was imported (head ${health.position})`);
    // Ready only once the projections hold the whole history: the page is measured, not the start.
    const deadline = Date.now() + SERVER_START_MS;
    while ((await fetch(`${big}/readyz`)).status !== 200) {
      assert.ok(Date.now() < deadline, `/readyz not 200 in ${SERVER_START_MS} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
    bigPage = await context.newPage();
    bigPage.on('pageerror', (error) => bigProblems.push(`page error: ${error.message}`));
    bigPage.on('console', (message) => { if (message.type() === 'error') bigProblems.push(`console: ${message.text()}`); });
    bigPage.on('response', (response) => { if (response.status() >= 400) bigProblems.push(`HTTP ${response.status()}: ${response.url()}`); });
  });

  after(async () => {
    await context?.close().catch(() => {});
    await stopServer(bigServer);
    for (const dir of [profileDir, bigDir]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const rows = () => bigPage.locator('[data-testid="agreements-table"] tbody tr');
  /** Waits until the table shows the page starting at `start` of `total` agreements. */
  const tableAt = (start, total) => bigPage
    .locator(`[data-testid="agreements-table"][data-ready="true"][data-start="${start}"][data-total="${total}"]`)
    .waitFor({ timeout: UI_MS });

  it('shows the agreements table, a page of 50, in 2 s', async () => {
    const started = Date.now();
    await bigPage.goto(`${big}/`);
    // Issue 15's bound: from the start of navigation to the table's first page drawn with its
    // count and paging, as the page measured it (performance.now() when the page was rendered).
    const table = bigPage.locator('[data-testid="agreements-table"][data-ready="true"][data-ready-ms]');
    await table.waitFor({ timeout: UI_MS });
    const tableMs = Number(await table.getAttribute('data-ready-ms'));
    const tableWallMs = Date.now() - started;
    // Usable then: the count shown and the next page a click away, whether or not the slower panels
    // (marked busy until their answer is drawn) have come.
    const panelsStillLoading = await bigPage.locator('section[data-loading="true"]').count();
    assert.match(await bigPage.getByTestId('agreements-range').innerText(), /^1–50 av \d+$/);
    assert.equal(await bigPage.getByTestId('agreements-next').isDisabled(), false, 'the next page can be asked for');
    const main = bigPage.locator('main[data-ready="true"]');
    await main.waitFor({ timeout: UI_MS });
    const readyMs = Number(await main.getAttribute('data-ready-ms'));
    console.log(`# 200k: generated in ${history.generatedMs} ms, imported in ${history.importedMs} ms; `
      + `table shown in ${tableMs} ms (${tableWallMs} ms around it; ${panelsStillLoading} panels still loading then), every panel in ${readyMs} ms`);
    assert.ok(tableMs > 0 && tableMs <= BIG_READY_MS, `the agreements table showed its page ${tableMs} ms after navigation at ${BIG_EVENTS} events; the bound is ${BIG_READY_MS} ms`);
    const total = history.drafted.length;
    assert.ok(total > 3000, `the generated history holds ${total} agreements`);
    await tableAt(1, total);
    assert.equal(await rows().count(), 50, 'one page, not every agreement');
    assert.match(await bigPage.getByTestId('agreements-range').innerText(), new RegExp(`^1–50 av ${total}$`));
    // The timeline draws a bounded number of rows too, and says so.
    await bigPage.getByTestId('timeline-scope').waitFor({ timeout: UI_MS });
    assert.ok((await bigPage.locator('[data-testid^="timeline-row-"]').count()) <= 50);
  });

  it('pages forwards and back', async () => {
    const total = history.drafted.length;
    const first = await rows().first().getAttribute('data-testid');
    await bigPage.getByTestId('agreements-next').click();
    await tableAt(51, total);
    assert.equal(await rows().count(), 50);
    assert.notEqual(await rows().first().getAttribute('data-testid'), first, 'the second page holds other agreements');
    assert.match(await bigPage.getByTestId('agreements-range').innerText(), new RegExp(`^51–100 av ${total}$`));
    await bigPage.getByTestId('agreements-prev').click();
    await tableAt(1, total);
    assert.equal(await rows().first().getAttribute('data-testid'), first);
    assert.ok(await bigPage.getByTestId('agreements-prev').isDisabled(), 'no page before the first');
  });

  it('filters by text and by kind on the server', async () => {
    // Every agreement whose id or title holds "c12-a1" (c12-a1, c12-a10, …), counted from the file.
    const text = 'c12-a1';
    const matching = history.drafted.filter((d) => d.agreement.includes(text) || d.title.toLowerCase().includes(text));
    assert.ok(matching.length > 0);
    await bigPage.getByTestId('agreements-search').fill(text);
    await tableAt(1, matching.length);
    const ids = await rows().evaluateAll((trs) => trs.map((tr) => tr.dataset.testid.replace(/^agreement-/, '')));
    assert.deepEqual(ids.sort(), matching.map((d) => d.agreement).sort());
    assert.ok(await bigPage.getByTestId('agreements-next').isDisabled());
    await bigPage.getByTestId('agreements-search').fill('');
    // Main agreements only: one per generated county.
    const mains = history.drafted.filter((d) => d.kind === 'MAIN');
    await bigPage.getByTestId('agreements-kind').selectOption('MAIN');
    await tableAt(1, mains.length);
    const kinds = await rows().evaluateAll((trs) => trs.map((tr) => tr.querySelector('.kind').textContent));
    assert.ok(kinds.every((k) => k === 'Huvudöverenskommelse'), kinds.join(', '));
    // And a status no generated agreement has on this date: an empty table that says so.
    await bigPage.getByTestId('agreements-status').selectOption('BLOCKED');
    await tableAt(1, 0);
    assert.match(await bigPage.getByTestId('agreements-table').innerText(), /Ingen överenskommelse matchar filtret/);
    assert.deepEqual(bigProblems, [], 'the page reported errors');
  });
});
