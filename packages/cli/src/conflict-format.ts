/**
 * A conflict record (`GET /v1/conflicts`, DESIGN §5) as a few readable lines: when, which key,
 * which regions wrote concurrently, what the policy did, each concurrent version, and where its
 * traces are in Zipkin. Records are read tolerantly — a field this CLI does not know is left
 * out, never a crash — because the record's shape belongs to the region service.
 */

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : []);

function outcomeText(record: Record<string, unknown>): string {
  const outcome = record['outcome'];
  if (!isRecord(outcome)) return '';
  if (outcome['kind'] === 'siblings') return `kept all ${strings(outcome['kept']).length} values as siblings`;
  if (outcome['kind'] === 'lww') return `last writer wins: ${text(outcome['winner']) ?? '?'} over ${strings(outcome['dropped']).join(', ') || '?'}`;
  if (isRecord(outcome['winner']) && isRecord(outcome['loser'])) {
    const side = (s: Record<string, unknown>): string => `${text(s['policy']) ?? '?'} (by ${text(s['by']) ?? '?'})`;
    return `policy ${side(outcome['winner'])} wins over ${side(outcome['loser'])}`;
  }
  if (text(outcome['kept']) && text(outcome['dropped'])) return `kept policy ${String(outcome['kept'])}, update under ${String(outcome['dropped'])} set aside`;
  return JSON.stringify(outcome);
}

function versionLine(version: unknown): string | undefined {
  if (!isRecord(version)) return undefined;
  const who = text(version['dot']) ?? text(version['declaredBy']) ?? text(version['origin']) ?? '?';
  const what = version['deleted'] === true ? '(deleted)' : 'value' in version ? JSON.stringify(version['value']) : text(version['policy']) ? `policy ${String(version['policy'])}` : '';
  const hlc = text(version['hlc']);
  return `    ${who}  ${what}${hlc ? `  hlc ${hlc}` : ''}`;
}

/** The record as lines; `zipkin` (base URL) adds a link per trace. */
export function formatConflict(record: Readonly<Record<string, unknown>>, zipkin?: string): string {
  const ns = text(record['namespace']) ?? '?';
  const key = text(record['key']);
  const where = key === undefined ? `namespace ${ns}` : `${ns}/${key}`;
  const policy = text(record['policy']);
  const regions = strings(record['regions']);
  const head = [
    text(record['observedAt']) ?? '',
    `${where}${policy ? ` (${policy})` : ''}`,
    regions.length > 0 ? `concurrent writes in ${regions.join(', ')}` : '',
    outcomeText(record as Record<string, unknown>),
  ].filter(Boolean).join('  ');
  const lines = [head];
  const id = text(record['id']);
  lines.push(`    id ${id ?? '?'}${text(record['observedIn']) ? `, recorded in ${String(record['observedIn'])}` : ''}${record['skewFlagged'] === true ? ', within the clock-skew window' : ''}`);
  for (const v of Array.isArray(record['versions']) ? record['versions'] : []) {
    const line = versionLine(v);
    if (line) lines.push(line);
  }
  const traces = strings(record['traceIds']);
  if (zipkin && id !== undefined) lines.push(`    zipkin: ${zipkin}/zipkin/?annotationQuery=${encodeURIComponent(`meridian.conflict.id=${id}`)}`);
  if (traces.length > 0) lines.push(`    writes: ${traces.map((t) => (zipkin ? `${zipkin}/zipkin/traces/${t}` : t)).join('  ')}`);
  return lines.join('\n');
}

/** The records of `page` not in `seen`, newest first (the region's order), and marks them seen. */
export function unseenConflicts(page: readonly Readonly<Record<string, unknown>>[], seen: Set<string>): Readonly<Record<string, unknown>>[] {
  const fresh: Readonly<Record<string, unknown>>[] = [];
  for (const record of page) {
    const id = text(record['id']) ?? JSON.stringify(record);
    if (seen.has(id)) continue;
    seen.add(id);
    fresh.push(record);
  }
  return fresh;
}
