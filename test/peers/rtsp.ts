import { projectPath } from '../../lib/data-dir.ts';
import { freePort, waitForPort } from './ports.ts';
import { OwnedProcess } from './process.ts';

/** A throwaway RTSP server (gst-rtsp-server, see rtsp_server.py) serving an H.264 file at rtsp://127.0.0.1:<port>/cam. */
export class RtspPeer {
  proc?: OwnedProcess;
  port = 0;
  constructor(private readonly file: string) {}
  get url(): string { return `rtsp://127.0.0.1:${this.port}/cam`; }

  async start(): Promise<this> {
    if (!this.port) this.port = await freePort();
    this.proc = new OwnedProcess('/usr/bin/python3', [projectPath('test', 'peers', 'rtsp_server.py'), String(this.port), this.file]);
    // GStreamer builds its plugin registry on a machine's first run, which can take a while.
    await waitForPort(this.port, 60_000);
    return this;
  }

  async stop(): Promise<void> { await this.proc?.stop(); }
}
