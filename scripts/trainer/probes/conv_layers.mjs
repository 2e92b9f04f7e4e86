// Each layer of the glyph U-Net that the CPU backend runs by Winograd (crate/src/model/cpu_conv.rs)
// against burn-flex's own convolution at the same shape (four glyphs: two digits, guided).
import { load, time } from './timing.mjs';

const wasm = await load(process.argv[2]);
console.log('| layer (batch 4) | Winograd ms | burn-flex ms | burn-flex / Winograd |\n|---|---:|---:|---:|');
for (const layer of ['mid', 'up2', 'mix2', 'up1', 'mix1']) {
  const ours = await time(wasm, `p_${layer}`);
  const theirs = await time(wasm, `p_${layer}old`);
  console.log(`| ${layer} | ${ours.toFixed(2)} | ${theirs.toFixed(2)} | ${(theirs / ours).toFixed(2)}× |`);
}
console.log(`\nglyph_step (the whole guided estimate): ${(await time(wasm, 'glyph_step')).toFixed(2)} ms`);
