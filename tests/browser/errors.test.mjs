// The engine's error codes are written in crate/src/web.rs and mapped to public codes in
// www/univid/errors.js: every code the engine can throw has a mapping, and no mapping is stale.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { ENGINE_CODES } from '../../www/univid/errors.js';

const ROOT = new URL('../..', import.meta.url).pathname;

test('every engine error code has a public code, and every mapping names a code the engine throws', () => {
  const web = fs.readFileSync(`${ROOT}crate/src/web.rs`, 'utf8');
  // Codes appear as `typed_error("code", …)` and as match arms `… => "code",` of the *_code functions.
  const thrown = new Set([...web.matchAll(/typed_error\("([a-z-]+)"/g), ...web.matchAll(/=> "([a-z-]+)",/g)].map((m) => m[1]));
  thrown.delete('internal'); // INTERNAL is the fallback for anything unmapped
  assert.ok(thrown.size >= 15, `found only ${[...thrown]} in web.rs: has its shape changed?`);
  assert.deepEqual([...thrown].filter((code) => !(code in ENGINE_CODES)), [], 'engine codes without a public code');
  assert.deepEqual(Object.keys(ENGINE_CODES).filter((code) => !thrown.has(code)), [], 'mappings of codes the engine never throws');
});
