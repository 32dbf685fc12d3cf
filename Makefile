# Yzma: a multi-master, fully replicated key/value store and its Kubernetes operator.

GO ?= go
LOCALBIN ?= $(CURDIR)/bin
GOLANGCI_LINT_VERSION ?= v2.15.0
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint
CONTROLLER_TOOLS_VERSION ?= v0.23.0
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
KUSTOMIZE_VERSION ?= v5.8.1
KUSTOMIZE ?= $(LOCALBIN)/kustomize
# The real control-plane binaries (etcd, kube-apiserver,
# kube-controller-manager, kubectl), built from the tools modules under
# hack/tools by hack/k8s-bins.sh and cached per user.
K8S_BIN ?= $(LOCALBIN)/k8s
KUBECTL ?= $(shell command -v kubectl || echo $(K8S_BIN)/kubectl)
# Image holding the node, the manager and yzmactl.
IMG ?= yzma:latest
# The image as a docker-save archive, built without Docker (make image).
IMAGE_ARCHIVE ?= $(LOCALBIN)/yzma-image.tar
CONTAINER_TOOL ?= docker
# Test flags; e.g. `make test TESTFLAGS=-short` for a quick pass.
TESTFLAGS ?=
# Packages tested with the race detector; the rest (operator, envtest,
# e2e) run without it.
RACE_PKGS ?= ./node/... ./cmd/...
MODULE := $(shell $(GO) list -m)
# The fuzz targets, as package:FuzzName (go test -fuzz takes one target per
# run). Append yours here. FUZZTIME bounds each: 5s by default in
# fuzz-short (part of make test), 1m in fuzz.
FUZZ_TARGETS ?= \
	./node/config:FuzzConfigDecode \
	./node/httpapi:FuzzKeyOf \
	./node/httpapi:FuzzFlagOf \
	./node/client:FuzzReadEvents \
	./node/crdt:FuzzDecodeToken \
	./node/cluster:FuzzDecodeOps \
	./node/cluster:FuzzDecodeCompressedOps \
	./node/store:FuzzSnapshotDecode \
	./node/store:FuzzCheckBackup \
	./node/creds:FuzzParse

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-15s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate the CRD and the manager's RBAC role from the markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths=./api/... paths=./internal/controller/... output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

.PHONY: generate
generate: controller-gen ## Generate the API's DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: fmt
fmt: ## Run gofmt on the code.
	gofmt -w $$(git ls-files '*.go')

.PHONY: fmt-check
fmt-check: ## Fail if any file is not gofmt-clean.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

.PHONY: vet
vet: ## Run go vet against the code.
	$(GO) vet ./...

.PHONY: lint
lint: golangci-lint ## Run golangci-lint.
	$(GOLANGCI_LINT) run ./...

# TEST_TIMEOUT bounds each test binary (go test's default is 10 minutes;
# the end-to-end journey alone takes about that long).
TEST_TIMEOUT ?= 30m

.PHONY: test
test: fmt-check vet k8s-bins ## Run every test (node and commands with -race; envtest, local cluster), then fuzz-short.
	KUBEBUILDER_ASSETS=$(K8S_BIN) $(GO) test -count=1 -race -timeout $(TEST_TIMEOUT) $(TESTFLAGS) $(RACE_PKGS)
	KUBEBUILDER_ASSETS=$(K8S_BIN) $(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(TESTFLAGS) \
		$$($(GO) list ./... | grep -v -E '^$(MODULE)/(node|cmd)(/|$$)')
	$(MAKE) --no-print-directory fuzz-short

# run-fuzz runs every target in FUZZ_TARGETS for $(1), one go test each
# (hack/run-fuzz.sh: a missing target is an error; Go 1.26's fuzztime
# deadline race is retried once).
define run-fuzz
	GO=$(GO) hack/run-fuzz.sh $(1) $(FUZZ_TARGETS)
endef

.PHONY: fuzz-short
fuzz-short: FUZZTIME ?= 5s
fuzz-short: ## Run each fuzz target in FUZZ_TARGETS for FUZZTIME (default 5s; part of make test).
	$(call run-fuzz,$(FUZZTIME))

.PHONY: fuzz
fuzz: FUZZTIME ?= 1m
fuzz: ## Fuzz for longer: each target FUZZTIME (default 1m), e.g. make fuzz FUZZTIME=10m FUZZ_TARGETS=./node/httpapi:FuzzKeyOf
	$(call run-fuzz,$(FUZZTIME))

.PHONY: test-e2e
test-e2e: k8s-bins ## Run the end-to-end journey on the local cluster (part of make test).
	KUBEBUILDER_ASSETS=$(K8S_BIN) $(GO) test -count=1 -timeout $(TEST_TIMEOUT) -v ./test/e2e

.PHONY: test-e2e-kind
# kind would pull a :latest image from the network, so the journey's image
# has its own tag (make test-e2e-kind IMG=... to change it); the image is
# the same whatever the tag (make image is reproducible).
test-e2e-kind: IMG = yzma:e2e
test-e2e-kind: image ## Run the end-to-end journey on a new kind cluster (needs Docker and kind): make image, kind load image-archive, deploy.
	E2E_CLUSTER=kind E2E_IMAGE=$(IMG) E2E_IMAGE_ARCHIVE=$(IMAGE_ARCHIVE) $(GO) test -count=1 -v -timeout 30m ./test/e2e

.PHONY: bench
bench: ## Run the benchmarks (writes with 1 to 2,000 writers, reads, overload, replication latency).
	$(GO) test -run '^$$' -bench . -benchmem ./...

.PHONY: bench-join
bench-join: ## A blank node joins one holding 1M keys (YZMA_BENCH_KEYS), plain then zstd, each in a process of its own: seconds to ready and bytes on the wire.
	for mode in plain zstd; do YZMA_BENCH_JOIN=1 $(GO) test -run '^$$' -bench "BenchmarkJoin/$$mode" -benchtime 1x -timeout 30m ./node/cluster || exit 1; done

.PHONY: bench-replication
bench-replication: ## p50/p99/max from a write's acknowledgement on one node of three to its being applied on both others, under a sustained YZMA_BENCH_RATE (5,000) writes/s.
	GOGC=$(or $(GOGC),400) $(GO) test -run '^$$' -bench BenchmarkReplicationUnderLoad -benchtime $(or $(BENCH_RUNS),3)x -timeout 30m ./node/cluster

.PHONY: bench-loaded
bench-loaded: ## One node's durable writes/s (64 writers) into an empty file and into one holding 1M keys (YZMA_BENCH_KEYS), and their ratio.
	GOGC=$(or $(GOGC),400) YZMA_BENCH_LOADED=1 $(GO) test -run '^$$' -bench BenchmarkPutAsDataGrows -benchtime 1x -timeout 30m ./node/store

.PHONY: bench-compare
bench-compare: ## Yzma (3 nodes) side by side with etcd (3 members), Redis (appendfsync always) and a bare Go HTTP server: RUNS runs of ../shared/bench/compare.sh and the median ratios (needs: apt-get install -y wrk etcd-server etcd-client redis-server redis-tools).
	hack/bench-compare.sh $(or $(RUNS),3) $(or $(BENCH_SECONDS),10) $(or $(BENCH_CONNS),64)

.PHONY: bench-restart
bench-restart: ## Restart one node of three holding 100k keys after 90 s down, writes going on: bytes moved vs the data set.
	YZMA_BENCH_RESTART=1 $(GO) test -run '^$$' -bench RestartAfterDowntime -benchtime 1x -timeout 30m ./node/cluster

.PHONY: test-faults
test-faults: SEED ?= 1
test-faults: SEEDS ?= 1
test-faults: DURATION ?= 30s
test-faults: NODES ?= 5
test-faults: ## Fault-injection suite (test/faults): SEEDS runs from SEED, each DURATION on NODES nodes; FAULTS_REPORT=file appends JSON.
	SEED=$(SEED) SEEDS=$(SEEDS) DURATION=$(DURATION) NODES=$(NODES) \
		$(GO) test -count=1 -v -run '^TestFaults$$' -timeout $$(( $(SEEDS) * 10 + 10 ))m ./test/faults

##@ Build

.PHONY: build
build: ## Build the node, yzmactl and the manager into bin/.
	$(GO) build -o $(LOCALBIN)/ ./cmd/...

.PHONY: run
run: ## Run a local 3-node cluster on 127.0.0.1-3:8080-8082, data in .local/ (Ctrl-C stops it).
	hack/run-local.sh

.PHONY: local-k8s
local-k8s: k8s-bins image ## Run a local Kubernetes (no Docker) running the image IMAGE_ARCHIVE, with the operator and the sample YzmaCluster (Ctrl-C stops it).
	$(GO) run ./hack/localcluster -build=false -image-archive $(IMAGE_ARCHIVE) -tag $(IMG)

.PHONY: image
image: ## Build the image IMG without Docker as IMAGE_ARCHIVE (bin/yzma-image.tar) for docker load -i or kind load image-archive.
	$(GO) run ./hack/image -o $(IMAGE_ARCHIVE) -tag $(IMG)

.PHONY: docker-build
docker-build: ## Build the image IMG holding the node, the manager and yzmactl with Docker (the same image as make image).
	$(CONTAINER_TOOL) build -t $(IMG) .

##@ Deployment

.PHONY: install
install: manifests ## Install the CRD into the cluster of the current kubeconfig.
	$(KUBECTL) apply --server-side -k config/crd

.PHONY: uninstall
uninstall: ## Remove the CRD (and so every YzmaCluster) from the cluster.
	$(KUBECTL) delete --ignore-not-found -k config/crd

.PHONY: deploy
deploy: manifests kustomize ## Deploy the operator with image IMG (make deploy IMG=registry/yzma:tag).
	cd config/manager && $(KUSTOMIZE) edit set image controller=$(IMG)
	$(KUSTOMIZE) build config/default | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: ## Remove the operator.
	$(KUBECTL) delete --ignore-not-found -k config/default

##@ Tools

.PHONY: k8s-bins
k8s-bins: ## Build (first time only, ~15 min) and link etcd, kube-apiserver, kube-controller-manager, kubectl into bin/k8s.
	hack/k8s-bins.sh

.PHONY: kustomize
kustomize: $(KUSTOMIZE)
$(KUSTOMIZE):
	GOBIN=$(LOCALBIN) $(GO) install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN)
$(CONTROLLER_GEN):
	GOBIN=$(LOCALBIN) $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT)
$(GOLANGCI_LINT):
	GOBIN=$(LOCALBIN) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
