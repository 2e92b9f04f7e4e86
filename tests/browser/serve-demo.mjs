// `scripts/demo`: serves the demo on 127.0.0.1 and prints its URL.
import { serve } from './server.mjs';

const root = new URL('../..', import.meta.url).pathname;
const port = Number(process.argv[2] ?? 8080);
const server = await serve(root, port);
console.log(`UniVid demo: http://127.0.0.1:${server.address().port}/www/index.html`);
