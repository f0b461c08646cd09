/**
 * Builds the browser demo and serves it on localhost (Node's http, no
 * dependencies). `npm run demo` → open the printed address.
 *
 *   npx tsx examples/browser/serve.ts [--port 8080] [--model RUN_DIR]
 *
 * `--model` copies a run's model folder (RUN_DIR/model: model.json,
 * weights.bin, segmenter.json) to ./model/, where the page's "Load model" looks.
 */
import { createServer, type Server } from 'node:http';
import { cp, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBrowserDemo, DEFAULT_DEMO_DIR } from './build.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.bin': 'application/octet-stream',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.wasm': 'application/wasm',
};

/** A static file server for `dir` on 127.0.0.1; port 0 picks a free port. */
export function serveDirectory(dir: string, port = 0): Promise<{ server: Server; url: string }> {
  const root = resolve(dir);
  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://localhost').pathname);
    const file = normalize(join(root, path === '/' ? 'index.html' : path));
    if (!file.startsWith(root)) {
      response.writeHead(403).end();
      return;
    }
    readFile(file).then(
      (body) => response.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body),
      () => response.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}`),
    );
  });
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      const actualPort = typeof address === 'object' && address !== null ? address.port : port;
      resolvePromise({ server, url: `http://127.0.0.1:${actualPort}/` });
    });
  });
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const portFlag = process.argv.indexOf('--port');
  const port = portFlag >= 0 ? Number(process.argv[portFlag + 1]) : 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`serve: '--port' must be an integer in [0, 65535], received '${process.argv[portFlag + 1]}'`);
  const built = await buildBrowserDemo(DEFAULT_DEMO_DIR);
  const modelFlag = process.argv.indexOf('--model');
  if (modelFlag >= 0) {
    const run = resolve(process.argv[modelFlag + 1] ?? '');
    const source = existsSync(join(run, 'model', 'model.json')) ? join(run, 'model') : run;
    if (!existsSync(join(source, 'model.json'))) throw new Error(`serve: '--model' must name a run folder or a model folder with model.json, received '${process.argv[modelFlag + 1] ?? ''}'`);
    await cp(source, join(built.outDir, 'model'), { recursive: true });
  }
  const { url } = await serveDirectory(built.outDir, port);
  console.log(`hemnet browser demo: ${url}  (Ctrl-C to stop)`);
}
