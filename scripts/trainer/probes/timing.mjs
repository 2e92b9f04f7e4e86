// Shared by the wasm probes (wasm_probe.sh): loads a probe build and times its OpBench ops.
import fs from 'node:fs';

export async function load(pkg) {
  const wasm = await import(`${pkg}/univid.js`);
  await wasm.default({ module_or_path: fs.readFileSync(`${pkg}/univid_bg.wasm`) });
  return wasm;
}

/** Median ms of 40 runs after 5 warm-ups. */
export async function time(wasm, op) {
  const bench = new wasm.OpBench(op);
  const samples = [];
  for (let i = 0; i < 45; i += 1) {
    const t0 = performance.now();
    await bench.run();
    if (i >= 5) samples.push(performance.now() - t0);
  }
  bench.free();
  return samples.sort((a, b) => a - b)[samples.length >> 1];
}
