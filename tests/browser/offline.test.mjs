// The demo works offline after the first visit: with the server gone, a reload still shows the
// page, loads the model (manifest from the service worker, shards from the API's cache) and
// describes a sample clip.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { serve } from './server.mjs';
import { launch } from './browser.mjs';

const ROOT = new URL('../..', import.meta.url).pathname;
let context;

after(async () => { await context?.close(); });

async function loadModel(page) {
  await page.click('#load');
  await page.waitForFunction(() => /^(Loaded|Could not load)/.test(document.querySelector('#status').textContent), null, { timeout: 120_000 });
  await page.waitForFunction(() => !['—', '…'].includes(document.querySelector('#caption').textContent), null, { timeout: 60_000 });
  return { status: await page.textContent('#status'), caption: await page.textContent('#caption') };
}

test('after one visit the demo loads and describes with the server gone', { timeout: 300_000 }, async () => {
  const server = await serve(ROOT);
  const url = `http://127.0.0.1:${server.address().port}/www/index.html`;
  context = await launch();
  const page = await context.newPage();
  await page.goto(url);
  await page.evaluate(() => navigator.serviceWorker.ready);
  await page.reload(); // now controlled by the service worker: this visit's requests are kept
  await page.selectOption('#backend', 'cpu');
  const online = await loadModel(page);
  assert.match(online.status, /^Loaded/);
  // The visit lasts until the generation shards are in too (they stream after understanding).
  await page.waitForFunction(() => !document.querySelector('#generate').disabled, null, { timeout: 120_000 });

  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  const gone = await fetch(url).then(() => 'reachable', () => 'unreachable');
  assert.equal(gone, 'unreachable', 'the server is really gone');

  await page.reload();
  await page.selectOption('#backend', 'cpu');
  const offline = await loadModel(page);
  console.log(`offline: ${offline.status} — ${offline.caption}`);
  assert.match(offline.status, /^Loaded/);
  assert.match(offline.caption, /^digit \d/);
});
