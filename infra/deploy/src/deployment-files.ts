/**
 * Readers for Meridian's deployment files, used by `deploy-files.test.ts` to check them against
 * the code: Dockerfile instructions, `.dockerignore` matching, docker-compose variable
 * interpolation, kustomize literals. Each reader covers what those formats allow in the
 * repository's files and throws on anything it does not understand, so that a check never
 * passes by misreading a file.
 */

export interface DockerInstruction {
  /** Upper-cased: FROM, RUN, COPY, ENTRYPOINT, … */
  readonly keyword: string;
  /** The rest of the instruction, continuation lines joined with single spaces. */
  readonly args: string;
  /** 1-based line of the instruction's first line. */
  readonly line: number;
}

/** Splits a Dockerfile into instructions: comments and blank lines dropped, `\` continuations joined. */
export function parseDockerfile(text: string): DockerInstruction[] {
  const out: DockerInstruction[] = [];
  let pending: { parts: string[]; line: number } | undefined;
  const lines = text.split('\n');
  for (const [index, raw] of lines.entries()) {
    const trimmed = raw.trim();
    // Docker drops comment lines even inside a continued instruction.
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const continued = trimmed.endsWith('\\');
    const part = continued ? trimmed.slice(0, -1).trim() : trimmed;
    pending ??= { parts: [], line: index + 1 };
    pending.parts.push(part);
    if (continued) continue;
    const joined = pending.parts.join(' ');
    const space = joined.search(/\s/);
    if (space <= 0) throw new Error(`Dockerfile line ${pending.line}: expected "KEYWORD arguments" (got ${JSON.stringify(joined)})`);
    out.push({ keyword: joined.slice(0, space).toUpperCase(), args: joined.slice(space).trim(), line: pending.line });
    pending = undefined;
  }
  if (pending) throw new Error(`Dockerfile line ${pending.line}: a continuation that never ends`);
  return out;
}

/** The exec (JSON array) form of CMD, ENTRYPOINT or HEALTHCHECK CMD; the shell form is refused. */
export function execForm(args: string): string[] {
  if (!args.startsWith('[')) throw new Error(`expected the exec form ["…", …] (got ${JSON.stringify(args)})`);
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((a): a is string => typeof a === 'string')) throw new Error(`expected a JSON array of strings (got ${args})`);
  return parsed;
}

/** `HEALTHCHECK [--option=value …] CMD …`: the options and the command's arguments. */
export function parseHealthcheck(args: string): { options: ReadonlyMap<string, string>; command: string[] } {
  const options = new Map<string, string>();
  let rest = args;
  for (;;) {
    const option = /^--([a-z-]+)=(\S+)\s+/.exec(rest);
    if (!option) break;
    options.set(option[1]!, option[2]!);
    rest = rest.slice(option[0].length);
  }
  if (!rest.startsWith('CMD ')) throw new Error(`expected HEALTHCHECK [options] CMD […] (got ${JSON.stringify(args)})`);
  return { options, command: execForm(rest.slice(4).trim()) };
}

/**
 * Whether `.dockerignore` leaves `path` (relative to the context, `/`-separated) out of the build
 * context. Patterns follow Docker's rules: `*` and `?` within one path segment, `**` across any
 * number of segments, a pattern that matches a directory leaves out everything below it, `!`
 * takes a path back in, and the last matching pattern decides.
 */
export function dockerignoreExcludes(dockerignore: string, path: string): boolean {
  const rules = dockerignore
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negated = l.startsWith('!');
      const pattern = (negated ? l.slice(1) : l).trim().replace(/^\/+/, '').replace(/\/+$/, '');
      return { negated, regex: globRegex(pattern) };
    });
  const segments = path.split('/');
  const candidates = segments.map((_, i) => segments.slice(0, i + 1).join('/'));
  let excluded = false;
  for (const rule of rules) {
    if (candidates.some((c) => rule.regex.test(c))) excluded = !rule.negated;
  }
  return excluded;
}

function globRegex(pattern: string): RegExp {
  if (/[[\]{}\\]/.test(pattern)) throw new Error(`.dockerignore: character classes, braces and escapes are not supported here (got ${JSON.stringify(pattern)})`);
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      // `**/` matches zero or more whole segments; a trailing `**` matches the rest.
      if (pattern[i + 2] === '/') {
        source += '(?:.*/)?';
        i += 2;
      } else {
        source += '.*';
        i += 1;
      }
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else source += c.replace(/[.+^$()|]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/**
 * docker compose's interpolation of one value: `$$` is a literal `$`; `${NAME}`, `${NAME:-default}`
 * (default when unset or empty), `${NAME-default}` (when unset), `${NAME:?message}` and
 * `${NAME?message}` (an error when unset/empty or unset), and bare `$NAME`.
 */
export function interpolate(value: string, env: Readonly<Record<string, string | undefined>>): string {
  return value.replace(/\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g, (whole: string, braced: string | undefined, colon: string | undefined, op: string | undefined, arg: string | undefined, bare: string | undefined) => {
    if (whole === '$$') return '$';
    const name = braced ?? bare ?? '';
    const raw = env[name];
    const missing = raw === undefined || (colon === ':' && raw === '');
    if (op === '-' && missing) return arg ?? '';
    if (op === '?' && missing) throw new Error(`${name}: ${arg || 'required'}`);
    return raw ?? '';
  });
}

/** kustomize `literals` (`KEY=value`, split at the first `=`) as a map; a key twice is refused. */
export function literalsMap(literals: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const literal of literals) {
    const eq = literal.indexOf('=');
    if (eq <= 0) throw new Error(`expected KEY=value (got ${JSON.stringify(literal)})`);
    const key = literal.slice(0, eq);
    if (out.has(key)) throw new Error(`${key} is set twice`);
    out.set(key, literal.slice(eq + 1));
  }
  return out;
}

/**
 * The flags of a `node [flags…] <script>` command line (an npm script): every argument that
 * starts with `--`, in order. Anything else before the script is refused.
 */
export function nodeFlags(commandLine: string): { flags: string[]; script: string } {
  const words = commandLine.trim().split(/\s+/);
  if (words[0] !== 'node') throw new Error(`expected "node [flags] <script>" (got ${JSON.stringify(commandLine)})`);
  const flags: string[] = [];
  for (const word of words.slice(1)) {
    if (word.startsWith('--')) flags.push(word);
    else return { flags, script: word };
  }
  throw new Error(`expected a script after the flags (got ${JSON.stringify(commandLine)})`);
}
