/**
 * Keys as text in the line formats (`inspect --format keys`, the memory CSV): a module of its own,
 * without the pipelines' imports, for the memory scan's worker threads.
 */

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** A key as text for the tab-separated `keys` format: UTF-8 as is; `\`, control and invalid bytes escaped. */
export function keyText(key: Uint8Array): string {
  let plain = true;
  for (let i = 0; i < key.length; i++) {
    const b = key[i]!;
    if (b < 0x20 || b === 0x7f || b === 0x5c || b >= 0x80) {
      plain = false;
      break;
    }
  }
  if (plain) return String.fromCharCode(...key);
  let out = '';
  let i = 0;
  while (i < key.length) {
    const b = key[i]!;
    if (b >= 0x80) {
      // A valid UTF-8 sequence stays text; anything else becomes \xNN.
      const len = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc2 ? 2 : 0;
      if (len > 0 && i + len <= key.length) {
        try {
          out += UTF8.decode(key.subarray(i, i + len));
          i += len;
          continue;
        } catch {
          // not valid UTF-8
        }
      }
      out += `\\x${b.toString(16).padStart(2, '0')}`;
    } else if (b === 0x5c) out += '\\\\';
    else if (b === 0x0a) out += '\\n';
    else if (b === 0x0d) out += '\\r';
    else if (b === 0x09) out += '\\t';
    else if (b < 0x20 || b === 0x7f) out += `\\x${b.toString(16).padStart(2, '0')}`;
    else out += String.fromCharCode(b);
    i++;
  }
  return out;
}
