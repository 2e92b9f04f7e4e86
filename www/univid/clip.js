// A clip: `frames` frames of `size`×`size` pixels, frame-major, with 1 channel (luminance: 0 =
// black, 255 = white; the shipped model) or 3 interleaved channels (RGB, for RGB checkpoints).

import { UniVidError } from './errors.js';
import { GIFEncoder, quantize, applyPalette } from './vendor/gifenc.esm.js';

export class Clip {
  constructor(pixels, frames, size, channels = 1) {
    this.pixels = pixels;
    this.frames = frames;
    this.size = size;
    this.channels = channels;
  }

  /** Wraps raw pixels after checking their count. */
  static fromPixels(pixels, { frames, size, channels = 1 }) {
    if (!(pixels instanceof Uint8Array)) throw new UniVidError('BAD_INPUT', 'pixels must be a Uint8Array');
    if (!Number.isInteger(frames) || !Number.isInteger(size) || frames < 1 || size < 1) {
      throw new UniVidError('BAD_INPUT', `frames and size must be positive integers, got ${frames} and ${size}`);
    }
    checkChannels(channels);
    if (pixels.length !== frames * size * size * channels) {
      throw new UniVidError('BAD_INPUT', `${pixels.length} values is not ${frames} frames of ${size}×${size}×${channels}`);
    }
    return new Clip(pixels, frames, size, channels);
  }

  /** The same clip with `channels` channels: RGB → BT.601 luminance (as the Rust crate rounds
   * it), or gray copied to R, G and B. */
  toChannels(channels) {
    checkChannels(channels);
    if (channels === this.channels) return this;
    const n = this.frames * this.size * this.size;
    const out = new Uint8Array(n * channels);
    const p = this.pixels;
    if (channels === 1) {
      for (let i = 0; i < n; i++) out[i] = luma(p[3 * i], p[3 * i + 1], p[3 * i + 2]);
    } else {
      for (let i = 0; i < n; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = p[i];
    }
    return new Clip(out, this.frames, this.size, channels);
  }

  /** Frame `i` as RGBA ImageData. */
  toImageData(i) {
    if (!Number.isInteger(i) || i < 0 || i >= this.frames) throw new UniVidError('BAD_INPUT', `frame ${i} is not in 0..${this.frames - 1}`);
    const n = this.size * this.size;
    const c = this.channels;
    const rgba = new Uint8ClampedArray(n * 4);
    for (let p = 0; p < n; p++) {
      const at = (i * n + p) * c;
      rgba[p * 4] = this.pixels[at];
      rgba[p * 4 + 1] = this.pixels[at + (c === 3 ? 1 : 0)];
      rgba[p * 4 + 2] = this.pixels[at + (c === 3 ? 2 : 0)];
      rgba[p * 4 + 3] = 255;
    }
    return new ImageData(rgba, this.size, this.size);
  }

  /** Draws frame `i` scaled to the canvas, without smoothing. */
  drawTo(canvas, i) {
    const scratch = new OffscreenCanvas(this.size, this.size);
    scratch.getContext('2d').putImageData(this.toImageData(i), 0, 0);
    const ctx = canvas.getContext('2d');
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(scratch, 0, 0, canvas.width, canvas.height);
  }

  /** An animated GIF (looping, `fps` frames a second, each pixel drawn `scale`×`scale`). */
  async toGif({ fps = 10, scale = 1 } = {}) {
    checkPlayback(fps, scale);
    const side = this.size * scale;
    const gif = GIFEncoder();
    for (let i = 0; i < this.frames; i++) {
      const frame = this.#scaledFrame(i, scale);
      if (this.channels === 1) {
        // The pixel values are the palette indices: a 256-step gray palette needs no quantising.
        gif.writeFrame(frame, side, side, { palette: GRAY_PALETTE, delay: 1000 / fps, repeat: 0 });
      } else {
        const rgba = new Uint8Array(side * side * 4);
        for (let p = 0; p < side * side; p++) rgba.set([frame[3 * p], frame[3 * p + 1], frame[3 * p + 2], 255], 4 * p);
        const palette = quantize(rgba, 256); // per frame, like the Rust encoder
        gif.writeFrame(applyPalette(rgba, palette), side, side, { palette, delay: 1000 / fps, repeat: 0 });
      }
    }
    gif.finish();
    return new Blob([gif.bytes()], { type: 'image/gif' });
  }

  /** A WebM video (VP8/VP9, whatever the browser's MediaRecorder makes), recorded in real time
   * from a canvas: takes frames / fps seconds. Needs a page (document + MediaRecorder). */
  async toWebM({ fps = 10, scale = 4 } = {}) {
    checkPlayback(fps, scale);
    if (typeof document === 'undefined' || typeof MediaRecorder === 'undefined') {
      throw new UniVidError('UNSUPPORTED', 'toWebM needs a page with MediaRecorder (not a worker); use toGif there');
    }
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = this.size * scale;
    const stream = canvas.captureStream(0);
    const [track] = stream.getVideoTracks();
    const type = ['video/webm;codecs=vp9', 'video/webm;codecs=vp8', 'video/webm'].find((t) => MediaRecorder.isTypeSupported(t));
    if (!type) throw new UniVidError('UNSUPPORTED', 'this browser cannot record WebM');
    const recorder = new MediaRecorder(stream, { mimeType: type });
    const chunks = [];
    recorder.ondataavailable = (e) => e.data.size && chunks.push(e.data);
    const stopped = new Promise((resolve) => (recorder.onstop = resolve));
    recorder.start();
    for (let i = 0; i < this.frames; i++) {
      this.drawTo(canvas, i);
      track.requestFrame();
      await new Promise((resolve) => setTimeout(resolve, 1000 / fps));
    }
    recorder.stop();
    await stopped;
    track.stop();
    return new Blob(chunks, { type: 'video/webm' });
  }

  #scaledFrame(i, scale) {
    const [n, c] = [this.size, this.channels];
    const frame = this.pixels.subarray(i * n * n * c, (i + 1) * n * n * c);
    if (scale === 1) return frame;
    const side = n * scale;
    const out = new Uint8Array(side * side * c);
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        const from = (Math.floor(y / scale) * n + Math.floor(x / scale)) * c;
        out.set(frame.subarray(from, from + c), (y * side + x) * c);
      }
    }
    return out;
  }
}

const GRAY_PALETTE = Array.from({ length: 256 }, (_, v) => [v, v, v]);

function checkPlayback(fps, scale) {
  checkFps(fps);
  if (!Number.isInteger(scale) || scale < 1 || scale > 16) throw new UniVidError('BAD_INPUT', `scale must be an integer 1..16, got ${scale}`);
}

function checkFps(fps) {
  if (!(fps > 0 && fps <= 60)) throw new UniVidError('BAD_INPUT', `fps must be in (0, 60], got ${fps}`);
}

/** BT.601 luminance in integers, rounded as the Rust crate's `luma` does (so both convert alike). */
function luma(r, g, b) {
  return Math.floor((299 * r + 587 * g + 114 * b + 500) / 1000);
}

function checkChannels(channels) {
  if (channels !== 1 && channels !== 3) throw new UniVidError('BAD_INPUT', `channels must be 1 (grayscale) or 3 (RGB), got ${channels}`);
}

/** A drawable scaled to `size`×`size` by the browser's area filter, as luminance (BT.601) or RGB.
 * `what` names it in errors ('the video', 'frame 3'). */
function frameValues(drawable, size, channels, what) {
  const rgba = scaledRgba(drawable, size, what);
  const out = new Uint8Array(size * size * channels);
  for (let p = 0; p < size * size; p++) {
    if (channels === 3) out.set(rgba.subarray(4 * p, 4 * p + 3), 3 * p);
    else out[p] = luma(rgba[p * 4], rgba[p * 4 + 1], rgba[p * 4 + 2]);
  }
  return out;
}

function scaledRgba(drawable, size, what) {
  const canvas = new OffscreenCanvas(size, size);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(drawable, 0, 0, size, size);
  try {
    return ctx.getImageData(0, 0, size, size).data;
  } catch (e) {
    // Drawing another origin's pixels without CORS taints the canvas; reading it back throws.
    if (e?.name === 'SecurityError') throw crossOriginError(drawable, what, e);
    throw e;
  }
}

function crossOriginError(drawable, what, cause) {
  const message = isVideoElement(drawable)
    ? `${what} is cross-origin without CORS, so the browser forbids reading its pixels: serve it with `
      + 'Access-Control-Allow-Origin and set video.crossOrigin = "anonymous" before setting its src'
    : `${what} holds pixels from another origin without CORS (such an image, or a canvas drawn from one), so the `
      + 'browser forbids reading them: serve the image with Access-Control-Allow-Origin and set img.crossOrigin = "anonymous" before setting its src';
  return new UniVidError('BAD_INPUT', message, { cause, detail: 'cross-origin' });
}

/** Evenly spaced indices (or times) of `count` samples over `length` items. */
function evenly(length, count) {
  return Array.from({ length: count }, (_, i) => (count === 1 ? 0 : (i * (length - 1)) / (count - 1)));
}

/** Pixel size as drawImage draws it: video elements, VideoFrames (display size) and images
 * (natural size) each name it differently; canvases, ImageBitmaps and ImageData use width. */
function drawableSize(d) {
  return [d.videoWidth ?? d.displayWidth ?? d.naturalWidth ?? d.width, d.videoHeight ?? d.displayHeight ?? d.naturalHeight ?? d.height];
}

const isVideoElement = (s) => Boolean(globalThis.HTMLVideoElement) && s instanceof HTMLVideoElement;
const isMediaStream = (s) => Boolean(globalThis.MediaStream) && s instanceof MediaStream;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function videoFrom(source) {
  if (isVideoElement(source)) {
    // Sampling seeks the caller's own video (paused, so each frame is the one sought); `close`
    // puts its time and play state back.
    const saved = { time: source.currentTime, paused: source.paused };
    source.pause();
    return { video: source, close: () => restorePlayback(source, saved) };
  }
  const url = URL.createObjectURL(source);
  const video = document.createElement('video');
  video.muted = true;
  video.preload = 'auto';
  video.src = url;
  return { video, close: async () => URL.revokeObjectURL(url) };
}

/** Never throws: a failed restore must not hide the error (or result) of the sampling. */
async function restorePlayback(video, { time, paused }) {
  if (video.readyState >= 1 && !video.error) {
    video.currentTime = time;
    await once(video, 'seeked', 10_000, 'restoring the video time').catch(() => {});
  }
  // Not awaited: play() settles only once data arrives; `paused` is false at once.
  if (!paused) video.play().catch(() => {});
}

function once(target, ok, timeoutMs, what) {
  return new Promise((resolve, reject) => {
    // Both listeners go when either fires, so a caller's own <video> keeps none of ours.
    const listening = new AbortController();
    const settle = (fn) => (value) => { clearTimeout(timer); listening.abort(); fn(value); };
    const timer = setTimeout(settle(() => reject(new UniVidError('BAD_INPUT', `${what}: timed out`))), timeoutMs);
    target.addEventListener(ok, settle(resolve), { signal: listening.signal });
    target.addEventListener('error', settle(() => reject(new UniVidError('BAD_INPUT', `${what}: the browser cannot decode this video${corsHint(target)}`))), { signal: listening.signal });
  });
}

/** A failed CORS check looks like a decode error to the page; say what it likely is. */
function corsHint(video) {
  if (!isVideoElement(video) || video.crossOrigin === null) return '';
  const src = video.currentSrc || video.src;
  if (!src || new URL(src, location.href).origin === location.origin) return '';
  return ` (or, as it is cross-origin with crossOrigin set, its server does not send Access-Control-Allow-Origin)`;
}

/** A `<video>` (or one made for a File/Blob) with its metadata read; `await close()` when done:
 * it restores a caller's video (time, playing or paused) or frees the one made here. */
export async function openVideo(source) {
  const { video, close } = videoFrom(source);
  try {
    if (video.readyState < 1) await once(video, 'loadedmetadata', 10_000, 'reading the video');
    let duration = video.duration;
    if (duration === Infinity) {
      // MediaRecorder WebMs carry no duration until the end is seen.
      video.currentTime = 1e9;
      await once(video, 'seeked', 10_000, 'finding the video length');
      duration = video.duration;
    }
    if (!(duration > 0) || !video.videoWidth) throw new UniVidError('BAD_INPUT', 'the video has no decodable frames');
    return { video, duration, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Seeks to `t` s and resolves once that frame can be drawn. `seeked` may come before the new
 * frame reaches the compositor (then a busy machine draws the previous one); a
 * requestVideoFrameCallback asked for before the seek fires when it has. A browser without it goes
 * on at `seeked`; one that presents no frame (a background tab) is waited for once, briefly. */
async function seekToFrame(video, t, presenting) {
  let id;
  const presented = presenting.waits && video.requestVideoFrameCallback
    ? new Promise((resolve) => { id = video.requestVideoFrameCallback(() => resolve(true)); })
    : null;
  video.currentTime = t;
  try {
    await once(video, 'seeked', 10_000, `seeking to ${t.toFixed(2)} s`);
    if (presented) presenting.waits = await Promise.race([presented, sleep(500).then(() => false)]);
  } finally {
    if (presented) video.cancelVideoFrameCallback(id); // a caller's video keeps none of ours
  }
}

/** `frames` frames of an open video sampled evenly over [start, end) seconds (frame centres). */
export async function sampleVideo({ video, duration }, frames, size, start = 0, end = duration, channels = 1) {
  if (!(start >= 0 && end > start && end <= duration + 1e-6)) {
    throw new UniVidError('BAD_INPUT', `the time range ${start}–${end} s is not inside the video (0–${duration.toFixed(2)} s)`);
  }
  const times = evenly(frames, frames).map((i) => start + ((end - start) * (i + 0.5)) / frames);
  const pixels = new Uint8Array(frames * size * size * channels);
  const presenting = { waits: true };
  for (const [i, t] of times.entries()) {
    await seekToFrame(video, t, presenting);
    pixels.set(frameValues(video, size, channels, 'the video'), i * size * size * channels);
  }
  return { clip: new Clip(pixels, frames, size, channels), report: { source: 'video', duration, width: video.videoWidth, height: video.videoHeight, times } };
}

/** `frames` frames of a live MediaStream, one every 1/fps s from the first. A muted `<video>` of
 * our own plays a clone of its first video track: stopping the clone stops nothing of the caller's. */
async function sampleStream(stream, frames, size, fps, channels) {
  const track = stream.getVideoTracks().find((t) => t.readyState === 'live');
  if (!track) throw new UniVidError('BAD_INPUT', 'the MediaStream has no live video track');
  const clone = track.clone();
  const video = document.createElement('video');
  video.muted = true;
  video.playsInline = true;
  video.srcObject = new MediaStream([clone]);
  try {
    video.play().catch(() => {}); // a muted video may autoplay; a stream that never starts times out below
    if (video.readyState < 2) await once(video, 'loadeddata', 10_000, 'waiting for the stream\'s first frame');
    const pixels = new Uint8Array(frames * size * size * channels);
    const times = [];
    const first = performance.now();
    for (let i = 0; i < frames; i++) {
      const wait = first + (i * 1000) / fps - performance.now();
      if (wait > 0) await sleep(wait);
      times.push((performance.now() - first) / 1000);
      pixels.set(frameValues(video, size, channels, 'the stream'), i * size * size * channels);
    }
    return { clip: new Clip(pixels, frames, size, channels), report: { source: 'stream', fps, width: video.videoWidth, height: video.videoHeight, times } };
  } finally {
    video.pause();
    video.srcObject = null;
    clone.stop();
  }
}

/**
 * Converts real input to the model's clip: `frames` frames of `size`×`size` (grayscale, or RGB
 * with `channels: 3`), sampled evenly from a `<video>` (its time and play state are put back
 * afterwards) or File/Blob (video; `start`/`end` in seconds pick a part of it), sampled live from a
 * MediaStream (camera, screen; `fps` frames a second, default 10), or picked evenly from an array
 * of ImageData / canvases / images / ImageBitmaps / VideoFrames (not closed: they stay the caller's).
 * Returns `{ clip, report }`; the report says what was done (source size, frames picked, times).
 * Pixels from another origin without CORS reject with BAD_INPUT, detail 'cross-origin'.
 */
Clip.from = async function from(source, { frames = 20, size = 64, start, end, channels = 1, fps = 10 } = {}) {
  if (!Number.isInteger(frames) || frames < 1 || frames > 1000) throw new UniVidError('BAD_INPUT', `frames must be in 1..=1000, got ${frames}`);
  checkChannels(channels);
  const converted = `${channels === 3 ? 'RGB' : 'grayscale'} ${size}×${size}`;
  if (Array.isArray(source)) {
    if (source.length === 0) throw new UniVidError('BAD_INPUT', 'no frames given');
    const picked = evenly(source.length, frames).map(Math.round);
    const pixels = new Uint8Array(frames * size * size * channels);
    for (const [i, at] of picked.entries()) {
      let frame = source[at];
      if (frame instanceof ImageData) {
        const c = new OffscreenCanvas(frame.width, frame.height);
        c.getContext('2d').putImageData(frame, 0, 0);
        frame = c;
      }
      const [w, h] = drawableSize(frame);
      if (!(w > 0 && h > 0) || w * h > 4096 * 4096) throw new UniVidError('BAD_INPUT', `frame ${at} is ${w}×${h}: expected 1..=4096² pixels (a closed VideoFrame or ImageBitmap is 0×0)`);
      pixels.set(frameValues(frame, size, channels, `frame ${at}`), i * size * size * channels);
    }
    const [w, h] = drawableSize(source[0]);
    return { clip: new Clip(pixels, frames, size, channels), report: { source: 'frames', count: source.length, picked, width: w, height: h, converted } };
  }
  if (isMediaStream(source)) {
    checkFps(fps);
    const { clip, report } = await sampleStream(source, frames, size, fps, channels);
    return { clip, report: { ...report, converted } };
  }
  if ((globalThis.Blob && source instanceof Blob) || isVideoElement(source)) {
    const opened = await openVideo(source);
    try {
      const { clip, report } = await sampleVideo(opened, frames, size, start, end, channels);
      return { clip, report: { ...report, converted } };
    } finally {
      await opened.close();
    }
  }
  throw new UniVidError('BAD_INPUT', 'expected a <video>, a File/Blob, a MediaStream, or an array of ImageData / canvases / images / ImageBitmaps / VideoFrames');
};
