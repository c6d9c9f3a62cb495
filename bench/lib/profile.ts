import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

interface CpuProfile {
  nodes: Array<{
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    hitCount?: number;
    children?: number[];
  }>;
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** Where a frame's code lives: a package under node_modules, a file of ours, node internals or the VM. */
function owner(url: string): string {
  if (!url) return '(vm / native)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm !== -1) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return 'node internals';
  const src = url.indexOf('/src/');
  if (src !== -1) return url.slice(src + 1).replace(/^file:\/\//, '');
  return path.basename(url);
}

/** Self time by function and by owner (package or source file) from .cpuprofile files, as text. */
export function summariseProfile(
  dir: string,
  files: string[] = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')),
  top = 25,
): string {
  const byFn = new Map<string, number>();
  const byOwner = new Map<string, number>();
  let total = 0;
  for (const f of files) {
    const p = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as CpuProfile;
    const dt = new Map<number, number>();
    // Self time per node from samples × time deltas (µs); hitCount × mean interval when deltas are missing.
    if (p.samples && p.timeDeltas) {
      p.samples.forEach((id, i) => dt.set(id, (dt.get(id) ?? 0) + (p.timeDeltas![i] ?? 0)));
    } else {
      const hits = p.nodes.reduce((a, n) => a + (n.hitCount ?? 0), 0);
      const per = (p.endTime - p.startTime) / Math.max(1, hits);
      for (const n of p.nodes) dt.set(n.id, (n.hitCount ?? 0) * per);
    }
    for (const n of p.nodes) {
      const t = dt.get(n.id) ?? 0;
      if (!t) continue;
      const name = n.callFrame.functionName || '(anonymous)';
      if (name === '(idle)' || name === '(program)' || name === '(garbage collector)') {
        byOwner.set(name, (byOwner.get(name) ?? 0) + t);
        if (name !== '(idle)') total += t;
        continue;
      }
      total += t;
      const key = `${name}  ${owner(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
      byFn.set(key, (byFn.get(key) ?? 0) + t);
      const o = owner(n.callFrame.url);
      byOwner.set(o, (byOwner.get(o) ?? 0) + t);
    }
  }
  const pct = (t: number) => `${((100 * t) / Math.max(1, total)).toFixed(1).padStart(5)}%`;
  const lines = [`busy CPU in profile: ${(total / 1e6).toFixed(1)} s (idle excluded)`, 'self time by package / source file:'];
  for (const [k, t] of [...byOwner]
    .filter(([k]) => k !== '(idle)')
    .sort((a, b) => b[1] - a[1])
    .slice(0, top))
    lines.push(`  ${pct(t)}  ${k}`);
  lines.push('self time by function:');
  for (const [k, t] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${pct(t)}  ${k}`);
  return lines.join('\n') + '\n';
}
