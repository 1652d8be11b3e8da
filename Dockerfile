# Stackpilot's GitHub App as a container: `docker compose up` with compose.yaml beside this file,
# or see README ("Container"). Two stages: the build (all dependencies, tsc, the embedded
# database's template) and the runtime (production dependencies, the compiled code, git).
#
# NODE_IMAGE is any image with Node 24 and npm; the e2e test builds from an offline one
# (test/e2e/container/offlineBase.sh) with NPM_CONFIG_REGISTRY pointing at a registry it serves.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
# npm's registry for the install below (the e2e test's offline build serves one from the npm cache).
ARG NPM_CONFIG_REGISTRY=https://registry.npmjs.org/
WORKDIR /src
COPY package.json package-lock.json ./
# No dependency install scripts: the `node` dev dependency's would fetch a second Node, and ssh2's
# optional native crypto binding is not needed (it uses Node's own crypto without it).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json app.yml ./
COPY bin ./bin
COPY src ./src
# tsc, then the embedded database's template (initdb once, here, instead of on first start).
RUN npm run build && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE}
# git for the repository mirrors, and nothing else: SSH is a library (ssh2), the database embedded
# or a server. A base image that has git already (the e2e test's offline one) skips the install.
RUN command -v git >/dev/null || \
  (apt-get update && apt-get install -y --no-install-recommends git ca-certificates && rm -rf /var/lib/apt/lists/*)
WORKDIR /app
COPY --from=build /src/package.json /src/app.yml ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/bin ./bin
COPY --from=build /src/dist ./dist
# The data dir (embedded database, repository mirrors, trust-on-first-use host keys), owned by the
# unprivileged `node` user (uid 1000) of the Node image; `stackpilot` on PATH for `docker exec`.
RUN mkdir -p /data && chown 1000:1000 /data && ln -s /app/bin/stackpilot.js /usr/local/bin/stackpilot
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000 STACKPILOT_DATA_DIR=/data
USER 1000:1000
VOLUME /data
EXPOSE 3000
# /healthz answers while the process runs; /readyz tells when it can take webhooks.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/github/server.js"]
