/**
 * How every benchmark prints its results: a Markdown table (docs/benchmarks.md holds them as
 * printed) and the number formats its cells use.
 */

/** A Markdown table: the header, its separator, one line per row. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** `n` with `digits` decimals; '—' when there is no figure. */
export function fixed(n: number | undefined, digits = 1): string {
  return n === undefined || Number.isNaN(n) ? '—' : n.toFixed(digits);
}

/** `n` rounded, with thousands separators (rates, counts). */
export function whole(n: number): string {
  return Math.round(n).toLocaleString('en');
}
