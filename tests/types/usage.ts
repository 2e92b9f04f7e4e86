// A web app's use of the UniVid Web API, type-checked (never run) against www/univid/index.d.ts:
// `npx tsc -p tests/types`. Every public member and option appears once; the `@ts-expect-error`
// lines are misuses the declarations must reject (tsc fails if one of them is accepted).

import { UniVid, Clip, EmbeddingIndex, UniVidError, toVtt } from '../../www/univid/index.js';
import type {
  Backend, CacheStatus, Channels, Classification, ClipReport, ClipSource, ContinueOptions, Cue, Description, DigitGuess,
  EmbeddingIndexJSON, ErrorCode, GenerateOptions, LoadEvent, LoadOptions, Manifest, ModelCache, ModelFiles, Motion, Quant,
  SearchHit, TimelineOptions, WeightGroup,
} from '../../www/univid/index.js';

// Exact-type assertions: `Is<Equal<A, B>>` fails to compile unless A and B are the same type.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
type Is<T extends true> = T;
const log = (...values: unknown[]): void => console.log(...values);

// Loading, with every option and every progress event.
async function load(signal: AbortSignal): Promise<UniVid> {
  const onProgress = (event: LoadEvent): void => {
    switch (event.type) {
      case 'manifest': log(event.shards, event.totalBytes, event.tensors, event.quant satisfies Quant); break;
      case 'shard-start': log(event.index, event.file, event.group satisfies WeightGroup, event.bytes); break;
      case 'bytes': log(event.index, event.file, event.loaded / event.total, event.overallLoaded / event.overallTotal); break;
      case 'shard-done': log(event.index, event.file, event.fromCache, event.tensorsLoaded, event.tensorsTotal, event.overallLoaded, event.overallTotal); break;
      case 'group-ready': log(event.group); break;
      case 'warning': log(event.message); break;
      default: { const never: never = event; log(never); }
    }
  };
  const options: LoadOptions = { backend: 'auto', threads: 'auto', measure: true, worker: true, stallTimeoutMs: 30_000, onProgress, signal, cache: true };
  const model = await UniVid.load('models/univid-small-int8', options);
  await UniVid.load('models/univid-small-int8', { backend: 'webgpu', threads: 4, worker: false, cache: false });
  await UniVid.load('models/univid-small-int8');
  await UniVid.load(new URL('https://example.com/models/univid-small-int8/'), { engineBase: 'https://cdn.example.com/univid-web/' });
  const files: ModelFiles = new Map<string, Blob | ArrayBuffer | Uint8Array>([['manifest.json', new Blob([])], ['core.safetensors', new Uint8Array(8)]]);
  await UniVid.load(files);
  await UniVid.load({ 'manifest.json': new ArrayBuffer(0) });
  await UniVid.load([new File([], 'manifest.json')]);
  // @ts-expect-error: files are bytes, not text
  await UniVid.load({ 'manifest.json': '{}' });
  // @ts-expect-error: backends are 'auto', 'webgpu' or 'cpu'
  await UniVid.load('models/univid-small-int8', { backend: 'webgl' });
  // @ts-expect-error: threads is 'auto' or a number
  await UniVid.load('models/univid-small-int8', { threads: '4' });
  // @ts-expect-error: the URL is required
  await UniVid.load();
  // @ts-expect-error: models come from UniVid.load
  new UniVid();
  return model;
}

// What the package keeps on this origin.
async function storage(): Promise<void> {
  const cache: ModelCache = UniVid.cache;
  const status: CacheStatus = await cache.status('models/univid-small-int8');
  log(status.cachedShards, status.shards, status.cachedBytes / status.totalBytes, status.complete);
  const freed: number = await cache.delete(new URL('https://example.com/models/univid-small-int8/'));
  const { usage, quota, persisted } = await cache.estimate();
  log(freed, usage / quota, persisted, await cache.persist());
  await cache.clear();
  // @ts-expect-error: the cache is the package's, not replaceable
  UniVid.cache = cache;
}

// What a loaded model says about itself.
async function inspect(model: UniVid): Promise<void> {
  const digits = new Uint8Array(await (await fetch('digits-test.bin')).arrayBuffer());
  const sample = await model.sampleClip(digits, { split: 'test', seed: 0, index: 3 });
  log(sample.clip.frames, sample.caption, sample.truth);
  // @ts-expect-error: the splits are train, validation and test
  await model.sampleClip(digits, { split: 'dev' });
  const backend: Backend = model.backend;
  log(model.inWorker, backend, model.backendReason, model.threads, model.threadsReason);
  log(model.frames, model.size, model.vocabulary.join(' '), model.embedDim, model.space);
  type _channels = Is<Equal<typeof model.channels, Channels>>;
  const manifest: Manifest = model.manifest;
  log(manifest.format, manifest.version, manifest.model.frames, manifest.model.channels, manifest.model.embed_dim, manifest.quant);
  log(manifest.tokenizer.length, manifest.shards.map((s) => [s.file, s.group, s.bytes, s.sha256]), Object.keys(manifest.tensors), manifest.meta);
  const ready: true = await model.fullyLoaded;
  log(ready);
  // @ts-expect-error: read-only
  model.backend = 'cpu';
}

// Clips: made from pixels, from real input, converted and exported.
async function clips(video: HTMLVideoElement, file: File, canvas: HTMLCanvasElement, bitmap: ImageBitmap, image: HTMLImageElement): Promise<Clip> {
  const gray = Clip.fromPixels(new Uint8Array(20 * 64 * 64), { frames: 20, size: 64 });
  const rgb = Clip.fromPixels(new Uint8Array(20 * 64 * 64 * 3), { frames: 20, size: 64, channels: 3 });
  const raw = new Clip(new Uint8Array(64 * 64), 1, 64);
  const rawRgb = new Clip(new Uint8Array(64 * 64 * 3), 1, 64, 3);
  log(gray.pixels.length, gray.frames, gray.size, rgb.channels, raw.channels, rawRgb.channels);
  const back: Clip = rgb.toChannels(1);
  const up: Clip = gray.toChannels(3);
  type _clipChannels = Is<Equal<Clip['channels'], 1 | 3>>;
  const data: ImageData = back.toImageData(0);
  up.drawTo(canvas, 19);
  up.drawTo(new OffscreenCanvas(256, 256), 0);
  const gif: Blob = await gray.toGif({ fps: 10, scale: 4 });
  const webm: Blob = await rgb.toWebM({ fps: 12, scale: 2 });
  await gray.toGif();
  await gray.toWebM();
  log(data.width, gif.size, webm.type);

  const fromVideo = await Clip.from(video, { frames: 20, size: 64, start: 1, end: 3, channels: 3 });
  const fromFile = await UniVid.clipFrom(file, { frames: 20, size: 64, start: 0.5, channels: 1 });
  const frames: ClipSource = [new ImageData(32, 32), canvas, new OffscreenCanvas(32, 32), bitmap, image, video, new VideoFrame(canvas, { timestamp: 0 })];
  const fromFrames = await Clip.from(frames);
  const fromStream = await Clip.from(canvas.captureStream(), { frames: 20, fps: 10 });
  for (const { clip, report } of [fromVideo, fromFile, fromFrames, fromStream]) {
    const r: ClipReport = report;
    log(clip.channels, r.width, r.height, r.converted);
    if (r.source === 'video') log(r.duration, r.times.map((t) => t.toFixed(2)));
    else if (r.source === 'frames') log(r.count, r.picked.join(','));
    else log(r.fps, r.times.length);
  }

  // @ts-expect-error: the shape is required
  Clip.fromPixels(new Uint8Array(4096));
  // @ts-expect-error: frames and size are required
  Clip.fromPixels(new Uint8Array(4096), { size: 64 });
  // @ts-expect-error: pixels are a Uint8Array, not a clamped array
  Clip.fromPixels(new Uint8ClampedArray(4096), { frames: 1, size: 64 });
  // @ts-expect-error: 1 or 3 channels
  Clip.fromPixels(new Uint8Array(8192), { frames: 1, size: 64, channels: 2 });
  // @ts-expect-error: 1 or 3 channels
  gray.toChannels(4);
  // @ts-expect-error: the channel count is required
  gray.toChannels();
  // @ts-expect-error: frames is a number
  await Clip.from(video, { frames: '20' });
  // @ts-expect-error: a string is not a source
  await Clip.from('clip.webm');
  return gray;
}

// Understanding.
async function understand(model: UniVid, clip: Clip, video: File, signal: AbortSignal): Promise<void> {
  const result: Classification = await model.classify(clip);
  const best: DigitGuess | undefined = result.digits[0];
  const motion: Motion | undefined = best?.motion;
  log(best?.digit, best?.probability, motion, best?.motion_probability, result.digit_probabilities[7]);
  const said: Description = await model.describe(clip);
  const caption: string = said.text;
  log(said.confidence.toFixed(2), said.outOfDomain ? said.spoken : caption);
  const answer: string = await model.ask(clip, 'which way does digit 7 move ?');
  log(caption, answer);

  const timelineOptions: TimelineOptions = {
    window: 2, frames: model.frames, signal,
    onCue: (cue: Cue, index: number, count: number) => log(cue.start, cue.end, cue.text, cue.confidence, cue.outOfDomain, `${index + 1}/${count}`),
  };
  const { cues, vtt } = await model.describeTimeline(video, timelineOptions);
  await model.describeTimeline(document.createElement('video'));
  const again: string = toVtt(cues);
  log(vtt === again);

  // @ts-expect-error: the question is required
  await model.ask(clip);
  // @ts-expect-error: describe takes a Clip, not raw pixels
  await model.describe(clip.pixels);
  // @ts-expect-error: window is a number of seconds
  await model.describeTimeline(video, { window: '2s' });
}

// Generation, with progress, previews and cancellation.
async function generate(model: UniVid, clip: Clip, canvas: HTMLCanvasElement): Promise<Clip> {
  const controller = new AbortController();
  const options: GenerateOptions = {
    frames: model.frames, steps: 20, guidance: 2, seed: 1, wait: true, signal: controller.signal,
    onStep: (step: number, steps: number) => log(`${step}/${steps}`),
    onPreview: (estimate: Clip, step: number, steps: number) => { if (step < steps) estimate.drawTo(canvas, 0); },
  };
  const made: Clip = await model.generate('digit 5 moves right', options);
  await model.generate('digit 5 moves right');
  const continueOptions: ContinueOptions = { framesIn: 10, framesOut: 10, steps: 1, seed: 7, wait: false, signal: controller.signal, onStep: log, onPreview: (estimate) => log(estimate.frames) };
  const next: Clip = await model.continue(made, continueOptions);
  await model.continue(clip, { framesOut: 5 });
  await model.continue(clip);
  controller.abort();

  // @ts-expect-error: the prompt is required
  await model.generate();
  // @ts-expect-error: steps is a number
  await model.generate('digit 5 moves right', { steps: '20' });
  // @ts-expect-error: onStep gets numbers, not a Clip
  await model.generate('digit 5 moves right', { onStep: (clip: Clip) => log(clip) });
  // @ts-expect-error: continue keeps the clip's length and takes no guidance
  await model.continue(clip, { guidance: 3 });
  // @ts-expect-error: the clip to continue is required
  await model.continue();
  return next;
}

// Retrieval: embeddings, an index saved and restored, search.
async function retrieve(model: UniVid, clips: Clip[]): Promise<void> {
  const vector: Float32Array = await model.embed('digit 7 moves left');
  await model.embed(clips[0]!);
  const index: EmbeddingIndex = await model.index(clips, { ids: clips.map((_, i) => `clip-${i}`) });
  await model.index(clips);
  const hits: SearchHit[] = await model.search('digit 7 moves left', index, { k: 3 });
  await model.search(clips[0]!, clips);
  for (const { id, index: position, score } of hits) log(id, position, score.toFixed(3));

  const saved: EmbeddingIndexJSON = index.toJSON();
  const restored = EmbeddingIndex.fromJSON(JSON.stringify(saved));
  EmbeddingIndex.fromJSON(saved);
  const own = new EmbeddingIndex(model.embedDim, model.space).add('query', vector).add(2, Array.from(vector));
  log(restored.dim, restored.space, restored.ids, restored.size, restored.vectors.length, own.search(vector, { k: 1 })[0]?.score, own.search([...vector]));

  // @ts-expect-error: k is a number
  await model.search('digit 7 moves left', index, { k: '3' });
  // @ts-expect-error: what to search is required
  await model.search('digit 7 moves left');
  // @ts-expect-error: an index needs its model's space
  new EmbeddingIndex(128);
  // @ts-expect-error: read-only
  index.size = 0;
}

// Errors: one class, a code to branch on, the engine's detail.
async function errors(model: UniVid, clip: Clip): Promise<void> {
  try {
    await model.ask(clip, 'what colour is digit 7 ?');
    await model.loseDevice();
  } catch (e) {
    if (e instanceof UniVidError) {
      const code: ErrorCode = e.code;
      const name: 'UniVidError' = e.name;
      switch (code) {
        case 'BAD_INPUT': log(e.detail === 'grammar', e.message); break;
        case 'OUT_OF_VOCABULARY': case 'INTEGRITY': case 'UNSUPPORTED': case 'NETWORK': case 'ABORTED':
        case 'NOT_LOADED': case 'DEVICE_LOST': case 'BACKEND': case 'INTERNAL': log(name, code, e.detail); break;
        default: { const never: never = code; log(never); }
      }
      // @ts-expect-error: not a code
      if (e.code === 'TIMEOUT') log(e);
    }
  } finally {
    model.dispose();
  }
  const made = new UniVidError('NETWORK', 'offline', { detail: 'stalled', cause: new Error('x') });
  log(made instanceof Error, made.stack);
  // @ts-expect-error: the code comes first and must be one of the codes
  new UniVidError('offline');
}

export async function main(signal: AbortSignal, video: HTMLVideoElement, file: File, canvas: HTMLCanvasElement, bitmap: ImageBitmap, image: HTMLImageElement): Promise<void> {
  const model = await load(signal);
  await storage();
  await inspect(model);
  const clip = await clips(video, file, canvas, bitmap, image);
  await understand(model, clip, file, signal);
  const made = await generate(model, clip, canvas);
  await retrieve(model, [clip, made]);
  await errors(model, clip);
}
