// Video input for Clip.from: a caller's <video> gets its time and play state back (also after a
// failure), VideoFrames and ImageBitmaps read like the canvases they came from (and stay open), a
// MediaStream is sampled live at `fps` while the caller's track stays live, and pixels from another
// origin without CORS reject with BAD_INPUT / 'cross-origin' instead of a raw SecurityError.
// The second origin is a small server of this file on another port (with or without
// Access-Control-Allow-Origin); the page for that test is the blank page with a CSP that lets it in.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { blankPage } from './browser.mjs';

let page, context, base, close;
let media; // { webm, png }: base64 bytes the second origin serves

/** Serves `/clip.webm` and `/frame.png` from `files` ({ path: [type, bytes] }); under `/cors/`
 * with Access-Control-Allow-Origin, else without (plus CORP, which a cross-origin isolated page
 * needs to load a no-cors resource at all). Answers Range requests, as video seeking needs. */
function serveOtherOrigin(files) {
  const server = http.createServer((req, res) => {
    const cors = req.url.startsWith('/cors/');
    const [type, body] = files[req.url.replace(/^\/cors/, '')] ?? [];
    if (!body) { res.writeHead(404).end('not found'); return; }
    const headers = { 'content-type': type, 'accept-ranges': 'bytes', ...(cors ? { 'access-control-allow-origin': '*' } : { 'cross-origin-resource-policy': 'cross-origin' }) };
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (!range) { res.writeHead(200, { ...headers, 'content-length': body.length }).end(body); return; }
    const from = Number(range[1]);
    const to = Math.min(range[2] ? Number(range[2]) : body.length - 1, body.length - 1);
    res.writeHead(206, { ...headers, 'content-range': `bytes ${from}-${to}/${body.length}`, 'content-length': to - from + 1 }).end(body.subarray(from, to + 1));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** Page-side helpers, installed in every page the tests use. */
async function installHelpers() {
  globalThis.api = await import('/www/univid/index.js');
  globalThis.sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  globalThis.settled = (target, event) => new Promise((resolve, reject) => {
    target.addEventListener(event, resolve, { once: true });
    target.addEventListener('error', () => reject(new Error(`waiting for ${event}: media error`)), { once: true });
  });
  globalThis.seekTo = async (video, t) => { video.currentTime = t; await settled(video, 'seeked'); };
  globalThis.loadVideo = async (src, crossOrigin) => {
    const video = document.createElement('video');
    video.muted = true;
    video.loop = true; // playing tests run past the end without stopping
    if (crossOrigin) video.crossOrigin = crossOrigin;
    video.src = src;
    document.body.append(video);
    await settled(video, 'loadedmetadata');
    return video;
  };
  globalThis.loadImage = async (src, crossOrigin) => {
    const img = new Image();
    if (crossOrigin) img.crossOrigin = crossOrigin;
    img.src = src;
    await img.decode();
    return img;
  };
  /** What a call rejected with, or 'no error'. */
  globalThis.failure = async (promise) => {
    try { await promise; return 'no error'; } catch (e) { return { name: e.name, code: e.code, detail: e.detail, message: e.message }; }
  };
  globalThis.frameMeans = (clip) => Array.from({ length: clip.frames }, (_, i) => {
    const n = clip.size * clip.size * clip.channels;
    return clip.pixels.subarray(i * n, (i + 1) * n).reduce((a, b) => a + b, 0) / n;
  });
}

before(async () => {
  ({ page, context, base, close } = await blankPage());
  await page.evaluate(installHelpers);
  media = await page.evaluate(async () => {
    // 2 s at 20 fps of uniform frames, gray 6·i: a sampled frame's brightness says its time.
    const pixels = new Uint8Array(40 * 4096);
    for (let i = 0; i < 40; i++) pixels.fill(6 * i, i * 4096, (i + 1) * 4096);
    globalThis.webm = await api.Clip.fromPixels(pixels, { frames: 40, size: 64 }).toWebM({ fps: 20, scale: 1 });
    const canvas = new OffscreenCanvas(40, 30);
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = 'rgb(200, 50, 50)';
    ctx.fillRect(0, 0, 40, 30);
    const png = await canvas.convertToBlob({ type: 'image/png' });
    const base64 = async (blob) => btoa(Array.from(new Uint8Array(await blob.arrayBuffer()), (b) => String.fromCharCode(b)).join(''));
    return { webm: await base64(webm), png: await base64(png) };
  });
});

after(() => close?.());

test('a caller\'s <video> gets its time and paused/playing state back (after a failure: the cross-origin test)', { timeout: 60_000 }, async () => {
  const r = await page.evaluate(async () => {
    const url = URL.createObjectURL(webm);
    const video = await loadVideo(url);
    const unknownLength = video.duration === Infinity; // then Clip.from seeks to the end to find it

    await seekTo(video, 0.3);
    const { clip, report } = await api.Clip.from(video, { frames: 5, size: 16 });
    const paused = { time: video.currentTime, paused: video.paused, means: frameMeans(clip), times: report.times, duration: report.duration };

    await seekTo(video, 1.0);
    await video.play();
    await sleep(50);
    const before = video.currentTime;
    await api.Clip.from(video, { frames: 5, size: 16 });
    const playing = { before, after: video.currentTime, paused: video.paused };
    await sleep(300);
    playing.later = video.currentTime;
    video.pause();
    return { unknownLength, paused, playing };
  });
  console.log(JSON.stringify(r));
  // The sampling itself still reads the frames it sought (frame centres): brightness rises with time.
  assert.deepEqual(r.paused.times, [0, 1, 2, 3, 4].map((i) => ((i + 0.5) * r.paused.duration) / 5));
  r.paused.means.slice(1).forEach((m, i) => assert.ok(m > r.paused.means[i] + 10, `frame means rise: ${r.paused.means}`));
  assert.ok(Math.abs(r.paused.time - 0.3) < 1e-3, `paused video back at 0.3 s, got ${r.paused.time}`);
  assert.equal(r.paused.paused, true);
  assert.equal(r.playing.paused, false, 'a playing video plays again');
  assert.ok(Math.abs(r.playing.after - r.playing.before) < 0.25, `playing video back near ${r.playing.before} s, got ${r.playing.after}`);
  assert.ok(r.playing.later > r.playing.after + 0.1, `and it advances (${r.playing.after} → ${r.playing.later})`);
});

test('VideoFrames and ImageBitmaps read like the canvases they came from, and stay open', { timeout: 60_000 }, async () => {
  const r = await page.evaluate(async () => {
    const canvases = Array.from({ length: 6 }, (_, i) => {
      // Square: a non-square VideoFrame is resampled by another filter (edge pixels differ).
      const c = new OffscreenCanvas(64, 64);
      const ctx = c.getContext('2d');
      ctx.fillStyle = `rgb(${40 * i}, 100, ${200 - 30 * i})`;
      ctx.fillRect(0, 0, 64, 64);
      ctx.fillStyle = 'white';
      ctx.fillRect(i * 12, 10, 20, 20);
      return c;
    });
    const videoFrames = canvases.map((c, i) => new VideoFrame(c, { timestamp: i * 100_000 }));
    const bitmaps = await Promise.all(canvases.map((c) => createImageBitmap(c)));
    const options = { frames: 6, size: 32, channels: 3 };
    const fromCanvases = await api.Clip.from(canvases, options);
    const fromFrames = await api.Clip.from(videoFrames, options);
    const fromBitmaps = await api.Clip.from(bitmaps, options);
    const maxDiff = (a, b) => a.pixels.reduce((m, v, i) => Math.max(m, Math.abs(v - b.pixels[i])), 0);
    const stillOpen = videoFrames.every((f) => f.format !== null && f.displayWidth === 64) && bitmaps.every((b) => b.width === 64);
    // Sized as drawImage draws it: the display size, not the coded one.
    const stretched = new VideoFrame(canvases[0], { timestamp: 0, displayWidth: 128, displayHeight: 48 });
    const stretchedReport = (await api.Clip.from([stretched], { frames: 1, size: 8 })).report;
    stretched.close();
    const closed = await failure(api.Clip.from([stretched], { frames: 1, size: 8 }));
    videoFrames.forEach((f) => f.close());
    bitmaps.forEach((b) => b.close());
    return {
      frameReport: fromFrames.report,
      framesVsCanvases: maxDiff(fromFrames.clip, fromCanvases.clip),
      bitmapsVsCanvases: maxDiff(fromBitmaps.clip, fromCanvases.clip),
      stillOpen,
      stretched: [stretchedReport.width, stretchedReport.height],
      closed,
    };
  });
  console.log(JSON.stringify(r));
  assert.deepEqual([r.frameReport.source, r.frameReport.width, r.frameReport.height, r.frameReport.count], ['frames', 64, 64, 6]);
  assert.equal(r.framesVsCanvases, 0);
  assert.equal(r.bitmapsVsCanvases, 0);
  assert.equal(r.stillOpen, true, 'the caller\'s frames and bitmaps are not closed');
  assert.deepEqual(r.stretched, [128, 48]);
  assert.equal(r.closed.code, 'BAD_INPUT');
});

test('a MediaStream is sampled live at fps, and the caller\'s track stays live', { timeout: 60_000 }, async () => {
  const r = await page.evaluate(async () => {
    // A canvas that brightens one gray level every 5 ms: a sample's brightness says when it was taken.
    const canvas = document.createElement('canvas');
    canvas.width = 80;
    canvas.height = 60;
    document.body.append(canvas);
    const ctx = canvas.getContext('2d');
    const start = performance.now();
    const paint = () => {
      const v = Math.min(255, Math.round((performance.now() - start) / 5));
      ctx.fillStyle = `rgb(${v}, ${v}, ${v})`;
      ctx.fillRect(0, 0, 80, 60);
    };
    paint();
    const painter = setInterval(paint, 15);
    const stream = canvas.captureStream();
    const { clip, report } = await api.Clip.from(stream, { frames: 6, size: 16, fps: 10 });
    const track = stream.getVideoTracks()[0];
    const afterwards = { tracks: stream.getVideoTracks().length, state: track.readyState, active: stream.active };
    const again = (await api.Clip.from(stream, { frames: 2, size: 8, fps: 20 })).report.source;
    clearInterval(painter);
    track.stop();
    return {
      report,
      means: frameMeans(clip),
      afterwards,
      again,
      ended: await failure(api.Clip.from(stream, { frames: 2 })),
      noTrack: await failure(api.Clip.from(new MediaStream(), { frames: 2 })),
      badFps: await failure(api.Clip.from(new MediaStream(), { frames: 2, fps: 0 })),
    };
  });
  console.log(JSON.stringify(r));
  assert.deepEqual([r.report.source, r.report.width, r.report.height, r.report.fps, r.report.converted], ['stream', 80, 60, 10, 'grayscale 16×16']);
  assert.equal(r.report.times.length, 6);
  r.report.times.forEach((t, i) => assert.ok(t >= i / 10 - 0.005 && t < i / 10 + 1, `sample ${i} at ${t} s, not about ${i / 10} s`));
  r.means.slice(1).forEach((m, i) => assert.ok(m >= r.means[i], `samples brighten over time: ${r.means}`));
  assert.ok(r.means[5] - r.means[0] > 40, `0.5 s of samples should span ~100 gray levels: ${r.means}`);
  assert.deepEqual(r.afterwards, { tracks: 1, state: 'live', active: true }, 'the caller\'s stream is untouched');
  assert.equal(r.again, 'stream');
  assert.equal(r.ended.code, 'BAD_INPUT');
  assert.equal(r.noTrack.code, 'BAD_INPUT');
  assert.equal(r.badFps.code, 'BAD_INPUT');
});

test('cross-origin video and images without CORS reject with BAD_INPUT / cross-origin; with CORS they work', { timeout: 60_000 }, async (t) => {
  const otherServer = await serveOtherOrigin({ '/clip.webm': ['video/webm', Buffer.from(media.webm, 'base64')], '/frame.png': ['image/png', Buffer.from(media.png, 'base64')] });
  t.after(() => { otherServer.closeAllConnections(); otherServer.close(); });
  const other = `http://127.0.0.1:${otherServer.address().port}`;
  // Chromium asks before a page reaches another loopback server (Local Network Access).
  await context.grantPermissions(['local-network-access'], { origin: base });
  const crossPage = await context.newPage();
  crossPage.on('console', (msg) => { if (msg.type() === 'error') console.error(`[cross-origin page] ${msg.text()}`); });
  // The same blank page, with a CSP that lets media and images come from the other origin.
  await crossPage.route((url) => url.search === '?cross-origin', async (route) => {
    const response = await route.fetch();
    const headers = response.headers();
    headers['content-security-policy'] = headers['content-security-policy']
      .replace("media-src 'self'", `media-src 'self' ${other}`).replace("img-src 'self'", `img-src 'self' ${other}`);
    await route.fulfill({ response, headers });
  });
  await crossPage.goto(`${base}/tests/browser/blank.html?cross-origin`);
  await crossPage.evaluate(installHelpers);
  const r = await crossPage.evaluate(async (other) => {
    const plain = await loadVideo(`${other}/clip.webm`);
    await seekTo(plain, 1.0);
    await plain.play();
    await sleep(50);
    const before = plain.currentTime;
    const tainted = await failure(api.Clip.from(plain, { frames: 5, size: 16 }));
    const restored = { before, after: plain.currentTime, paused: plain.paused };
    plain.pause();

    const withCors = await loadVideo(`${other}/cors/clip.webm`, 'anonymous');
    const corsVideo = (await api.Clip.from(withCors, { frames: 5, size: 16 })).report.source;
    // crossOrigin set but the server sends no Access-Control-Allow-Origin: the load itself fails.
    const refusedVideo = document.createElement('video');
    refusedVideo.crossOrigin = 'anonymous';
    refusedVideo.src = `${other}/clip.webm`;
    const refused = await failure(api.Clip.from(refusedVideo, { frames: 2 }));

    const img = await loadImage(`${other}/frame.png`);
    const taintedImage = await failure(api.Clip.from([img], { frames: 1, size: 8 }));
    const canvas = new OffscreenCanvas(img.naturalWidth, img.naturalHeight);
    canvas.getContext('2d').drawImage(img, 0, 0);
    const taintedCanvas = await failure(api.Clip.from([canvas], { frames: 1, size: 8 }));
    const corsImage = (await api.Clip.from([await loadImage(`${other}/cors/frame.png`, 'anonymous')], { frames: 1, size: 8 })).report;
    return { tainted, restored, corsVideo, refused, taintedImage, taintedCanvas, corsImage: [corsImage.width, corsImage.height] };
  }, other);
  await crossPage.close();
  console.log(JSON.stringify(r, null, 1));
  for (const [name, e] of [['video', r.tainted], ['image', r.taintedImage], ['canvas', r.taintedCanvas]]) {
    assert.deepEqual([e.name, e.code, e.detail], ['UniVidError', 'BAD_INPUT', 'cross-origin'], `${name}: ${JSON.stringify(e)}`);
    assert.match(e.message, /Access-Control-Allow-Origin/);
    assert.match(e.message, /crossOrigin = "anonymous"/);
  }
  assert.match(r.tainted.message, /video\.crossOrigin/);
  assert.match(r.taintedImage.message, /^frame 0 .*img\.crossOrigin/);
  assert.equal(r.restored.paused, false, 'the failed video plays again');
  assert.ok(Math.abs(r.restored.after - r.restored.before) < 0.25, `and is back near ${r.restored.before} s, got ${r.restored.after}`);
  assert.equal(r.corsVideo, 'video');
  assert.equal(r.refused.code, 'BAD_INPUT');
  assert.match(r.refused.message, /Access-Control-Allow-Origin/);
  assert.deepEqual(r.corsImage, [40, 30]);
});
