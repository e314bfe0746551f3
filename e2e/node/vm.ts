// A real Kubernetes node for tests: a QEMU virtual machine (TCG: nested KVM hangs on this machine kind) booting
// Debian's cloud kernel into systemd, with containerd, runc and a kubelet built from the control plane's pinned
// module. Its only network is QEMU user-mode networking with `restrict=on`: the guest reaches nothing but one
// forward, 10.0.2.100:6443 -> the test API server on this machine's loopback. The test talks to the guest through
// the QEMU guest agent (a unix socket). Reboots inside the guest are real: QEMU resets, the kernel boots again,
// and the guest gets a new boot ID; the console log counts the boots.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { issueCert } from '../../testkit/cluster/pki.ts';

export interface VmArtifacts {
  /** build-rootfs.sh output: disk.img, vmlinuz, initrd.img. */
  vmDir: string;
  /** OCI archives to import into the guest's containerd (the kreboot image, the pause image). */
  images: string[];
}

export interface VmOptions extends VmArtifacts {
  name: string;
  /** Working directory for this VM (overlay disk, config disk, sockets, console log). */
  dir: string;
  /** The test control plane: its PKI directory (ca.crt, ca.key) and API server port on 127.0.0.1. */
  pki: string;
  apiPort: number;
  memoryMiB?: number;
  cpus?: number;
}

/** Where the guest finds the API server: the kubernetes Service address, which the guest forwards to the host. */
const GUEST_API = 'https://10.96.0.1:443';

export function run(cmd: string, args: string[], cwd?: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export class Vm {
  private qemu: ChildProcess | undefined;
  readonly console: string;
  private readonly qgaSock: string;
  exited: Promise<number | null> = Promise.resolve(null);

  constructor(readonly o: VmOptions) {
    mkdirSync(o.dir, { recursive: true });
    this.console = join(o.dir, 'console.log');
    this.qgaSock = join(o.dir, 'qga.sock');
  }

  /** The per-run disks: a copy-on-write overlay of the cached root disk, and a config disk for this cluster. */
  async prepare(): Promise<void> {
    const o = this.o;
    run('qemu-img', [
      'create',
      '-q',
      '-f',
      'qcow2',
      '-F',
      'raw',
      '-b',
      join(o.vmDir, 'disk.img'),
      join(o.dir, 'root.qcow2'),
    ]);
    const cfg = join(o.dir, 'config');
    mkdirSync(join(cfg, 'images'), { recursive: true });
    // The kubelet's identity: a client certificate from the test CA, as the node authorizer expects it.
    const ext = join(o.pki, 'kubelet-client.ext');
    writeFileSync(
      ext,
      'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n',
    );
    const certName = `kubelet-${o.name}`;
    await issueCert(o.pki, {
      name: certName,
      subject: `/O=system:nodes/CN=system:node:${o.name}`,
      ca: 'ca',
      extFile: ext,
      days: 30,
    });
    const b64 = (f: string) => readFileSync(join(o.pki, f)).toString('base64');
    writeFileSync(join(cfg, 'node-name'), `${o.name}\n`);
    copyFileSync(join(o.pki, 'ca.crt'), join(cfg, 'ca.crt'));
    writeFileSync(
      join(cfg, 'kubelet.conf'),
      `apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: ${GUEST_API}
    certificate-authority-data: ${b64('ca.crt')}
users:
- name: kubelet
  user:
    client-certificate-data: ${b64(`${certName}.crt`)}
    client-key-data: ${b64(`${certName}.key`)}
contexts:
- name: kubelet
  context: { cluster: test, user: kubelet }
current-context: kubelet
`,
    );
    writeFileSync(
      join(cfg, 'kubelet-config.yaml'),
      `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: systemd
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: false }
  x509: { clientCAFile: /etc/kubernetes/ca.crt }
authorization: { mode: AlwaysAllow }
failSwapOn: false
resolvConf: /etc/resolv.conf
# The test's images are imported, never pulled: keep them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: { memory.available: "50Mi", nodefs.available: "1%", imagefs.available: "1%" }
nodeStatusUpdateFrequency: 4s
shutdownGracePeriod: 0s
`,
    );
    for (const img of o.images) copyFileSync(img, join(cfg, 'images', img.split('/').pop()!));
    const size = Number(run('du', ['-sm', cfg]).split('\t')[0]) + 64;
    run('mke2fs', [
      '-q',
      '-t',
      'ext4',
      '-L',
      'kreboot-cfg',
      '-d',
      cfg,
      join(o.dir, 'config.img'),
      `${size}M`,
    ]);
  }

  start(): void {
    const o = this.o;
    const args = [
      '-accel',
      'tcg,thread=multi',
      '-cpu',
      'max',
      '-smp',
      String(o.cpus ?? 2),
      '-m',
      String(o.memoryMiB ?? 2048),
      '-display',
      'none',
      '-no-user-config',
      '-nodefaults',
      '-kernel',
      join(o.vmDir, 'vmlinuz'),
      '-initrd',
      join(o.vmDir, 'initrd.img'),
      '-append',
      'root=/dev/vda rw console=ttyS0 panic=-1',
      '-drive',
      `file=${join(o.dir, 'root.qcow2')},if=virtio,format=qcow2`,
      '-drive',
      `file=${join(o.dir, 'config.img')},if=virtio,format=raw,readonly=on`,
      // User-mode networking, restricted: the guest can reach only the one forward to the test API server.
      '-netdev',
      `user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:6443-cmd:socat STDIO TCP:127.0.0.1:${o.apiPort}`,
      '-device',
      'virtio-net-pci,netdev=n0',
      '-chardev',
      `socket,id=qga0,path=${this.qgaSock},server=on,wait=off`,
      '-device',
      'virtio-serial',
      '-device',
      'virtserialport,chardev=qga0,name=org.qemu.guest_agent.0',
      '-serial',
      `file:${this.console}`,
      '-monitor',
      'none',
    ];
    const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (c: Buffer) => {
      err += c.toString('utf8');
    });
    child.stdout!.resume();
    this.qemu = child;
    // A test process that dies (an uncaught error, a failed assertion outside afterAll) must not leave its VM
    // running: kill it on the way out. (Found a leftover from a crashed smoke run during development.)
    const onParentExit = () => child.kill('SIGKILL');
    process.once('exit', onParentExit);
    child.on('exit', () => process.off('exit', onParentExit));
    this.exited = new Promise((resolve) =>
      child.on('exit', (code) => {
        if (code) process.stderr.write(`[vm ${o.name}] qemu exited ${code}: ${err.slice(-2000)}\n`);
        resolve(code);
      }),
    );
  }

  get running(): boolean {
    return !!this.qemu && this.qemu.exitCode === null && this.qemu.signalCode === null;
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.qemu!.kill('SIGTERM');
    await this.exited;
  }

  consoleText(): string {
    return existsSync(this.console) ? readFileSync(this.console, 'utf8') : '';
  }

  /** Kernel boots seen on the console (each prints its banner once). */
  boots(): number {
    return (this.consoleText().match(/Linux version \d/g) ?? []).length;
  }

  /** Boot IDs in the order the guest reported them (one line per boot, from kreboot-node-setup). */
  bootIds(): string[] {
    return [...this.consoleText().matchAll(/KREBOOT-BOOT ([0-9a-f-]{36})/g)].map((m) => m[1]!);
  }

  /** One QEMU guest agent command; rejects when the agent does not answer in time (e.g. while rebooting). */
  qga<T>(execute: string, args?: unknown, timeoutMs = 10_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const sock = connect(this.qgaSock);
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`guest agent: no answer to ${execute} in ${timeoutMs} ms`));
      }, timeoutMs);
      let buf = '';
      const sync = Math.floor(Math.random() * 1e9);
      let synced = false;
      sock.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      sock.on('data', (c) => {
        buf += c.toString('utf8');
        let nl = buf.indexOf('\n');
        while (nl !== -1) {
          // The agent answers guest-sync-delimited with a 0xFF byte first (decoded here as U+FFFD): skip to the JSON.
          const raw = buf.slice(0, nl);
          const line = raw.slice(Math.max(0, raw.indexOf('{'))).trim();
          buf = buf.slice(nl + 1);
          nl = buf.indexOf('\n');
          if (!line) continue;
          const msg = JSON.parse(line) as { return?: unknown; error?: { desc: string } };
          if (!synced) {
            // guest-sync-delimited flushes stale answers a previous client may have left on the channel.
            if (msg.return === sync) {
              synced = true;
              sock.write(`${JSON.stringify({ execute, ...(args ? { arguments: args } : {}) })}\n`);
            }
            continue;
          }
          clearTimeout(timer);
          sock.end();
          if (msg.error) reject(new Error(`guest agent ${execute}: ${msg.error.desc}`));
          else resolve(msg.return as T);
          return;
        }
      });
      sock.on('connect', () => {
        sock.write(Buffer.from([0xff]));
        sock.write(`${JSON.stringify({ execute: 'guest-sync-delimited', arguments: { id: sync } })}\n`);
      });
    });
  }

  /** Runs a command in the guest (as root, in its own namespaces) and returns its exit code and output. */
  async exec(argv: string[], timeoutMs = 60_000): Promise<{ code: number; out: string }> {
    const { pid } = await this.qga<{ pid: number }>('guest-exec', {
      path: argv[0],
      arg: argv.slice(1),
      'capture-output': true,
    });
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const st = await this.qga<{
        exited: boolean;
        exitcode?: number;
        'out-data'?: string;
        'err-data'?: string;
      }>('guest-exec-status', { pid });
      if (st.exited) {
        const dec = (s?: string) => (s ? Buffer.from(s, 'base64').toString('utf8') : '');
        return { code: st.exitcode ?? -1, out: dec(st['out-data']) + dec(st['err-data']) };
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`guest command ${argv.join(' ')} did not finish in ${timeoutMs} ms`);
  }

  /** sh -c in the guest; throws with the output on a non-zero exit. */
  async sh(script: string, timeoutMs?: number): Promise<string> {
    const r = await this.exec(['/bin/sh', '-c', script], timeoutMs);
    if (r.code !== 0) throw new Error(`guest: ${script}: exit ${r.code}: ${r.out.trim()}`);
    return r.out;
  }

  /** Resolves once the guest agent answers (the guest is up to multi-user, or at least its agent is). */
  async waitForAgent(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      try {
        await this.qga('guest-ping', undefined, 3000);
        return;
      } catch (err) {
        last = (err as Error).message;
        if (!this.running) throw new Error(`the VM exited: ${this.consoleText().slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    throw new Error(
      `guest agent not up within ${timeoutMs} ms (${last}); console:\n${this.consoleText().slice(-3000)}`,
    );
  }
}
