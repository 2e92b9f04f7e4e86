// A grayscale clip: `frames` frames of `size`×`size` pixels, 0 = black, 255 = white, frame-major.

import { UniVidError } from './errors.js';

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
}
