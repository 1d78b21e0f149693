#!/usr/bin/env -S node --disable-warning=TimeoutNegativeWarning --conditions=meridian-source
/**
 * The `meridian` command (`npm run meridian -- <command>`; `npm run cluster` is `meridian up`).
 * Parses the command line, runs the command, and exits with its code: 0 done, 1 failed (or,
 * for status, not everything ready), 2 a usage error.
 */
import { join } from 'node:path';
import { REPOSITORY_ROOT } from '@meridian/infra-local';
import { parseCommand, UsageError, USAGE, type Command } from './cli-args.ts';
import { runUp } from './up-command.ts';
import { runDown } from './down-command.ts';
import { runConflicts, runStatus } from './inspect-commands.ts';
import { runAntiEntropyCommand } from './anti-entropy-commands.ts';
import { runToken } from './token-command.ts';
import { runJoin, runRemove } from './membership-commands.ts';

const argv = process.argv.slice(2);
let command: Command;
try {
  command = parseCommand(argv, join(REPOSITORY_ROOT, '.meridian'));
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  console.error(`${error.message}\n(\`meridian help\` lists every command)`);
  process.exit(2);
}

async function run(c: Command): Promise<number> {
  switch (c.kind) {
    case 'help':
      console.log(USAGE);
      return 0;
    case 'up':
      return runUp(c, argv.slice(1));
    case 'down':
      return runDown(c);
    case 'status':
    case 'lag':
      return runStatus(c);
    case 'conflicts':
      return runConflicts(c);
    case 'verify':
    case 'repair':
      return runAntiEntropyCommand(c);
    case 'token':
      return runToken(c);
    case 'join':
      return runJoin(c);
    case 'remove':
      return runRemove(c);
  }
}

try {
  process.exitCode = await run(command);
} catch (error) {
  console.error(`meridian ${command.kind}: ${(error as Error).message}`);
  process.exitCode = 1;
}
// Whatever still holds the event loop (a keep-alive socket, a timer) must not keep a finished command alive.
process.exit(process.exitCode);
