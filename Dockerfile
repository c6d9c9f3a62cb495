# The chat service as one image: the compiled server, the built web app and the production dependencies.
# Build: docker build -t chat-service .      Run and compose: docs/deploy.md
#
# Debian (glibc), not Alpine: the embedded PostgreSQL binaries (@embedded-postgres/linux-*) and sharp's prebuilt
# libvips are glibc builds.
ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: every dependency, then the server (tsc, migrations copied into dist), the SDK and the web app (Vite)
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# The manifests first, so a change to the code does not reinstall the dependencies. web/ is an npm workspace:
# the lockfile needs its package.json. No install scripts: the root's `prepare` would build before the sources are
# here, and no dependency needs one (the embedded PostgreSQL's library links are made below, by the service's code).
COPY package.json package-lock.json ./
COPY web/package.json web/
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src src
COPY client client
COPY web web
RUN npm run build

# ---- deps: production dependencies only (tsx, drizzle-kit, vite and the test tools stay out)
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY web/package.json web/
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# ---- runtime
FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    PORT=3000 \
    DATA_DIR=/data
WORKDIR /app
# package.json says "type": "module": without it Node would read dist/*.js as CommonJS.
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Served at /: the server (dist/server/, bundled from dist/http/web-app.js) looks for it two folders up, in web/dist.
COPY --from=build /app/web/dist ./web/dist
# The PostgreSQL package's shared-library links, made now as root: the service makes missing ones at start, but
# node_modules is not writable by the user it runs as. Then DATA_DIR, owned by that user (a new named volume
# takes this owner).
RUN node -e "import('./dist/db/embedded/binaries.js').then((m) => { const b = m.findBinaries(); console.log(b.missing ?? 'embedded PostgreSQL: ' + b.postgres); })" \
 && mkdir -p /data \
 && chown node:node /data
# The `node` user (uid 1000) of the official image: PostgreSQL refuses to run as root, and nothing here needs it.
USER node
VOLUME /data
EXPOSE 3000
# Slim images have no curl; Node 20 has fetch. /health is 200 once the database answers, 503 while it does not.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Node itself, not npm: SIGTERM reaches the service, which drains sockets and requests before it exits.
CMD ["node", "dist/server/main.js"]
