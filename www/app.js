// The demo page: streams the shipped model through the UniVid API and wires the controls.
import { UniVid } from './univid/index.js';

const MODEL = '../models/univid-small-int8';
const $ = (id) => document.getElementById(id);
let model = null;
let digits = null;
let clip = null;
let sampleIndex = 0;
// The search library: clips, what is known of each, and their index (built once after loading).
const LIBRARY_SIZE = 32;
const library = { clips: [], labels: [], index: null };

function setStatus(text) { $('status').textContent = text; }

const players = new Map();
function play(canvas, shown) {
  clearInterval(players.get(canvas));
  let f = 0;
  shown.drawTo(canvas, 0);
  players.set(canvas, setInterval(() => { f = (f + 1) % shown.frames; shown.drawTo(canvas, f); }, 100));
}

function onProgress(event) {
  if (event.type === 'bytes' || event.type === 'shard-done') {
    $('progress').value = event.overallLoaded / event.overallTotal;
    const kib = (n) => `${Math.round(n / 1024)} KiB`;
    $('shards').textContent = `${kib(event.overallLoaded)} of ${kib(event.overallTotal)}${event.fromCache ? ' (from cache)' : ''}`;
  } else if (event.type === 'group-ready') {
    $('groups').textContent = [$('groups').textContent, event.group].filter((s) => s && s !== '—').join(', ');
    if (event.group === 'generate') $('generate').disabled = $('continue').disabled = false;
  } else if (event.type === 'warning') {
    console.warn(event.message);
  }
}

async function load() {
  $('load').disabled = true;
  try {
    setStatus('Downloading…');
    model = await UniVid.load(MODEL, { backend: $('backend').value, onProgress });
    digits = new Uint8Array(await (await fetch('digits-test.bin')).arrayBuffer());
    const steps = model.manifest.meta?.training?.step ?? '?';
    setStatus(`Loaded (${model.backend}, trained ${steps} steps). Backend: ${model.backendReason}. CPU threads: ${model.threadsReason}.`);
    for (const id of ['sample', 'ask', 'file', 'timeline-file', 'timeline']) $(id).disabled = false;
    $('camera').disabled = !navigator.mediaDevices?.getUserMedia;
    model.fullyLoaded.then(() => { $('generate').disabled = false; $('continue').disabled = false; }, (e) => setStatus(`Generation unavailable: ${e.message}`));
    await newSample();
    await buildLibrary();
  } catch (e) {
    setStatus(`Could not load: ${e.message ?? e}`);
    $('load').disabled = false;
  }
}

async function newSample() {
  const sample = await model.sampleClip(digits, { split: 'test', seed: 0, index: sampleIndex++ });
  $('truth').textContent = sample.caption;
  $('file-report').textContent = '';
  await understand(sample.clip);
}

async function ownVideo() {
  const file = $('file').files[0];
  if (file) await describeVideo(file, file.name);
}

/** Records two seconds from the camera (nothing leaves the device) and describes them. */
async function cameraVideo() {
  $('camera').disabled = true;
  let stream = null;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
    $('file-report').textContent = 'Recording 2 s…';
    const recorder = new MediaRecorder(stream);
    const chunks = [];
    recorder.ondataavailable = (e) => e.data.size && chunks.push(e.data);
    const stopped = new Promise((resolve) => { recorder.onstop = resolve; });
    recorder.start();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    recorder.stop();
    await stopped;
    await describeVideo(new Blob(chunks, { type: recorder.mimeType }), 'camera recording');
  } catch (e) {
    $('file-report').textContent = `Camera: ${e.message ?? e}`;
  } finally {
    stream?.getTracks().forEach((t) => t.stop());
    $('camera').disabled = false;
  }
}

async function describeVideo(file, name) {
  try {
    const { clip: converted, report } = await UniVid.clipFrom(file, { frames: model.frames, size: model.size });
    $('truth').textContent = 'unknown (your video)';
    $('file-report').textContent = `Sampled ${converted.frames} frames over ${report.duration.toFixed(1)} s of a ${report.width}×${report.height} video, converted to ${report.converted}. The model only knows moving handwritten digits.`;
    await understand(converted);
    if (library.index) addToLibrary(converted, `your video ${name}`, await model.embed(converted));
  } catch (e) {
    $('file-report').textContent = e.message ?? String(e);
  }
}

async function buildLibrary() {
  $('search-status').textContent = `Indexing ${LIBRARY_SIZE} sample clips…`;
  const samples = [];
  for (let i = 0; i < LIBRARY_SIZE; i++) samples.push(await model.sampleClip(digits, { split: 'test', seed: 7, index: i }));
  const clips = samples.map((s) => s.clip);
  library.index = await model.index(clips);
  library.clips = clips;
  library.labels = samples.map((s) => s.caption);
  $('search-status').textContent = `${LIBRARY_SIZE} clips indexed; type a query.`;
  $('search').disabled = false;
}

function addToLibrary(shown, label, vector) {
  library.index.add(library.clips.length, vector);
  library.clips.push(shown);
  library.labels.push(label);
}

async function search(query) {
  const hits = await model.search(query, library.index, { k: 6 });
  const list = $('results');
  list.replaceChildren(...hits.map((hit, rank) => {
    const item = document.createElement('li');
    const canvas = Object.assign(document.createElement('canvas'), { width: 64, height: 64 });
    canvas.setAttribute('role', 'img');
    canvas.setAttribute('aria-label', `Result ${rank + 1}: ${library.labels[hit.id]}`);
    play(canvas, library.clips[hit.id]);
    const text = document.createElement('p');
    text.textContent = `${rank + 1}. ${library.labels[hit.id]} (score ${hit.score.toFixed(2)})`;
    item.append(canvas, text);
    return item;
  }));
  $('search-status').textContent = `${hits.length} best matches for “${query}”, best first.`;
}

async function understand(shown) {
  clip = shown;
  play($('clip'), clip);
  $('caption').textContent = '…';
  $('confidence').textContent = '';
  const said = await model.describe(clip);
  const confidence = `confidence ${(said.confidence * 100).toFixed(0)} %`;
  $('caption').textContent = said.spoken;
  $('confidence').textContent = said.outOfDomain ? `(its guess would be “${said.text}”, ${confidence})` : `(${confidence})`;
  speak(said.spoken);
  const result = await model.classify(clip);
  $('classes').textContent = result.digits
    .map((d) => `${d.digit} (${(d.probability * 100).toFixed(0)} %) ${d.motion} (${(d.motion_probability * 100).toFixed(0)} %)`)
    .join(', ');
}

/** Flags words of the prompt the model does not know, as the visitor types. */
function checkPrompt() {
  if (!model) return;
  const unknown = $('prompt').value.toLowerCase().split(/\s+/).filter((w) => w && !model.vocabulary.includes(w));
  $('prompt').setAttribute('aria-invalid', String(unknown.length > 0));
  $('prompt-error').textContent = unknown.length
    ? `Unknown word${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}. The model knows: ${model.vocabulary.join(' ')}.`
    : '';
}

/** Reads `text` aloud when the visitor asked for it (and the browser can). */
function speak(text) {
  if (!$('speak').checked || !globalThis.speechSynthesis) return;
  speechSynthesis.cancel();
  speechSynthesis.speak(new SpeechSynthesisUtterance(text));
}

/** Describes the chosen video window by window; attaches the cues as a descriptions track. */
async function describeLongVideo() {
  const file = $('timeline-file').files[0];
  if (!file) {
    $('timeline-status').textContent = 'Choose a video first.';
    return;
  }
  $('timeline').disabled = true;
  const list = $('cues');
  list.replaceChildren();
  try {
    const window = Number($('timeline-window').value);
    const { cues, vtt } = await model.describeTimeline(file, {
      window,
      onCue: (cue, i, count) => {
        $('timeline-status').textContent = `Described ${i + 1} of ${count} windows…`;
        const item = document.createElement('li');
        item.textContent = `${cue.start.toFixed(1)}–${cue.end.toFixed(1)} s: ${cue.text}`;
        list.append(item);
      },
    });
    const video = $('timeline-video');
    video.querySelectorAll('track').forEach((t) => t.remove());
    if (video.src) URL.revokeObjectURL(video.src);
    video.src = URL.createObjectURL(file);
    const track = Object.assign(document.createElement('track'), {
      kind: 'descriptions', srclang: 'en', label: 'Descriptions', default: true,
      src: URL.createObjectURL(new Blob([vtt], { type: 'text/vtt' })),
    });
    video.append(track);
    video.hidden = false;
    const link = $('save-vtt');
    if (link.href) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(new Blob([vtt], { type: 'text/vtt' }));
    link.hidden = false;
    $('timeline-status').textContent = `${cues.length} descriptions, one per ${window} s, attached to the video as a descriptions track.`;
  } catch (e) {
    $('timeline-status').textContent = e.message ?? String(e);
  } finally {
    $('timeline').disabled = false;
  }
}

/** Continues the clip shown in "Describe a clip" from its first half, beside the real one. */
async function continueClip() {
  $('continue').disabled = true;
  try {
    const framesIn = clip.frames / 2;
    const continued = await model.continue(clip, {
      // One step is the expected future; more draw one sharp future (see `continue` in index.d.ts).
      framesIn, steps: $('continue-mode').value === 'expected' ? 1 : 2, seed: Math.floor(Math.random() * 1000),
      onPreview: (estimate) => play($('continued'), estimate),
    });
    play($('continue-truth'), clip);
    play($('continued'), continued);
    $('continue-status').textContent = `Continued: frames ${framesIn + 1}–${clip.frames} are the model's.`;
  } catch (e) {
    $('continue-status').textContent = e.message ?? String(e);
  } finally {
    $('continue').disabled = false;
  }
}

// Offline after the first visit (see sw.js); the page works without it too.
navigator.serviceWorker?.register('sw.js').catch((e) => console.warn(`no offline support: ${e.message}`));

$('load').addEventListener('click', load);
$('camera').addEventListener('click', cameraVideo);
$('prompt').addEventListener('input', checkPrompt);
$('continue-form').addEventListener('submit', (event) => { event.preventDefault(); continueClip(); });
$('timeline-form').addEventListener('submit', (event) => { event.preventDefault(); describeLongVideo(); });
$('sample').addEventListener('click', newSample);
$('file').addEventListener('change', ownVideo);
$('ask-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  try { $('answer').textContent = await model.ask(clip, $('question').value); }
  catch (e) { $('answer').textContent = e.message ?? String(e); }
});
$('search-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  try { await search($('query').value); }
  catch (e) { $('search-status').textContent = e.message ?? String(e); }
});
/** Points the "Save as GIF" link at the clip (4× size), named after its prompt. */
async function offerGif(generated, prompt) {
  const link = $('save-gif');
  if (link.href) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(await generated.toGif({ scale: 4 }));
  link.download = `${prompt.trim().replace(/[^a-z0-9]+/gi, '-') || 'univid'}.gif`;
  link.hidden = false;
}

$('generate-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('generate').disabled = true;
  try {
    const generated = await model.generate($('prompt').value, {
      steps: Number($('steps').value), seed: Number($('seed').value),
      onStep: (step, steps) => { $('generate-status').textContent = `Step ${step} of ${steps}`; },
      onPreview: (estimate) => play($('generated'), estimate),
    });
    play($('generated'), generated);
    await offerGif(generated, $('prompt').value);
    $('generate-status').textContent = 'Done.';
  } catch (e) {
    $('generate-status').textContent = e.message ?? String(e);
  } finally {
    $('generate').disabled = false;
  }
});
