// What the people around a session do besides chatting, in headless
// Chromium against the real tiraid (issue 18): the operator texts the link
// by SMS, looks up, verifies, restricts, releases and erases a client and
// removes a talent, each removal behind a confirmation; a new booking
// appears in the talent console without a reload and badges the title of a
// hidden tab; the pages speak Indonesian from ?lang=id and switch; the
// client page, offline, offers "Try now". This tiraid has [sms] enabled
// with no Kannel behind it: texts wait in the outbox, as they would.
// Run by ctest: TIRAID=<path> node --test web/e2e/people.test.mjs
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { phone, freePort, steps, world } from './harness.mjs';

const SECRET = 'violet-harbour-lantern-42';
const PROXY = '+6281100000001';
const CLIENT = '+6281299990002';
const STEP = { timeout: 15_000 };
// Screenshots for people to look at (not compared): TIRAI_WEB_SHOTS=<folder>.
const SHOTS = process.env.TIRAI_WEB_SHOTS;

const seen = { urls: [], csp: [], errors: [] };
let operator, talent, client;
const { test, failed } = steps(seen, () => ({ operator, talent, client }));

async function shot(page, name) {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

const w = world(async () => {
  const smsPort = await freePort();
  const kannelPort = await freePort(); // nobody listens: Kannel is "down"
  return (
    '[sessions]\ngrace = "2s"\n' +
    '[packages.chat-30m]\nchannels = ["chat"]\nduration = "30m"\n' +
    `[sms]\nenabled = true\nlisten = "127.0.0.1:${smsPort}"\ninbound_secret = "kannel-to-tirai-0123456789"\n` +
    `sendsms_url = "http://127.0.0.1:${kannelPort}/cgi-bin/sendsms"\nusername = "tirai"\npassword = "kannel-pass"\n` +
    `proxy_numbers = ["${PROXY}"]\nretry_min = "1s"\nretry_max = "5s"\n`
  );
}, failed);

const region = (page, name) => page.getByRole('region', { name });

async function book(page, { textLink = false } = {}) {
  const form = region(page, 'Book session');
  await form.getByRole('combobox', { name: 'Talent' }).selectOption('natasha');
  await form.getByRole('combobox', { name: 'Package' }).selectOption('chat-30m');
  await form.getByRole('textbox', { name: 'Client number' }).fill(CLIENT);
  const text = form.getByRole('checkbox', { name: 'Text the link by SMS' });
  if (textLink) await text.check();
  else await text.uncheck();
  await form.getByRole('button', { name: 'Book', exact: true }).click();
}

test('the operator signs in on a relay with SMS and enrols a talent', async () => {
  operator = await (await phone(w.browser, seen)).newPage();
  await operator.goto(w.tiraid.admin + '/');
  await operator.getByLabel('Admin token').fill(w.tiraid.token);
  await operator.getByRole('button', { name: 'Sign in' }).click();
  const enrol = region(operator, 'Enrol talent');
  await enrol.getByRole('textbox', { name: 'Alias' }).fill('natasha');
  await enrol.getByLabel('Secret').fill(SECRET);
  await enrol.getByRole('button', { name: 'Enrol talent' }).click();
  await enrol.getByRole('status').filter({ hasText: 'natasha' }).waitFor(STEP);
});

test('the talent console speaks Indonesian from ?lang=id, switches to English, and logs in by keyboard', async () => {
  talent = await (await phone(w.browser, seen, { locale: 'en-US' })).newPage();
  await talent.goto(w.tiraid.relay + '/talent/?lang=id');
  await talent.getByRole('button', { name: 'Masuk' }).waitFor(STEP);
  assert.equal(await talent.getAttribute('html', 'lang'), 'id');
  await shot(talent, 'talent-login-id');
  await talent.getByRole('button', { name: 'EN', exact: true }).click();
  await talent.getByRole('button', { name: 'Log in' }).waitFor(STEP);
  assert.equal(await talent.getAttribute('html', 'lang'), 'en');
  // By keyboard only: Tab to the alias, type, Tab to the secret, Enter.
  const focused = () => talent.evaluate(() => document.activeElement && document.activeElement.id);
  for (let i = 0; i < 8 && (await focused()) !== 'login-alias'; i++) await talent.keyboard.press('Tab');
  assert.equal(await focused(), 'login-alias', 'Tab reaches the alias field');
  await talent.keyboard.type('natasha');
  await talent.keyboard.press('Tab');
  await talent.keyboard.type(SECRET);
  await talent.keyboard.press('Enter');
  await talent.getByText('No sessions yet. New bookings appear here.').waitFor(STEP);
});

test('a booking texted by SMS appears in the talent console without a reload, badging a hidden tab', async () => {
  // The tab goes to the background, as when the talent answers WhatsApp.
  await talent.evaluate(() => {
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  const title = await talent.title();
  await book(operator, { textLink: true });
  const booked = region(operator, 'Book session').getByRole('status').filter({ hasText: '/s/#' });
  await booked.getByText(`The link is being texted to the client from ${PROXY}.`).waitFor(STEP);
  await shot(operator, 'operator-booked-sms');
  // The number typed is not shown back.
  assert.ok(!(await operator.content()).includes(CLIENT.slice(1)));
  const session = (await w.tiraid.api('GET', '/v1/sessions')).body.sessions[0];
  assert.equal(session.proxy_number, PROXY);
  await talent.getByRole('button', { name: session.client_alias, exact: true }).waitFor(STEP);
  assert.equal(await talent.title(), `(1) ${title}`);
  await talent.evaluate(() => {
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => false });
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'visible' });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  assert.equal(await talent.title(), title);
});

test('offline, the client page says so and "Try now" reconnects at once', async () => {
  // The link from the booking the operator saw (the SMS waits for Kannel).
  const link = (await region(operator, 'Book session').locator('code').textContent()).trim();
  client = await (await phone(w.browser, seen)).newPage();
  await client.goto(link + '');
  await client.getByRole('textbox', { name: 'Message', exact: true }).waitFor(STEP);
  await w.tiraid.kill9();
  const status = client.getByRole('status').filter({ hasText: /No connection/ }).first();
  await status.waitFor(STEP);
  await shot(client, 'client-offline');
  // Each "Try now" while the relay is down is one more attempt, and the wait
  // before the next grows: press until the page would wait 6 s or more.
  const waitShown = async () => {
    const m = /in (\d+):(\d\d)/.exec((await status.textContent()) || '');
    return m ? Number(m[1]) * 60 + Number(m[2]) : 0;
  };
  for (let i = 0; i < 20 && (await waitShown()) < 6; i++) {
    const attempt = client.waitForEvent('websocket', STEP);
    await client.getByRole('button', { name: 'Try now' }).click();
    await attempt;
    await client.getByRole('button', { name: 'Try now' }).waitFor(STEP);
  }
  assert.ok((await waitShown()) >= 6, 'the wait never grew');
  await w.tiraid.start();
  const pressed = Date.now();
  await client.getByRole('button', { name: 'Try now' }).click();
  await client.getByText('Online', { exact: true }).first().waitFor(STEP);
  assert.ok(Date.now() - pressed < 5000, 'online at once, not after the wait');
});

test('client tools: look up, verify, restrict (a booking is refused), release, each said in a status', async () => {
  const tools = region(operator, 'Client tools');
  const number = tools.getByRole('textbox', { name: 'Client number' });
  const result = tools.locator('.result');
  const run = async (button, expected) => {
    await number.fill(CLIENT);
    await tools.getByRole('button', { name: button, exact: true }).click();
    await result.filter({ hasText: expected }).waitFor(STEP);
    // The number is not kept on the page.
    assert.equal(await number.inputValue(), '');
  };
  await run('Look up', /not verified, not restricted, no ratings yet, 1 sessions/);
  await run('Verify', 'The client is verified.');
  await run('Look up', /verified \(id_selfie, /);
  await run('Restrict', 'The client is restricted.');
  await book(operator);
  await region(operator, 'Book session').getByText('this client is restricted').waitFor(STEP);
  await run('Release', 'The client is released.');
  await run('Look up', /not restricted/);
  assert.ok(!(await operator.content()).includes(CLIENT.slice(1)));
});

test('erasing a client asks first; cancelled, nothing happens; confirmed, the session ends', async () => {
  const tools = region(operator, 'Client tools');
  await tools.getByRole('textbox', { name: 'Client number' }).fill(CLIENT);
  await tools.getByRole('button', { name: 'Erase client' }).click();
  const ask = tools.getByRole('group').filter({ hasText: 'Erase this client?' });
  await ask.waitFor(STEP);
  await shot(operator, 'operator-erase-confirm');
  await ask.getByRole('button', { name: 'Cancel' }).click();
  await ask.waitFor({ state: 'detached', ...STEP });
  assert.equal((await w.tiraid.api('GET', '/v1/sessions')).body.sessions.length, 1);
  await tools.getByRole('textbox', { name: 'Client number' }).fill(CLIENT);
  await tools.getByRole('button', { name: 'Erase client' }).click();
  await ask.getByRole('button', { name: 'Yes, erase' }).click();
  await tools.getByText('The client is erased.').waitFor(STEP);
  await client.getByText('This session has ended.').waitFor(STEP);
  const lookup = await w.tiraid.api('POST', '/v1/clients/lookup', { client: CLIENT });
  assert.equal(lookup.body.sessions, 0);
});

test('removing a talent asks first, then erases her and logs her console out', async () => {
  const talents = region(operator, 'Talents');
  await talents.getByRole('button', { name: 'Remove' }).first().click();
  const ask = talents.getByRole('group').filter({ hasText: 'Remove natasha?' });
  await ask.waitFor(STEP);
  await ask.getByRole('button', { name: 'Cancel' }).click();
  assert.ok((await w.tiraid.api('GET', '/v1/talents')).body.talents.some((t) => t.alias === 'natasha'));
  await talents.getByRole('button', { name: 'Remove' }).first().click();
  await ask.getByRole('button', { name: 'Remove permanently' }).click();
  await talents.getByText('No talents').first().waitFor(STEP);
  assert.deepEqual((await w.tiraid.api('GET', '/v1/talents')).body.talents, []);
  await talent.getByRole('button', { name: 'Log in' }).waitFor(STEP);
});

test('no page threw an error nobody caught, and none reported a CSP violation', async () => {
  assert.deepEqual(seen.errors, [], seen.errors.join('\n'));
  assert.deepEqual(seen.csp, [], seen.csp.join('\n'));
});

test('tiraid stops cleanly on SIGTERM', async () => {
  await w.browser.close();
  w.browser = null;
  assert.equal(await w.tiraid.stop(), 0, w.tiraid.log.slice(-4000));
});
