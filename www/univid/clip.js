// A grayscale clip: `frames` frames of `size`×`size` pixels, 0 = black, 255 = white, frame-major.

import { UniVidError } from './errors.js';
import { GIFEncoder } from './vendor/gifenc.esm.js';

export class Clip {
  constructor(pixels, frames, size) {
    this.pixels = pixels;
    this.frames = frames;
    this.size = size;
  }

  /** Wraps raw pixels after checking their count. */
  static fromPixels(pixels, { frames, size }) {
    if (!(pixels instanceof Uint8Array)) throw new UniVidError('BAD_INPUT', 'pixels must be a Uint8Array');
    if (!Number.isInteger(frames) || !Number.isInteger(size) || frames < 1 || size < 1) {
      throw new UniVidError('BAD_INPUT', `frames and size must be positive integers, got ${frames} and ${size}`);
    }
    if (pixels.length !== frames * size * size) {
      throw new UniVidError('BAD_INPUT', `${pixels.length} pixels is not ${frames} frames of ${size}×${size}`);
    }
    return new Clip(pixels, frames, size);
  }

  /** Frame `i` as RGBA ImageData. */
  toImageData(i) {
    if (!Number.isInteger(i) || i < 0 || i >= this.frames) throw new UniVidError('BAD_INPUT', `frame ${i} is not in 0..${this.frames - 1}`);
    const n = this.size * this.size;
    const rgba = new Uint8ClampedArray(n * 4);
    for (let p = 0; p < n; p++) {
      const v = this.pixels[i * n + p];
      rgba[p * 4] = v;
      rgba[p * 4 + 1] = v;
      rgba[p * 4 + 2] = v;
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
      // The pixel values are the palette indices: a 256-step gray palette needs no quantising.
      gif.writeFrame(this.#scaledFrame(i, scale), side, side, { palette: GRAY_PALETTE, delay: 1000 / fps, repeat: 0 });
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
    const n = this.size;
    const frame = this.pixels.subarray(i * n * n, (i + 1) * n * n);
    if (scale === 1) return frame;
    const side = n * scale;
    const out = new Uint8Array(side * side);
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) out[y * side + x] = frame[Math.floor(y / scale) * n + Math.floor(x / scale)];
    }
    return out;
  }
}

const GRAY_PALETTE = Array.from({ length: 256 }, (_, v) => [v, v, v]);

function checkPlayback(fps, scale) {
  if (!(fps > 0 && fps <= 60)) throw new UniVidError('BAD_INPUT', `fps must be in (0, 60], got ${fps}`);
  if (!Number.isInteger(scale) || scale < 1 || scale > 16) throw new UniVidError('BAD_INPUT', `scale must be an integer 1..16, got ${scale}`);
}

/** Luminance (BT.601) of RGBA pixels scaled to `size`×`size` by the browser's area filter. */
function grayFrame(drawable, size) {
  const canvas = new OffscreenCanvas(size, size);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(drawable, 0, 0, size, size);
  const rgba = ctx.getImageData(0, 0, size, size).data;
  const out = new Uint8Array(size * size);
  for (let p = 0; p < out.length; p++) {
    out[p] = Math.round(0.299 * rgba[p * 4] + 0.587 * rgba[p * 4 + 1] + 0.114 * rgba[p * 4 + 2]);
  }
  return out;
}

/** Evenly spaced indices (or times) of `count` samples over `length` items. */
function evenly(length, count) {
  return Array.from({ length: count }, (_, i) => (count === 1 ? 0 : (i * (length - 1)) / (count - 1)));
}

function drawableSize(d) {
  return [d.videoWidth ?? d.width, d.videoHeight ?? d.height];
}

const isVideoElement = (s) => Boolean(globalThis.HTMLVideoElement) && s instanceof HTMLVideoElement;

async function videoFrom(source) {
  if (isVideoElement(source)) return { video: source, revoke: () => {} };
  const url = URL.createObjectURL(source);
  const video = document.createElement('video');
  video.muted = true;
  video.preload = 'auto';
  video.src = url;
  return { video, revoke: () => URL.revokeObjectURL(url) };
}

function once(target, ok, timeoutMs, what) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new UniVidError('BAD_INPUT', `${what}: timed out`)), timeoutMs);
    target.addEventListener(ok, () => { clearTimeout(timer); resolve(); }, { once: true });
    target.addEventListener('error', () => { clearTimeout(timer); reject(new UniVidError('BAD_INPUT', `${what}: the browser cannot decode this video`)); }, { once: true });
  });
}

/** A `<video>` (or one made for a File/Blob) with its metadata read; `revoke()` when done. */
export async function openVideo(source) {
  const { video, revoke } = await videoFrom(source);
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
    return { video, duration, revoke };
  } catch (e) {
    revoke();
    throw e;
  }
}

/** `frames` frames of an open video sampled evenly over [start, end) seconds (frame centres). */
export async function sampleVideo({ video, duration }, frames, size, start = 0, end = duration) {
  if (!(start >= 0 && end > start && end <= duration + 1e-6)) {
    throw new UniVidError('BAD_INPUT', `the time range ${start}–${end} s is not inside the video (0–${duration.toFixed(2)} s)`);
  }
  const times = evenly(frames, frames).map((i) => start + ((end - start) * (i + 0.5)) / frames);
  const pixels = new Uint8Array(frames * size * size);
  for (const [i, t] of times.entries()) {
    video.currentTime = t;
    await once(video, 'seeked', 10_000, `seeking to ${t.toFixed(2)} s`);
    pixels.set(grayFrame(video, size), i * size * size);
  }
  return { clip: new Clip(pixels, frames, size), report: { source: 'video', duration, width: video.videoWidth, height: video.videoHeight, times } };
}

/**
 * Converts real input to the model's clip: `frames` grayscale frames of `size`×`size`, sampled
 * evenly from a `<video>`, File/Blob (video; `start`/`end` in seconds pick a part of it), or an
 * array of ImageData / canvases / images.
 * Returns `{ clip, report }`; the report says what was done (source size, frames picked, times).
 */
Clip.from = async function from(source, { frames = 20, size = 64, start, end } = {}) {
  if (!Number.isInteger(frames) || frames < 1 || frames > 1000) throw new UniVidError('BAD_INPUT', `frames must be in 1..=1000, got ${frames}`);
  if (Array.isArray(source)) {
    if (source.length === 0) throw new UniVidError('BAD_INPUT', 'no frames given');
    const picked = evenly(source.length, frames).map(Math.round);
    const pixels = new Uint8Array(frames * size * size);
    for (const [i, at] of picked.entries()) {
      let frame = source[at];
      if (frame instanceof ImageData) {
        const c = new OffscreenCanvas(frame.width, frame.height);
        c.getContext('2d').putImageData(frame, 0, 0);
        frame = c;
      }
      const [w, h] = drawableSize(frame);
      if (!(w > 0 && h > 0) || w * h > 4096 * 4096) throw new UniVidError('BAD_INPUT', `frame ${at} is ${w}×${h}: expected 1..=4096² pixels`);
      pixels.set(grayFrame(frame, size), i * size * size);
    }
    const [w, h] = drawableSize(source[0]);
    return { clip: new Clip(pixels, frames, size), report: { source: 'frames', count: source.length, picked, width: w, height: h, converted: `grayscale ${size}×${size}` } };
  }
  if ((globalThis.Blob && source instanceof Blob) || isVideoElement(source)) {
    const opened = await openVideo(source);
    try {
      const { clip, report } = await sampleVideo(opened, frames, size, start, end);
      return { clip, report: { ...report, converted: `grayscale ${size}×${size}` } };
    } finally {
      opened.revoke();
    }
  }
  throw new UniVidError('BAD_INPUT', 'expected a <video>, a File/Blob, or an array of ImageData / canvases');
};
