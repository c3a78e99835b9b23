// How long the client page and the talent console take to become usable on
// Chromium's "Slow 3G" profile (2 s latency, 400 kbit/s each way), against
// the real tiraid on loopback. A measurement, not a test: it prints medians.
//   TIRAID=build/relay/tiraid node web/e2e/measure_slow3g.mjs [runs]
import { Tiraid, launchChromium } from './harness.mjs';

const runs = Number(process.argv[2] || 3);
const SLOW_3G = { offline: false, latency: 2000, downloadThroughput: 50_000, uploadThroughput: 50_000 };

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// Navigation start to the form painted, as the Chromium test measures it.
async function usableMs(browser, url, ready) {
  const context = await browser.newContext({ viewport: { width: 360, height: 640 } });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  await cdp.send('Network.emulateNetworkConditions', SLOW_3G);
  await page.goto(url, { timeout: 120_000 });
  await ready(page).waitFor({ timeout: 120_000 });
  const ms = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const paint = performance.getEntriesByName('first-contentful-paint')[0];
    return Math.round(Math.max(nav.domContentLoadedEventEnd, paint ? paint.startTime : 0));
  });
  await context.close();
  return ms;
}

const tiraid = await new Tiraid(process.env.TIRAID, '[packages.chat-30m]\nchannels = ["chat"]\nduration = "30m"\n').init();
await tiraid.start();
const browser = await launchChromium();
try {
  await tiraid.api('POST', '/v1/talents', { alias: 'natasha', secret: 'violet-harbour-lantern-42' });
  const client = [];
  const talent = [];
  for (let i = 0; i < runs; i++) {
    const b = (await tiraid.api('POST', '/v1/sessions', { talent: 'natasha', client: '+6281299990001', package: 'chat-30m' })).body;
    client.push(await usableMs(browser, b.client_link, (p) => p.getByRole('textbox', { name: 'Message', exact: true })));
    talent.push(await usableMs(browser, tiraid.relay + '/talent/', (p) => p.getByRole('textbox', { name: 'Alias' })));
  }
  console.log(`Slow 3G, ${runs} runs: client page usable after ${client.join(', ')} ms (median ${median(client)}),`);
  console.log(`  talent console after ${talent.join(', ')} ms (median ${median(talent)})`);
} finally {
  await browser.close();
  await tiraid.stop();
  tiraid.cleanup();
}
