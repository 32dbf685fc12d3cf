# One image for the whole of Yzma: /manager (the operator, the entrypoint),
# /node (the store; the operator's StatefulSets run it with command
# ["/node"]) and /yzmactl (the CLI, e.g. `kubectl exec ... -- /yzmactl`).
#
#   make docker-build IMG=registry/yzma:tag
#
# `make image` builds the same image without Docker (internal/image) as
# bin/yzma-image.tar, for `docker load -i` or `kind load image-archive`;
# the local cluster's tests run that archive. A test
# (internal/image, TestDockerfileMatchesArchive) checks that the final stage
# below has the same files, ENV, USER, WORKDIR and ENTRYPOINT as the
# archive, and that the build flags are the same: change both together.

ARG GO_VERSION=1.26

# Build the three binaries.
FROM golang:${GO_VERSION} AS builder
ARG TARGETOS
ARG TARGETARCH

WORKDIR /workspace
# Download the modules first, in their own layer, so that a source change
# does not download them again.
COPY go.mod go.sum ./
RUN go mod download

# Only the packages the three commands import.
COPY api/ api/
COPY cmd/ cmd/
COPY internal/controller/ internal/controller/
COPY node/ node/

# Static, stripped, reproducible (no local paths, no VCS stamp). TARGETOS
# and TARGETARCH are set by `docker buildx build --platform`; without them
# the binaries are for the build host's architecture.
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags='-s -w' -buildvcs=false -o /out/ ./cmd/node ./cmd/manager ./cmd/yzmactl

# Nothing but the binaries and the nonroot user (uid 65532, the uid the
# operator's StatefulSets run the node as): no shell, no package manager,
# no CA bundle (see internal/image's package documentation for what
# distroless/static:nonroot would add and why it is not needed).
FROM scratch
COPY internal/image/rootfs/ /
COPY --from=builder /out/node /out/manager /out/yzmactl /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
USER 65532:65532
WORKDIR /

ENTRYPOINT ["/manager"]
