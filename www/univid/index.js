// UniVid Web: the public API. One model that understands (classify / describe / ask) and
// generates (text → video, continuation) short grayscale clips, on WebGPU or the CPU, in-page.
//
//   const model = await UniVid.load('models/univid-small-int8', { backend: 'auto', onProgress });
//   const clip = Clip.fromPixels(pixels, { frames: 20, size: 64 });
//   await model.describe(clip);           // { text: "digit 3 moves left while digit 7 moves up", confidence: 0.97, outOfDomain: false, … }
//   await model.generate('digit 5 moves right', { steps: 20, seed: 1 });   // a Clip
//   await model.search('digit 7 moves left', clips, { k: 5 });             // [{ id, index, score }]

export { UniVid } from './univid.js';
export { UniVidError } from './errors.js';
export { Clip } from './clip.js';
export { EmbeddingIndex } from './search.js';
export { toVtt } from './timeline.js';
