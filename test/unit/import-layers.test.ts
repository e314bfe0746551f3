// The import graph of operator/ is layered: a folder imports only folders below it, so there are no cycles
// between folders and no layer reaches up (ARCHITECTURE.md draws the same layers). Static and dynamic imports
// both count.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../../operator');

/** Lower numbers are lower layers; '.' is operator/ itself (protocol.ts, version.ts). */
const LAYERS: Record<string, number> = {
  '.': 0,
  util: 1,
  config: 2,
  kube: 2,
  metrics: 2,
  domain: 3,
  alerts: 3,
  windows: 4,
  runtime: 4,
  agent: 5,
  controller: 5,
  cli: 6,
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

const folderOf = (file: string) => {
  const rel = relative(ROOT, file);
  return rel.includes('/') ? rel.split('/')[0]! : '.';
};

/** Every relative import (static, re-export or dynamic) as [from file, to file]. */
function importEdges(): Array<[string, string]> {
  const edges: Array<[string, string]> = [];
  const rx = /(?:\bfrom\s*|\bimport\s*\(\s*|^import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm;
  for (const file of sources(ROOT)) {
    for (const m of readFileSync(file, 'utf8').matchAll(rx))
      edges.push([file, resolve(dirname(file), m[1]!)]);
  }
  return edges;
}

describe('operator/ import layers', () => {
  const edges = importEdges();

  it('finds the imports it checks (the scan itself works)', () => {
    expect(edges.length).toBeGreaterThan(100);
    expect(edges.some(([a, b]) => folderOf(a) === 'cli' && folderOf(b) === 'controller')).toBe(true);
  });

  it('every folder has a layer', () => {
    const folders = new Set(sources(ROOT).map(folderOf));
    expect([...folders].filter((f) => !(f in LAYERS))).toEqual([]);
  });

  it('no folder imports a folder at its own layer or above', () => {
    const bad = edges
      .filter(([a, b]) => folderOf(a) !== folderOf(b) && LAYERS[folderOf(b)]! >= LAYERS[folderOf(a)]!)
      .map(([a, b]) => `${relative(ROOT, a)} -> ${relative(ROOT, b)}`);
    expect(bad).toEqual([]);
  });

  it('imports stay inside operator/', () => {
    const out = edges.filter(([, b]) => relative(ROOT, b).startsWith('..'));
    expect(out.map(([a, b]) => `${relative(ROOT, a)} -> ${b}`)).toEqual([]);
  });
});
