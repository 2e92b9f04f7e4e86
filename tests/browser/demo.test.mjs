// The README's main job: the demo page with the shipped model, driven like a visitor would.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { serve } from './server.mjs';
import { launch } from './browser.mjs';

const ROOT = new URL('../..', import.meta.url).pathname;
const ARTIFACTS = `${ROOT}tests/artifacts`;
const VOCABULARY = new Set(['digit', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'moves', 'move', 'up', 'down',
  'left', 'right', 'and', 'to', 'the', 'while', ',', '?', 'which', 'digits', 'are', 'there', 'how', 'many', 'way',
  'does', 'where', 'end', 'start', 'is', 'a', 'yes', 'no', 'none', 'one', 'two', 'three', 'top', 'bottom']);
let server, context, base, page;
const captions = {};

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  server = await serve(ROOT);
  base = `http://127.0.0.1:${server.address().port}`;
  context = await launch();
});

const digitsIn = (text) => new Set(text.match(/\b\d\b/g));

after(async () => {
  await context?.close();
  server?.close();
});

test('demo on CPU: loads the shipped model, describes a sample clip, searches, generates, records, continues, describes a longer video', { timeout: 300_000 }, async () => {
  page = await clickThrough('cpu', 1); // kept for the accessibility audit
});

// SwiftShader runs WebGPU in software (~20× slower on matmul than the wasm CPU path): same visit,
// longer waits, and the same answers as on the CPU.
// SwiftShader is a software rasteriser: the waits only guard against hangs, so they are generous.
test('demo on WebGPU: the same visit gives the same answers', { timeout: 1_800_000 }, async () => {
  await (await clickThrough('webgpu', 8)).close();
  assert.equal(captions.webgpu, captions.cpu, 'the sample clip gets the same caption on WebGPU as on the CPU');
});

/** One visitor's whole visit on `backend`; `slowness` scales every wait. Returns the page. */
async function clickThrough(backend, slowness) {
  const page = await context.newPage();
  const wait = (fn, ms) => page.waitForFunction(fn, null, { timeout: ms * slowness });
  const requests = [];
  const violations = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) violations.push(m.text()); });
  const response = await page.goto(`${base}/www/index.html`);
  const csp = response.headers()['content-security-policy'];
  assert.match(csp, /script-src 'self' 'wasm-unsafe-eval'/, 'the page is served under a strict CSP');
  assert.doesNotMatch(csp, /'unsafe-eval'/, 'no unsafe-eval');
  await page.selectOption('#backend', backend);
  await page.click('#load');
  await wait(() => document.querySelector('#status').textContent.startsWith('Loaded'), 120_000);
  assert.match(await page.textContent('#status'), new RegExp(`Loaded \\(${backend}, trained \\d+ steps\\)`));
  await wait(() => document.querySelector('#groups').textContent.includes('generate'), 120_000);
  assert.equal(await page.textContent('#groups'), 'core, understand, generate', 'weight groups arrive in order');
  assert.equal(await page.$eval('#progress', (p) => p.value), 1, 'the progress bar reached the end');
  await wait(() => !['—', '…'].includes(document.querySelector('#caption').textContent), 120_000);
  const caption = await page.textContent('#caption');
  const truth = await page.textContent('#truth');
  // Classification follows the caption: wait for it rather than reading the placeholder.
  await wait(() => document.querySelector('#classes').textContent !== '—', 120_000);
  const classes = await page.textContent('#classes');
  console.log(`truth:   ${truth}\nmodel:   ${caption}\nclasses: ${classes}`);
  assert.match(classes, /^\d \(\d+ %\) [a-z-]+ \(\d+ %\)/, 'the classification panel shows digits, motions and probabilities');
  assert.ok(truth.startsWith('digit '), 'the sample clip comes with its ground-truth caption');
  for (const word of caption.split(' ').filter(Boolean)) assert.ok(VOCABULARY.has(word), `"${word}" is not a model word`);
  const named = [...digitsIn(caption)].filter((d) => digitsIn(truth).has(d));
  assert.ok(named.length > 0, `the caption names none of the clip's digits (${truth} / ${caption})`);
  captions[backend] = caption;
  assert.match(await page.textContent('#confidence'), /^\(confidence \d+ %\)$/, 'a real clip is described with its confidence, not flagged');
  // Search, by keyboard only: focus the query, type, press Enter; the result count is announced.
  await wait(() => !document.querySelector('#search').disabled, 120_000);
  await page.focus('#query');
  await page.fill('#query', 'digit 3 moves up');
  await page.keyboard.press('Enter');
  await wait(() => /best matches/.test(document.querySelector('#search-status').textContent), 60_000);
  assert.equal(await page.getAttribute('#search-status', 'aria-live'), 'polite');
  const results = await page.$$eval('#results li canvas', (cs) => cs.map((c) => c.getAttribute('aria-label')));
  assert.equal(results.length, 6);
  assert.ok(results.every((label) => /^Result \d: digit /.test(label)), results.join(' | '));
  console.log(`search "digit 3 moves up": ${results.join(' | ')}`);
  await page.fill('#prompt', 'digit 3 moves sideways');
  assert.match(await page.textContent('#prompt-error'), /^Unknown word: sideways\. The model knows: /);
  assert.equal(await page.getAttribute('#prompt', 'aria-invalid'), 'true');
  await page.fill('#prompt', 'digit 3 moves left');
  assert.equal(await page.textContent('#prompt-error'), '');
  await page.fill('#steps', '2');
  await page.click('#generate');
  await wait(() => document.querySelector('#generate-status').textContent === 'Done.', 120_000);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#save-gif')]);
  const gif = fs.readFileSync(await download.path());
  assert.equal(gif.subarray(0, 6).toString(), 'GIF89a', 'the saved file is a GIF');
  assert.match(download.suggestedFilename(), /^digit-\d-moves-.*\.gif$/);
  await page.click('#camera');
  await wait(() => /^Sampled 20 frames over [\d.]+ s of a \d+×\d+ video/.test(document.querySelector('#file-report').textContent), 60_000);
  // The fake camera shows no digits: the demo says so instead of inventing a caption, and shows
  // the guess it is not speaking (in the model's own words) beside its confidence.
  await wait(() => !['…', ''].includes(document.querySelector('#caption').textContent), 60_000);
  const cameraCaption = await page.textContent('#caption');
  const cameraNote = await page.textContent('#confidence');
  console.log(`camera: ${await page.textContent('#file-report')} → ${cameraCaption} ${cameraNote}`);
  assert.equal(cameraCaption, 'this does not look like moving digits');
  const guess = cameraNote.match(/“(.*)”/)?.[1] ?? '';
  for (const word of guess.split(' ').filter(Boolean)) assert.ok(VOCABULARY.has(word), `camera guess: "${word}" is not a model word`);
  await page.click('#sample'); // back to a sample clip for the continue section
  await page.selectOption('#continue-mode', 'expected');
  await page.click('#continue');
  await wait(() => /^Continued: frames 11–20/.test(document.querySelector('#continue-status').textContent), 120_000);
  // Describe a longer video: two sample clips back to back as a 4 s WebM, described every 2 s.
  const webm = await page.evaluate(async () => {
    const { Clip } = await import('./univid/index.js');
    const { default: init, sampleClip } = await import('./pkg/univid.js');
    await init(); // the page runs its model in a worker: this thread's own copy makes the clips
    const digits = new Uint8Array(await (await fetch('digits-test.bin')).arrayBuffer());
    const pixels = new Uint8Array(40 * 4096);
    pixels.set(sampleClip(digits, 'test', 3, 0).pixels, 0);
    pixels.set(sampleClip(digits, 'test', 3, 1).pixels, 20 * 4096);
    const blob = await Clip.fromPixels(pixels, { frames: 40, size: 64 }).toWebM();
    return Array.from(new Uint8Array(await blob.arrayBuffer()));
  });
  await page.setInputFiles('#timeline-file', { name: 'two-clips.webm', mimeType: 'video/webm', buffer: Buffer.from(webm) });
  await page.click('#timeline');
  await wait(() => /descriptions, one per/.test(document.querySelector('#timeline-status').textContent), 120_000);
  const cues = await page.$$eval('#cues li', (items) => items.map((li) => li.textContent));
  console.log(`timeline: ${cues.join(' | ')}`);
  assert.equal(cues.length, 2);
  assert.ok(cues.every((c) => /^\d+\.\d–\d+\.\d s: digit \d/.test(c)), cues.join(' | '));
  assert.equal(await page.$eval('#timeline-video track', (t) => t.kind), 'descriptions');
  assert.equal(await page.isVisible('#save-vtt'), true);
  await page.screenshot({ path: `${ARTIFACTS}/demo-${backend}.png`, fullPage: true });
  // blob: URLs of this origin are the page's own data (videos, VTT, GIF), not requests.
  const foreign = requests.filter((u) => !u.startsWith(base) && !u.startsWith('data:') && !u.startsWith(`blob:${base}`));
  assert.deepEqual(foreign, [], 'no request leaves for another host');
  assert.deepEqual(violations, [], 'nothing was blocked by the Content-Security-Policy');
  return page;
}

test('accessibility: axe-core finds no serious or critical violation in the used page, at desktop and phone width', { timeout: 120_000 }, async () => {
  // Runs on the page the first test left with every section filled in (clip, search, timeline, generation).
  const axe = fs.readFileSync(`${ROOT}node_modules/axe-core/axe.min.js`, 'utf8');
  const audit = async () => {
    await page.evaluate(axe);
    return page.evaluate(async () => {
      const result = await globalThis.axe.run(document, { resultTypes: ['violations'] });
      // `rulesPassed` shows the audit really ran (an empty list alone would not).
      return { rulesPassed: result.passes.length, violations: result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help })) };
    });
  };
  const desktop = await audit();
  await page.setViewportSize({ width: 390, height: 844 });
  const phone = await audit();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  await page.screenshot({ path: `${ARTIFACTS}/demo-phone.png`, fullPage: true });
  console.log(`axe violations: desktop ${JSON.stringify(desktop)}; phone ${JSON.stringify(phone)}; horizontal overflow at 390 px: ${overflow} px`);
  const serious = (audit) => audit.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.ok(desktop.rulesPassed > 10 && phone.rulesPassed > 10, 'axe ran its rules');
  assert.deepEqual(serious(desktop), []);
  assert.deepEqual(serious(phone), []);
  assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow} px at phone width`);
});

// For people to look at (tests/artifacts/generation-strip.png): what Generate and Continue make
// today with the demo's settings (20 steps), 4 prompts and 2 continuations beside the real future,
// every other frame. It checks only that the strip shows the clips it says it shows.
test('generation strip: 4 prompts and 2 continuations, every other frame', { timeout: 600_000 }, async () => {
  const own = await context.newPage();
  await own.goto(`${base}/www/index.html`);
  const strip = await own.evaluate(async () => {
    const { UniVid, Clip } = await import('./univid/index.js');
    const { default: init, sampleClip } = await import('./pkg/univid.js');
    await init(); // this page's copy of the wasm module makes the sample clips
    const model = await UniVid.load('../models/univid-small-int8', { backend: 'cpu' });
    await model.fullyLoaded;
    const digits = new Uint8Array(await (await fetch('digits-test.bin')).arrayBuffer());
    const rows = [];
    for (const prompt of ['digit 3 moves left', 'digit 7 moves up', 'digit 0 moves down and to the right', 'digit 1 moves right while digit 8 moves down']) {
      rows.push({ label: `generate: ${prompt}`, clip: await model.generate(prompt, { steps: 20, seed: 1 }) });
    }
    for (const index of [0, 1]) {
      const real = Clip.fromPixels(sampleClip(digits, 'test', 11, index).pixels, { frames: 20, size: 64 });
      rows.push({ label: `real (continue from frames 1–10): ${(await model.describe(real)).text}`, clip: real });
      rows.push({ label: 'continue: frames 11–20 sampled', clip: await model.continue(real, { steps: 20, seed: 1 }) });
    }
    const scale = 2;
    const shown = Array.from({ length: 10 }, (_, i) => 2 * i + 1);
    const [cell, label] = [64 * scale + 4, 16];
    const canvas = new OffscreenCanvas(shown.length * cell, rows.length * (cell + label));
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = '#222';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    rows.forEach(({ label: text, clip }, r) => {
      const top = r * (cell + label);
      ctx.fillStyle = '#eee';
      ctx.font = '12px sans-serif';
      ctx.fillText(text, 4, top + 12);
      shown.forEach((f, c) => {
        const frame = new ImageData(64, 64);
        for (let i = 0; i < 4096; i++) frame.data.set([clip.pixels[f * 4096 + i], clip.pixels[f * 4096 + i], clip.pixels[f * 4096 + i], 255], 4 * i);
        const tile = new OffscreenCanvas(64, 64);
        tile.getContext('2d').putImageData(frame, 0, 0);
        ctx.imageSmoothingEnabled = false;
        ctx.drawImage(tile, c * cell + 2, top + label, 64 * scale, 64 * scale);
      });
    });
    model.dispose();
    const png = await canvas.convertToBlob({ type: 'image/png' });
    // How far the prompt moves the output (same seed, same noise): the largest pixel difference
    // between the first prompt's clip and each other's.
    const promptEffect = [1, 2, 3].map((r) => rows[0].clip.pixels.reduce((m, v, i) => Math.max(m, Math.abs(v - rows[r].clip.pixels[i])), 0));
    return { rows: rows.map((r) => r.label), frames: rows.map((r) => r.clip.frames), promptEffect, png: Array.from(new Uint8Array(await png.arrayBuffer())) };
  });
  await own.close();
  fs.writeFileSync(`${ARTIFACTS}/generation-strip.png`, Buffer.from(strip.png));
  console.log(`generation strip (tests/artifacts/generation-strip.png): ${strip.rows.join(' | ')}; largest pixel difference from the first prompt's clip: ${strip.promptEffect.join(', ')} of 255`);
  assert.equal(strip.rows.length, 8);
  assert.deepEqual(strip.frames, Array(8).fill(20));
  assert.equal(Buffer.from(strip.png.slice(1, 4)).toString(), 'PNG');
});
