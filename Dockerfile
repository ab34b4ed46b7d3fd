# upload-gateway on Node 20. Build: docker build -t upload-gateway .
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
COPY native ./native
# tsx runs the TypeScript sources directly; dev dependencies build the widget bundle.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
RUN npm ci --include=dev   # also builds native/sha256 (postinstall)
COPY tsconfig.json ./
COPY config ./config
COPY server ./server
COPY client ./client
RUN npm run build:widget && npm prune --omit=dev
USER node
EXPOSE 3001
HEALTHCHECK --interval=15s --timeout=3s CMD node -e "fetch('http://127.0.0.1:3001/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "--import", "tsx", "server/index.ts"]
