// Audio description for a longer video: describe it window by window and write the captions as
// WebVTT cues, the format a `<track kind="descriptions">` carries so screen readers announce them
// while the video plays.

import { UniVidError, aborted } from './errors.js';
import { openVideo, sampleVideo } from './clip.js';

/**
 * Describes `source` (a `<video>`, File or Blob) every `window` seconds with `describe(clip)` (a
 * `Description`). Resolves `{ cues: [{ start, end, text, confidence, outOfDomain }], vtt }`, each
 * cue's text what to say aloud; `onCue(cue, i, count)` reports each one.
 */
export async function describeTimeline(describe, source, { window = 2, frames = 20, size = 64, channels = 1, onCue, signal } = {}) {
  if (!(typeof window === 'number' && window >= 0.1 && window <= 600)) {
    throw new UniVidError('BAD_INPUT', `window must be a number of seconds in 0.1..=600, got ${window}`);
  }
  const opened = await openVideo(source);
  try {
    const count = Math.max(1, Math.round(opened.duration / window));
    const step = opened.duration / count; // equal windows that cover the whole video
    const cues = [];
    for (let i = 0; i < count; i++) {
      if (signal?.aborted) throw aborted();
      const start = i * step;
      const end = i === count - 1 ? opened.duration : (i + 1) * step;
      const { clip } = await sampleVideo(opened, frames, size, start, end, channels);
      const said = await describe(clip, signal);
      const cue = { start, end, text: said.spoken, confidence: said.confidence, outOfDomain: said.outOfDomain };
      cues.push(cue);
      try { onCue?.(cue, i, count); } catch { /* a throwing listener does not stop the work */ }
    }
    return { cues, vtt: toVtt(cues) };
  } finally {
    await opened.close(); // a caller's <video> gets its time and play state back
  }
}

/** WebVTT text of `cues` ({ start, end, text }, seconds). */
export function toVtt(cues) {
  const body = cues.map((c, i) => `${i + 1}\n${timestamp(c.start)} --> ${timestamp(c.end)}\n${c.text.replace(/-->/g, '→')}\n`);
  return ['WEBVTT', '', ...body].join('\n');
}

function timestamp(seconds) {
  const ms = Math.round(seconds * 1000);
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return `${pad(Math.floor(ms / 3_600_000))}:${pad(Math.floor(ms / 60_000) % 60)}:${pad(Math.floor(ms / 1000) % 60)}.${pad(ms % 1000, 3)}`;
}
