// The three apps in headless Chromium against the real tiraid (issue 18):
// the operator books and copies the link, the client opens it, the talent
// logs in, they chat both ways, tiraid is killed and restarted mid-
// conversation, the session ends politely and the talent rates; and all
// along no URL, log line, storage entry or database page holds the token,
// the secret or the client's number, and no CSP violation happens.
// Run by ctest: TIRAID=<path> node --test web/e2e/
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { request } from 'node:http';
import { createRequire } from 'node:module';
import { phone, cspViolations, sessionStorageOf, steps, world } from './harness.mjs';

const CANARY = '+6281299990001'; // the client's real number
const SECRET = 'violet-harbour-lantern-42';
const STEP = { timeout: 15_000 };

const seen = { urls: [], csp: [], errors: [] };
let operator, client, talent, link;
// A step whose failure prints what each page showed, and tiraid's log at the end.
const { test, failed } = steps(seen, () => ({ operator, client, talent }));

const w = world(
  '[sessions]\nwarn_before = "6s"\ngrace = "3s"\n' +
    '[packages.chat-30m]\nchannels = ["chat"]\nduration = "30m"\n' +
    '[packages.chat-short]\nchannels = ["chat"]\nduration = "9s"\n',
  failed,
);

// The client page's and the talent console's controls, by role and name.
const log = (page) => page.getByRole('log');
const messageBox = (page) => page.getByRole('textbox', { name: 'Message', exact: true });

async function say(page, text) {
  await messageBox(page).fill(text);
  await page.getByRole('button', { name: 'Send', exact: true }).click();
}

async function talentLogin(page) {
  await page.goto(w.tiraid.relay + '/talent/');
  await page.getByRole('textbox', { name: 'Alias' }).fill('natasha');
  await page.getByLabel('Secret').fill(SECRET);
  await page.getByRole('button', { name: 'Log in' }).click();
}

// Books through the operator page; returns the link it shows once.
async function bookOnOperatorPage(page, pkg) {
  await page.getByRole('combobox', { name: 'Talent' }).selectOption('natasha');
  await page.getByRole('combobox', { name: 'Package' }).selectOption(pkg);
  await page.getByRole('textbox', { name: 'Client number' }).first().fill(CANARY);
  const book = page.getByRole('region', { name: 'Book session' });
  // This relay has no [sms]: the page does not offer proxy numbers.
  assert.equal(await book.getByRole('checkbox', { name: 'Proxy number for SMS' }).count(), 0);
  await book.getByRole('button', { name: 'Book', exact: true }).click();
  const shown = book.getByRole('status').filter({ hasText: '/s/#' });
  await shown.waitFor(STEP);
  // Copied as the operator does, to paste into the chat with the client.
  await shown.getByRole('button', { name: 'Copy link' }).click();
  await shown.getByText(/copied/i).waitFor(STEP);
  const link = await page.evaluate(() => navigator.clipboard.readText());
  assert.equal(link, (await shown.locator('code').textContent()).trim());
  // The number typed is not shown back.
  assert.equal(await page.getByRole('textbox', { name: 'Client number' }).first().inputValue(), '');
  assert.ok(!(await page.content()).includes(CANARY.slice(1)), 'the operator page shows the number it was given');
  return link;
}

test('the operator signs in, enrols a talent and books a session; the link is shown once', async () => {
  const context = await phone(w.browser, seen);
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: w.tiraid.admin });
  operator = await context.newPage();
  await operator.goto(w.tiraid.admin + '/');
  await operator.getByLabel('Admin token').waitFor(STEP);
  const usableMs = await usableAfterMs(operator);
  console.log(`# operator page usable after ${usableMs} ms`);
  await operator.getByLabel('Admin token').fill(w.tiraid.token);
  await operator.getByRole('button', { name: 'Sign in' }).click();
  const enrol = operator.getByRole('region', { name: 'Enrol talent' });
  await enrol.getByRole('textbox', { name: 'Alias' }).fill('natasha');
  await enrol.getByLabel('Secret').fill(SECRET);
  await enrol.getByRole('button', { name: 'Enrol talent' }).click();
  await enrol.getByRole('status').filter({ hasText: 'natasha' }).waitFor(STEP);
  link = await bookOnOperatorPage(operator, 'chat-30m');
  assert.match(link, new RegExp(`^${w.tiraid.relay}/s/#`));
});

// How long after navigation began the page was usable: its form in the
// DOM (the apps render it before DOMContentLoaded ends) and painted.
async function usableAfterMs(page) {
  return page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const paint = performance.getEntriesByName('first-contentful-paint')[0];
    return Math.round(Math.max(nav.domContentLoadedEventEnd, paint ? paint.startTime : 0));
  });
}

test('the client opens the link and the talent logs in: the page is usable within a second', async () => {
  const clientContext = await phone(w.browser, seen);
  client = await clientContext.newPage();
  await client.goto(link);
  await messageBox(client).waitFor(STEP);
  const clientMs = await usableAfterMs(client);
  // The token leaves the address bar at once.
  assert.equal(new URL(client.url()).hash, '');
  await client.getByText('natasha').first().waitFor(STEP);

  const talentContext = await phone(w.browser, seen);
  talent = await talentContext.newPage();
  await talent.goto(w.tiraid.relay + '/talent/');
  await talent.getByRole('textbox', { name: 'Alias' }).waitFor(STEP);
  const talentMs = await usableAfterMs(talent);
  console.log(`# client page usable after ${clientMs} ms, talent console after ${talentMs} ms`);
  assert.ok(clientMs < 1000 && talentMs < 1000, `usable after ${clientMs} / ${talentMs} ms`);
  await talentLogin(talent);
  const booking = (await w.tiraid.api('GET', '/v1/sessions')).body.sessions[0];
  await talent.getByRole('button', { name: booking.client_alias, exact: true }).click();
  await messageBox(talent).waitFor(STEP);
});

test('they chat both ways', async () => {
  await say(client, 'hello from the client');
  await log(talent).getByText('hello from the client').waitFor(STEP);
  await say(talent, 'hello from natasha');
  await log(client).getByText('hello from natasha').waitFor(STEP);
});

test('the talent and the client reload and are still in, without the secret or the link', async () => {
  const alias = (await w.tiraid.api('GET', '/v1/sessions')).body.sessions[0].client_alias;
  await talent.reload();
  const session = talent.getByRole('button', { name: alias, exact: true });
  await session.waitFor(STEP);
  assert.equal(await talent.getByRole('button', { name: 'Log in' }).count(), 0);
  await session.click();
  await client.reload();
  await messageBox(client).waitFor(STEP);
  await say(talent, 'after the reload');
  await log(client).getByText('after the reload').waitFor(STEP);
  await say(client, 'still with you');
  await log(talent).getByText('still with you').waitFor(STEP);
});

test('kill -9 and a restart of tiraid mid-conversation lose nothing and show nothing twice', async () => {
  await w.tiraid.kill9();
  // Written while the relay is down: each page says it is offline and keeps
  // the message until the relay has it.
  await client.getByRole('status').filter({ hasText: /No connection|Offline|Connecting/ }).first().waitFor(STEP);
  await say(client, 'written while you were away');
  await say(talent, 'still here');
  await w.tiraid.start();
  await log(talent).getByText('written while you were away').waitFor(STEP);
  await log(client).getByText('still here').waitFor(STEP);
  for (const [page, text] of [
    [talent, 'still with you'],
    [talent, 'written while you were away'],
    [client, 'after the reload'],
    [client, 'still here'],
  ])
    assert.equal(await log(page).locator('.msg-text', { hasText: text }).count(), 1, `${text} shown once`);
});

test('the talent ends politely, the client sees the grace and the end, and the talent rates', async () => {
  await talent.getByRole('button', { name: 'End session' }).click();
  const farewell = talent.getByRole('textbox', { name: 'Farewell message' });
  assert.equal(await farewell.inputValue(), 'Our session has ended, thank you');
  await talent.getByRole('button', { name: 'Send and end' }).click();
  await log(client).getByText('Our session has ended, thank you').waitFor(STEP);
  await client.getByRole('status').filter({ hasText: /The line closes in \d/ }).first().waitFor(STEP);
  await say(client, 'thank you too');
  await log(talent).getByText('thank you too').waitFor(STEP);
  await talent.getByRole('button', { name: 'Rate 5' }).click();
  await log(talent).getByText('You rated the client 5 of 5.').waitFor(STEP);
  await client.getByText('This session has ended.').waitFor(STEP);
  assert.equal(await messageBox(client).count(), 0, 'no composer after the end');
  assert.equal(await sessionStorageOf(client), '[]', 'the client page keeps nothing');
  // The link reaches nobody now: opened again, it says so.
  const again = await (await phone(w.browser, seen)).newPage();
  await again.goto(link);
  await again.getByText(/ended or the link is not valid|This session has ended/).first().waitFor(STEP);
});

test('a short package shows the expiring notice, the closing grace and the end', async () => {
  const shortLink = await bookOnOperatorPage(operator, 'chat-short');
  const page = await (await phone(w.browser, seen)).newPage();
  await page.goto(shortLink);
  await messageBox(page).waitFor(STEP);
  await page.getByText(/About .* left in this session\./).first().waitFor(STEP);
  await page.getByRole('status').filter({ hasText: /The line closes in \d/ }).first().waitFor(STEP);
  await page.getByText('This session has ended.').waitFor(STEP);
});

test('a talent deletes her own account: the secret asked again, then erased at once', async () => {
  assert.equal((await w.tiraid.api('POST', '/v1/talents', { alias: 'sari', secret: SECRET })).status, 201);
  const page = await (await phone(w.browser, seen)).newPage();
  await page.goto(w.tiraid.relay + '/talent/');
  await page.getByRole('textbox', { name: 'Alias' }).fill('sari');
  await page.getByLabel('Secret').fill(SECRET);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('button', { name: 'Delete my account', exact: true }).click();
  await page.getByLabel('Secret').fill('not her secret at all');
  await page.getByRole('button', { name: 'Delete my account permanently' }).click();
  await page.getByText(/The account was not deleted/).waitFor(STEP);
  assert.ok((await w.tiraid.api('GET', '/v1/talents')).body.talents.some((t) => t.alias === 'sari'));
  await page.getByLabel('Secret').fill(SECRET);
  await page.getByRole('button', { name: 'Delete my account permanently' }).click();
  await page.getByText('Your account has been deleted.').waitFor(STEP);
  assert.ok(!(await w.tiraid.api('GET', '/v1/talents')).body.talents.some((t) => t.alias === 'sari'));
  assert.equal(await sessionStorageOf(page), '[]');
});

test('no URL, log line, storage entry or database file holds the token, the secret or the number', async () => {
  const token = link.split('#')[1];
  for (const url of seen.urls) {
    assert.ok(!url.includes(token), `a request URL holds the token: ${url}`);
    assert.ok(!url.includes(SECRET), `a request URL holds the secret: ${url}`);
    assert.ok(!url.includes(CANARY.slice(1)), `a request URL holds the number: ${url}`);
  }
  for (const page of [client, talent, operator]) {
    const stored = await sessionStorageOf(page);
    const local = await page.evaluate(() => JSON.stringify(Object.entries(localStorage)) + document.cookie);
    for (const secret of [token, SECRET, CANARY.slice(1)]) {
      assert.ok(!stored.includes(secret), `sessionStorage holds a secret: ${stored}`);
      assert.ok(!local.includes(secret), `localStorage or a cookie holds a secret: ${local}`);
    }
  }
  for (const secret of [token, SECRET, CANARY.slice(1)]) assert.ok(!w.tiraid.log.includes(secret), 'the log holds a secret');
  for (const file of w.tiraid.dbFiles())
    if (existsSync(file)) assert.ok(!readFileSync(file).includes(CANARY.slice(1)), `${file} holds the number in clear`);
});

test('no page threw an error nobody caught, or logged one', async () => {
  assert.deepEqual(seen.errors, []);
});

test('no page reported a Content-Security-Policy violation', async () => {
  for (const page of [client, talent, operator]) assert.deepEqual(await cspViolations(page), []);
  assert.deepEqual(seen.csp, []);
});

// The bytes a first visit downloads, gzipped as the browser asks: the page
// and every script and style sheet it names.
async function firstLoad(base, path) {
  const get = (url) =>
    new Promise((resolve, reject) => {
      request(url, { headers: { 'Accept-Encoding': 'gzip' } }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, bytes: Buffer.concat(chunks), headers: res.headers }));
      })
        .on('error', reject)
        .end();
    });
  const page = await get(base + path);
  assert.equal(page.status, 200);
  const html = (await import('node:zlib')).gunzipSync(page.bytes).toString();
  let total = page.bytes.length;
  for (const [, name] of html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)) {
    const asset = await get(base + name);
    assert.equal(asset.status, 200);
    assert.equal(asset.headers['content-encoding'], 'gzip');
    total += asset.bytes.length;
  }
  return total;
}

test('first loads stay within budget: client page 40 KB, talent console 60 KB (gzip)', async () => {
  const clientBytes = await firstLoad(w.tiraid.relay, '/s/');
  const talentBytes = await firstLoad(w.tiraid.relay, '/talent/');
  const operatorBytes = await firstLoad(w.tiraid.admin, '/');
  console.log(`# first load, gzip: client ${clientBytes} B, talent ${talentBytes} B, operator ${operatorBytes} B`);
  assert.ok(clientBytes <= 40 * 1024, `client page ${clientBytes} B`);
  assert.ok(talentBytes <= 60 * 1024, `talent console ${talentBytes} B`);
});

test('axe-core finds no serious or critical violation on any page', async () => {
  const axe = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  for (const page of [client, talent, operator]) {
    // Evaluated through DevTools, which the page's policy does not govern.
    await page.evaluate(axe);
    const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
    const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    assert.deepEqual(
      bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
      [],
      `axe on ${page.url()}`,
    );
  }
});

test('tiraid stops cleanly on SIGTERM', async () => {
  await w.browser.close();
  w.browser = null;
  assert.equal(await w.tiraid.stop(), 0, w.tiraid.log.slice(-4000));
});
