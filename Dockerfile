# One image for the whole of Yzma: /manager (the operator, the entrypoint),
# /node (the store; the operator's StatefulSets run it with command
# ["/node"]) and /yzmactl (the CLI, e.g. `kubectl exec ... -- /yzmactl`).
#
#   make docker-build IMG=registry/yzma:tag

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

# Static, stripped, reproducible (no local paths). TARGETOS and TARGETARCH
# are set by `docker buildx build --platform`; without them the binaries are
# for the build host's architecture.
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags='-s -w' -o /out/ ./cmd/node ./cmd/manager ./cmd/yzmactl

# distroless/static:nonroot: no shell, no package manager, user 65532
# (the uid the operator's StatefulSets run the node as).
FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /out/node /out/manager /out/yzmactl /
USER 65532:65532

ENTRYPOINT ["/manager"]
