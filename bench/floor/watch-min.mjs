// The least a node agent must keep doing while idle, written for each runtime with its own native APIs: one TLS
// watch of its Node (client certificate), a metrics HTTP server, and an inotify watch of the sentinel's directory.
// `npm run bench -- runtime-floor` runs it under Node, Bun and Deno and samples RSS: what a runtime costs before
// any of kreboot's code. Plain JavaScript so every runtime runs the same file unbuilt.
const [server, pki, node, port, sentinelDir] = globalThis.Deno ? Deno.args : process.argv.slice(2);
const watchPath = `/api/v1/nodes?watch=true&fieldSelector=metadata.name%3D${node}&allowWatchBookmarks=true`;
const log = (o) => console.log(JSON.stringify({ time: Date.now(), ...o }));
const metrics = () => '# HELP agent_up 1 when up\n# TYPE agent_up gauge\nagent_up 1\n';

async function eachLine(chunks, fn) {
  const dec = new TextDecoder();
  let buf = '';
  for await (const c of chunks) {
    buf += dec.decode(c, { stream: true });
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      fn(JSON.parse(buf.slice(0, i)));
      buf = buf.slice(i + 1);
    }
  }
}
const onEvent = (ev) => log({ msg: 'node event', type: ev.type });

if (globalThis.Deno) {
  const read = (f) => Deno.readTextFileSync(`${pki}/${f}`);
  const client = Deno.createHttpClient({
    caCerts: [read('ca.crt')],
    cert: read('admin.crt'),
    key: read('admin.key'),
  });
  const res = await fetch(`${server}${watchPath}`, { client });
  eachLine(res.body, onEvent);
  Deno.serve({ port: Number(port), hostname: '127.0.0.1', onListen() {} }, () => new Response(metrics()));
  (async () => {
    for await (const e of Deno.watchFs(sentinelDir)) log({ msg: 'sentinel', kind: e.kind });
  })();
} else if (globalThis.Bun) {
  const tls = {
    ca: Bun.file(`${pki}/ca.crt`),
    cert: Bun.file(`${pki}/admin.crt`),
    key: Bun.file(`${pki}/admin.key`),
  };
  const res = await fetch(`${server}${watchPath}`, { tls });
  eachLine(res.body, onEvent);
  Bun.serve({ port: Number(port), hostname: '127.0.0.1', fetch: () => new Response(metrics()) });
  (await import('node:fs')).watch(sentinelDir, (kind) => log({ msg: 'sentinel', kind }));
} else {
  const fs = await import('node:fs');
  const https = await import('node:https');
  const http = await import('node:http');
  const read = (f) => fs.readFileSync(`${pki}/${f}`);
  https
    .get(
      `${server}${watchPath}`,
      { ca: read('ca.crt'), cert: read('admin.crt'), key: read('admin.key') },
      (res) => eachLine(res, onEvent),
    )
    .on('error', (e) => log({ msg: 'watch failed', err: String(e) }));
  http.createServer((_, res) => res.end(metrics())).listen(Number(port), '127.0.0.1');
  fs.watch(sentinelDir, (kind) => log({ msg: 'sentinel', kind }));
}
setInterval(() => {}, 60_000);
