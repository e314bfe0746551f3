// Which Prometheus and Alertmanager the demo and the tests run. The default is Prometheus 3 and a current
// Alertmanager, built from their pinned Go modules (testkit/tools/prometheus-build.sh, on first use), so a machine
// needs no Debian package; Debian's 2.x packages, where installed, are a second version that the alert-gate, TLS,
// rules and dashboard tests also run against (`prometheusReleases()`). KREBOOT_PROMETHEUS=3 or =2 picks one.
import { execFileSync, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface PromRelease {
  /** "prometheus 3.16.0, alertmanager 0.35.0": what the test titles and the demo print. */
  name: string;
  major: number;
  prometheus: string;
  promtool: string;
  alertmanager: string;
}

const BUILD_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '../tools/prometheus-build.sh');

function versionOf(bin: string): string {
  // "prometheus, version 3.16.0 (branch: …)" on stdout (3.x) or stderr (2.x).
  const out = execFileSync(bin, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const m = /version (\d+\.\d+\.\d+)/.exec(out);
  if (!m) throw new Error(`cannot read the version of ${bin} from: ${out.slice(0, 200)}`);
  return m[1]!;
}

function release(bins: Omit<PromRelease, 'name' | 'major'>): PromRelease {
  const p = versionOf(bins.prometheus);
  return {
    ...bins,
    name: `prometheus ${p}, alertmanager ${versionOf(bins.alertmanager)}`,
    major: Number(p.split('.')[0]),
  };
}

function fromDir(dir: string): PromRelease {
  return release({
    prometheus: join(dir, 'prometheus'),
    promtool: join(dir, 'promtool'),
    alertmanager: join(dir, 'alertmanager'),
  });
}

let built: PromRelease | undefined;

/** The pinned build, building it first if the cache lacks it (minutes, cold); progress on stderr. */
export function builtPrometheus(): PromRelease {
  if (built) return built;
  let dir: string;
  try {
    dir = execFileSync('bash', [BUILD_SCRIPT, '--print-dir'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    })
      .trim()
      .split('\n')
      .pop()!;
  } catch (err) {
    throw new Error(
      `building Prometheus and Alertmanager from their Go modules failed (${(err as Error).message.split('\n')[0]}): ` +
        'run `npm run tools:build` to see why (it needs Go >= 1.26 and the Go module proxy)',
    );
  }
  built = fromDir(dir);
  return built;
}

/** The same, without blocking the event loop (the demo builds while its signal handlers stay live). */
export async function ensurePrometheusBuilt(): Promise<PromRelease> {
  if (built) return built;
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn('bash', [BUILD_SCRIPT], { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', (e) => reject(new Error(`cannot run ${BUILD_SCRIPT}: ${e.message}`)));
    child.on('exit', resolve);
  });
  if (code !== 0)
    throw new Error(
      `building Prometheus and Alertmanager from their Go modules failed (exit ${code}): see the [tools:build] lines above`,
    );
  return builtPrometheus();
}

function which(name: string): string | undefined {
  try {
    return execFileSync('which', [name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

/** Debian's packages (prometheus, prometheus-alertmanager), when all three programs are on PATH. */
export function debianPrometheus(): PromRelease | undefined {
  const prometheus = which('prometheus');
  const promtool = which('promtool');
  const alertmanager = which('prometheus-alertmanager');
  if (!prometheus || !promtool || !alertmanager) return undefined;
  return release({ prometheus, promtool, alertmanager });
}

/** Every version the Prometheus-facing tests run against: the pinned 3.x build, then Debian's 2.x if present. */
export function prometheusReleases(): PromRelease[] {
  const pick = process.env.KREBOOT_PROMETHEUS;
  if (pick && pick !== '2' && pick !== '3')
    throw new Error(
      `KREBOOT_PROMETHEUS=${pick}: use 3 (the pinned build), 2 (Debian's packages) or leave it unset`,
    );
  const out: PromRelease[] = [];
  if (pick !== '2') out.push(builtPrometheus());
  if (pick !== '3') {
    const deb = debianPrometheus();
    if (deb) out.push(deb);
    else if (pick === '2')
      throw new Error(
        "KREBOOT_PROMETHEUS=2 but Debian's prometheus, promtool or prometheus-alertmanager is not on PATH",
      );
  }
  return out;
}

/** The one release the demo, the e2e world and single-version tests use. */
export function defaultPrometheus(): PromRelease {
  return prometheusReleases()[0]!;
}
