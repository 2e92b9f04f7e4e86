// Audio description of a longer video: three sample clips played back to back as one 6 s WebM
// are described every 2 s; the WebVTT loads into the browser's own TextTrack with the expected
// cues and times, and each cue names the digits of its own window (not of the others).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { blankPage } from './browser.mjs';

let page, close;

before(async () => {
  ({ page, close } = await blankPage());
});

after(() => close?.());

test('describeTimeline: cues per 2 s window, a WebVTT the browser parses, each cue about its window', { timeout: 240_000 }, async () => {
  const r = await page.evaluate(async () => {
    const api = await import('/www/univid/index.js');
    const { default: init, sampleClip } = await import('/www/pkg/univid.js');
    await init();
    const digits = new Uint8Array(await (await fetch('/www/digits-test.bin')).arrayBuffer());
    // Three test clips with pairwise disjoint digit sets, back to back.
    const picked = [];
    for (let index = 0; picked.length < 3; index++) {
      const s = sampleClip(digits, 'test', 11, index);
      const set = s.truth.digits.map((d) => d.digit);
      if (picked.every((p) => !p.set.some((d) => set.includes(d)))) picked.push({ set, pixels: s.pixels });
    }
    const pixels = new Uint8Array(60 * 4096);
    picked.forEach((p, i) => pixels.set(p.pixels, i * 20 * 4096));
    const webm = await api.Clip.fromPixels(pixels, { frames: 60, size: 64 }).toWebM({ fps: 10, scale: 4 });

    const model = await api.UniVid.load('/models/univid-small-int8', { backend: 'cpu' });
    const seen = [];
    const { cues, vtt } = await model.describeTimeline(webm, { window: 2, onCue: (cue, i, n) => seen.push(`${i + 1}/${n}`) });
    let badWindow = 'no error';
    try { await model.describeTimeline(webm, { window: 0 }); } catch (e) { badWindow = e.code; }
    model.dispose();

    // The browser's own WebVTT parser, through a <track kind="descriptions">.
    const video = document.createElement('video');
    video.src = URL.createObjectURL(webm);
    const track = document.createElement('track');
    track.kind = 'descriptions';
    track.srclang = 'en';
    track.src = URL.createObjectURL(new Blob([vtt], { type: 'text/vtt' }));
    track.default = true;
    video.append(track);
    document.body.append(video);
    track.track.mode = 'hidden';
    await new Promise((resolve, reject) => {
      track.addEventListener('load', resolve, { once: true });
      track.addEventListener('error', () => reject(new Error('the VTT did not load')), { once: true });
    });
    const parsed = Array.from(track.track.cues).map((c) => ({ start: c.startTime, end: c.endTime, text: c.text }));
    return { truths: picked.map((p) => p.set), cues, vtt, parsed, seen, badWindow };
  });
  console.log(r.vtt);
  console.log(`truths per window: ${JSON.stringify(r.truths)}`);
  assert.equal(r.cues.length, 3);
  assert.deepEqual(r.seen, ['1/3', '2/3', '3/3']);
  assert.match(r.vtt, /^WEBVTT\n\n1\n00:00:00\.000 --> 00:00:0[12]\.\d{3}\n/);
  assert.equal(r.parsed.length, 3, 'the browser parsed three cues');
  r.parsed.forEach((c, i) => {
    assert.ok(Math.abs(c.start - r.cues[i].start) < 1e-3 && Math.abs(c.end - r.cues[i].end) < 1e-3, `cue ${i} times`);
    assert.equal(c.text, r.cues[i].text);
  });
  assert.ok(Math.abs(r.parsed[2].end - 6) < 0.5, `the cues cover the 6 s video (last ends at ${r.parsed[2].end})`);
  // Each cue should name digits of its own window more often than digits of the other windows.
  let own = 0;
  let others = 0;
  r.cues.forEach((cue, i) => {
    const named = [...cue.text.matchAll(/digit (\d)/g)].map((m) => Number(m[1]));
    own += named.filter((d) => r.truths[i].includes(d)).length;
    others += named.filter((d) => r.truths.some((t, j) => j !== i && t.includes(d))).length;
  });
  console.log(`digits named from their own window: ${own}, from another window: ${others}`);
  assert.ok(own > others, `own ${own} vs others ${others}`);
  assert.equal(r.badWindow, 'BAD_INPUT');
});
