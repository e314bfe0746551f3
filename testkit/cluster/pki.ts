// Test certificates with the openssl CLI: a CA and the certificates it signs (EC P-256 keys), in one directory.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run('openssl', args, { cwd });
  } catch (err) {
    throw new Error(
      `openssl ${args[0]} failed: ${(err as Error).message}. The test control plane needs the openssl CLI (apt-get install openssl).`,
    );
  }
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** `<name>.key` and a self-signed `<name>.crt`. */
export async function makeCa(dir: string, name: string, subject: string, days: number): Promise<void> {
  await openssl(
    [
      'req',
      '-x509',
      ...EC_KEY,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
      '-days',
      String(days),
      '-subj',
      subject,
    ],
    dir,
  );
}

/** `<name>.key` and `<name>.crt` signed by the CA `<ca>.key`/`<ca>.crt`, with the extensions in `extFile`. */
export async function issueCert(
  dir: string,
  c: { name: string; subject: string; ca: string; extFile: string; days: number },
): Promise<void> {
  await openssl(
    ['req', ...EC_KEY, '-keyout', `${c.name}.key`, '-out', `${c.name}.csr`, '-subj', c.subject],
    dir,
  );
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      `${c.name}.csr`,
      '-CA',
      `${c.ca}.crt`,
      '-CAkey',
      `${c.ca}.key`,
      '-CAcreateserial',
      '-out',
      `${c.name}.crt`,
      '-days',
      String(c.days),
      '-extfile',
      c.extFile,
    ],
    dir,
  );
}
