// Launches Debian's Chromium (never a downloaded browser) with SwiftShader WebGPU, headless.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export async function launch() {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'univid-chromium-'));
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan',
      '--use-webgpu-adapter=swiftshader', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run',
      // A synthetic camera that needs no permission prompt (the demo's camera recording).
      '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
      // Exact (not bucketed) performance.memory figures for the benchmark's JS heap.
      '--enable-precise-memory-info',
    ],
  });
}

/** Serves the repository (with `serverOptions`, see server.mjs), launches Chromium and opens a
 * blank same-origin page; page errors are echoed. Close with `close()`. */
export async function blankPage(serverOptions = {}) {
  const { serve } = await import('./server.mjs');
  const root = new URL('../..', import.meta.url).pathname;
  const server = await serve(root, 0, serverOptions);
  const base = `http://127.0.0.1:${server.address().port}`;
  const context = await launch();
  const page = await context.newPage();
  page.on('console', (msg) => { if (msg.type() === 'error') console.error(`[page] ${msg.text()}`); });
  await page.goto(`${base}/tests/browser/blank.html`);
  const close = async () => { await context.close(); server.closeAllConnections(); server.close(); };
  return { server, context, page, base, close };
}
