/**
 * Loader hooks that let the instrumentations patch modules loaded with `import`.
 *
 * require-in-the-middle (which every instrumentation registers itself) only sees `require()`.
 * Meridian's services are ES modules: `import { Kafka } from 'kafkajs'` goes through Node's ESM
 * loader, and kafkajs stays unpatched unless import-in-the-middle sits in that loader. Node 24's
 * in-thread `module.registerHooks` lets us install it from inside `startTelemetry`, without a
 * `--import` flag — but only for modules imported *afterwards*, which is why the service imports
 * its application dynamically after starting telemetry (see the README).
 *
 * Loader hooks cannot be removed, so they are installed once per process and stay; they only
 * intercept the instrumented packages, so everything else loads untouched.
 *
 * import-in-the-middle recognises a package only when it is imported by its name
 * (`import 'kafkajs'`), not by file path. Vitest imports packages by path, so inside vitest
 * kafkajs stays unpatched (pg is still patched through `require` of its internal files); the
 * integration test therefore runs a service-shaped child process.
 */
import { register as registerAsyncHooks } from 'node:module';
import { register as registerSyncHooks, supportsSyncHooks } from 'import-in-the-middle/register-hooks.mjs';

/** Packages whose ESM imports go through import-in-the-middle. */
export const HOOKED_MODULES: readonly string[] = Object.freeze(['pg', 'pg-pool', 'kafkajs', 'http', 'https']);

let installed = false;

/** Installs the import-in-the-middle loader once per process; later calls do nothing. */
export function installModuleHooks(): void {
  if (installed) return;
  installed = true;
  const include = [...HOOKED_MODULES];
  if (supportsSyncHooks()) {
    registerSyncHooks({ include });
  } else {
    // Older Node 24 releases reject the synchronous loader (nodejs/node#59929): fall back to the
    // off-thread loader, which also sees every later import.
    registerAsyncHooks('import-in-the-middle/hook.mjs', import.meta.url, { data: { include } });
  }
}
