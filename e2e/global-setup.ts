// The e2e scenarios run the built bundle, as the container image does.
import { execFileSync } from 'node:child_process';

export default function setup() {
  execFileSync('npm', ['run', '-s', 'build'], { stdio: 'inherit' });
}
