// Replaced at bundle time by scripts/build.mjs; the fallback is what `npm run kreboot` reports from source.
declare const __KREBOOT_VERSION__: string | undefined;
export const VERSION: string = typeof __KREBOOT_VERSION__ === 'string' ? __KREBOOT_VERSION__ : '0.0.0-dev';
