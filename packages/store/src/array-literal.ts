/**
 * The PostgreSQL array literal node-postgres sends for an array of these values (each element
 * quoted, `\` and `"` escaped), built without its two regular-expression replacements per
 * element and with a run of equal elements (a batch's namespace) quoted once: the apply sends
 * every key of a transaction this way three or four times, the write path's group commit every
 * column of its batch.
 */
export function arrayLiteral<T>(items: readonly T[], element: (item: T) => string | number | bigint): string {
  const parts: string[] = new Array<string>(items.length);
  let previous: string | undefined;
  let quoted = '';
  for (let i = 0; i < items.length; i++) {
    const text = String(element(items[i]!));
    if (text !== previous) {
      quoted = /["\\]/.test(text) ? `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"` : `"${text}"`;
      previous = text;
    }
    parts[i] = quoted;
  }
  return `{${parts.join(',')}}`;
}
