# One image for both apps:
#   worker:   node apps/worker/dist/main.js   (the default command)
#   producer: node apps/producer/dist/main.js
# Configuration comes from the environment (docs/configuration.md); see docs/operations.md.

ARG NODE_IMAGE=node:20-bookworm-slim

# pnpm on a Node base. corepack cannot fetch pnpm here, so npm installs it; the version is pinned
# because pnpm-lock.yaml and the allowBuilds map in pnpm-workspace.yaml are pnpm 12 formats.
FROM ${NODE_IMAGE} AS pnpm
ARG PNPM_VERSION=12.21.0
RUN npm install --global --no-fund --no-audit "pnpm@${PNPM_VERSION}"
WORKDIR /app
# Only the manifests, so the install layers below are reused until a dependency changes.
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY packages/shared/package.json packages/shared/
COPY packages/engine/package.json packages/engine/
COPY packages/sdk/package.json packages/sdk/
COPY packages/telemetry/package.json packages/telemetry/
COPY apps/worker/package.json apps/worker/
COPY apps/producer/package.json apps/producer/

# Everything, dev dependencies included, then the TypeScript build.
FROM pnpm AS build
# The root postinstall runs this script: it copies the text-direction model out of its npm
# package into models/. onnxruntime-node's own install script stays off (allowBuilds).
COPY scripts/build-models.ts scripts/
RUN pnpm install --frozen-lockfile
COPY . .
RUN pnpm build

# Production dependencies only, in the same workspace layout as the build, so the workspace
# symlinks (apps/worker/node_modules/@conveyor/engine -> ../../../packages/engine) still resolve.
# --ignore-scripts: the root postinstall needs tsx, a dev dependency; the models come from `build`.
# onnxruntime-node ships CPU binaries for every OS and architecture (~290 MB): keep only this one.
FROM pnpm AS deps
RUN pnpm install --frozen-lockfile --prod --ignore-scripts \
 && ort="$(find node_modules/.pnpm -maxdepth 3 -type d -path '*/node_modules/onnxruntime-node' | head -n 1)" \
 && test -n "$ort" \
 && arch="$(node -p process.arch)" \
 && find "$ort/bin/napi-v6" -mindepth 1 -maxdepth 1 ! -name linux -exec rm -rf {} + \
 && find "$ort/bin/napi-v6/linux" -mindepth 1 -maxdepth 1 ! -name "$arch" -exec rm -rf {} + \
 && test -f "$ort/bin/napi-v6/linux/$arch/onnxruntime_binding.node"

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    MODEL_REPOSITORY=/app/models
WORKDIR /app
# Files stay owned by root and read-only to the `node` user: nothing writes under /app.
COPY --from=deps /app ./
COPY --from=build /app/packages/shared/dist packages/shared/dist
COPY --from=build /app/packages/engine/dist packages/engine/dist
COPY --from=build /app/packages/sdk/dist packages/sdk/dist
COPY --from=build /app/packages/telemetry/dist packages/telemetry/dist
COPY --from=build /app/apps/worker/dist apps/worker/dist
COPY --from=build /app/apps/producer/dist apps/producer/dist
# The gRPC service loads its .proto at run time.
COPY --from=build /app/apps/producer/proto apps/producer/proto
# Owned by node: the producer writes uploaded model versions into it (a shared volume).
COPY --from=build --chown=node:node /app/models models
USER node
EXPOSE 8080
# Exec form: node is PID 1 and receives SIGTERM itself, which starts the graceful shutdown.
CMD ["node", "apps/worker/dist/main.js"]
