# weft: the agent (one bundled ES module) and its CNI plugin (a self-contained executable).
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY hack/build.mjs hack/build.mjs
COPY src src
RUN npm run build

# Runtime: Node 20, iproute2 and both iptables backends (nft and legacy); no build tools.
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends iproute2 iptables \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /weft
COPY --from=build /src/package.json /weft/package.json
COPY --from=build /src/dist/bundle /weft/dist/bundle
COPY --from=build /src/dist/proto /weft/dist/proto
COPY --from=build /src/dist/cni/flannel /weft/cni/flannel
# Root inside the container, but the DaemonSet grants only NET_ADMIN and NET_RAW: programming
# routes and iptables needs those, and the xtables lock and host paths are root-owned.
ENTRYPOINT ["node", "/weft/dist/bundle/weft.mjs"]
CMD ["agent"]
