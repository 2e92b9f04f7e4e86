// Where a benchmark ran: the machine, named so that two hosts of the same marketing name stay apart
// (the CPU model string plus, where Linux tells it, the CPU family and model numbers), and the commit.
import fs from 'node:fs';
import os from 'node:os';
import { execSync } from 'node:child_process';

export function machine() {
  let cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  try {
    const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
    const field = (name) => info.match(new RegExp(`^${name}\\s*:\\s*(.+)$`, 'm'))?.[1];
    if (field('cpu family') && field('model')) cpu += ` (family ${field('cpu family')}, model ${field('model')})`;
  } catch {
    // not Linux: the model string alone
  }
  return { cpu, cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), os: `${os.type()} ${os.release()}` };
}

/** A file-name-safe name for the host's CPU. */
export const hostSlug = (cpu) => cpu.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');

/** The short commit, marked when tracked files differ from it. */
export function commit() {
  const sh = (c) => execSync(c, { encoding: 'utf8' }).trim();
  return sh('git rev-parse --short HEAD') + (sh('git status --porcelain --untracked-files=no') ? ' (+ local changes)' : '');
}
