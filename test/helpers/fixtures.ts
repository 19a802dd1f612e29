/** Locations and manifests of the bundled fixtures (copied from ../shared/fixtures). */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseJsonl } from '../../src/format/compare.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FIXTURES = join(ROOT, 'fixtures');
export const RDB_FIXTURES = join(FIXTURES, 'rdb');

export interface FixtureEntry {
  rdb: string;
  manifest: string | null;
  meta: string;
  rdbVersion: number;
  writtenBy: string;
  variant: string;
  sizeBytes: number;
  totalKeys: number;
  loadError: string | null;
}

export interface FixtureMeta {
  rdbVersion: number;
  keyCountsPerDb?: Record<string, number>;
  totalKeys?: number;
  functions?: Array<{ library: string; engine: string; functions: string[]; code: string }>;
  loadError?: string;
  [k: string]: unknown;
}

export function fixtureIndex(): FixtureEntry[] {
  const idx = JSON.parse(readFileSync(join(RDB_FIXTURES, 'index.json'), 'utf8')) as { fixtures: FixtureEntry[] };
  return idx.fixtures;
}

export function fixturePath(name: string): string {
  return join(RDB_FIXTURES, name);
}

export function fixtureMeta(f: FixtureEntry): FixtureMeta {
  return JSON.parse(readFileSync(join(RDB_FIXTURES, f.meta), 'utf8')) as FixtureMeta;
}

export function fixtureManifest(f: FixtureEntry): Array<Record<string, unknown>> {
  if (f.manifest === null) return [];
  return parseJsonl(readFileSync(join(RDB_FIXTURES, f.manifest), 'utf8'));
}
