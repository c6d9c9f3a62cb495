import { stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Feature } from '../feature.js';

/**
 * The built web app (`npm run build -w web`): web/dist of this repository, two folders above this file both when it
 * runs as src/http/web-app.ts (tsx) and as dist/http/web-app.js (compiled).
 */
export const DEFAULT_WEB_DIR = fileURLToPath(new URL('../../web/dist', import.meta.url));

/** Paths that belong to the service: never a file of the app, never answered with its page (their 404 is problem+json). */
const SERVICE_PATHS = ['/api', '/socket.io', '/health', '/metrics', '/docs', '/dev'];
/** Vite puts a content hash in every name under assets/: a changed file is a new URL, so these never go stale. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** The page, the service worker and the manifest name the current assets: revalidated on every load (ETag). */
const REVALIDATE = 'no-cache';
const NOT_BUILT = 'The web app is not built. Run `npm run build -w web`, then reload.\n';

const isFile = (file: string): Promise<boolean> =>
  stat(file).then(
    (s) => s.isFile(),
    () => false,
  );

const servicePath = (pathname: string) => SERVICE_PATHS.some((p) => pathname === p || pathname.startsWith(`${p}/`));
const wantsPage = (req: FastifyRequest) => (req.headers.accept ?? '').toLowerCase().includes('text/html');

/**
 * `/` and every file of the built app; a page address of the app (a GET for HTML of a path that is no file and no
 * service path) gets index.html, so a reload on a client-side route works. Anything else falls to the not-found
 * handler (problem+json). Not built: the page is a 503 saying how to build it, checked per request so a build made
 * while the service runs is served without a restart.
 */
const webAppRoutes: FastifyPluginAsync<{ root: string }> = async (app, { root }) => {
  // serve: false: the wildcard below decides what is a file, so a miss can fall back to the page.
  await app.register(fastifyStatic, { root, serve: false, index: false, dotfiles: 'ignore', cacheControl: false, suppressWarning: true });
  const index = path.join(root, 'index.html');

  const page = async (reply: FastifyReply): Promise<FastifyReply> => {
    if (!(await isFile(index)))
      return reply.code(503).type('text/plain; charset=utf-8').header('cache-control', 'no-store').send(NOT_BUILT);
    return reply.header('cache-control', REVALIDATE).sendFile('index.html', { cacheControl: false });
  };

  app.get('/', { schema: { hide: true } }, (_req, reply) => page(reply));
  app.get<{ Params: { '*': string } }>('/*', { schema: { hide: true } }, async (req, reply) => {
    const pathname = `/${req.params['*']}`;
    if (servicePath(pathname)) return reply.callNotFound();
    const relative = path.posix.normalize(pathname).slice(1);
    const full = path.join(root, relative);
    // Inside the root, no dot-file or dot-folder, and a file: otherwise it is a page address (or nothing).
    const served = full.startsWith(root + path.sep) && !relative.split('/').some((s) => s.startsWith('.')) && (await isFile(full));
    if (served) {
      const cache = relative.startsWith('assets/') ? IMMUTABLE : REVALIDATE;
      return reply.header('cache-control', cache).sendFile(relative, { cacheControl: false });
    }
    if (wantsPage(req)) return page(reply);
    return reply.callNotFound();
  });
};

/** The web app at `/`. Starting without a build only warns: building is `npm run build -w web`, never part of a start. */
export function webAppFeature(root: string = DEFAULT_WEB_DIR): Feature {
  const dir = path.resolve(root);
  return {
    name: 'web app',
    publicRoutes: (http) => http.register(webAppRoutes, { root: dir }),
    async start(log) {
      if (!(await isFile(path.join(dir, 'index.html'))))
        log.warn({ webDir: dir }, 'the web app is not built: / answers 503 until `npm run build -w web` is run');
    },
  };
}
