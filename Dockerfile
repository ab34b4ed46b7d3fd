# upload-gateway on Node 24 LTS. Build: docker build -t upload-gateway .
# Two stages: the compiler, the dev dependencies and the sources stay in the build stage;
# the runtime image holds the compiled JavaScript, the production node_modules, the native
# sha256 addon built for this Node, and the widget bundle.

FROM node:24-slim AS build
WORKDIR /app
# python3, make, g++: node-gyp builds native/sha256 against this Node's own headers.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
COPY native ./native
RUN npm ci --no-audit --no-fund   # postinstall builds native/sha256
RUN test -f native/sha256/build/Release/sha256_state.node   # no silent fallback to the WASM sha256 in the image
COPY tsconfig.json tsconfig.build.json ./
COPY server ./server
COPY client ./client
RUN npm run build && npm run build:widget && npm prune --omit=dev --no-audit --no-fund

FROM node:24-slim
ENV NODE_ENV=production
# State that must outlive the container goes to /data (a volume); see config/compose.yaml.
ENV CONFIG_FILE=config/compose.yaml
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/native/sha256/build/Release/sha256_state.node ./native/sha256/build/Release/
COPY --from=build /app/client/dist ./client/dist
COPY config ./config
# The image's user (node, uid 1000) owns /data; a fresh named volume takes this ownership.
RUN mkdir -p /data/tus /data/storage && chown -R node:node /data
VOLUME /data
USER node
EXPOSE 3001
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3001)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node directly (no npm, no shell): SIGTERM from `docker stop` reaches the gateway, which drains.
# The flags of package.json "start" (test/ops/compose.test.ts checks they agree). A 1 MiB young
# generation (--max-semi-space-size=1, V8's default grows to 16 MiB): each 64 KiB socket buffer is
# freed at the next scavenge, so buffers do not pile up between collections under upload load
# (peak RSS of 16 uploads at once: ~240 → ~195 MiB), for a few % more CPU per MiB; see README, Performance.
# MALLOC_ARENA_MAX=2: glibc gives each thread that allocates (V8's workers, libuv's pool) an
# arena of its own, up to 8 per core, each keeping its freed memory; two are enough for the
# gateway, whose allocations are the main thread's (idle RSS −1 MiB, soak peak lower).
ENV MALLOC_ARENA_MAX=2
CMD ["node", "--enable-source-maps", "--max-semi-space-size=1", "dist/server/index.js"]
