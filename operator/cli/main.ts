#!/usr/bin/env node
// The `kreboot` binary as an ES module bundle (dist/kreboot.mjs): the image, the npm package and `npx kreboot`.
import { main } from './run.ts';

process.exitCode = await main(process.argv.slice(2));
