// The `kubectl-kreboot` single executable's entry: Node's single-executable applications run one CommonJS script,
// which cannot await at the top level; the commands are the same (run.ts).
import { main } from './run.ts';

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
