#!/usr/bin/env node
// Makes sure the system peers the test suite runs against are installed:
// installs them with apt-get when running as root, otherwise prints one line saying what to install.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';

const has = (bin) => ['/usr/bin/', '/usr/sbin/', '/usr/local/bin/', '/bin/', '/sbin/'].some((d) => fs.existsSync(d + bin));
const py = (mod) => spawnSync('/usr/bin/python3', ['-c', `import ${mod}`], { stdio: 'ignore' }).status === 0;

const peers = [
  { pkg: 'influxdb', ok: () => has('influxd') },
  { pkg: 'mosquitto', ok: () => has('mosquitto') },
  { pkg: 'mosquitto-clients', ok: () => has('mosquitto_pub') },
  { pkg: 'ffmpeg', ok: () => has('ffmpeg') && has('ffprobe') },
  { pkg: 'docker-compose', ok: () => has('docker-compose') },
  { pkg: 'python3-pymodbus', ok: () => py('pymodbus') },
  { pkg: 'python3-opencv', ok: () => py('cv2') },
  { pkg: 'openssl', ok: () => has('openssl') },
  // an RTSP server for the camera tests (gst-rtsp-server through PyGObject)
  { pkg: 'python3-gi', ok: () => py('gi') },
  { pkg: 'gir1.2-gst-rtsp-server-1.0', ok: () => py("gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer") },
  { pkg: 'gstreamer1.0-plugins-good', ok: () => has('gst-inspect-1.0') ? spawnSync('gst-inspect-1.0', ['rtph264pay'], { stdio: 'ignore' }).status === 0 : fs.existsSync('/usr/lib/x86_64-linux-gnu/gstreamer-1.0/libgstrtp.so') },
  { pkg: 'gstreamer1.0-plugins-bad', ok: () => fs.existsSync('/usr/lib/x86_64-linux-gnu/gstreamer-1.0/libgstvideoparsersbad.so') },
];

const missing = peers.filter((p) => !p.ok()).map((p) => p.pkg);
if (!missing.length) process.exit(0);

if (process.getuid?.() === 0 && has('apt-get')) {
  console.log(`installing test peers: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
  } catch {
    console.error(`could not install test peers; run: apt-get install -y ${missing.join(' ')}`);
    process.exit(1);
  }
  const still = peers.filter((p) => !p.ok()).map((p) => p.pkg);
  if (still.length) {
    console.error(`still missing after apt-get: ${still.join(' ')}`);
    process.exit(1);
  }
  process.exit(0);
}
console.error(`cityedge tests need system packages: sudo apt-get install -y ${missing.join(' ')}`);
process.exit(1);
