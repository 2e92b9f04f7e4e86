// int8 weights kept in memory (the pack's format: one scale per output row) against today's f32
// weights, for the small model's linear layers at a whole sequence (161 tokens) and at one token
// (a decoding step). Variants: f32 = today; whole = widen the whole weight to f32 per call, then
// gemm (what burn's q_matmul does); tiles = widen 64 output rows at a time; dot = a plain
// dot product per output, int8 read directly.
import { load, time } from './timing.mjs';

const wasm = await load(process.argv[2]);
const variants = ['f32', 'whole', 'tiles', 'dot'];
console.log(`| layer | tokens | ${variants.map((v) => `${v} ms`).join(' | ')} |\n|---|---:|${variants.map(() => '---:').join('|')}|`);
for (const layer of ['qkv', 'up', 'down']) {
  for (const tokens of [161, 1]) {
    const ms = [];
    for (const v of variants) ms.push(await time(wasm, `q_${v}_${layer}_${tokens}`));
    console.log(`| ${layer} | ${tokens} | ${ms.map((m) => m.toFixed(3)).join(' | ')} |`);
  }
}
