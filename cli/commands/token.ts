import path from 'node:path';
import type { Command } from 'commander';
import { resolveCloudConfig } from './common.ts';

async function store(opts: { config?: string; dataDir?: string }) {
  const { openCloudDb } = await import('../../cloud/db.ts');
  const { TokenStore } = await import('../../cloud/api/tokens.ts');
  const db = openCloudDb(path.join((await resolveCloudConfig(opts)).dataDir, 'cloud.db'));
  return { tokens: new TokenStore(db), close: () => db.close() };
}

export function register(program: Command): void {
  const token = program.command('token').description('API tokens (roles: viewer, env, ops, admin)');
  const common = (c: Command) => c.option('-c, --config <file>', 'cloud config').option('--data-dir <dir>', 'cloud state directory');
  common(token.command('add').requiredOption('--name <name>', 'who or what uses it').requiredOption('--role <role>', 'viewer | env | ops | admin').description('create a token; prints the secret once'))
    .action(async (opts: { name: string; role: string; config?: string; dataDir?: string }) => {
      const { tokens, close } = await store(opts);
      try { console.log(tokens.create(opts.name, opts.role as never).token); } finally { close(); }
    });
  common(token.command('list').description('list tokens (without secrets)'))
    .action(async (opts: { config?: string; dataDir?: string }) => {
      const { tokens, close } = await store(opts);
      try { for (const t of tokens.list()) console.log(`${String(t.id).padStart(4)} ${t.role.padEnd(7)} ${t.name}${t.revoked ? ' (revoked)' : ''}`); } finally { close(); }
    });
  common(token.command('revoke <id>').description('revoke a token'))
    .action(async (id: string, opts: { config?: string; dataDir?: string }) => {
      const { tokens, close } = await store(opts);
      try { console.log(tokens.revoke(Number(id)) ? 'revoked' : 'not found'); } finally { close(); }
    });
}
