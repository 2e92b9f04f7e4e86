// Types of the UniVid Web API (www/univid/index.js).

export type ErrorCode =
  | 'BAD_INPUT' | 'OUT_OF_VOCABULARY' | 'INTEGRITY' | 'UNSUPPORTED' | 'NETWORK'
  | 'ABORTED' | 'NOT_LOADED' | 'DEVICE_LOST' | 'BACKEND' | 'INTERNAL';

export class UniVidError extends Error {
  name: 'UniVidError';
  code: ErrorCode;
  /** The engine's finer reason, e.g. 'shard-hash', 'unknown-words'. */
  detail?: string;
}

export type LoadEvent =
  | { type: 'manifest'; shards: number; totalBytes: number; tensors: number; quant: string }
  | { type: 'shard-start'; index: number; file: string; group: WeightGroup; bytes: number }
  | { type: 'bytes'; index: number; file: string; loaded: number; total: number; overallLoaded: number; overallTotal: number }
  | { type: 'shard-done'; index: number; file: string; fromCache: boolean; tensorsLoaded: number; tensorsTotal: number; overallLoaded: number; overallTotal: number }
  | { type: 'group-ready'; group: WeightGroup }
  | { type: 'warning'; message: string };

export type WeightGroup = 'core' | 'understand' | 'generate';
export type Backend = 'webgpu' | 'cpu';
export type Motion = 'right' | 'up-right' | 'up' | 'up-left' | 'left' | 'down-left' | 'down' | 'down-right';

export interface LoadOptions {
  /** 'auto' (default): the backend that is faster here: a hardware adapter gets a timed smoke run
   * on both backends, kept per adapter; a software adapter gets the CPU. See `backendReason`. */
  backend?: 'auto' | Backend;
  /** CPU threads. 'auto' (default): every core when the model runs in its worker and the page is
   * cross-origin isolated (COOP: same-origin, COEP: require-corp or credentialless; and a CSP, if
   * any, allowing `worker-src 'self' blob:`); otherwise 1. See `threadsReason`. */
  threads?: 'auto' | number;
  /** With 'auto': run the smoke run even on a software adapter or when a decision is kept. */
  measure?: boolean;
  /** Run the model in a Web Worker (default true); false runs it in this thread. */
  worker?: boolean;
  /** A download that sends nothing for this long fails with NETWORK (detail 'stalled'); default 30 000. */
  stallTimeoutMs?: number;
  onProgress?: (event: LoadEvent) => void;
  signal?: AbortSignal;
  /** Keep verified shards in the Cache API (default true). */
  cache?: boolean;
}

export interface DigitGuess { digit: number; probability: number; motion: Motion; motion_probability: number }
export interface Cue { start: number; end: number; text: string }
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
  steps?: number;
  guidance?: number;
  seed?: number;
  onStep?: (step: number, steps: number) => void;
  /** Aborts the generation between two steps; the call rejects with code ABORTED. */
  signal?: AbortSignal;
  /** Wait for the generate weights if they are still streaming (default true). */
  wait?: boolean;
}

export class Clip {
  readonly pixels: Uint8Array;
  readonly frames: number;
  readonly size: number;
  static fromPixels(pixels: Uint8Array, shape: { frames: number; size: number }): Clip;
  /** Samples `frames` frames evenly from a video or frame list, converts to grayscale size×size. */
  static from(source: ClipSource, options?: { frames?: number; size?: number; start?: number; end?: number }): Promise<{ clip: Clip; report: ClipReport }>;
  toImageData(frame: number): ImageData;
  drawTo(canvas: HTMLCanvasElement | OffscreenCanvas, frame: number): void;
  /** Animated, looping GIF (256 grays, exact pixels); works in workers too. */
  toGif(options?: { fps?: number; scale?: number }): Promise<Blob>;
  /** WebM recorded in real time (frames / fps seconds) through MediaRecorder; pages only. */
  toWebM(options?: { fps?: number; scale?: number }): Promise<Blob>;
}

export type ClipSource = HTMLVideoElement | Blob | Array<ImageData | HTMLCanvasElement | OffscreenCanvas | ImageBitmap>;
export interface ClipReport {
  source: 'video' | 'frames';
  width: number;
  height: number;
  /** Video: the times (s) sampled; frames: the indices picked. */
  times?: number[];
  picked?: number[];
  duration?: number;
  count?: number;
  converted: string;
}

export class UniVid {
  static load(url: string, options?: LoadOptions): Promise<UniVid>;
  static clipFrom(source: ClipSource, options?: { frames?: number; size?: number }): Promise<{ clip: Clip; report: ClipReport }>;
  readonly inWorker: boolean;
  readonly backend: Backend;
  readonly backendReason: string;
  /** Threads the CPU backend computes on (1 on WebGPU), and why. */
  readonly threads: number;
  readonly threadsReason: string;
  readonly manifest: object;
  readonly frames: number;
  readonly size: number;
  readonly vocabulary: string[];
  /** Length of the retrieval vectors. */
  readonly embedDim: number;
  /** This model's retrieval space (indexes from another model are refused). */
  readonly space: string;
  readonly fullyLoaded: Promise<true>;
  /** Audio description: a caption per `window` seconds (default 2) as cues + WebVTT text. */
  describeTimeline(video: HTMLVideoElement | Blob, options?: { window?: number; frames?: number; onCue?: (cue: Cue, index: number, count: number) => void; signal?: AbortSignal }): Promise<{ cues: Cue[]; vtt: string }>;
  /** Destroys the WebGPU device (like WEBGL_lose_context) to test recovery: the next call
   * rejects with DEVICE_LOST, then the model has reloaded itself on the CPU. */
  loseDevice(): Promise<void>;
  classify(clip: Clip): Promise<Classification>;
  /** A caption that always follows the caption grammar (decoding cannot leave it), e.g.
   * `digit 3 moves up while digit 7 moves left`. */
  describe(clip: Clip): Promise<string>;
  /** Describes the clip, then answers one of the 7 question templates (which digits are there ?,
   * how many digits are there ?, which way does digit D move ?, which digit moves M ?, where does
   * digit D start ?, where does digit D end up ?, is there a digit D ?): read from that caption
   * where it holds the answer, decoded by the model with the caption in view otherwise; always one
   * of the answers the question can have. Other questions reject with BAD_INPUT (detail `grammar`). */
  ask(clip: Clip, question: string): Promise<string>;
  generate(prompt: string, options?: GenerateOptions): Promise<Clip>;
  /** Keeps `framesIn` frames and makes `framesOut` more (they add up to `frames`; default half each). */
  continue(clip: Clip, options?: GenerateOptions & { framesIn?: number; framesOut?: number }): Promise<Clip>;
  /** A unit vector for a clip or a text query; clips and texts share one space. */
  embed(clipOrText: Clip | string): Promise<Float32Array>;
  index(clips: Clip[], options?: { ids?: unknown[] }): Promise<EmbeddingIndex>;
  search(query: string | Clip, items: Clip[] | EmbeddingIndex, options?: { k?: number }): Promise<SearchHit[]>;
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

export class EmbeddingIndex {
  constructor(dim: number, space: string);
  readonly dim: number;
  readonly space: string;
  readonly ids: unknown[];
  readonly size: number;
  readonly vectors: Float32Array;
  add(id: unknown, vector: Float32Array | number[]): this;
  search(vector: Float32Array | number[], options?: { k?: number }): SearchHit[];
  toJSON(): EmbeddingIndexJSON;
  static fromJSON(json: EmbeddingIndexJSON | string): EmbeddingIndex;
}
