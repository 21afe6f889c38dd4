# syntax=docker/dockerfile:1
# qga-mqtt: the QEMU guest agents of a host's VMs, over MQTT.
# Build:  docker build -t qga-mqtt .
# Run:    see compose.yaml; the agent sockets' folder is mounted, and the socket owner's group is given
#         to the worker with --group-add (docker run) or group_add (compose).

# The Node the image runs is the Node CI tests on (.ci/run runs the suite on node@24 too).
ARG NODE_IMAGE=node:24-bookworm-slim

# Stage 1: compile TypeScript and bundle the console's page (ui/ → dist/ui, with Vite) with the dev
# dependencies (neither needs an install script).
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY ui ./ui
RUN npm run build

# Stage 2: production dependencies only (no tsx, TypeScript, biome). Install scripts run for one package:
# better-sqlite3 (the request journal), which fetches its prebuilt binary for this Node or, where that
# cannot be fetched, compiles it (hence the compiler here, not in the image that runs).
FROM ${NODE_IMAGE} AS deps
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3 \
 && npm cache clean --force

# Stage 3: what runs.
FROM ${NODE_IMAGE} AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="qga-mqtt" \
      org.opencontainers.image.description="Reach the QEMU guest agent of every VM on a host over MQTT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="docker.io/library/node:24-bookworm-slim"
# A fixed uid/gid, so host files (password file, sockets) can be granted to it; the agent sockets'
# own group is added at run time (--group-add), never baked in.
RUN groupadd --system --gid 10001 qga \
 && useradd --system --uid 10001 --gid qga --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin qga
WORKDIR /app
# A young generation of 4 MB: Node 24's default young generation is what keeps the RSS of a worker with
# 1,000 VMs near 245 MiB; with this, ~143 MiB at the same status cost (bench/status-probe.ts), for ~14% of
# the requests per second at saturation (12-13,000 against 14-15,000 on the bench's 2-core machine).
# Traffic that heavy is rare; many idle VMs are not. `-e NODE_OPTIONS=` gives the default back.
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=4 \
    QGA_MQTT_HTTP_LISTEN=127.0.0.1:9883 \
    QGA_MQTT_STATE_DIR=/var/lib/qga-mqtt
# The request journal's folder: a volume (compose.yaml), so that it outlives the container.
RUN mkdir -p /var/lib/qga-mqtt && chown qga:qga /var/lib/qga-mqtt && chmod 0700 /var/lib/qga-mqtt
VOLUME ["/var/lib/qga-mqtt"]
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
# The console's page, served by `qga-mqtt dashboard` (docker run … dashboard --listen …).
COPY --from=build /app/dist/ui ./dist/ui
# package.json: the worker reads its version there; config/: the example configurations.
COPY package.json ./
COPY config ./config
USER qga:qga
# Asks the worker itself (its /healthz is 200 while the broker is connected): no curl in the image.
# The port follows QGA_MQTT_HTTP_LISTEN; an address other than loopback or 0.0.0.0 needs its own check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.QGA_MQTT_HTTP_LISTEN||':9883').split(':').pop()+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "dist/src/main.js"]
CMD ["run"]
