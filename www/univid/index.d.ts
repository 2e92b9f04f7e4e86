// Types of the UniVid Web API (www/univid/index.js).

/** Stable codes to branch on; the message says what happened and what to do. */
export type ErrorCode =
  | 'BAD_INPUT' | 'OUT_OF_VOCABULARY' | 'INTEGRITY' | 'UNSUPPORTED' | 'NETWORK'
  | 'ABORTED' | 'NOT_LOADED' | 'DEVICE_LOST' | 'BACKEND' | 'INTERNAL';

/** Everything the package throws or rejects with. */
export class UniVidError extends Error {
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; detail?: string });
  name: 'UniVidError';
  code: ErrorCode;
  /** The engine's finer reason, e.g. 'shard-hash', 'unknown-words'. */
  detail?: string;
}

export type LoadEvent =
  | { type: 'manifest'; shards: number; totalBytes: number; tensors: number; quant: Quant }
  | { type: 'shard-start'; index: number; file: string; group: WeightGroup; bytes: number }
  | { type: 'bytes'; index: number; file: string; loaded: number; total: number; overallLoaded: number; overallTotal: number }
  | { type: 'shard-done'; index: number; file: string; fromCache: boolean; tensorsLoaded: number; tensorsTotal: number; overallLoaded: number; overallTotal: number }
  | { type: 'group-ready'; group: WeightGroup }
  | { type: 'warning'; message: string };

export type WeightGroup = 'core' | 'understand' | 'generate';
export type Backend = 'webgpu' | 'cpu';
export type Motion = 'right' | 'up-right' | 'up' | 'up-left' | 'left' | 'down-left' | 'down' | 'down-right';
/** Pixel layout of a clip: 1 = grayscale (luminance, 0 = black), 3 = interleaved RGB. */
export type Channels = 1 | 3;
/** How a packed model stores its weights. */
export type Quant = 'f32' | 'f16' | 'int8' | 'int4';

/** A packed model's manifest.json, as the engine checked it. */
export interface Manifest {
  format: 'univid-pack';
  version: 1;
  /** The model config; the API reads its geometry and retrieval width. */
  model: { frames: number; size: number; channels: Channels; embed_dim: number; [field: string]: unknown };
  quant: Quant;
  /** The words the model reads and writes, in id order (special tokens start with '<'). */
  tokenizer: string[];
  /** In load order (core → understand → generate), each checked by size and sha256. */
  shards: { file: string; group: WeightGroup; bytes: number; sha256: string }[];
  tensors: Record<string, { shard: number; byte_range: [number, number]; dtype: string; shape: number[]; quant: Quant; scale?: string; block?: number; group: WeightGroup }>;
  /** Free-form provenance (training step, source checkpoint…). */
  meta: unknown;
}

export interface LoadOptions {
  /** 'auto' (default): the backend that is faster here: a hardware adapter gets a timed smoke run
   * on both backends, kept per adapter; a software adapter gets the CPU. See `backendReason`. */
  backend?: 'auto' | Backend;
  /** CPU threads. 'auto' (default): every core when the model runs in its worker and the page is
   * cross-origin isolated (COOP: same-origin, COEP: require-corp or credentialless; and a CSP, if
   * any, allowing `worker-src 'self' blob:`); otherwise 1. See `threadsReason`. A number: 1–64. */
  threads?: 'auto' | number;
  /** With 'auto': run the smoke run even on a software adapter or when a decision is kept (default false). */
  measure?: boolean;
  /** Run the model in a Web Worker (default true); false runs it in this thread. */
  worker?: boolean;
  /** A download that sends nothing for this long fails with NETWORK (detail 'stalled'); default 30 000. */
  stallTimeoutMs?: number;
  /** In order: 'manifest', then per shard 'shard-start', 'bytes'…, 'shard-done', and 'group-ready' per group. */
  onProgress?: (event: LoadEvent) => void;
  /** Aborts loading; the call rejects with code ABORTED. */
  signal?: AbortSignal;
  /** Keep verified shards in the Cache API (default true); see `UniVid.cache`. */
  cache?: boolean;
  /** URL of the package's own folder (holding univid/, pkg/, pkg-threads/) when its files are served
   * from elsewhere than where the bundler put the API, e.g. a CDN
   * (`https://cdn.jsdelivr.net/npm/univid-web@0.1.0/`): the worker, the glue and both wasm builds
   * are loaded from there (cross-origin: served with CORS). Default: beside this module. */
  engineBase?: string | URL;
}

/** A packed model's files in hand (read from disk, IndexedDB, OPFS, a custom fetch…): a Map or an
 * object of file name (`manifest.json` and each shard's `file`) → bytes, or the File[] / FileList
 * of a folder picker. They are checked like downloaded ones (size and sha256 per shard). */
export type ModelFiles =
  | Map<string, Blob | ArrayBuffer | Uint8Array>
  | Record<string, Blob | ArrayBuffer | Uint8Array>
  | File[]
  | FileList;

/** How much of one model is kept on this origin. */
export interface CacheStatus { cachedShards: number; shards: number; cachedBytes: number; totalBytes: number; complete: boolean }

/** The package's storage on this origin (Cache API). Methods reject with UNSUPPORTED where the page
 * has no Cache API / StorageManager (insecure contexts), NETWORK when a model's manifest is neither
 * reachable nor kept. */
export interface ModelCache {
  /** How much of the model at this folder URL is kept (its manifest from the network, else the copy kept at load). */
  status(url: string | URL): Promise<CacheStatus>;
  /** Removes that model's shards and kept manifest; resolves the bytes freed (shards another model shares go too). */
  delete(url: string | URL): Promise<number>;
  /** Removes everything the package keeps (every model, the backend decisions). */
  clear(): Promise<void>;
  /** The origin's storage use and quota in bytes (`navigator.storage.estimate`), and whether it is persistent. */
  estimate(): Promise<{ usage: number; quota: number; persisted: boolean }>;
  /** Asks the browser not to evict this origin's storage (`navigator.storage.persist`); resolves whether it is now persistent. */
  persist(): Promise<boolean>;
}

export interface DigitGuess { digit: number; probability: number; motion: Motion; motion_probability: number }
/** A caption with how far to trust it. */
export interface Description {
  /** A sentence of the caption grammar, e.g. `digit 3 moves up while digit 7 moves left`; `no
   * digits` for a clip with nothing in it (read off the pixels). */
  text: string;
  /** The probability the model gives this caption among the grammar's sentences (0–1; 1 for `no
   * digits`). The model card's calibration table says how often captions at each level are exact. */
  confidence: number;
  /** The clip does not look like light digits moving on a dark background (noise, a camera view,
   * …): `text` is a guess about something the model was not made for; do not present it as a
   * description. */
  outOfDomain: boolean;
  /** What to say aloud: `text`, or `this does not look like moving digits` when `outOfDomain`. */
  spoken: string;
}

/** One window of an audio description: `text` is what to say (the caption, or `this does not look
 * like moving digits` for a window out of domain), with the window's confidence and flag. */
export interface Cue { start: number; end: number; text: string; confidence: number; outOfDomain: boolean }
/** WebVTT text of cues (seconds). */
export function toVtt(cues: Cue[]): string;

export interface Classification {
  /** The digits present, ascending: the k most likely, k = the sum of `digit_probabilities` rounded (at least 1). */
  digits: DigitGuess[];
  /** Presence probability of each digit 0–9 (independent; their sum is the expected count). */
  digit_probabilities: number[];
}

export interface GenerateOptions {
  /** Clip length: the model's `frames` (the only length it makes; anything else is BAD_INPUT). */
  frames?: number;
  /** Euler steps (1–200, default 20). For `generate`, the flow steps that draw each digit's glyph
   * (the path each digit follows is read off the prompt at once). For `continue`, which moves the
   * clip's digits instead of denoising: one step returns the expected future (each digit spread
   * over the places it may be in, what an MSE benchmark scores best), more steps one sharp future
   * drawn from the same distribution by `seed`. */
  steps?: number;
  /** Classifier-free guidance (0–20, default 2; outside is BAD_INPUT). */
  guidance?: number;
  /** Noise seed: an integer 0–4 294 967 295 (default 0; anything else is BAD_INPUT). */
  seed?: number;
  /** After every step: steps done (from 1) and in all. */
  onStep?: (step: number, steps: number) => void;
  /** After every step, the model's current clean-sample estimate of the whole clip: a live
   * preview that sharpens step by step (the last one is the result). Costs no extra forward pass. */
  onPreview?: (estimate: Clip, step: number, steps: number) => void;
  /** Aborts the generation between two steps; the call rejects with code ABORTED. */
  signal?: AbortSignal;
  /** Wait for the generate weights if they are still streaming (default true); false rejects with NOT_LOADED. */
  wait?: boolean;
}

/** `continue` takes no `frames` or `guidance` (it keeps the clip's length and moves the digits of
 * its frames); it reports one step, whose preview is the expected future. */
export interface ContinueOptions extends Omit<GenerateOptions, 'frames' | 'guidance'> {
  /** Frames of the clip to keep (default: half, or `frames - framesOut`). The model continues the
   * second half of a clip from its first half; any other split is BAD_INPUT. */
  framesIn?: number;
  /** Frames to make; with `framesIn` they must add up to the model's `frames` (else BAD_INPUT). */
  framesOut?: number;
}

export interface ClipFromOptions {
  /** Frames to sample (1–1000, default 20). */
  frames?: number;
  /** Side of the output frames in pixels (default 64). */
  size?: number;
  /** Video only: the part to sample, in seconds (default the whole video; outside it is BAD_INPUT). */
  start?: number;
  end?: number;
  /** 1 (default): grayscale (BT.601 luminance); 3: RGB. */
  channels?: Channels;
  /** MediaStream only: samples a second (0 < fps ≤ 60, default 10; else BAD_INPUT). Sampling takes frames / fps seconds. */
  fps?: number;
}

/** `frames` frames of `size`×`size` pixels, frame-major, with `channels` values per pixel. */
export class Clip {
  /** Wraps `pixels` unchecked; `Clip.fromPixels` checks them. */
  constructor(pixels: Uint8Array, frames: number, size: number, channels?: Channels);
  readonly pixels: Uint8Array;
  readonly frames: number;
  readonly size: number;
  /** 1 = grayscale, 3 = interleaved RGB. */
  readonly channels: Channels;
  /** Wraps raw pixels after checking their count, frames·size²·channels (else BAD_INPUT); channels default 1. */
  static fromPixels(pixels: Uint8Array, shape: { frames: number; size: number; channels?: Channels }): Clip;
  /** Samples `frames` frames evenly from a video or frame list, or live from a MediaStream at
   * `fps`, and converts them to size×size grayscale (or RGB with `channels: 3`). A caller's
   * `<video>` gets its currentTime and play state back afterwards (also on failure); frames and
   * streams the caller passes are not closed or stopped. Undecodable or unsupported input rejects
   * with BAD_INPUT; pixels from another origin without CORS reject with BAD_INPUT, detail 'cross-origin'. */
  static from(source: ClipSource, options?: ClipFromOptions): Promise<{ clip: Clip; report: ClipReport }>;
  /** The same clip with `channels` channels: RGB → BT.601 luminance, gray → R = G = B (this clip if it has them). */
  toChannels(channels: Channels): Clip;
  /** Frame `frame` as RGBA (BAD_INPUT outside 0..frames-1). */
  toImageData(frame: number): ImageData;
  /** Draws frame `frame` scaled to the canvas, without smoothing. */
  drawTo(canvas: HTMLCanvasElement | OffscreenCanvas, frame: number): void;
  /** Animated, looping GIF (grayscale: 256 grays, exact pixels; RGB: a 256-colour palette per
   * frame); works in workers too. fps in (0, 60] (default 10), scale an integer 1–16 (default 1). */
  toGif(options?: { fps?: number; scale?: number }): Promise<Blob>;
  /** WebM recorded in real time (frames / fps seconds) through MediaRecorder; pages only (else
   * UNSUPPORTED). fps default 10, scale default 4. */
  toWebM(options?: { fps?: number; scale?: number }): Promise<Blob>;
}

/** A `<video>`, a video File/Blob, a live MediaStream (camera, screen), or frames (at most 4096² pixels each). */
export type ClipSource = HTMLVideoElement | Blob | MediaStream
  | Array<ImageData | HTMLCanvasElement | OffscreenCanvas | ImageBitmap | HTMLImageElement | HTMLVideoElement | VideoFrame>;
/** What `Clip.from` did; `source` tells which kind. */
export type ClipReport = VideoClipReport | FramesClipReport | StreamClipReport;
export interface VideoClipReport {
  source: 'video';
  width: number;
  height: number;
  /** Length of the video (s). */
  duration: number;
  /** Video: the times (s) sampled. */
  times: number[];
  /** The output, e.g. 'grayscale 64×64' or 'RGB 64×64'. */
  converted: string;
}
export interface FramesClipReport {
  source: 'frames';
  /** Size of the first frame. */
  width: number;
  height: number;
  /** Frames given. */
  count: number;
  /** Frames: the indices picked. */
  picked: number[];
  /** The output, e.g. 'grayscale 64×64' or 'RGB 64×64'. */
  converted: string;
}
export interface StreamClipReport {
  source: 'stream';
  /** Size of the stream's video. */
  width: number;
  height: number;
  /** Samples a second asked for. */
  fps: number;
  /** When each frame was taken, in seconds after the first. */
  times: number[];
  /** The output, e.g. 'grayscale 64×64' or 'RGB 64×64'. */
  converted: string;
}

export interface TimelineOptions {
  /** Seconds per caption (0.1–600, default 2; else BAD_INPUT). */
  window?: number;
  /** Frames sampled per window: the model's `frames` (the default; others are BAD_INPUT). */
  frames?: number;
  /** Each cue as soon as it is described (a throwing listener does not stop the work). */
  onCue?: (cue: Cue, index: number, count: number) => void;
  /** Stops between two windows; the call rejects with code ABORTED. */
  signal?: AbortSignal;
}

/** A loaded model. Clip arguments need the model's `frames` and `size` (else BAD_INPUT); their
 * channels are converted. After `dispose`, calls reject with NOT_LOADED. */
export class UniVid {
  /** Made by `UniVid.load`. */
  private constructor();
  /** Loads a packed model (the URL of a folder with manifest.json, or its files in hand); resolves
   * once understanding works, while the generate weights keep streaming (`fullyLoaded`). Rejects
   * with NETWORK, INTEGRITY, UNSUPPORTED (also outside a browser: importing the package in Node or
   * during server rendering works, loading does not), ABORTED, or BAD_INPUT for a bad option. */
  static load(source: string | URL | ModelFiles, options?: LoadOptions): Promise<UniVid>;
  /** What the package keeps on this origin: per-model status and delete, clear, quota, persist. */
  static readonly cache: ModelCache;
  /** Real input → the model's clip; see `Clip.from`. */
  static clipFrom(source: ClipSource, options?: ClipFromOptions): Promise<{ clip: Clip; report: ClipReport }>;
  /** Whether inference runs in a Web Worker (the default) or on this thread. */
  readonly inWorker: boolean;
  /** What runs ('cpu' after a lost WebGPU device), and why. */
  readonly backend: Backend;
  readonly backendReason: string;
  /** Threads the CPU backend computes on (1 on WebGPU), and why. */
  readonly threads: number;
  readonly threadsReason: string;
  readonly manifest: Manifest;
  readonly frames: number;
  readonly size: number;
  /** Channels the model reads and makes (1 = grayscale, 3 = RGB); clips of the other kind are converted. */
  readonly channels: Channels;
  /** The words the model understands. */
  readonly vocabulary: string[];
  /** Length of the retrieval vectors. */
  readonly embedDim: number;
  /** This model's retrieval space (indexes from another model are refused). */
  readonly space: string;
  /** Resolves when every weight group is in (generation available); rejects if loading failed. */
  readonly fullyLoaded: Promise<true>;
  /** Audio description: a caption per `window` seconds (default 2) as cues + WebVTT text. */
  describeTimeline(video: HTMLVideoElement | Blob, options?: TimelineOptions): Promise<{ cues: Cue[]; vtt: string }>;
  /** Destroys the WebGPU device (like WEBGL_lose_context) to test recovery: the next call
   * rejects with DEVICE_LOST, then the model has reloaded itself on the CPU. WebGPU models only
   * (else BAD_INPUT). */
  loseDevice(): Promise<void>;
  /** Digits present and how each moves, with probabilities. */
  classify(clip: Clip): Promise<Classification>;
  /** A caption that always follows the caption grammar (decoding cannot leave it), e.g.
   * `digit 3 moves up while digit 7 moves left`, or `no digits` for an empty clip; with its
   * confidence and whether the clip looks like moving digits at all. */
  describe(clip: Clip): Promise<Description>;
  /** Describes the clip, then answers one of the 7 question templates (which digits are there ?,
   * how many digits are there ?, which way does digit D move ?, which digit moves M ?, where does
   * digit D start ?, where does digit D end up ?, is there a digit D ?): read from that caption
   * where it holds the answer, where a named digit starts / ends up from the model's locate head
   * (decoded with the caption in view by a checkpoint without one); always one of the answers the
   * question can have. Other questions reject with BAD_INPUT (detail `grammar`);
   * unknown words with OUT_OF_VOCABULARY. */
  ask(clip: Clip, question: string): Promise<string>;
  /** Text → video in the model's geometry and channels. */
  generate(prompt: string, options?: GenerateOptions): Promise<Clip>;
  /** Keeps `framesIn` frames and makes `framesOut` more (they add up to `frames`; default half each). */
  continue(clip: Clip, options?: ContinueOptions): Promise<Clip>;
  /** A unit vector for a clip or a text query; clips and texts share one space. */
  embed(clipOrText: Clip | string): Promise<Float32Array>;
  /** Embeds clips into a saveable index; ids default to positions (`ids` as long as `clips`, else BAD_INPUT). */
  index(clips: Clip[], options?: { ids?: unknown[] }): Promise<EmbeddingIndex>;
  /** The best `k` (default 5) items for the query, best first; an index of another model is BAD_INPUT. */
  search(query: string | Clip, items: Clip[] | EmbeddingIndex, options?: { k?: number }): Promise<SearchHit[]>;
  /** A clip of the model's own world (Captioned Moving MNIST) from a compact digit file (`univid
   * digits --split test --out digits-test.bin`), with its true caption: a known input to try the
   * model on. Made in the model's worker. A bad file or split rejects with BAD_INPUT. */
  sampleClip(digits: Uint8Array, options?: { split?: 'train' | 'validation' | 'test'; seed?: number; index?: number }): Promise<{ clip: Clip; caption: string; truth: unknown }>;
  /** Frees the model; later calls reject with NOT_LOADED. */
  dispose(): void;
}

export interface SearchHit {
  id: unknown;
  /** Position in the index. */
  index: number;
  /** Cosine similarity, higher is better. */
  score: number;
}

export interface EmbeddingIndexJSON {
  format: 'univid-index';
  version: 1;
  dim: number;
  space: string;
  ids: unknown[];
  vectors: number[];
}

/** Ids + unit vectors of one model's space; plain data, saved and restored as JSON. */
export class EmbeddingIndex {
  /** `dim`: a positive integer (else BAD_INPUT); `space`: the model's `space`. */
  constructor(dim: number, space: string);
  readonly dim: number;
  readonly space: string;
  /** Any JSON values: names, URLs, numbers. */
  readonly ids: unknown[];
  /** Number of vectors. */
  readonly size: number;
  /** All vectors, row after row (a copy). */
  readonly vectors: Float32Array;
  /** Adds `dim` finite values under `id` (else BAD_INPUT). */
  add(id: unknown, vector: Float32Array | number[]): this;
  /** The `k` (default 5) best matches of a query vector, best first. */
  search(vector: Float32Array | number[], options?: { k?: number }): SearchHit[];
  toJSON(): EmbeddingIndexJSON;
  /** Restores `toJSON()` output or its text: another format or version is UNSUPPORTED, a bad shape BAD_INPUT. */
  static fromJSON(json: EmbeddingIndexJSON | string): EmbeddingIndex;
}
