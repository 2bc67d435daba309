/**
 * How deep a request body may nest objects and arrays. Azure's front ends read JSON with Newtonsoft.Json, whose
 * reader refuses documents deeper than its MaxDepth of 64 ("The reader's MaxDepth of 64 has been exceeded"); the
 * same bound keeps every recursive walk over a body here (spec validation, null stripping) on a shallow stack.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * The position (0-based) at which `text` first nests deeper than `limit`, or -1 when it never does. One pass
 * over the characters, counting `{`/`[` against `}`/`]` outside strings; it does not check the JSON is valid
 * (JSON.parse does that afterwards), only that a walk over it would stay bounded.
 */
export function depthExceededAt(text: string, limit = MAX_JSON_DEPTH): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth > limit) return i;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return -1;
}
