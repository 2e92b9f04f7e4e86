// A static file server for the browser tests and the demo: serves the repository's www/, models/,
// tests/browser/, out/ and scripts/peer/ (the peer's page code) on 127.0.0.1 only, with the headers
// a strict page needs.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.wasm': 'application/wasm', '.json': 'application/json', '.css': 'text/css',
  '.safetensors': 'application/octet-stream', '.bin': 'application/octet-stream', '.png': 'image/png',
  '.gif': 'image/gif', '.vtt': 'text/vtt', '.md': 'text/markdown; charset=utf-8',
};
const ALLOWED = ['www', 'models', 'tests/browser', 'out', 'scripts/peer'];

// Test hooks (all optional): `seen(rel)` counts requests, `delayMs(rel)` holds a response back
// before its body, `mutate(rel, bytes)` serves altered bytes (corruption tests), `stall(rel)`
// sends the headers and half the body, then nothing more (a hung connection); `isolated: false`
// leaves out the cross-origin isolation headers (a page without SharedArrayBuffer).
export function serve(root, port = 0, { seen, delayMs, mutate, stall, isolated = true } = {}) {
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    let rel = decodeURIComponent(url.pathname).replace(/^\/+/, '');
    if (rel === '') rel = 'www/index.html';
    if (rel.endsWith('/')) rel += 'index.html';
    seen?.(rel);
    const file = path.resolve(root, rel);
    const inside = ALLOWED.some((dir) => file.startsWith(path.resolve(root, dir) + path.sep));
    if (!inside || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    const delay = delayMs?.(rel) ?? 0;
    if (delay) await new Promise((r) => setTimeout(r, delay));
    const body = mutate ? mutate(rel, fs.readFileSync(file)) : null;
    res.writeHead(200, {
      'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
      'content-length': body ? body.length : fs.statSync(file).size,
      'cache-control': 'no-cache',
      // Cross-origin isolation (SharedArrayBuffer for the CPU path's threads) and no eval.
      ...(isolated ? { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' } : {}),
      'content-security-policy': "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; style-src 'self' 'unsafe-inline'; img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'",
    });
    if (stall?.(rel)) {
      const bytes = body ?? fs.readFileSync(file);
      res.write(bytes.subarray(0, bytes.length >> 1));
      return; // never ends: the client has to give up
    }
    if (body) res.end(body);
    else fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}
