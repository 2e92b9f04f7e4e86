// The CPU path on a pool of threads (the `pkg-threads` build): used when the model runs in its
// worker on a cross-origin isolated page; computes what one thread computes; one thread, with the
// reason, everywhere else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blankPage } from './browser.mjs';

// One model per thread choice, the same inputs: what each computes, and how long a classify takes.
function runBoth(page) {
  return page.evaluate(async () => {
    const api = await import('/www/univid/index.js');
    const { default: init, sampleClip } = await import('/www/pkg/univid.js');
    await init();
    const digits = new Uint8Array(await (await fetch('/www/digits-test.bin')).arrayBuffer());
    const clip = api.Clip.fromPixels(sampleClip(digits, 'test', 0, 5).pixels, { frames: 20, size: 64 });
    const run = async (threads) => {
      const model = await api.UniVid.load('/models/univid-small-int8', { backend: 'cpu', threads });
      await model.fullyLoaded;
      await model.classify(clip); // warm-up
      const started = performance.now();
      const classify = await model.classify(clip);
      const ms = performance.now() - started;
      const out = {
        threads: model.threads, reason: model.threadsReason, ms, classify,
        describe: (await model.describe(clip)).text,
        embed: Array.from(await model.embed(clip)),
        generate: Array.from((await model.generate('digit 4 moves up', { steps: 1, seed: 3 })).pixels),
      };
      model.dispose();
      return out;
    };
    return { cores: navigator.hardwareConcurrency, isolated: crossOriginIsolated, pool: await run('auto'), one: await run(1) };
  });
}

const worst = (a, b) => a.reduce((w, v, i) => Math.max(w, Math.abs(v - b[i])), 0);

test('cross-origin isolated: the CPU path runs on every core and computes what one thread does', { timeout: 600_000 }, async () => {
  const { page, close } = await blankPage();
  try {
    const { cores, isolated, pool, one } = await runBoth(page);
    console.log(`[threads] ${pool.threads} threads (${pool.reason}): classify ${pool.ms.toFixed(1)} ms; 1 thread: ${one.ms.toFixed(1)} ms`);
    assert.ok(isolated, 'the test server isolates its pages');
    assert.equal(pool.threads, Math.min(cores, 16));
    if (cores > 1) assert.ok(pool.threads > 1, 'more than one thread on a multi-core machine');
    assert.equal(one.threads, 1);
    assert.match(one.reason, /one thread requested/);
    assert.equal(pool.describe, one.describe);
    const probabilities = worst(pool.classify.digit_probabilities, one.classify.digit_probabilities);
    const embedding = worst(pool.embed, one.embed);
    const pixels = worst(pool.generate, one.generate);
    console.log(`[threads] max |pool - one|: probabilities ${probabilities.toExponential(2)}, embedding ${embedding.toExponential(2)}, generate ${pixels}/255`);
    assert.ok(probabilities < 1e-5, `probabilities differ by ${probabilities}`);
    assert.ok(embedding < 1e-5, `embeddings differ by ${embedding}`);
    assert.ok(pixels <= 1, `generated pixels differ by ${pixels}`);
  } finally {
    await close();
  }
});

test('without cross-origin isolation, in this thread, or asked for 1: one thread, and why; a bad count is refused', { timeout: 300_000 }, async () => {
  const { page, close } = await blankPage({ isolated: false });
  try {
    const r = await page.evaluate(async () => {
      const api = await import('/www/univid/index.js');
      const load = async (options) => {
        try {
          const model = await api.UniVid.load('/models/univid-small-int8', { backend: 'cpu', ...options });
          const out = { threads: model.threads, reason: model.threadsReason };
          model.dispose();
          return out;
        } catch (e) {
          return { code: e.code, message: e.message };
        }
      };
      return {
        isolated: crossOriginIsolated,
        worker: await load({}),
        inThread: await load({ worker: false }),
        zero: await load({ threads: 0 }),
        fraction: await load({ threads: 1.5 }),
      };
    });
    assert.equal(r.isolated, false);
    assert.equal(r.worker.threads, 1);
    assert.match(r.worker.reason, /not cross-origin isolated/);
    assert.equal(r.inThread.threads, 1);
    assert.match(r.inThread.reason, /in-thread mode/);
    assert.equal(r.zero.code, 'BAD_INPUT');
    assert.equal(r.fraction.code, 'BAD_INPUT');
  } finally {
    await close();
  }
});
