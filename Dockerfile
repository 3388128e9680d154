# syntax=docker/dockerfile:1
# The state server: build with the dev dependencies, run with the production ones only, as "node".
#   docker build -t state-server .
#   docker run --rm -p 3000:3000 -e KAFKA_BROKERS=kafka:9092 -e REDIS_URL=redis://redis:6379 state-server
# Every setting is an environment variable: see docs/operations.md.

FROM node:26-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY nest-cli.json tsconfig.json tsconfig.build.json ./
COPY src ./src
# Compile (the Lua scripts are copied beside the JS), then drop the dev dependencies.
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:26-slim AS runtime
ENV NODE_ENV=production \
    PORT=3000
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
USER node
EXPOSE 3000
# Liveness only (the process answers): readiness (/health/ready) is for the load balancer.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node is PID 1 and handles SIGTERM itself: stops fetching, commits, closes Kafka and Redis, exits 0
# within SHUTDOWN_TIMEOUT_MS (10 s by default; give the orchestrator's grace period a few seconds more).
STOPSIGNAL SIGTERM
# kafkajs 2.2.4 arms a timer with a negative delay, which Node runs after 1 ms as before; since Node 24 it
# also prints a TimeoutNegativeWarning in the middle of the JSON logs. Only that warning is silenced.
CMD ["node", "--disable-warning=TimeoutNegativeWarning", "dist/main.js"]
