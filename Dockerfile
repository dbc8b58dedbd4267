# The web console is built in a first stage (Vite is a dev dependency); the
# image itself installs production dependencies only.
FROM node:20-bookworm-slim AS console
WORKDIR /app
COPY package.json package-lock.json ./
COPY sdk/package.json sdk/
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY src/console src/console
RUN npx vite build --config src/console/vite.config.ts

FROM node:20-bookworm-slim
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
COPY sdk/package.json sdk/
# --ignore-scripts skips the root `prepare` (the console build, done above); better-sqlite3 is then built explicitly.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm rebuild better-sqlite3
COPY tsconfig.json ./
COPY bin bin
COPY src src
COPY gen gen
COPY sdk/src sdk/src
COPY --from=console /app/src/console/dist src/console/dist
RUN mkdir /data && chown node:node /data
USER node
EXPOSE 50051 8081
CMD ["node", "bin/authz.js", "serve", "--no-gateway", "--grpc-address", "0.0.0.0:50051", "--data-file", "/data/authz.db"]
