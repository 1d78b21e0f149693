/**
 * The deployment files against the code (docs/deploy.md): the Dockerfile runs the services the
 * way the README and the packages' `start` scripts do; docker-compose and the Kubernetes
 * manifests set only settings the services know, with values their own `loadConfig` accepts, and
 * wire the regions to each other consistently (own Kafka, peers' Kafka at an advertised
 * listener, peer URLs, the GSLB's region list); probes point at /health/ready and /health/live;
 * every Kubernetes object passes its API schema; the Collector's pipelines are complete; and
 * docs/deploy.md carries each program's `--help` verbatim and the metric and span names of the
 * code. Settings are read from the services (`configReference()`), never copied here.
 *
 * `kubectl kustomize` renders the overlays when kubectl is installed; the rest needs nothing but
 * the files.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { ConfigMap, Namespace, Service } from 'kubernetes-models/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { configReference as regionReference, loadConfig as loadRegionConfig, secretSettings as regionSecretSettings } from '@meridian/region';
import { configReference as gslbReference, loadConfig as loadGslbConfig, MetricName as GslbMetricName } from '@meridian/gslb';
import { MetricName, SpanName } from '@meridian/telemetry';
import { updatesTopic } from '@meridian/protocol';
import { dockerignoreExcludes, execForm, interpolate, literalsMap, nodeFlags, parseDockerfile, parseHealthcheck } from './deployment-files.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');
const yamlOf = (path: string): any => parse(read(path), { merge: true });
const DEPLOY_DOC = read('docs/deploy.md');
const SECURITY_DOC = read('docs/security.md');

const REGION_MAIN = 'services/region/src/main.ts';
const GSLB_MAIN = 'services/gslb/src/main.ts';
const DOCKERFILE = 'infra/docker/Dockerfile';
const REGION_SETTINGS = new Set(regionReference().map((f) => f.env));
const GSLB_SETTINGS = new Set(gslbReference().map((f) => f.env));
const REQUIRED_REGION_SETTINGS = regionReference().filter((f) => f.default === '(required)').map((f) => f.env);
const defaultOf = (reference: { env: string; default: string }[], env: string): string => reference.find((f) => f.env === env)!.default;

/** Which program an image command runs, by its script path. */
type Program = 'region' | 'gslb';
const PROGRAM_OF: Record<string, Program> = { [REGION_MAIN]: 'region', [GSLB_MAIN]: 'gslb' };

/**
 * Broker settings the Kafka services may set (the image turns KAFKA_FOO_BAR into foo.bar), so
 * that a misspelt one fails here instead of being ignored by the broker with a warning. Apache
 * Kafka is not a dependency this test can ask; extend the list when a file needs another.
 */
const KAFKA_SETTINGS = new Set([
  'node.id', 'process.roles', 'controller.quorum.voters', 'controller.listener.names', 'inter.broker.listener.name',
  'listeners', 'advertised.listeners', 'listener.security.protocol.map', 'log.dirs', 'log.retention.hours',
  'offsets.topic.replication.factor', 'transaction.state.log.replication.factor', 'transaction.state.log.min.isr',
  'share.coordinator.state.topic.replication.factor', 'share.coordinator.state.topic.min.isr',
  'group.initial.rebalance.delay.ms', 'auto.create.topics.enable',
]);
/** Variables of the Kafka image that are not broker settings (read by its start scripts). */
const KAFKA_IMAGE_VARIABLES = new Set(['CLUSTER_ID', 'KAFKA_HEAP_OPTS']);
/** Variables the other third-party images document, by image name (before the tag). */
const THIRD_PARTY_VARIABLES: Record<string, ReadonlySet<string>> = {
  postgres: new Set(['POSTGRES_USER', 'POSTGRES_PASSWORD', 'POSTGRES_PASSWORD_FILE', 'POSTGRES_DB', 'PGDATA']),
  'jaegertracing/all-in-one': new Set(['COLLECTOR_OTLP_ENABLED']),
  'otel/opentelemetry-collector-contrib': new Set(),
};
const kafkaVariableKnown = (name: string): boolean =>
  KAFKA_IMAGE_VARIABLES.has(name) || (name.startsWith('KAFKA_') && KAFKA_SETTINGS.has(name.slice(6).toLowerCase().replaceAll('_', '.')));

/** A KRaft cluster id: 16 bytes in unpadded base64url (22 characters). */
const isClusterId = (id: string): boolean => /^[A-Za-z0-9_-]{22}$/.test(id) && Buffer.from(id, 'base64url').length === 16;

const hostPort = (address: string): { host: string; port: number } => {
  const colon = address.lastIndexOf(':');
  return { host: address.slice(0, colon), port: Number(address.slice(colon + 1)) };
};
/** `INTERNAL://kafka-eu:9092,HOST://localhost:19092` → listener name → host:port. */
const listenerMap = (value: string): Map<string, { host: string; port: number }> =>
  new Map(value.split(',').map((entry) => {
    const [name, address] = entry.split('://') as [string, string];
    return [name, hostPort(address)];
  }));
/** `us=a:1,b:2;ap=c:3` → region → value. */
const regionMap = (value: string): Map<string, string> =>
  new Map(value.split(';').filter(Boolean).map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));

function walk(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = `${dir}/${name}`;
    return statSync(join(ROOT, path)).isDirectory() ? walk(path) : [path];
  });
}

// ---- the Dockerfile ----------------------------------------------------------------------------

const dockerfile = parseDockerfile(read(DOCKERFILE));
const only = (keyword: string): string => {
  const found = dockerfile.filter((i) => i.keyword === keyword);
  expect(found, keyword).toHaveLength(1);
  return found[0]!.args;
};
const entrypoint = execForm(only('ENTRYPOINT'));
const defaultCommand = execForm(only('CMD'));

describe('deployment file readers', () => {
  it('parses Dockerfile instructions with continuations and comments', () => {
    const parsed = parseDockerfile('FROM a AS b\n# note\nRUN one \\\n  # inside\n  && two\n\nCMD ["x"]\n');
    expect(parsed).toEqual([
      { keyword: 'FROM', args: 'a AS b', line: 1 },
      { keyword: 'RUN', args: 'one && two', line: 3 },
      { keyword: 'CMD', args: '["x"]', line: 7 },
    ]);
    expect(() => parseDockerfile('RUN a \\\n')).toThrow(/never ends/);
    expect(() => execForm('node main.ts')).toThrow(/exec form/);
  });

  it('matches .dockerignore patterns the way Docker does', () => {
    const ignore = '# c\n**/node_modules\n.git\n/dist/\ndocs\n!docs/keep.md\n**/*.log\na/*/c\n';
    expect(dockerignoreExcludes(ignore, 'node_modules/x/index.js')).toBe(true);
    expect(dockerignoreExcludes(ignore, 'services/region/node_modules/pg')).toBe(true);
    expect(dockerignoreExcludes(ignore, '.git/HEAD')).toBe(true);
    expect(dockerignoreExcludes(ignore, 'dist/index.js')).toBe(true);
    expect(dockerignoreExcludes(ignore, 'packages/x/dist/index.js')).toBe(false);
    expect(dockerignoreExcludes(ignore, 'docs/deploy.md')).toBe(true);
    expect(dockerignoreExcludes(ignore, 'docs/keep.md')).toBe(false);
    expect(dockerignoreExcludes(ignore, 'x/y/z.log')).toBe(true);
    expect(dockerignoreExcludes(ignore, 'a/b/c/d')).toBe(true);
    expect(dockerignoreExcludes(ignore, 'a/b/b/c')).toBe(false);
    expect(dockerignoreExcludes(ignore, 'package-lock.json')).toBe(false);
  });

  it('interpolates compose variables', () => {
    const env = { SET: 'v', EMPTY: '' };
    expect(interpolate('${SET}-${UNSET}-$SET-$$SET', env)).toBe('v--v-$SET');
    expect(interpolate('${UNSET:-d} ${EMPTY:-d} ${EMPTY-d} ${SET:-d}', env)).toBe('d d  v');
    expect(() => interpolate('${UNSET:?give it}', env)).toThrow(/UNSET: give it/);
    expect(() => interpolate('${EMPTY:?x}', env)).toThrow();
    expect(interpolate('${EMPTY?x}', env)).toBe('');
  });

  it('reads kustomize literals and node command lines', () => {
    expect(literalsMap(['A=1', 'B=x=y;z=w'])).toEqual(new Map([['A', '1'], ['B', 'x=y;z=w']]));
    expect(() => literalsMap(['A=1', 'A=2'])).toThrow(/twice/);
    expect(nodeFlags('node --a=1 --b src/main.ts')).toEqual({ flags: ['--a=1', '--b'], script: 'src/main.ts' });
    expect(() => nodeFlags('tsx src/main.ts')).toThrow();
  });
});

describe('infra/docker/Dockerfile', () => {
  it('builds on the official Node 24 image', () => {
    const arg = dockerfile.find((i) => i.keyword === 'ARG' && i.args.startsWith('NODE_IMAGE='));
    const image = arg?.args.slice('NODE_IMAGE='.length);
    expect(image).toMatch(/^node:24(-|\.|$)/);
    const froms = dockerfile.filter((i) => i.keyword === 'FROM');
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const from of froms) expect(from.args.split(/\s+/)[0]).toBe('${NODE_IMAGE}');
  });

  it('installs with npm ci, as the README does, from the lockfile and every workspace manifest', () => {
    expect(read('README.md')).toContain('npm ci');
    const runs = dockerfile.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    expect(runs.some((r) => /(^|&& |\()npm ci\b/.test(r))).toBe(true);
    // The lockfile lists every platform's optional builds: `npm ci` alone, as .ci/run does.
    expect(runs.filter((x) => /\bnpm install\b/.test(x))).toEqual([]);
    const manifests = runs.find((r) => r.includes('package-lock.json'));
    expect(manifests).toContain('.npmrc');
    for (const file of ['package.json', 'package-lock.json', '.npmrc']) expect(existsSync(join(ROOT, file)), file).toBe(true);
    // The manifest stage finds workspace manifests under these folders: every workspace is in one.
    const folders = /find ([a-z ]+?) -name package\.json/.exec(manifests!)![1]!.split(' ');
    const workspaces = (JSON.parse(read('package.json')) as { workspaces: string[] }).workspaces;
    for (const w of workspaces) expect(folders, w).toContain(w.split('/')[0]);
  });

  it('runs the services from their sources with the flags of their start scripts', () => {
    expect(read('docs/decisions/0001-typescript-from-source-on-node-24.md')).toContain('node --conditions=meridian-source');
    expect(entrypoint[0]).toBe('node');
    expect(entrypoint).toContain('--conditions=meridian-source');
    // Servers that must answer within milliseconds run without V8's memory reducer (decision 0008).
    expect(entrypoint).toContain('--no-memory-reducer');
    // … and with room in the old generation between major collections (decision 0009).
    expect(entrypoint).toContain('--heap-growing-percent=100');
    const scriptFlags = new Set<string>();
    for (const [dir, main] of [['services/region', REGION_MAIN], ['services/gslb', GSLB_MAIN]] as const) {
      const manifest = JSON.parse(read(`${dir}/package.json`)) as { scripts: { start: string } };
      const { flags, script } = nodeFlags(manifest.scripts.start);
      expect(`${dir}/${script}`).toBe(main);
      for (const f of flags) scriptFlags.add(f);
    }
    expect(new Set(entrypoint.slice(1))).toEqual(scriptFlags);
    expect(defaultCommand).toEqual([REGION_MAIN]);
    for (const main of [REGION_MAIN, GSLB_MAIN]) expect(existsSync(join(ROOT, main)), main).toBe(true);
  });

  it('checks at build time that both services load, by their package names', () => {
    const smoke = dockerfile.filter((i) => i.keyword === 'RUN').map((i) => i.args).find((r) => r.includes('--help'));
    for (const dir of ['services/region', 'services/gslb']) {
      const name = (JSON.parse(read(`${dir}/package.json`)) as { name: string }).name;
      expect(smoke).toContain(`await import('${name}')`);
    }
    expect(smoke).toContain(`${REGION_MAIN} --help`);
    expect(smoke).toContain(`${GSLB_MAIN} --help`);
  });

  it('runs as an unprivileged user', () => {
    const user = only('USER').split(':')[0]!;
    expect(['root', '0']).not.toContain(user);
  });

  it('sets only settings the services know, exposes their default ports, and health-checks /health/live', () => {
    for (const env of dockerfile.filter((i) => i.keyword === 'ENV')) {
      for (const name of env.args.split(/\s+/).map((a) => a.split('=')[0]!)) {
        expect(REGION_SETTINGS.has(name) || GSLB_SETTINGS.has(name), name).toBe(true);
      }
    }
    const regionPort = defaultOf(regionReference(), 'MERIDIAN_PORT');
    const gslbPort = defaultOf(gslbReference(), 'MERIDIAN_GSLB_PORT');
    expect(only('EXPOSE').split(/\s+/).sort()).toEqual([regionPort, gslbPort].sort());
    const { command } = parseHealthcheck(only('HEALTHCHECK'));
    const script = command.join(' ');
    expect(script).toContain('/health/live');
    expect(script).toContain(`e.MERIDIAN_PORT || ${regionPort}`);
    expect(script).toContain(`e.MERIDIAN_GSLB_PORT || ${gslbPort}`);
    // It tells the GSLB by its one required setting.
    expect(gslbReference().filter((f) => f.default === '(required)').map((f) => f.env)).toEqual(['MERIDIAN_GSLB_REGIONS']);
    expect(script).toContain('e.MERIDIAN_GSLB_REGIONS');
    for (const name of script.match(/MERIDIAN_[A-Z_]+/g) ?? []) expect(REGION_SETTINGS.has(name) || GSLB_SETTINGS.has(name), name).toBe(true);
  });
});

describe('.dockerignore', () => {
  const ignore = read('.dockerignore');

  it('keeps what the image needs', () => {
    const needed = ['package.json', 'package-lock.json', '.npmrc', REGION_MAIN, GSLB_MAIN, DOCKERFILE];
    for (const dir of ['packages', 'services', 'infra']) {
      for (const name of readdirSync(join(ROOT, dir))) {
        if (existsSync(join(ROOT, dir, name, 'package.json'))) needed.push(`${dir}/${name}/package.json`);
        if (existsSync(join(ROOT, dir, name, 'src/index.ts'))) needed.push(`${dir}/${name}/src/index.ts`);
      }
    }
    for (const path of needed) expect(dockerignoreExcludes(ignore, path), path).toBe(false);
  });

  it("leaves out a developer machine's installs and builds", () => {
    for (const path of ['node_modules/pg/package.json', 'services/region/node_modules/x', 'packages/crdt/dist/index.js', '.git/HEAD', '.cache/kafka', 'services/region/tsconfig.tsbuildinfo']) {
      expect(dockerignoreExcludes(ignore, path), path).toBe(true);
    }
  });
});

// ---- docker-compose ----------------------------------------------------------------------------

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string | number | boolean>;
  ports?: string[];
  networks?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  volumes?: string[];
  profiles?: string[];
  secrets?: string[];
}
const compose = yamlOf('infra/docker-compose.yml') as { services: Record<string, ComposeService>; networks: Record<string, unknown>; secrets?: Record<string, { environment?: string; file?: string }> };
/** A setting is known when the program reads it, directly or as `<NAME>_FILE` (a mounted secret). */
const knownSetting = (known: ReadonlySet<string>, name: string): boolean => known.has(name) || (name.endsWith('_FILE') && known.has(name.slice(0, -'_FILE'.length)));
/** Reads a compose secret's file the way the service would find it: sample content per secret. */
const SAMPLE_SECRETS: Readonly<Record<string, string>> = {
  '/run/secrets/meridian_context_secret': 'a-secret-of-at-least-sixteen-characters\n',
  '/run/secrets/meridian_auth_public_keys': '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n',
  '/run/secrets/meridian_gslb_region_token': 'a.reader.token\n',
  '/run/secrets/postgres_password': 'a-postgres-password\n',
};
const samplePublicKeys = SAMPLE_SECRETS['/run/secrets/meridian_auth_public_keys']!;
const readSecret = (path: string): string => {
  const text = SAMPLE_SECRETS[path];
  if (text === undefined) throw Object.assign(new Error(`no secret at ${path}`), { code: 'ENOENT' });
  return text;
};
/**
 * Secret settings whose value is a file's path (the file is the secret): in a deploy file they
 * point into a mounted secret, never elsewhere.
 */
const SECRET_PATH_SETTINGS = ['MERIDIAN_GRPC_TLS_KEY'];
/** Settings that are secrets (the services' own list): never in a deploy file's plain environment, always through a secret. */
const SECRET_SETTINGS = [...regionSecretSettings(), 'MERIDIAN_GSLB_REGION_TOKEN'].filter((k) => !SECRET_PATH_SETTINGS.includes(k));
/** A name that says it holds a secret: its plain value may only be a path into a mounted secret. */
const SECRET_LIKE_NAME = /(PASSWORD|SECRET|TOKEN|_KEY|CREDENTIALS)$/;
/** A database URL with a password in it (`postgres://user:password@host`). */
const URL_WITH_PASSWORD = /postgres(?:ql)?:\/\/[^/@\s:]*:[^/@\s]+@/i;
const services = Object.entries(compose.services);
const environment = (service: ComposeService, env: Record<string, string> = {}): Record<string, string> =>
  Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), env)]));
const meridianServices = services.filter(([, s]) => s.build !== undefined);
const programOf = (s: ComposeService): Program => PROGRAM_OF[(s.command ?? defaultCommand)[0]!]!;
const regionServices = meridianServices.filter(([, s]) => programOf(s) === 'region');
const gslbServices = meridianServices.filter(([, s]) => programOf(s) === 'gslb');
const imageName = (s: ComposeService): string => s.image!.split(':')[0]!;
const shareNetwork = (a: ComposeService, b: ComposeService): boolean => (a.networks ?? []).some((n) => (b.networks ?? []).includes(n));

describe('infra/docker-compose.yml', () => {
  it('builds the Meridian services from the Dockerfile, at the repository root', () => {
    expect(meridianServices.length).toBeGreaterThan(0);
    for (const [name, s] of meridianServices) {
      expect(resolve(ROOT, 'infra', s.build!.context), name).toBe(ROOT);
      expect(s.build!.dockerfile, name).toBe(DOCKERFILE);
      for (const arg of s.command ?? []) if (arg.endsWith('.ts')) expect(existsSync(join(ROOT, arg)), arg).toBe(true);
      expect(programOf(s), name).toBeDefined();
    }
  });

  it('runs three regions, each with its own PostgreSQL and KRaft Kafka', () => {
    const ids = regionServices.map(([, s]) => environment(s)['MERIDIAN_REGION']);
    expect(ids.sort()).toEqual(['ap', 'eu', 'us']);
    const postgres = services.filter(([, s]) => s.image?.startsWith('postgres:'));
    const kafka = services.filter(([, s]) => s.image?.startsWith('apache/kafka:'));
    expect(postgres).toHaveLength(3);
    expect(kafka).toHaveLength(3);
    const clusterIds = kafka.map(([, s]) => environment(s)['CLUSTER_ID']!);
    for (const id of clusterIds) expect(isClusterId(id), id).toBe(true);
    expect(new Set(clusterIds).size).toBe(3);
    for (const [name, s] of kafka) {
      const env = environment(s);
      expect(env['KAFKA_PROCESS_ROLES'], name).toBe('broker,controller');
      // One node: every internal topic (consumer offsets, the transaction log) needs one replica to be writable.
      expect(env['KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR'], name).toBe('1');
      expect(env['KAFKA_TRANSACTION_STATE_LOG_MIN_ISR'], name).toBe('1');
      expect(env['KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR'], name).toBe('1');
      expect(env['KAFKA_AUTO_CREATE_TOPICS_ENABLE'], name).toBe('false');
    }
  });

  it('gives every region service every required setting, with values its loadConfig accepts', () => {
    expect(REQUIRED_REGION_SETTINGS).toEqual(expect.arrayContaining(['MERIDIAN_REGION', 'DATABASE_URL', 'MERIDIAN_CONTEXT_SECRET']));
    for (const [name, s] of regionServices) {
      const env = environment(s);
      for (const required of REQUIRED_REGION_SETTINGS) expect(env[required] ?? env[`${required}_FILE`], `${name} ${required}`).toBeTruthy();
      expect(() => loadRegionConfig(env, readSecret), name).not.toThrow();
      const config = loadRegionConfig(env, readSecret);
      // Secure by default: every region verifies bearer tokens.
      expect(config.auth, name).toBe('on');
      expect(config.host, name).toBe('0.0.0.0');
      expect(config.tracesExporter, name).toBe('otlp');
      expect(config.kafkaBrokers, name).toBeDefined();
      // Its Kafka is one node: a topic with more replicas could not be created.
      expect(config.topicReplicationFactor, name).toBe(1);
    }
  });

  it('sets only variables the programs and images know (no typos)', () => {
    for (const [name, s] of services) {
      const names = Object.keys(s.environment ?? {});
      if (s.build) {
        const known = programOf(s) === 'region' ? REGION_SETTINGS : GSLB_SETTINGS;
        for (const n of names) expect(knownSetting(known, n), `${name}: ${n}`).toBe(true);
      } else if (imageName(s) === 'apache/kafka') {
        for (const n of names) expect(kafkaVariableKnown(n), `${name}: ${n}`).toBe(true);
      } else {
        const known = THIRD_PARTY_VARIABLES[imageName(s)];
        expect(known, `${name}: an image this test knows`).toBeDefined();
        for (const n of names) expect(known!.has(n), `${name}: ${n}`).toBe(true);
      }
    }
  });

  it('hands every secret to the services as a Compose secret (a file), never as a plain variable', () => {
    const declared = compose.secrets ?? {};
    for (const [name, s] of meridianServices) {
      const env = environment(s);
      for (const secret of SECRET_SETTINGS.filter((k) => k !== 'DATABASE_URL')) expect(env[secret], `${name}: ${secret}`).toBeUndefined();
      for (const [key, value] of Object.entries(env).filter(([k]) => k.endsWith('_FILE'))) {
        const secret = /^\/run\/secrets\/([a-z_]+)$/.exec(value)?.[1];
        expect(secret, `${name}: ${key}`).toBeDefined();
        expect(s.secrets, `${name} lists ${secret}`).toContain(secret);
        expect(declared[secret!], `${secret} declared`).toBeDefined();
      }
    }
    // The regions share one context secret and one set of token keys; the values come from the
    // environment or a file of the operator, never from the compose file.
    const files = regionServices.map(([, s]) => environment(s)['MERIDIAN_CONTEXT_SECRET_FILE']);
    expect(new Set(files).size).toBe(1);
    expect(declared['meridian_context_secret']).toEqual({ environment: 'MERIDIAN_CONTEXT_SECRET' });
    expect(declared['meridian_auth_public_keys']?.file).toBeDefined();
    for (const [name, s] of gslbServices) expect(environment(s)['MERIDIAN_GSLB_REGION_TOKEN_FILE'], name).toBe('/run/secrets/meridian_gslb_region_token');
    // No service's plain environment holds a password: not PostgreSQL's, not one inside a URL
    // (DATABASE_URL names the user; the password comes from the secret postgres_password).
    for (const [name, s] of services) {
      const env = environment(s, { POSTGRES_PASSWORD: 'sample-password' });
      expect(env['POSTGRES_PASSWORD'], `${name}: POSTGRES_PASSWORD`).toBeUndefined();
      for (const [key, value] of Object.entries(env)) expect(URL_WITH_PASSWORD.test(value), `${name}: ${key}`).toBe(false);
      const file = env['POSTGRES_PASSWORD_FILE'];
      if (file !== undefined) {
        expect(file, name).toBe('/run/secrets/postgres_password');
        expect(s.secrets, name).toContain('postgres_password');
      }
    }
    expect(declared['postgres_password']).toEqual({ environment: 'POSTGRES_PASSWORD' });
  });

  it('wires each region to its own PostgreSQL, which only its region reaches', () => {
    for (const [name, s] of regionServices) {
      const env = environment(s);
      const url = new URL(env['DATABASE_URL']!);
      const pg = compose.services[url.hostname];
      expect(pg?.image, `${name}: ${url.hostname}`).toMatch(/^postgres:/);
      const pgEnv = environment(pg!);
      expect(decodeURIComponent(url.username)).toBe(pgEnv['POSTGRES_USER']);
      // The password the region connects with is the one the server was initialised with: the same secret.
      expect(env['MERIDIAN_DATABASE_PASSWORD_FILE'], name).toBe(pgEnv['POSTGRES_PASSWORD_FILE']);
      expect(decodeURIComponent(new URL(loadRegionConfig(env, readSecret).databaseUrl).password), name).toBe(readSecret(pgEnv['POSTGRES_PASSWORD_FILE']!).trim());
      expect(url.pathname).toBe(`/${pgEnv['POSTGRES_DB']}`);
      expect(url.port).toBe('5432');
      expect(pg!.networks, url.hostname).toEqual([env['MERIDIAN_REGION']]);
      expect(compose.networks[env['MERIDIAN_REGION']!]).toEqual({ internal: true });
      expect(s.networks, name).toContain(env['MERIDIAN_REGION']);
      expect(s.depends_on?.[url.hostname]?.condition, name).toBe('service_healthy');
      expect(pg!.healthcheck?.test.join(' ')).toContain('pg_isready');
    }
    const databases = regionServices.map(([, s]) => new URL(environment(s)['DATABASE_URL']!).hostname);
    expect(new Set(databases).size).toBe(regionServices.length);
  });

  it("points each region at its own Kafka and every peer's, at listeners those brokers advertise", () => {
    const ownBrokers = new Map<string, string>();
    for (const [, s] of regionServices) ownBrokers.set(environment(s)['MERIDIAN_REGION']!, environment(s)['MERIDIAN_KAFKA_BROKERS']!);
    for (const [name, s] of regionServices) {
      const env = environment(s);
      const region = env['MERIDIAN_REGION']!;
      const peers = regionMap(env['MERIDIAN_PEERS']!);
      expect([...peers.keys()].sort(), name).toEqual([...ownBrokers.keys()].filter((r) => r !== region).sort());
      for (const [peer, brokers] of peers) expect(brokers, `${name} → ${peer}`).toBe(ownBrokers.get(peer));
      for (const address of [env['MERIDIAN_KAFKA_BROKERS']!, ...peers.values()].flatMap((b) => b.split(','))) {
        const { host, port } = hostPort(address);
        const kafka = compose.services[host];
        expect(kafka?.image, `${name}: ${host}`).toMatch(/^apache\/kafka:/);
        const kafkaEnv = environment(kafka!);
        const advertised = [...listenerMap(kafkaEnv['KAFKA_ADVERTISED_LISTENERS']!)].find(([, a]) => a.host === host && a.port === port);
        expect(advertised, `${host}:${port} advertised`).toBeDefined();
        expect(listenerMap(kafkaEnv['KAFKA_LISTENERS']!).get(advertised![0])?.port, `${host} listens`).toBe(port);
        expect(shareNetwork(s, kafka!), `${name} reaches ${host}`).toBe(true);
        expect(kafka!.healthcheck?.test.join(' ')).toContain(`localhost:${port}`);
      }
      expect(s.depends_on?.[hostPort(env['MERIDIAN_KAFKA_BROKERS']!).host]?.condition, name).toBe('service_healthy');
    }
  });

  it('publishes each region on its MERIDIAN_PORT and names it so in the peers and the GSLB', () => {
    const urls = new Map<string, string>();
    for (const [name, s] of regionServices) {
      const env = environment(s);
      expect(s.ports, name).toContain(`${env['MERIDIAN_PORT']}:${env['MERIDIAN_PORT']}`);
      urls.set(env['MERIDIAN_REGION']!, `http://${name}:${env['MERIDIAN_PORT']}`);
    }
    for (const [name, s] of regionServices) {
      const env = environment(s);
      const peerUrls = regionMap(env['MERIDIAN_PEER_URLS']!);
      expect(Object.fromEntries(peerUrls), name).toEqual(Object.fromEntries([...urls].filter(([r]) => r !== env['MERIDIAN_REGION'])));
    }
    expect(gslbServices).toHaveLength(1);
    const [gslbName, gslb] = gslbServices[0]!;
    const config = loadGslbConfig(environment(gslb), readSecret);
    expect(Object.fromEntries(config.regions.map((r) => [r.id, r.url]))).toEqual(Object.fromEntries(urls));
    expect(gslb.ports).toEqual([`${config.port}:${config.port}`]);
    expect(config.host).toBe('0.0.0.0');
    for (const [name, s] of regionServices) expect(shareNetwork(gslb, s), `${gslbName} probes ${name}`).toBe(true);
  });

  it('runs anti-entropy gRPC between every pair of regions: a published port, peers that are those regions', () => {
    const grpcOf = new Map<string, { service: string; port: number }>();
    for (const [name, s] of regionServices) {
      const config = loadRegionConfig(environment(s), readSecret);
      expect(config.grpcPort, `${name}: MERIDIAN_GRPC_PORT`).toBeDefined();
      expect(s.ports, name).toContain(`${config.grpcPort}:${config.grpcPort}`);
      expect(config.antiEntropyIntervalMs, name).toBeGreaterThan(0);
      grpcOf.set(config.region, { service: name, port: config.grpcPort! });
    }
    for (const [name, s] of regionServices) {
      const config = loadRegionConfig(environment(s), readSecret);
      expect([...config.peerGrpc.keys()].sort(), name).toEqual([...grpcOf.keys()].filter((r) => r !== config.region).sort());
      for (const [peer, address] of config.peerGrpc) {
        const { host, port } = hostPort(address);
        // The address is a service of this file: the peer region's own, at its gRPC port.
        expect({ host, port }, `${name} → ${peer}`).toEqual({ host: grpcOf.get(peer)!.service, port: grpcOf.get(peer)!.port });
        expect(shareNetwork(s, compose.services[host]!), `${name} reaches ${host}`).toBe(true);
      }
    }
  });

  it('runs anti-entropy with mutual TLS from the operator\'s files: one CA, a certificate and key per region', () => {
    const declared = compose.secrets ?? {};
    const secretFile = (name: string, s: ComposeService, path: string | undefined): string => {
      const secret = /^\/run\/secrets\/([a-z_]+)$/.exec(path ?? '')?.[1];
      expect(secret, `${name}: ${String(path)} is a Compose secret`).toBeDefined();
      expect(s.secrets, `${name} lists ${secret}`).toContain(secret);
      // A file the operator provides (docs/deploy.md), never a value in this file or its environment.
      const file = declared[secret!]?.file;
      expect(file, `${secret}: a file`).toBeDefined();
      return interpolate(file!, {});
    };
    const ca = new Set<string>();
    const perRegion = new Set<string>();
    for (const [name, s] of regionServices) {
      const env = environment(s);
      const config = loadRegionConfig(env, readSecret);
      expect(config.grpcTls, name).toBe('on');
      ca.add(secretFile(name, s, config.grpcTlsCa));
      const cert = secretFile(name, s, config.grpcTlsCert);
      const key = secretFile(name, s, config.grpcTlsKey);
      // The launcher's names (ensureGrpcCertificate): the region's own, so its SAN names it.
      expect(cert, name).toMatch(new RegExp(`/grpc-region-${config.region}\\.pem$`));
      expect(key, name).toMatch(new RegExp(`/grpc-region-${config.region}-key\\.pem$`));
      perRegion.add(cert).add(key);
    }
    expect(ca.size).toBe(1);
    expect(perRegion.size).toBe(2 * regionServices.length);
    expect(DEPLOY_DOC).toContain('meridian:region:');
    expect(DEPLOY_DOC).toMatch(/openssl req -x509 -new[^\n]*-keyout ca-key\.pem -out ca\.pem/);
  });

  it('holds no secret as a plain value: secret settings come from files under /run/secrets', () => {
    expect(SECRET_SETTINGS).toEqual(expect.arrayContaining(['MERIDIAN_KAFKA_SASL_PASSWORD', 'MERIDIAN_CONTEXT_SECRET', 'MERIDIAN_DATABASE_PASSWORD']));
    expect(regionSecretSettings()).toEqual(expect.arrayContaining(SECRET_PATH_SETTINGS));
    for (const [name, s] of services) {
      for (const [key, value] of Object.entries(environment(s))) {
        if (SECRET_SETTINGS.includes(key) && key !== 'DATABASE_URL') expect.fail(`${name}: ${key} as a plain value (use ${key}_FILE)`);
        if (SECRET_PATH_SETTINGS.includes(key) || SECRET_LIKE_NAME.test(key)) expect(value, `${name}: ${key}`).toMatch(/^\/run\/secrets\/[a-z_]+$/);
      }
    }
  });

  it('connects plaintext to Kafka only when it is a bundled broker of this file with plaintext listeners', () => {
    for (const [name, s] of regionServices) {
      const config = loadRegionConfig(environment(s), readSecret);
      if (config.kafkaSecurity === 'sasl_ssl') continue;
      for (const address of [...config.kafkaBrokers!, ...[...config.peers.values()].flat()]) {
        const { host, port } = hostPort(address);
        const env = environment(compose.services[host]!);
        const listener = [...listenerMap(env['KAFKA_ADVERTISED_LISTENERS']!)].find(([, a]) => a.host === host && a.port === port)![0];
        expect(env['KAFKA_LISTENER_SECURITY_PROTOCOL_MAP']!.split(','), `${name} → ${host}`).toContain(`${listener}:PLAINTEXT`);
      }
    }
    expect(SECURITY_DOC).toContain('bundled');
  });

  it('sends every region\'s traces to Jaeger over OTLP/HTTP', () => {
    for (const [name, s] of regionServices) {
      const url = new URL(environment(s)['MERIDIAN_TRACES_ENDPOINT']!);
      const backend = compose.services[url.hostname];
      expect(backend?.image, name).toMatch(/^jaegertracing\/all-in-one:/);
      expect(url.port).toBe('4318');
      expect(url.pathname).toBe('/v1/traces');
      expect(shareNetwork(s, backend!), name).toBe(true);
    }
  });
});

// ---- Kubernetes --------------------------------------------------------------------------------

interface Kustomization {
  resources?: string[];
  patches?: { patch: string }[];
  configMapGenerator?: { name: string; behavior?: string; literals: string[] }[];
  namespace?: string;
}
const K8S = 'infra/k8s';
const k8sFiles = walk(K8S).filter((f) => f.endsWith('.yaml'));
const MODELS: Record<string, { validate(data: unknown): void }> = {
  'apps/v1/Deployment': { validate: (d) => new Deployment(d as never).validate() },
  'apps/v1/StatefulSet': { validate: (d) => new StatefulSet(d as never).validate() },
  'v1/Service': { validate: (d) => new Service(d as never).validate() },
  'v1/ConfigMap': { validate: (d) => new ConfigMap(d as never).validate() },
  'v1/Namespace': { validate: (d) => new Namespace(d as never).validate() },
  'policy/v1/PodDisruptionBudget': { validate: (d) => new PodDisruptionBudget(d as never).validate() },
  'networking.k8s.io/v1/NetworkPolicy': { validate: (d) => new NetworkPolicy(d as never).validate() },
};
const documents = (text: string): any[] =>
  parseAllDocuments(text).map((d) => {
    if (d.errors.length > 0) throw new Error(d.errors.map((e) => e.message).join('; '));
    return d.toJS() as unknown;
  });
const objects = k8sFiles.filter((f) => !f.endsWith('kustomization.yaml')).flatMap((file) => documents(read(file)).map((object) => ({ file, object })));
const kindOf = (o: any): string => `${o.apiVersion}/${o.kind}`;
const find = (kind: string, name: string): any => {
  const found = objects.filter(({ object }) => kindOf(object) === kind && object.metadata.name === name);
  expect(found, `${kind} ${name}`).toHaveLength(1);
  return found[0]!.object;
};
const kustomization = (dir: string): Kustomization => yamlOf(`${dir}/kustomization.yaml`) as Kustomization;
const generated = (dir: string, name: string): Map<string, string> => literalsMap(kustomization(dir).configMapGenerator!.find((g) => g.name === name)!.literals);
const regionOverlays = readdirSync(join(ROOT, K8S, 'overlays')).filter((o) => o !== 'gslb').sort();
/** An overlay's generated ConfigMap: the base's literals, then the overlay's merged over them. */
const merged = (overlay: string, base: string, name: string): Map<string, string> => {
  const own = kustomization(`${K8S}/overlays/${overlay}`).configMapGenerator!.find((g) => g.name === name)!;
  expect(own.behavior).toBe('merge');
  return new Map([...generated(`${K8S}/base/${base}`, name), ...literalsMap(own.literals)]);
};
const podSpec = (workload: any): any => workload.spec.template.spec;

describe('infra/k8s', () => {
  it('parses, and every object passes its Kubernetes API schema', () => {
    expect(objects.length).toBeGreaterThan(0);
    for (const { file, object } of objects) {
      const model = MODELS[kindOf(object)];
      expect(model, `${file}: ${kindOf(object)} (add its model to MODELS)`).toBeDefined();
      expect(() => model!.validate(object), `${file} ${object.metadata?.name}`).not.toThrow();
    }
  });

  it('lists only resources that exist in its kustomizations', () => {
    for (const file of k8sFiles.filter((f) => f.endsWith('kustomization.yaml'))) {
      for (const resource of (yamlOf(file) as Kustomization).resources ?? []) {
        const path = join(ROOT, dirname(file), resource);
        expect(existsSync(path) && (statSync(path).isFile() || existsSync(join(path, 'kustomization.yaml'))), `${file}: ${resource}`).toBe(true);
      }
    }
  });

  for (const [program, deploymentName, main, settings, portSetting] of [
    ['region', 'meridian-region', REGION_MAIN, REGION_SETTINGS, 'MERIDIAN_PORT'],
    ['gslb', 'meridian-gslb', GSLB_MAIN, GSLB_SETTINGS, 'MERIDIAN_GSLB_PORT'],
  ] as const) {
    it(`runs the ${program} with readiness on /health/ready and liveness on /health/live, on its configured port`, () => {
      const deployment = find('apps/v1/Deployment', deploymentName);
      const [container] = podSpec(deployment).containers;
      expect(container.args).toEqual([main]);
      const port = container.ports.find((p: any) => p.name === 'http');
      expect(String(port.containerPort)).toBe(generated(`${K8S}/base/${program}`, deploymentName).get(portSetting));
      expect(container.readinessProbe.httpGet).toEqual({ path: '/health/ready', port: 'http' });
      expect(container.livenessProbe.httpGet).toEqual({ path: '/health/live', port: 'http' });
      if (container.startupProbe) expect(container.startupProbe.httpGet).toEqual({ path: '/health/live', port: 'http' });
      expect(container.envFrom[0].configMapRef.name).toBe(deploymentName);
      for (const key of generated(`${K8S}/base/${program}`, deploymentName).keys()) expect(knownSetting(settings, key), key).toBe(true);
      expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
    });

    it(`keeps at least one ${program} replica through disruptions, and its Service selects its pods`, () => {
      const deployment = find('apps/v1/Deployment', deploymentName);
      const labels = deployment.spec.template.metadata.labels as Record<string, string>;
      const pdb = find('policy/v1/PodDisruptionBudget', deploymentName);
      expect(pdb.spec.minAvailable).toBe(1);
      expect(labels).toEqual(expect.objectContaining(pdb.spec.selector.matchLabels));
      const service = find('v1/Service', deploymentName);
      expect(labels).toEqual(expect.objectContaining(service.spec.selector));
      const portNames = podSpec(deployment).containers.flatMap((c: any) => c.ports.map((p: any) => p.name));
      for (const p of service.spec.ports) expect(portNames).toContain(p.targetPort);
    });
  }

  it('gives every container resource requests and a memory limit, and no Service-link variables', () => {
    const workloads = objects.filter(({ object }) => ['apps/v1/Deployment', 'apps/v1/StatefulSet'].includes(kindOf(object)));
    expect(workloads.length).toBe(4);
    for (const { file, object } of workloads) {
      expect(podSpec(object).enableServiceLinks, file).toBe(false);
      for (const c of podSpec(object).containers) {
        expect(c.resources.requests.cpu, `${file} ${c.name}`).toBeDefined();
        expect(c.resources.requests.memory, `${file} ${c.name}`).toBeDefined();
        expect(c.resources.limits.memory, `${file} ${c.name}`).toBeDefined();
      }
    }
  });

  it('reads the region secrets from Secrets that docs/deploy.md tells how to create', () => {
    const [region] = podSpec(find('apps/v1/Deployment', 'meridian-region')).containers;
    const secretName = region.envFrom.find((e: any) => e.secretRef).secretRef.name;
    const secretSettings = ['DATABASE_URL', 'MERIDIAN_CONTEXT_SECRET'];
    expect(regionReference().filter((f) => secretSettings.includes(f.env))).toHaveLength(2);
    expect(DEPLOY_DOC).toContain(`create secret generic ${secretName}`);
    for (const key of secretSettings) expect(DEPLOY_DOC).toContain(`--from-literal=${key}=`);
    const [postgres] = podSpec(find('apps/v1/StatefulSet', 'meridian-postgres')).containers;
    const ref = postgres.env.find((e: any) => e.name === 'POSTGRES_PASSWORD').valueFrom.secretKeyRef;
    expect(DEPLOY_DOC).toContain(`create secret generic ${ref.name}`);
    expect(DEPLOY_DOC).toContain(`--from-literal=${ref.key}=`);
    const url = new URL(/DATABASE_URL="([^"]+)"/.exec(DEPLOY_DOC)![1]!.replace('$PG_PASSWORD', 'x'));
    const pgEnv = Object.fromEntries(postgres.env.filter((e: any) => 'value' in e).map((e: any) => [e.name, e.value]));
    expect(url.hostname).toBe(find('v1/Service', 'meridian-postgres').metadata.name);
    expect(url.username).toBe(pgEnv['POSTGRES_USER']);
    expect(url.pathname).toBe(`/${pgEnv['POSTGRES_DB']}`);
  });

  it('verifies bearer tokens with keys from the Secret meridian-auth, mounted where the setting points', () => {
    const spec = podSpec(find('apps/v1/Deployment', 'meridian-region'));
    const [region] = spec.containers;
    const file = generated(`${K8S}/base/region`, 'meridian-region').get('MERIDIAN_AUTH_PUBLIC_KEYS_FILE')!;
    const mount = region.volumeMounts.find((m: any) => file.startsWith(`${m.mountPath}/`));
    expect(mount, file).toBeDefined();
    expect(mount.readOnly).toBe(true);
    const volume = spec.volumes.find((v: any) => v.name === mount.name);
    expect(DEPLOY_DOC).toContain(`create secret generic ${volume.secret.secretName as string}`);
    expect(DEPLOY_DOC).toContain(`--from-file=${file.slice(mount.mountPath.length + 1)}=`);
    // No secret ever sits in a ConfigMap: every generated literal is a non-secret setting.
    for (const dir of [`${K8S}/base/region`, `${K8S}/base/gslb`]) {
      for (const key of generated(dir, dir.endsWith('region') ? 'meridian-region' : 'meridian-gslb').keys()) expect(SECRET_SETTINGS, `${dir}: ${key}`).not.toContain(key);
    }
    const [gslb] = podSpec(find('apps/v1/Deployment', 'meridian-gslb')).containers;
    const gslbSecret = gslb.envFrom.find((e: any) => e.secretRef)?.secretRef;
    expect(gslbSecret?.name).toBe('meridian-gslb');
    expect(DEPLOY_DOC).toContain(`create secret generic ${gslbSecret.name as string}`);
    expect(DEPLOY_DOC).toContain('--from-literal=MERIDIAN_GSLB_REGION_TOKEN=');
  });

  it('serves anti-entropy gRPC on a named port, published for the peers by meridian-region-grpc', () => {
    const [region] = podSpec(find('apps/v1/Deployment', 'meridian-region')).containers;
    const port = String(generated(`${K8S}/base/region`, 'meridian-region').get('MERIDIAN_GRPC_PORT'));
    expect(String(region.ports.find((p: any) => p.name === 'grpc')?.containerPort)).toBe(port);
    const service = find('v1/Service', 'meridian-region-grpc');
    expect(service.spec.type).toBe('LoadBalancer');
    expect(service.spec.ports.map((p: any) => p.targetPort)).toEqual(['grpc']);
    expect(service.spec.selector).toEqual(find('v1/Service', 'meridian-region').spec.selector);
  });

  it('mounts the gRPC CA, certificate and key from the Secret meridian-grpc that docs/deploy.md tells how to create', () => {
    const spec = podSpec(find('apps/v1/Deployment', 'meridian-region'));
    const [region] = spec.containers;
    const settings = generated(`${K8S}/base/region`, 'meridian-region');
    expect(settings.get('MERIDIAN_GRPC_TLS')).toBe('on');
    const secrets = new Set<string>();
    for (const key of ['MERIDIAN_GRPC_TLS_CA', 'MERIDIAN_GRPC_TLS_CERT', 'MERIDIAN_GRPC_TLS_KEY']) {
      const file = settings.get(key);
      expect(file, key).toBeDefined();
      const mount = region.volumeMounts.find((m: any) => file!.startsWith(`${m.mountPath}/`));
      expect(mount, `${key}: ${file} is mounted`).toBeDefined();
      expect(mount.readOnly, key).toBe(true);
      const volume = spec.volumes.find((v: any) => v.name === mount.name);
      expect(volume.secret?.secretName, `${key}: from a Secret`).toBeDefined();
      secrets.add(volume.secret.secretName as string);
      expect(DEPLOY_DOC, key).toContain(`--from-file=${file!.slice(mount.mountPath.length + 1)}=`);
    }
    expect([...secrets]).toEqual(['meridian-grpc']);
    expect(DEPLOY_DOC).toContain('create secret generic meridian-grpc');
    // Secret files belong to root: the non-root user reads the key through fsGroup, and only it.
    const volume = spec.volumes.find((v: any) => v.secret?.secretName === 'meridian-grpc');
    expect(spec.securityContext.fsGroup).toBe(spec.securityContext.runAsGroup);
    expect(volume.secret.defaultMode & 0o007).toBe(0);
  });

  it('holds no secret in a manifest: no secret setting in a ConfigMap, no Secret object, no key or password in plain env', () => {
    for (const { file, object } of objects) expect(object.kind, file).not.toBe('Secret');
    for (const file of k8sFiles) expect(read(file), file).not.toContain('-----BEGIN');
    const dirs = [`${K8S}/base/region`, `${K8S}/base/gslb`, ...regionOverlays.map((o) => `${K8S}/overlays/${o}`), `${K8S}/overlays/gslb`];
    for (const dir of dirs) {
      for (const generator of kustomization(dir).configMapGenerator ?? []) {
        for (const [key, value] of literalsMap(generator.literals)) {
          expect(SECRET_SETTINGS, `${dir}: ${key}`).not.toContain(key);
          if (SECRET_PATH_SETTINGS.includes(key) || SECRET_LIKE_NAME.test(key)) expect(value, `${dir}: ${key}`).toMatch(/^\/etc\/meridian\//);
        }
      }
    }
    for (const { file, object } of objects.filter(({ object }) => object.spec?.template)) {
      for (const c of podSpec(object).containers) {
        for (const e of c.env ?? []) if (SECRET_SETTINGS.includes(e.name) || SECRET_LIKE_NAME.test(e.name)) expect(e.value, `${file}: ${e.name}`).toBeUndefined();
      }
    }
  });

  it('runs Kafka as one KRaft node with settings the image knows and an external listener for the peers', () => {
    const [kafka] = podSpec(find('apps/v1/StatefulSet', 'meridian-kafka')).containers;
    const env = new Map<string, any>(kafka.env.map((e: any) => [e.name, e]));
    for (const name of env.keys()) {
      if (['POD_NAME', 'POD_NAMESPACE', 'EXTERNAL_HOST'].includes(name)) continue;
      expect(kafkaVariableKnown(name), name).toBe(true);
    }
    expect(env.get('KAFKA_PROCESS_ROLES').value).toBe('broker,controller');
    expect(env.get('KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR').value).toBe('1');
    const listeners = listenerMap(env.get('KAFKA_LISTENERS').value);
    const external = find('v1/Service', 'meridian-kafka-external').spec.ports[0];
    expect(listeners.get('EXTERNAL')?.port).toBe(external.port);
    expect(env.get('KAFKA_ADVERTISED_LISTENERS').value).toContain(`EXTERNAL://$(EXTERNAL_HOST):${external.port}`);
    const bootstrap = hostPort(generated(`${K8S}/base/region`, 'meridian-region').get('MERIDIAN_KAFKA_BROKERS')!);
    const service = find('v1/Service', bootstrap.host);
    expect(service.spec.ports.map((p: any) => p.port)).toContain(bootstrap.port);
    expect(listeners.get('INTERNAL')?.port).toBe(bootstrap.port);
  });

  it('configures each region overlay with settings its loadConfig accepts, peers that are the other overlays', () => {
    expect(regionOverlays).toEqual(['ap', 'eu', 'us']);
    const externalHost = new Map(regionOverlays.map((o) => [o, merged(o, 'kafka', 'meridian-kafka').get('EXTERNAL_HOST')!]));
    const externalPort = find('v1/Service', 'meridian-kafka-external').spec.ports[0].port as number;
    const gslbRegions = loadGslbConfig(Object.fromEntries(merged('gslb', 'gslb', 'meridian-gslb'))).regions;
    const grpcPort = find('v1/Service', 'meridian-region-grpc').spec.ports[0].port as number;
    /** The DNS name an overlay gives its meridian-region-grpc load balancer. */
    const grpcHost = (overlay: string): string | undefined => (kustomization(`${K8S}/overlays/${overlay}`).patches ?? [])
      .map((p) => parse(p.patch))
      .find((o) => o.kind === 'Service' && o.metadata.name === 'meridian-region-grpc')?.metadata.annotations?.['external-dns.alpha.kubernetes.io/hostname'];
    for (const overlay of regionOverlays) expect(grpcHost(overlay), overlay).toBeDefined();
    const clusterIds = regionOverlays.map((o) => merged(o, 'kafka', 'meridian-kafka').get('CLUSTER_ID')!);
    for (const id of clusterIds) expect(isClusterId(id), id).toBe(true);
    expect(new Set(clusterIds).size).toBe(regionOverlays.length);
    for (const overlay of regionOverlays) {
      const settings = merged(overlay, 'region', 'meridian-region');
      for (const key of settings.keys()) expect(knownSetting(REGION_SETTINGS, key), `${overlay}: ${key}`).toBe(true);
      const config = loadRegionConfig({ ...Object.fromEntries(settings), DATABASE_URL: 'postgres://meridian:x@meridian-postgres:5432/meridian', MERIDIAN_CONTEXT_SECRET: 'a-secret-of-at-least-sixteen' }, () => samplePublicKeys);
      expect(config.auth, overlay).toBe('on');
      expect(config.region).toBe(overlay);
      expect(kustomization(`${K8S}/overlays/${overlay}`).namespace).toBe(`meridian-${overlay}`);
      const others = regionOverlays.filter((o) => o !== overlay);
      expect([...config.peers.keys()].sort()).toEqual(others);
      for (const [peer, brokers] of config.peers) expect(brokers, `${overlay} → ${peer}`).toEqual([`${externalHost.get(peer)}:${externalPort}`]);
      expect(Object.fromEntries(config.peerUrls)).toEqual(Object.fromEntries(gslbRegions.filter((r) => r.id !== overlay).map((r) => [r.id, r.url])));
      // Anti-entropy: every other region, at the name its overlay gives its gRPC load balancer.
      expect(config.grpcTls, overlay).toBe('on');
      expect(config.grpcPort, overlay).toBeDefined();
      expect(config.antiEntropyIntervalMs, overlay).toBeGreaterThan(0);
      expect([...config.peerGrpc.keys()].sort(), overlay).toEqual(others);
      for (const [peer, address] of config.peerGrpc) expect(address, `${overlay} → ${peer}`).toBe(`${grpcHost(peer)}:${grpcPort}`);
      // Its own principal; plaintext only to the bundled (plaintext) Kafka.
      expect(config.kafkaSaslUsername, overlay).toBe(`region-${overlay}`);
      if (config.kafkaSecurity === 'plaintext') expect(kustomization(`${K8S}/overlays/${overlay}`).resources, overlay).toContain('../../base/kafka');
    }
    expect(gslbRegions.map((r) => r.id).sort()).toEqual(regionOverlays);
    // Production (a Kafka cluster of three or more brokers) keeps three replicas of every partition
    // of the updates topic; an overlay never asks for more replicas than the Kafka it bundles has nodes.
    const base = loadRegionConfig({ ...Object.fromEntries(generated(`${K8S}/base/region`, 'meridian-region')), MERIDIAN_REGION: 'eu', DATABASE_URL: 'postgres://x@h/d', MERIDIAN_CONTEXT_SECRET: 'a-secret-of-at-least-sixteen', MERIDIAN_KAFKA_SASL_USERNAME: 'region-eu', MERIDIAN_KAFKA_SASL_PASSWORD: 'from-the-secret' }, () => samplePublicKeys);
    expect(base.topicReplicationFactor).toBe(3);
    // An operator-provided Kafka is SASL_SSL: the base asks for it, the password comes from the Secret.
    expect(base.kafkaSecurity).toBe('sasl_ssl');
    expect(DEPLOY_DOC).toContain('--from-literal=MERIDIAN_KAFKA_SASL_PASSWORD=');
    const kafkaNodes = find('apps/v1/StatefulSet', 'meridian-kafka').spec.replicas as number;
    for (const overlay of regionOverlays) {
      const factor = Number(merged(overlay, 'region', 'meridian-region').get('MERIDIAN_TOPIC_REPLICATION_FACTOR') ?? defaultOf(regionReference(), 'MERIDIAN_TOPIC_REPLICATION_FACTOR'));
      if (kustomization(`${K8S}/overlays/${overlay}`).resources?.includes('../../base/kafka')) expect(factor, overlay).toBeLessThanOrEqual(kafkaNodes);
    }
    for (const key of merged('gslb', 'gslb', 'meridian-gslb').keys()) expect(knownSetting(GSLB_SETTINGS, key), key).toBe(true);
  });

  const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;
  it.skipIf(!kubectl)('renders every overlay with kubectl kustomize into objects that pass their schemas', () => {
    for (const overlay of [...regionOverlays, 'gslb']) {
      const rendered = documents(execFileSync('kubectl', ['kustomize', join(ROOT, K8S, 'overlays', overlay)], { encoding: 'utf8' }));
      const configMaps = new Set(rendered.filter((o) => o.kind === 'ConfigMap').map((o) => o.metadata.name as string));
      for (const object of rendered) {
        expect(() => MODELS[kindOf(object)]!.validate(object), `${overlay}: ${object.kind} ${object.metadata.name}`).not.toThrow();
        if (object.kind !== 'Namespace') expect(object.metadata.namespace).toBe(`meridian-${overlay}`);
        if (object.spec?.template) {
          for (const c of podSpec(object).containers) {
            for (const ref of c.envFrom ?? []) if (ref.configMapRef) expect(configMaps, `${overlay}: ${ref.configMapRef.name}`).toContain(ref.configMapRef.name);
            for (const e of c.env ?? []) if (e.valueFrom?.configMapKeyRef) expect(configMaps).toContain(e.valueFrom.configMapKeyRef.name);
          }
        }
      }
    }
  });
});

// ---- the OpenTelemetry Collector -------------------------------------------------------------------

describe('infra/otel', () => {
  const collector = yamlOf('infra/otel/collector.yaml') as Record<string, any>;

  it('defines every component its pipelines use', () => {
    for (const [name, pipeline] of Object.entries(collector['service'].pipelines as Record<string, Record<string, string[]>>)) {
      for (const kind of ['receivers', 'processors', 'exporters']) {
        for (const component of pipeline[kind] ?? []) expect(collector[kind]?.[component], `${name}: ${kind} ${component}`).toBeDefined();
      }
    }
    for (const extension of collector['service'].extensions ?? []) expect(collector['extensions'][extension]).toBeDefined();
  });

  it('takes OTLP/HTTP on 4318 from every interface and exports traces to the compose file\'s Jaeger', () => {
    expect(collector['receivers'].otlp.protocols.http.endpoint).toBe('0.0.0.0:4318');
    expect(collector['service'].pipelines.traces.receivers).toEqual(['otlp']);
    const jaeger = hostPort(collector['exporters']['otlp/jaeger'].endpoint);
    expect(compose.services[jaeger.host]?.image).toMatch(/^jaegertracing\/all-in-one:/);
  });

  it('scrapes /metrics of the compose file\'s region services and GSLB', () => {
    const targets = (collector['receivers'].prometheus.config.scrape_configs as any[]).flatMap((c) => {
      expect(c.metrics_path).toBe('/metrics');
      return c.static_configs.flatMap((s: any) => s.targets as string[]);
    });
    const expected = meridianServices.map(([name, s]) => {
      const env = environment(s);
      return `${name}:${env['MERIDIAN_PORT'] ?? env['MERIDIAN_GSLB_PORT']}`;
    });
    expect(targets.sort()).toEqual(expected.sort());
  });

  it('is what the compose file\'s collector service loads', () => {
    const service = compose.services['otel-collector']!;
    const [source, target] = service.volumes![0]!.split(':') as [string, string];
    expect(resolve(ROOT, 'infra', source)).toBe(join(ROOT, 'infra/otel/collector.yaml'));
    expect(service.command).toEqual([`--config=${target}`]);
    expect(read('infra/otel/README.md')).toContain('MERIDIAN_TRACES_ENDPOINT=http://otel-collector:4318/v1/traces');
  });
});

// ---- docs/deploy.md ----------------------------------------------------------------------------

describe('docs/deploy.md', () => {
  it("carries each program's --help output verbatim", () => {
    for (const main of [REGION_MAIN, GSLB_MAIN]) {
      const help = execFileSync(process.execPath, ['--conditions=meridian-source', join(ROOT, main), '--help'], { encoding: 'utf8' });
      expect(DEPLOY_DOC, main).toContain(`\`\`\`text\n${help}\`\`\``);
    }
  }, 60_000); // two processes that load their program from source: seconds each on a busy machine

  it('names the metrics, spans and topic the code uses', () => {
    for (const name of [...Object.values(MetricName), ...Object.values(GslbMetricName)]) expect(DEPLOY_DOC).toContain(`\`${name}\``);
    for (const name of Object.values(SpanName)) expect(DEPLOY_DOC).toContain(`\`${name}\``);
    expect(DEPLOY_DOC).toContain(updatesTopic('eu'));
    // Every metric-like name the guide shows is one the code exports.
    for (const quoted of DEPLOY_DOC.match(/`meridian_[a-z_]+`/g) ?? []) {
      expect([...Object.values(MetricName), ...Object.values(GslbMetricName)] as string[], quoted).toContain(quoted.slice(1, -1));
    }
  });

  it('names the images the files use, and only paths that exist', () => {
    for (const [, s] of services) if (!s.build) expect(DEPLOY_DOC + read('infra/otel/README.md'), s.image).toContain(s.image);
    for (const path of DEPLOY_DOC.match(/`((?:infra|docs|services|packages)\/[^`\s]*)`/g) ?? []) {
      const clean = path.slice(1, -1).replace(/\/$/, '');
      expect(existsSync(join(ROOT, clean)), clean).toBe(true);
    }
    expect(relative(ROOT, join(ROOT, DOCKERFILE))).toBe(DOCKERFILE);
  });
});
