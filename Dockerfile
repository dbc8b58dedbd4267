FROM node:20-bookworm-slim
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json ./
COPY bin bin
COPY src src
COPY gen gen
EXPOSE 50051
CMD ["node", "bin/authz.js", "serve", "--no-gateway", "--grpc-address", "0.0.0.0:50051", "--data-file", "/data/authz.db"]
