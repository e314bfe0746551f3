# kreboot: one image for the agent (DaemonSet) and the controller (Deployment).
# Every step here is exercised outside Docker by test/integration/dockerfile.test.ts (there is no Docker engine
# on the build machine): the same files copied, the same commands run, the entrypoint started from /app alone.

# --- build: install the locked dependencies, bundle the CLI (all dependencies inlined), build the agent's binding ---
FROM node:24-bookworm-slim AS build
# The agent's memory trim is one C file (operator/agent/native/trim.c, a Node-API binding): a C compiler here,
# nothing of it in the runtime stage but the built dist/trim.node.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY scripts/build.mjs scripts/build.mjs
COPY operator operator
RUN npm run build

# --- runtime: Node 24 and the bundle, nothing else ---
# Debian slim rather than distroless: the agent's default reboot method runs nsenter (util-linux) into PID 1.
FROM node:24-bookworm-slim
LABEL org.opencontainers.image.source="https://github.com/kreboot/kreboot" \
      org.opencontainers.image.description="kreboot: safe rolling node reboots for Kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production
COPY --from=build /src/dist /app
# Non-root by default (the controller). The agent's DaemonSet sets its own user and capabilities per reboot
# method: "command" runs privileged as root (nsenter); "signal" runs as root with no capabilities at all.
USER 65532:65532
ENTRYPOINT ["node", "/app/kreboot.mjs"]
CMD ["--help"]
