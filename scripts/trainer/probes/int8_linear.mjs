// Matrix weights kept quantized in memory (model/quantized.rs) against f32 weights, for the small
// model's qkv (256 → 768) and expert-down (512 → 256) layers at 1 to 161 rows (a decoding step is
// 1 row per clip; a whole pass is 161). Variants: f32 = f32 weights; wide8 / wide4 = the int8 /
// int4 codes widened to f32 for the call, then gemm; int8 / int4 = the rows quantized to 14 bits
// and multiplied in integer arithmetic (i32x4.dot_i16x8_s). The crossovers set
// WIDEN_FROM_ROWS_INT8 / _INT4.
import { load, time } from './timing.mjs';

const wasm = await load(process.argv[2]);
const variants = ['f32', 'wide8', 'int8', 'wide4', 'int4'];
// V8 compiles wasm in tiers: run both kinds of kernel once before timing any of them.
await time(wasm, 'q_f32_qkv_161');
await time(wasm, 'q_int8_qkv_8');
console.log(`| layer | rows | ${variants.map((v) => `${v} ms`).join(' | ')} |\n|---|---:|${variants.map(() => '---:').join('|')}|`);
for (const layer of ['qkv', 'down']) {
  for (const rows of [1, 4, 8, 16, 32, 161]) {
    const ms = [];
    for (const v of variants) ms.push(await time(wasm, `q_${v}_${layer}_${rows}`));
    console.log(`| ${layer} | ${rows} | ${ms.map((m) => m.toFixed(3)).join(' | ')} |`);
  }
}
