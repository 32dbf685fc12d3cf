#!/usr/bin/env bash
# Builds the real Kubernetes control-plane binaries that the tests run
# (etcd, kube-apiserver, kube-controller-manager, kubectl) from the pinned
# tools modules under hack/tools/, into a per-user cache keyed by those
# pins, and links them into bin/k8s/ (the folder KUBEBUILDER_ASSETS names).
# Only the first run on a machine pays the build (about 20 minutes on 2
# cores); later runs, from any clone, only make the links.
#
# Usage: hack/k8s-bins.sh [binary...]   (default: all four)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${YZMA_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/yzma-tools}"
dest="$root/bin/k8s"
mkdir -p "$dest"

# build NAME MODULE-DIR PACKAGE: builds PACKAGE of the tools module in
# MODULE-DIR into the cache folder keyed by that module's go.sum, unless
# it is there already, then links it into bin/k8s.
build() {
	local name=$1 moddir=$2 pkg=$3 key dir
	key=$(cat "$moddir/go.mod" "$moddir/go.sum" <(echo "$ldflags") | sha256sum | cut -c1-16)
	dir="$cache/$(basename "$moddir")-$key"
	if [ ! -x "$dir/$name" ]; then
		echo "building $name (cached in $dir; only the first run on this machine pays this)" >&2
		mkdir -p "$dir"
		(cd "$moddir" && CGO_ENABLED=0 go build -trimpath -ldflags="$ldflags" -o "$dir/$name.tmp" "$pkg")
		mv "$dir/$name.tmp" "$dir/$name"
	fi
	ln -sfn "$dir/$name" "$dest/$name"
}

# The Kubernetes binaries report their pinned version (kubectl version,
# /version) rather than v0.0.0.
kv=v1.37.2
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$kv -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37 -X k8s.io/client-go/pkg/version.gitVersion=$kv"

want=("$@")
[ ${#want[@]} -gt 0 ] || want=(etcd kube-apiserver kube-controller-manager kubectl)
for b in "${want[@]}"; do
	case "$b" in
	etcd) build etcd "$root/hack/tools/etcd" go.etcd.io/etcd/server/v3 ;;
	kube-apiserver | kube-controller-manager | kubectl)
		build "$b" "$root/hack/tools/k8s" "k8s.io/kubernetes/cmd/$b" ;;
	*) echo "unknown binary $b" >&2; exit 2 ;;
	esac
done
