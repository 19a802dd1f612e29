/**
 * Compares two JSONL dumps by the rule of ../shared/docs/JSONL.md: pair lines by (db, key),
 * ignore manifest-only fields, numbers as numbers, stream metadata only where both sides have it.
 */

const IGNORED = new Set(['ttlKind', 'relativeFieldTtl', 'file']);
const BOTH_SIDES_ONLY = new Set(['entriesAdded', 'maxDeletedEntryId', 'firstEntryId', 'entriesRead']);

export interface JsonlDifference {
  db: number;
  key: unknown;
  kind: 'missing' | 'extra' | 'different';
  /** Path of the first differing field, for 'different'. */
  path?: string;
  expected?: unknown;
  actual?: unknown;
}

function lineKey(o: Record<string, unknown>): string {
  return `${String(o['db'])}\u0000${JSON.stringify(o['key'])}`;
}

/** First difference between two JSON values under the comparison rule, or undefined. */
export function diffJson(a: unknown, b: unknown, path = ''): { path: string; expected: unknown; actual: unknown } | undefined {
  if (typeof a === 'number' && typeof b === 'number') {
    return a === b || (Number.isNaN(a) && Number.isNaN(b)) ? undefined : { path, expected: a, actual: b };
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b)) return { path, expected: a, actual: b };
    if (a.length !== b.length) return { path: `${path}.length`, expected: a.length, actual: b.length };
    for (let i = 0; i < a.length; i++) {
      const d = diffJson(a[i], b[i], `${path}[${i}]`);
      if (d) return d;
    }
    return undefined;
  }
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const ao = a as Record<string, unknown>;
    const bo = b as Record<string, unknown>;
    const keys = new Set([...Object.keys(ao), ...Object.keys(bo)]);
    for (const k of keys) {
      if (IGNORED.has(k)) continue;
      if (BOTH_SIDES_ONLY.has(k) && (!(k in ao) || !(k in bo))) continue;
      if (!(k in ao) || !(k in bo)) return { path: `${path}.${k}`, expected: ao[k], actual: bo[k] };
      const d = diffJson(ao[k], bo[k], `${path}.${k}`);
      if (d) return d;
    }
    return undefined;
  }
  return a === b ? undefined : { path, expected: a, actual: b };
}

/** Parses JSONL text into objects (blank lines skipped). */
export function parseJsonl(text: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    out.push(JSON.parse(line) as Record<string, unknown>);
  }
  return out;
}

/** Every difference between `expected` and `actual` lines (empty when equal). */
export function compareJsonl(
  expected: Array<Record<string, unknown>>,
  actual: Array<Record<string, unknown>>,
): JsonlDifference[] {
  const diffs: JsonlDifference[] = [];
  const want = new Map<string, Record<string, unknown>>();
  for (const o of expected) want.set(lineKey(o), o);
  const seen = new Set<string>();
  for (const o of actual) {
    const k = lineKey(o);
    const e = want.get(k);
    if (e === undefined || seen.has(k)) {
      diffs.push({ db: o['db'] as number, key: o['key'], kind: 'extra' });
      continue;
    }
    seen.add(k);
    const d = diffJson(e, o);
    if (d) diffs.push({ db: o['db'] as number, key: o['key'], kind: 'different', ...d });
  }
  for (const [k, o] of want) if (!seen.has(k)) diffs.push({ db: o['db'] as number, key: o['key'], kind: 'missing' });
  return diffs;
}
