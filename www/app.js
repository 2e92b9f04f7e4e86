// The demo page: loads the shipped model into the wasm engine and wires the controls.
import init, { createEngine, sampleClip } from './pkg/univid.js';

const MODEL = '../models/univid-small';
const $ = (id) => document.getElementById(id);
let engine = null;
let digits = null;
let clip = null;
let sampleIndex = 0;

function setStatus(text) { $('status').textContent = text; }

async function fetchWithProgress(url, onBytes) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const total = Number(response.headers.get('content-length')) || 0;
  const reader = response.body.getReader();
  const chunks = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    onBytes(loaded, total);
  }
  const bytes = new Uint8Array(loaded);
  let at = 0;
  for (const c of chunks) { bytes.set(c, at); at += c.length; }
  return bytes;
}

function draw(canvas, pixels, frames, size, frame) {
  const ctx = canvas.getContext('2d');
  const image = ctx.createImageData(size, size);
  const offset = frame * size * size;
  for (let i = 0; i < size * size; i++) {
    const v = pixels[offset + i];
    image.data.set([v, v, v, 255], i * 4);
  }
  const scratch = new OffscreenCanvas(size, size);
  scratch.getContext('2d').putImageData(image, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(scratch, 0, 0, canvas.width, canvas.height);
}

const players = new Map();
function play(canvas, pixels, frames, size) {
  clearInterval(players.get(canvas));
  let f = 0;
  draw(canvas, pixels, frames, size, 0);
  players.set(canvas, setInterval(() => { f = (f + 1) % frames; draw(canvas, pixels, frames, size, f); }, 100));
}

async function load() {
  $('load').disabled = true;
  try {
    await init();
    engine = await createEngine($('backend').value);
    setStatus(`Backend: ${engine.backend}. Downloading…`);
    const meta = await (await fetch(`${MODEL}/config.json`)).json();
    const weights = await fetchWithProgress(`${MODEL}/model.safetensors`, (loaded, total) => {
      $('progress').value = total ? loaded / total : 0;
    });
    engine.loadWeights(JSON.stringify(meta.model), weights);
    digits = new Uint8Array(await (await fetch('digits-test.bin')).arrayBuffer());
    setStatus(`Loaded (${engine.backend}, trained ${meta.step} steps).`);
    for (const id of ['sample', 'ask', 'generate']) $(id).disabled = false;
    await newSample();
  } catch (e) {
    setStatus(`Could not load: ${e.message ?? e}`);
    $('load').disabled = false;
  }
}

async function newSample() {
  clip = sampleClip(digits, 'test', 0, sampleIndex++);
  play($('clip'), clip.pixels, clip.frames, clip.size);
  $('truth').textContent = clip.caption;
  $('caption').textContent = '…';
  $('caption').textContent = await engine.describe(clip.pixels);
  const result = await engine.classify(clip.pixels);
  $('classes').textContent = result.digits
    .map((d) => `${d.digit} (${(d.probability * 100).toFixed(0)} %) ${d.motion} (${(d.motion_probability * 100).toFixed(0)} %)`)
    .join(', ');
}

$('load').addEventListener('click', load);
$('sample').addEventListener('click', newSample);
$('ask-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  try { $('answer').textContent = await engine.ask(clip.pixels, $('question').value); }
  catch (e) { $('answer').textContent = e.message ?? String(e); }
});
$('generate-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('generate').disabled = true;
  try {
    const pixels = await engine.generate($('prompt').value, Number($('steps').value), 2.0, Number($('seed').value),
      (step, steps) => { $('generate-status').textContent = `Step ${step} of ${steps}`; });
    play($('generated'), pixels, 20, 64);
    $('generate-status').textContent = 'Done.';
  } catch (e) {
    $('generate-status').textContent = e.message ?? String(e);
  } finally {
    $('generate').disabled = false;
  }
});
