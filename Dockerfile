# weft: the agent (one bundled file, with its V8 code cache) and its CNI plugin (a static Go
# executable).
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY hack/build.mjs hack/build.mjs
COPY src src
RUN node hack/build.mjs

# The plugin uses Go's standard library only, so this stage downloads no modules.
FROM golang:1.22-bookworm AS cni
WORKDIR /src
COPY hack/build-cni.sh hack/go.sh hack/
COPY cni cni
RUN bash hack/build-cni.sh

# Runtime: Node 20, iproute2, both iptables backends (nft and legacy), nft for EnableNFTables, and
# for the wireguard backend `wg` plus the userspace wireguard-go for kernels without the module;
# no build tools.
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends iproute2 iptables nftables wireguard-tools wireguard-go \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /weft
COPY --from=build /src/package.json /weft/package.json
COPY --from=build /src/dist/bundle /weft/dist/bundle
COPY --from=build /src/dist/proto /weft/dist/proto
COPY --from=cni /src/dist/cni/flannel /weft/cni/flannel
# Root inside the container, but the DaemonSet grants only NET_ADMIN and NET_RAW: programming
# routes and iptables needs those, and the xtables lock and host paths are root-owned.
# Run through the launcher's shebang (env -S), which carries the agent's Node and malloc settings.
# The code cache in dist/bundle was made by the build stage's Node, the same image as this one.
ENTRYPOINT ["/weft/dist/bundle/weft.mjs"]
CMD ["agent"]
