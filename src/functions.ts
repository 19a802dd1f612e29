/**
 * What a function library's source says about itself (Redis 7+ FUNCTION2 records): its engine
 * and library name from the `#!<engine> name=<library>` shebang, and the names it registers.
 *
 * Redis learns the function names by running the code; this reads them statically from the two
 * call forms Redis documents, `redis.register_function('name', fn)` and
 * `redis.register_function{function_name='name', callback=fn, ...}`, which is what
 * `FUNCTION LIST` shows for any library that registers names as literals.
 */

export interface FunctionLibrary {
  /** Library name from `name=` on the shebang line ('' when absent). */
  library: string;
  /** Engine name, upper-case as `FUNCTION LIST` reports it (`LUA`); '' when there is no shebang. */
  engine: string;
  /** Registered function names, sorted by bytes, without duplicates. */
  functions: string[];
  /** The library source. */
  code: string;
}

const REGISTER = 'redis.register_function';

/** Reads a library's shebang and registered function names from its source text. */
export function parseFunctionLibrary(code: string): FunctionLibrary {
  let library = '';
  let engine = '';
  const firstLine = code.split('\n', 1)[0]!.replace(/\r$/, '');
  if (firstLine.startsWith('#!')) {
    const parts = firstLine.slice(2).trim().split(/\s+/);
    engine = (parts[0] ?? '').toUpperCase();
    for (const p of parts.slice(1)) if (p.startsWith('name=')) library = p.slice(5);
  }
  const names = new Set<string>();
  let at = code.indexOf(REGISTER);
  while (at >= 0) {
    const next = code.indexOf(REGISTER, at + REGISTER.length);
    const seg = code.slice(at + REGISTER.length, next < 0 ? code.length : next);
    const positional = /^\s*\(\s*(['"])((?:\\.|(?!\1)[^\\])*)\1/.exec(seg);
    const named = positional === null ? /^\s*\(?\s*\{[\s\S]*?\bfunction_name\s*=\s*(['"])((?:\\.|(?!\1)[^\\])*)\1/.exec(seg) : null;
    const m = positional ?? named;
    if (m !== null) names.add(m[2]!);
    at = next;
  }
  const functions = [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return { library, engine, functions, code };
}
