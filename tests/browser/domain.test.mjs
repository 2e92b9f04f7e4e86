// Say only what is seen, in the browser (the native half: crate/tests/domain.rs): frames of any
// size that show nothing are "no digits", noise and camera-like views are flagged out of domain,
// a real clip is not, and every caption is one the grammar allows.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { blankPage } from './browser.mjs';

let page, close;

before(async () => {
  ({ page, close } = await blankPage());
  await page.evaluate(async () => {
    globalThis.api = await import('/www/univid/index.js');
    globalThis.model = await api.UniVid.load('/models/univid-small-int8', { backend: 'cpu' });
  });
});

after(() => close?.());

test('blank frames of any size are "no digits"; noise and camera views are flagged; a real clip is not', { timeout: 300_000 }, async () => {
  const r = await page.evaluate(async () => {
    const describe = async (frames) => model.describe((await api.UniVid.clipFrom(frames)).clip);
    const filled = (w, h, fill) => {
      const image = new ImageData(w, h);
      for (let i = 0; i < w * h; i++) image.data.set([...fill(i % w, Math.floor(i / w), i), 255], 4 * i);
      return image;
    };
    const blank = [];
    for (const [w, h] of [[3, 3], [640, 64], [1920, 1080]]) {
      for (const grey of [0, 128, 255]) {
        const said = await describe(Array.from({ length: 2 }, () => filled(w, h, () => [grey, grey, grey])));
        blank.push({ size: `${w}×${h}`, grey, ...said });
      }
    }
    let seed = 1;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const noise = [];
    for (let k = 0; k < 6; k++) {
      noise.push(await describe(Array.from({ length: 20 }, () => filled(160, 120, () => [255 * random(), 255 * random(), 255 * random()]))));
    }
    // A camera-like view: a lit room (gradient, soft light, furniture) panned across 20 frames.
    const camera = [];
    for (let k = 0; k < 6; k++) {
      const frames = Array.from({ length: 20 }, (_, f) => {
        const canvas = new OffscreenCanvas(320, 240);
        const g = canvas.getContext('2d');
        const sky = g.createLinearGradient(0, 0, 320, 240);
        sky.addColorStop(0, `hsl(${40 * k}, 30%, ${30 + 8 * k}%)`);
        sky.addColorStop(1, `hsl(${40 * k + 90}, 40%, ${60 - 4 * k}%)`);
        g.fillStyle = sky;
        g.fillRect(0, 0, 320, 240);
        g.fillStyle = '#553322';
        g.fillRect(40 + 3 * f, 120, 120, 90);
        g.fillStyle = '#ddd8c0';
        g.fillRect(200 + 3 * f, 30, 60, 80);
        return canvas;
      });
      camera.push(await describe(frames));
    }
    const { default: init, sampleClip } = await import('/www/pkg/univid.js');
    await init();
    const digits = new Uint8Array(await (await fetch('/www/digits-test.bin')).arrayBuffer());
    const real = [];
    for (let index = 0; index < 6; index++) {
      real.push(await model.describe(api.Clip.fromPixels(sampleClip(digits, 'test', 3, index).pixels, { frames: 20, size: 64 })));
    }
    return { blank, noise, camera, real };
  });
  console.log(JSON.stringify(r, null, 1).slice(0, 3000));
  for (const b of r.blank) {
    assert.equal(b.text, 'no digits', `${b.size} of ${b.grey}`);
    assert.equal(b.outOfDomain, b.grey !== 0, `${b.size} of ${b.grey}: only a dark screen is the world's own`);
  }
  const caption = /^(no digits|digit \d moves [a-z ]+?( , digit \d moves [a-z ]+?)*( while digit \d moves [a-z ]+)?)$/;
  for (const said of [...r.noise, ...r.camera, ...r.real]) {
    assert.match(said.text, caption, 'a sentence of the caption grammar');
    assert.ok(said.confidence >= 0 && said.confidence <= 1);
    assert.equal(said.spoken, said.outOfDomain ? 'this does not look like moving digits' : said.text);
  }
  assert.ok(r.noise.every((s) => s.outOfDomain), 'noise is flagged');
  assert.ok(r.camera.every((s) => s.outOfDomain), 'camera-like views are flagged');
  assert.ok(r.real.every((s) => !s.outOfDomain && s.text.startsWith('digit ')), 'real clips are described');
});
