// RGB checkpoints in the browser: a tiny random model packed with `channels: 3` reads colour clips,
// generates colour clips, and reads grayscale clips as R = G = B; the shipped grayscale model reads
// a colour clip's luminance. Same answers as the conversions predict, on the wasm CPU path.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { blankPage } from './browser.mjs';

const ROOT = new URL('../..', import.meta.url).pathname;
const PACK = 'out/test-packs/tiny-rgb';
let page, close;

before(async () => {
  fs.rmSync(`${ROOT}${PACK}`, { recursive: true, force: true });
  execFileSync(process.env.UNIVID_BIN, ['pack', '--random', 'tiny', '--channels', '3', '--seed', '3', '--out', `${ROOT}${PACK}`]);
  ({ page, close } = await blankPage());
});

after(() => close?.());

test('an RGB model reads and writes colour (CPU and WebGPU agree); grayscale clips are converted both ways', { timeout: 120_000 }, async () => {
  const result = await page.evaluate(async (pack) => {
    const { UniVid, Clip } = await import('/www/univid/index.js');
    const rgbModel = await UniVid.load(`/${pack}`, { backend: 'cpu', cache: false });
    const grayModel = await UniVid.load('/models/univid-small-int8', { backend: 'cpu', cache: false });
    const n = 20 * 64 * 64;
    const gray = Clip.fromPixels(Uint8Array.from({ length: n }, (_, i) => (i * 2654435761) >>> 24), { frames: 20, size: 64 });
    const replicated = gray.toChannels(3);
    const tinted = Clip.fromPixels(replicated.pixels.map((v, i) => (i % 3 === 2 ? 255 - v : v)), { frames: 20, size: 64, channels: 3 });
    const probs = async (model, clip) => (await model.classify(clip)).digit_probabilities;
    const onWebGpu = await UniVid.load(`/${pack}`, { backend: 'webgpu', cache: false });
    const webgpuVsCpu = [await probs(onWebGpu, tinted), await probs(rgbModel, tinted)];
    onWebGpu.dispose();
    const generated = await rgbModel.generate('digit 3 moves right', { steps: 1, seed: 1 });
    const gif = await generated.toGif();
    const head = new TextDecoder().decode(new Uint8Array(await gif.arrayBuffer()).subarray(0, 6));
    const out = {
      channels: rgbModel.channels,
      webgpuVsCpu: Math.max(...webgpuVsCpu[0].map((p, i) => Math.abs(p - webgpuVsCpu[1][i]))),
      grayVsReplicated: [await probs(rgbModel, gray), await probs(rgbModel, replicated)],
      tintedVsReplicated: [await probs(rgbModel, tinted), await probs(rgbModel, replicated)],
      shippedGrayVsColour: [await probs(grayModel, gray), await probs(grayModel, replicated)],
      generated: { channels: generated.channels, values: generated.pixels.length, coloured: generated.pixels.some((v, i) => i % 3 === 0 && (v !== generated.pixels[i + 1] || v !== generated.pixels[i + 2])) },
      gifHead: head,
      luma: Clip.fromPixels(new Uint8Array([255, 0, 0]), { frames: 1, size: 1, channels: 3 }).toChannels(1).pixels[0],
      badChannels: (() => { try { Clip.fromPixels(new Uint8Array(2), { frames: 1, size: 1, channels: 2 }); return null; } catch (e) { return e.code; } })(),
    };
    rgbModel.dispose();
    grayModel.dispose();
    return out;
  }, PACK);
  console.log(JSON.stringify({ ...result, grayVsReplicated: undefined, tintedVsReplicated: undefined, shippedGrayVsColour: undefined }));
  assert.equal(result.channels, 3);
  assert.ok(result.webgpuVsCpu < 1e-3, `WebGPU and CPU differ by ${result.webgpuVsCpu} on a colour clip`);
  assert.deepEqual(result.grayVsReplicated[0], result.grayVsReplicated[1], 'a gray clip reads as R = G = B');
  assert.notDeepEqual(result.tintedVsReplicated[0], result.tintedVsReplicated[1], 'colour reaches the RGB model');
  assert.deepEqual(result.shippedGrayVsColour[0], result.shippedGrayVsColour[1], 'the grayscale model reads a colour clip as its luminance');
  assert.deepEqual(result.generated, { channels: 3, values: 20 * 64 * 64 * 3, coloured: true });
  assert.equal(result.gifHead, 'GIF89a');
  assert.equal(result.luma, 76, 'BT.601 red, rounded as in Rust');
  assert.equal(result.badChannels, 'BAD_INPUT');
});
