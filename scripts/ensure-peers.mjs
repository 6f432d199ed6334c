#!/usr/bin/env node
// Makes sure the system peers the test suite runs against are installed, each checked the way
// the tests use it (the binary runs, the Python module imports what the test script imports,
// the GStreamer elements of the RTSP test pipeline exist), not just that a file is present.
// Installs the missing Debian packages with apt-get (no recommends) when running as root;
// otherwise prints one line saying what to install. `--check` only reports.
import { execFileSync, spawnSync } from 'node:child_process';

const PY = '/usr/bin/python3';
const runs = (cmd, args) => {
  try {
    return spawnSync(cmd, args, { stdio: 'ignore', timeout: 60_000 }).status === 0;
  } catch {
    return false;
  }
};
const py = (code) => runs(PY, ['-c', code]);
const root = new URL('..', import.meta.url).pathname;

// The console's browser tests (test/console/) drive Debian's chromium through playwright-core,
// headless with these flags and a fresh user-data-dir (test/support/browser.ts uses the same).
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const chromiumCheck = `
import fs from 'node:fs'; import os from 'node:os'; import path from 'node:path';
import { chromium } from 'playwright-core';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ce-chromium-check-'));
try {
  const ctx = await chromium.launchPersistentContext(dir, { executablePath: ${JSON.stringify(CHROMIUM)}, headless: true, args: ${JSON.stringify(CHROMIUM_ARGS)}, timeout: 30000 });
  const page = await ctx.newPage();
  await page.setContent('<p id="x">ok</p>');
  const ok = (await page.textContent('#x')) === 'ok';
  await ctx.close();
  process.exit(ok ? 0 : 1);
} finally { fs.rmSync(dir, { recursive: true, force: true }); }`;
const chromiumOk = () => {
  try {
    return spawnSync(process.execPath, ['--input-type=module', '-e', chromiumCheck], { cwd: root, stdio: 'ignore', timeout: 60_000 }).status === 0;
  } catch {
    return false;
  }
};

// Each entry: the Debian package, and the check the tests depend on (what they import / run).
const peers = [
  // test/peers/influx.ts runs `influxd -config`
  { pkg: 'influxdb', ok: () => runs('influxd', ['version']) },
  // test/peers/mosquitto.ts runs mosquitto; mosquitto-acl.int.test.ts writes a password file with mosquitto_passwd
  { pkg: 'mosquitto', ok: () => runs('bash', ['-c', '(command -v mosquitto || test -x /usr/sbin/mosquitto) && command -v mosquitto_passwd']) },
  { pkg: 'mosquitto-clients', ok: () => runs('bash', ['-c', 'command -v mosquitto_pub && command -v mosquitto_sub']) },
  // camera tests decode with ffmpeg; the H.264 test files are encoded with libx264
  { pkg: 'ffmpeg', ok: () => runs('ffmpeg', ['-version']) && runs('ffprobe', ['-version']) && runs('bash', ['-c', 'ffmpeg -hide_banner -encoders 2>/dev/null | grep -q libx264']) },
  // docker/compose.int.test.ts: `docker-compose config`
  { pkg: 'docker-compose', ok: () => runs('docker-compose', ['version']) },
  // simulator.py (firmware-bridge/modbus) imports pymodbus.server, which (3.0 on Debian) imports serial_asyncio
  { pkg: 'python3-pymodbus', ok: () => py('import pymodbus') },
  { pkg: 'python3-serial-asyncio', ok: () => py('import serial_asyncio; from pymodbus.server import StartAsyncTcpServer; from pymodbus.transaction import ModbusRtuFramer, ModbusSocketFramer; from pymodbus.datastore import ModbusSequentialDataBlock, ModbusSlaveContext, ModbusServerContext') },
  // the independent OpenCV reference of the detector tests
  { pkg: 'python3-opencv', ok: () => py('import cv2, numpy; cv2.dnn.readNetFromONNX') },
  // outbox-cap.int.test.ts makes a TLS certificate
  { pkg: 'openssl', ok: () => runs('openssl', ['version']) },
  // test/peers/rtsp_server.py: gst-rtsp-server through PyGObject, pipeline qtdemux ! h264parse ! rtph264pay
  { pkg: 'python3-gi', ok: () => py('import gi') },
  { pkg: 'gir1.2-gst-rtsp-server-1.0', ok: () => py("import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); from gi.repository import GLib, Gst, GstRtspServer") },
  { pkg: 'gstreamer1.0-plugins-good', ok: () => gstElements('qtdemux', 'rtph264pay') },
  { pkg: 'gstreamer1.0-plugins-bad', ok: () => gstElements('h264parse') },
  // test/console/*.int.test.ts and bench/console.ts: chromium launched headless by playwright-core
  { pkg: 'chromium', ok: chromiumOk },
  // the console's zh-CN screenshots need a font with Chinese glyphs (the page loads no web fonts)
  { pkg: 'fonts-wqy-microhei', ok: () => { try { return execFileSync('fc-list', [':lang=zh', 'family'], { encoding: 'utf8' }).trim().length > 0; } catch { return false; } } },
];

function gstElements(...names) {
  const code = `import gi; gi.require_version('Gst', '1.0'); from gi.repository import Gst; Gst.init(None); import sys; sys.exit(0 if all(Gst.ElementFactory.find(n) for n in ${JSON.stringify(names)}) else 1)`;
  return py(code);
}

const missing = () => peers.filter((p) => !p.ok()).map((p) => p.pkg);
const need = missing();
if (!need.length) process.exit(0);
if (process.argv.includes('--check')) {
  console.error(`missing test peers: ${need.join(' ')}`);
  process.exit(1);
}

if (process.getuid?.() === 0 && runs('apt-get', ['--version'])) {
  console.log(`installing test peers: ${need.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...need], { stdio: 'inherit', env });
  } catch {
    console.error(`could not install test peers; run: apt-get install -y --no-install-recommends ${need.join(' ')}`);
    process.exit(1);
  }
  const still = missing();
  if (still.length) {
    console.error(`still not usable after apt-get: ${still.join(' ')} (each is checked the way the tests use it; see scripts/ensure-peers.mjs)`);
    process.exit(1);
  }
  process.exit(0);
}
console.error(`cityedge tests need system packages: sudo apt-get install -y --no-install-recommends ${need.join(' ')}`);
process.exit(1);
