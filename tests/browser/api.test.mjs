// The JS API on the shipped pack (CPU, in a Web Worker): real video in through Clip.from, typed
// errors that leave the model usable, and dispose.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { blankPage } from './browser.mjs';

let page, close;

before(async () => {
  ({ page, close } = await blankPage());
  await page.evaluate(async () => {
    const api = await import('/www/univid/index.js');
    const { default: init, sampleClip } = await import('/www/pkg/univid.js');
    await init();
    const digits = new Uint8Array(await (await fetch('/www/digits-test.bin')).arrayBuffer());
    const sample = sampleClip(digits, 'test', 0, 3);
    Object.assign(globalThis, { api, sample });
    globalThis.model = await api.UniVid.load('/models/univid-small-int8', { backend: 'cpu' });
  });
});

after(() => close?.());

test('Clip.from samples a recorded WebM video back into the clip it shows', { timeout: 120_000 }, async () => {
  const r = await page.evaluate(async () => {
    const original = api.Clip.fromPixels(sample.pixels, { frames: 20, size: 64 });
    // Record the clip at 10 frames/s onto a WebM with the browser's own encoder.
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = 256;
    document.body.append(canvas);
    const recorder = new MediaRecorder(canvas.captureStream(30), { mimeType: 'video/webm' });
    const chunks = [];
    recorder.ondataavailable = (e) => chunks.push(e.data);
    const stopped = new Promise((r) => { recorder.onstop = r; });
    original.drawTo(canvas, 0);
    recorder.start();
    for (let f = 0; f < 20; f++) {
      original.drawTo(canvas, f);
      await new Promise((r) => setTimeout(r, 100));
    }
    recorder.stop();
    await stopped;
    const blob = new Blob(chunks, { type: 'video/webm' });
    const { clip, report } = await api.UniVid.clipFrom(blob, { frames: 20 });
    // Each sampled frame should be closest to the original frame at the same index (±1).
    const frameDiff = (a, i, b, j) => {
      let d = 0;
      for (let p = 0; p < 4096; p++) d += Math.abs(a.pixels[i * 4096 + p] - b.pixels[j * 4096 + p]);
      return d / 4096;
    };
    let aligned = 0;
    let meanDiff = 0;
    for (let i = 0; i < 20; i++) {
      const diffs = Array.from({ length: 20 }, (_, j) => frameDiff(clip, i, original, j));
      const best = diffs.indexOf(Math.min(...diffs));
      aligned += Math.abs(best - i) <= 1;
      meanDiff += diffs[i] / 20;
    }
    return { aligned, meanDiff, report, bytes: blob.size };
  });
  console.log(`WebM ${r.bytes} bytes, ${r.report.width}×${r.report.height}, ${r.report.duration?.toFixed(2)} s; aligned ${r.aligned}/20, mean |diff| ${r.meanDiff.toFixed(1)}`);
  assert.equal(r.report.source, 'video');
  assert.equal(r.report.times.length, 20);
  assert.ok(r.aligned >= 16, `only ${r.aligned} of 20 frames line up with the original`);
  assert.ok(r.meanDiff < 25, `mean absolute pixel difference ${r.meanDiff}`);
});

test('Clip.from converts colour, non-square frames and says what it did', async () => {
  const r = await page.evaluate(async () => {
    const frames = Array.from({ length: 7 }, (_, i) => {
      const c = new OffscreenCanvas(120, 80);
      const ctx = c.getContext('2d');
      ctx.fillStyle = 'rgb(255, 0, 0)';
      ctx.fillRect(0, 0, 120, 80);
      ctx.fillStyle = 'white';
      ctx.fillRect(i * 10, 20, 30, 30);
      return c;
    });
    const { clip, report } = await api.Clip.from(frames, { frames: 20 });
    return { frames: clip.frames, size: clip.size, report, red: clip.pixels[0] };
  });
  assert.equal(r.frames, 20);
  assert.equal(r.size, 64);
  assert.deepEqual([r.report.width, r.report.height, r.report.count], [120, 80, 7]);
  assert.equal(r.report.picked.length, 20);
  assert.ok(Math.abs(r.red - 76) <= 1, `pure red becomes luminance 76, got ${r.red}`);
});

test('bad input gets a typed error and the model keeps answering', { timeout: 120_000 }, async () => {
  const r = await page.evaluate(async () => {
    const clip = api.Clip.fromPixels(sample.pixels, { frames: 20, size: 64 });
    const code = async (fn) => { try { await fn(); return 'no error'; } catch (e) { return `${e.name}:${e.code}`; } };
    return {
      oov: await code(() => model.ask(clip, 'which zebras are there ?')),
      empty: await code(() => model.generate('')),
      steps0: await code(() => model.generate('digit 3 moves left', { steps: 0 })),
      negativeSeed: await code(() => model.generate('digit 3 moves left', { seed: -1 })),
      wrongShape: await code(() => api.Clip.fromPixels(new Uint8Array(10), { frames: 20, size: 64 })),
      noFrames: await code(() => api.Clip.from([])),
      notAVideo: await code(() => api.Clip.from(new Blob([new Uint8Array(1000)], { type: 'video/webm' }))),
      stillWorks: await model.describe(clip),
    };
  });
  assert.equal(r.oov, 'UniVidError:OUT_OF_VOCABULARY');
  assert.equal(r.empty, 'UniVidError:BAD_INPUT');
  assert.equal(r.steps0, 'UniVidError:BAD_INPUT');
  assert.equal(r.negativeSeed, 'UniVidError:BAD_INPUT');
  assert.equal(r.wrongShape, 'UniVidError:BAD_INPUT');
  assert.equal(r.noFrames, 'UniVidError:BAD_INPUT');
  assert.equal(r.notAVideo, 'UniVidError:BAD_INPUT');
  assert.ok(typeof r.stillWorks === 'string' && r.stillWorks.length > 0, 'the same model still describes clips');
});

test('an AbortSignal stops a long generation within a step, and the model stays usable', { timeout: 120_000 }, async () => {
  const r = await page.evaluate(async () => {
    const controller = new AbortController();
    let steps = 0;
    const started = performance.now();
    let code = 'no error';
    try {
      await model.generate('digit 3 moves left', {
        steps: 200, signal: controller.signal,
        onStep: (step) => { steps = step; if (step === 2) controller.abort(); },
      });
    } catch (e) {
      code = `${e.name}:${e.code}`;
    }
    const abortedAfterMs = performance.now() - started;
    const early = new AbortController();
    early.abort();
    let earlyCode = 'no error';
    try { await model.continue(api.Clip.fromPixels(sample.pixels, { frames: 20, size: 64 }), { signal: early.signal }); } catch (e) { earlyCode = e.code; }
    const after = await model.generate('digit 3 moves left', { steps: 1 });
    return { code, steps, abortedAfterMs, earlyCode, afterFrames: after.frames };
  });
  console.log(`aborted after ${r.steps} of 200 steps, ${r.abortedAfterMs.toFixed(0)} ms`);
  assert.equal(r.code, 'UniVidError:ABORTED');
  assert.ok(r.steps <= 4, `stopped at step ${r.steps} (abort was requested at step 2)`);
  assert.equal(r.earlyCode, 'ABORTED', 'an already-aborted signal never starts the work');
  assert.equal(r.afterFrames, 20);
});

test('a disposed model refuses calls with NOT_LOADED', async () => {
  const r = await page.evaluate(async () => {
    const clip = api.Clip.fromPixels(sample.pixels, { frames: 20, size: 64 });
    const other = await api.UniVid.load('/models/univid-small-int8', { backend: 'cpu' });
    other.dispose();
    try { await other.describe(clip); return 'no error'; } catch (e) { return e.code; }
  });
  assert.equal(r, 'NOT_LOADED');
});

test("backend 'auto' picks the CPU over SwiftShader's software WebGPU and says why", async () => {
  const r = await page.evaluate(async () => {
    const auto = await api.UniVid.load('/models/univid-small-int8', { backend: 'auto' });
    const result = { backend: auto.backend, reason: auto.backendReason, inWorker: auto.inWorker };
    auto.dispose();
    return result;
  });
  assert.equal(r.backend, 'cpu');
  assert.match(r.reason, /software/);
  assert.equal(r.inWorker, true);
});
