/**
 * `cityedge model keygen | pack | sign | verify | push | list | rollout …` — publish signed model
 * bundles and drive rollouts. Cloud calls use --url (CITYEDGE_URL) and --token (CITYEDGE_TOKEN).
 */
import fs from 'node:fs';
import type { Command } from 'commander';
import { CodedError } from '../../lib/errors.ts';

interface Remote { url?: string; token?: string }
const remote = (c: Command) => c.option('--url <url>', 'cloud HTTP URL (env CITYEDGE_URL)').option('--token <token>', 'API token, role ops for changes (env CITYEDGE_TOKEN)');

async function call(o: Remote, method: string, p: string, body?: unknown): Promise<any> {
  const url = o.url ?? process.env.CITYEDGE_URL;
  const token = o.token ?? process.env.CITYEDGE_TOKEN;
  if (!url || !token) throw new CodedError('CLI_NO_CLOUD', 'give --url and --token (or CITYEDGE_URL / CITYEDGE_TOKEN)');
  const res = await fetch(new URL(p, url), { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  const json = await res.json().catch(() => ({}));
  if (res.status >= 400) throw new CodedError(json.code ?? 'CLI_HTTP_ERROR', json.message ?? `HTTP ${res.status}`);
  return json;
}

function printRollout(r: any): void {
  console.log(`${r.id}  ${r.name}@${r.version}  ${r.state}${r.reason ? `  (${r.reason})` : ''}`);
  for (const s of r.sites ?? []) console.log(`  ${s.stage.padEnd(6)} ${s.site.padEnd(24)} ${s.state.padEnd(14)} ${s.result?.code ?? ''}${s.gates ? ` gates: ${s.gates.reason}` : ''}`);
}

export function register(program: Command): void {
  const model = program.command('model').description('signed model bundles: keys, pack, sign, verify, push, list, rollouts');

  model.command('keygen <name>').description('create an ed25519 publisher key pair <dir>/<name>.key + .pub').option('--dir <dir>', 'where to write', '.')
    .action(async (name: string, o: { dir: string }) => {
      const { generateKeyFiles } = await import('../../models/bundle/keys.ts');
      const k = generateKeyFiles(o.dir, name);
      console.log(`private ${k.keyFile}\npublic  ${k.pubFile}\nkey id  ${k.keyId}`);
    });

  model.command('pack <card>').description('build an unsigned bundle from a card name or file').requiredOption('-o, --out <file>', 'bundle file')
    .option('--weights <file>', 'ONNX weights (default: via models/manifest.json)').option('--labels <file>', 'labels file').option('--self-test-image <file>', 'golden input').option('--version <v>', 'override the card version')
    .action(async (card: string, o: { out: string; weights?: string; labels?: string; selfTestImage?: string; version?: string }) => {
      const { packBundle, sha256 } = await import('../../models/bundle/bundle.ts');
      const b = packBundle({ card, weights: o.weights, labels: o.labels, selfTestImage: o.selfTestImage, version: o.version });
      fs.writeFileSync(o.out, b);
      console.log(`${o.out}  ${b.length} B  sha256 ${sha256(b)} (unsigned; run \`cityedge model sign\`)`);
    });

  model.command('sign <bundle>').description('sign a bundle in place (or to --out) with a publisher key').requiredOption('--key <file>', 'private key (.key)').option('-o, --out <file>')
    .action(async (file: string, o: { key: string; out?: string }) => {
      const { signBundle, sha256 } = await import('../../models/bundle/bundle.ts');
      const { loadPrivateKey } = await import('../../models/bundle/keys.ts');
      const b = signBundle(fs.readFileSync(file), loadPrivateKey(o.key));
      fs.writeFileSync(o.out ?? file, b);
      console.log(`${o.out ?? file}  signed  sha256 ${sha256(b)}`);
    });

  model.command('verify <bundle>').description('check structure, digests and signature; with --trusted, also that the key is trusted').option('--trusted <path...>', '.pub files or directories')
    .action(async (file: string, o: { trusted?: string[] }) => {
      const { verifyBundle } = await import('../../models/bundle/bundle.ts');
      const { loadTrustedKeys } = await import('../../models/bundle/keys.ts');
      const v = verifyBundle(fs.readFileSync(file), o.trusted ? loadTrustedKeys(o.trusted) : null);
      console.log(JSON.stringify({ ok: true, name: v.manifest.name, version: v.manifest.version, family: v.manifest.family, keyId: v.keyId, sha256: v.digest, files: v.manifest.files }, null, 2));
    });

  remote(model.command('push <bundle>').description('upload a signed bundle to the cloud registry (progress bar)'))
    .action(async (file: string, o: Remote) => {
      const url = o.url ?? process.env.CITYEDGE_URL;
      const token = o.token ?? process.env.CITYEDGE_TOKEN;
      if (!url || !token) throw new CodedError('CLI_NO_CLOUD', 'give --url and --token (or CITYEDGE_URL / CITYEDGE_TOKEN)');
      const size = fs.statSync(file).size;
      const { SingleBar, Presets } = await import('cli-progress');
      const bar = new SingleBar({ format: 'push [{bar}] {percentage}% {value}/{total} B', stream: process.stderr, noTTYOutput: true, notTTYSchedule: 500 }, Presets.shades_classic);
      bar.start(size, 0);
      const { request } = url.startsWith('https') ? await import('node:https') : await import('node:http');
      const reply = await new Promise<{ status: number; body: any }>((resolve, reject) => {
        const req = request(new URL('/api/v1/models', url), { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', 'content-length': size } }, (res: import('node:http').IncomingMessage) => {
          let text = '';
          res.on('data', (c: Buffer) => { text += c.toString(); });
          res.on('end', () => { try { resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }); } catch { resolve({ status: res.statusCode ?? 0, body: { message: text } }); } });
        });
        req.on('error', reject);
        let sent = 0;
        fs.createReadStream(file, { highWaterMark: 256 * 1024 }).on('data', (c) => { sent += c.length; bar.update(sent); }).pipe(req);
      });
      bar.stop();
      if (reply.status >= 400) throw new CodedError(reply.body.code ?? 'CLI_HTTP_ERROR', reply.body.message ?? `HTTP ${reply.status}`);
      console.log(`${reply.body.name}@${reply.body.version}  ${reply.status === 201 ? 'stored' : 'already stored'}  sha256 ${reply.body.digest}  key ${reply.body.keyId}`);
    });

  remote(model.command('list').description('bundles in the registry').option('--name <name>'))
    .action(async (o: Remote & { name?: string }) => {
      for (const m of await call(o, 'GET', `/api/v1/models${o.name ? `?name=${encodeURIComponent(o.name)}` : ''}`)) console.log(`${`${m.name}@${m.version}`.padEnd(32)} ${String(m.size).padStart(10)} B  ${m.digest.slice(0, 16)}  key ${m.keyId}  ${new Date(m.created).toISOString()}`);
    });

  const rollout = model.command('rollout').description('roll a registry model out to sites: canary, health gates, promotion or automatic rollback');
  remote(rollout.command('start <name> <version>').description('start a rollout')
    .option('--sites <list>', 'comma-separated site ids').option('--select <glob>', "site id glob, e.g. 'street-*'")
    .option('--canary <list>', 'comma-separated canary sites (default: the first site)').option('--canary-percent <n>', 'canary share of the group')
    .option('--observe-ms <n>', 'canary observation time').option('--batch <n>', 'sites deploying at once after the canary').option('--gates <json>', 'gate overrides, e.g. {"latencyFactor":1.2}'))
    .action(async (name: string, version: string, o: Remote & { sites?: string; select?: string; canary?: string; canaryPercent?: string; observeMs?: string; batch?: string; gates?: string }) => {
      const body: Record<string, unknown> = { name, version };
      if (o.sites) body.sites = o.sites.split(',');
      if (o.select) body.select = o.select;
      if (o.canary || o.canaryPercent) body.canary = o.canary ? { sites: o.canary.split(',') } : { percent: Number(o.canaryPercent) };
      if (o.observeMs) body.observeMs = Number(o.observeMs);
      if (o.batch) body.batchSize = Number(o.batch);
      if (o.gates) body.gates = JSON.parse(o.gates);
      printRollout(await call(o, 'POST', '/api/v1/rollouts', body));
    });
  remote(rollout.command('status [id]').description('one rollout with per-site status, or the recent ones'))
    .action(async (id: string | undefined, o: Remote) => {
      if (id) printRollout(await call(o, 'GET', `/api/v1/rollouts/${id}`));
      else for (const r of await call(o, 'GET', '/api/v1/rollouts')) printRollout(r);
    });
  for (const action of ['pause', 'resume', 'abort', 'rollback'] as const) {
    remote(rollout.command(`${action} <id>`).description(`${action} a rollout`))
      .action(async (id: string, o: Remote) => printRollout(await call(o, 'POST', `/api/v1/rollouts/${id}/${action}`, action === 'rollback' ? { reason: 'cli' } : {})));
  }
}
