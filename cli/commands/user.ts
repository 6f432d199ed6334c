import path from 'node:path';
import type { Command } from 'commander';
import { resolveCloudConfig } from './common.ts';

async function users(opts: { config?: string; dataDir?: string }) {
  const { openCloudDb } = await import('../../cloud/db.ts');
  const { UserStore } = await import('../../cloud/api/users.ts');
  const cfg = await resolveCloudConfig(opts);
  const db = openCloudDb(path.join(cfg.dataDir, 'cloud.db'));
  return { users: new UserStore(db), close: () => db.close() };
}

/** A password from standard input (`--password-stdin`: first line), for scripts. */
async function stdinPassword(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0];
}

export function register(program: Command): void {
  const user = program.command('user').description('people who sign in to the console at / (roles: viewer, env, ops, admin)');
  const common = (c: Command) => c.option('-c, --config <file>', 'cloud config').option('--data-dir <dir>', 'cloud state directory');
  type Opts = { config?: string; dataDir?: string; role?: string; passwordStdin?: boolean; json?: boolean };

  common(user.command('add <name>').description('add a console user; prints a generated password once (or reads one with --password-stdin)')
    .requiredOption('--role <role>', 'viewer | env | ops | admin').option('--password-stdin', 'read the password from standard input').option('--json', 'print JSON'))
    .action(async (name: string, opts: Opts) => {
      const pw = opts.passwordStdin ? await stdinPassword() : undefined;
      const { users: s, close } = await users(opts);
      try {
        const r = await s.add(name, opts.role!, pw);
        console.log(opts.json ? JSON.stringify({ name, role: r.user.role, ...(pw ? {} : { password: r.password }) }) : `user ${name} (${r.user.role}) added${pw ? '' : `\n  password: ${r.password}   (shown once)`}`);
      } finally { close(); }
    });

  common(user.command('list').description('list console users').option('--json', 'print JSON'))
    .action(async (opts: Opts) => {
      const { users: s, close } = await users(opts);
      try {
        const list = s.list();
        if (opts.json) console.log(JSON.stringify(list));
        else for (const u of list) console.log(`${u.name.padEnd(24)} ${u.role.padEnd(7)} since ${new Date(u.created).toISOString()}`);
      } finally { close(); }
    });

  common(user.command('remove <name>').description('remove a user; their sessions end at once'))
    .action(async (name: string, opts: Opts) => {
      const { users: s, close } = await users(opts);
      try { console.log(s.remove(name) ? `user ${name} removed` : `no user ${name}`); } finally { close(); }
    });

  common(user.command('passwd <name>').description('set a new password (generated and printed once, or --password-stdin); their sessions end')
    .option('--password-stdin', 'read the password from standard input'))
    .action(async (name: string, opts: Opts) => {
      const pw = opts.passwordStdin ? await stdinPassword() : undefined;
      const { users: s, close } = await users(opts);
      try {
        const got = await s.setPassword(name, pw);
        console.log(pw ? `password of ${name} changed` : `password of ${name} changed\n  password: ${got}   (shown once)`);
      } finally { close(); }
    });
}
