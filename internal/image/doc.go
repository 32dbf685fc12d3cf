// Package image builds Yzma's container image without Docker: the node,
// the manager and yzmactl as static Go binaries on an empty base, written
// as a docker-save style archive (manifest.json with RepoTags, the config
// and the layers), which `docker load -i`, `kind load image-archive` and
// containerd's `ctr images import` accept. `make image` runs it
// (hack/image); the local cluster's process kubelet runs pods from such
// archives (internal/localcluster, Options.ImageArchives), so the
// end-to-end tests run the very image users deploy.
//
// # What is in the image
//
//	/manager        the operator; the entrypoint
//	/node           the store (the operator's StatefulSets run command ["/node"])
//	/yzmactl        the CLI (kubectl exec … -- /yzmactl)
//	/etc/passwd     root (0), nobody (65534), nonroot (65532)
//	/etc/group      the same groups
//
// The binaries are built with CGO_ENABLED=0 -trimpath -ldflags='-s -w'
// -buildvcs=false for linux and the host's architecture ($GOARCH, or
// Options.Arch), as the Dockerfile's builder stage does. The config runs
// as user 65532:65532 (the uid the operator runs the node as), in /, with
// entrypoint ["/manager"], no Cmd, and PATH as its only variable.
//
// # Why an empty base rather than distroless/static:nonroot
//
// Nothing is pulled: the base is go-containerregistry's empty.Image, so
// the image builds offline and from nothing but this checkout. Of what
// gcr.io/distroless/static:nonroot adds to a scratch image, the binaries
// need little:
//
//   - /etc/passwd and /etc/group with the nonroot user 65532: kept (files
//     in rootfs/ here, embedded), so that user lookups (os/user, `id`-like
//     tooling, runtimes that set HOME from passwd) know the user. Its home
//     is /nonexistent: nothing in Yzma writes to a home directory, and the
//     pods run with a read-only root file system.
//   - CA certificates: left out. The node serves TLS (its own certificate)
//     but dials nothing over TLS; the manager reaches the API server with
//     the service account's CA, and the nodes over plain HTTP or through
//     the API server; yzmactl in a pod talks to its own node. Should a
//     binary ever verify a public certificate, the bundle must come from
//     the build host (Debian's ca-certificates) here and from the builder
//     stage in the Dockerfile, and both file lists grow together.
//   - time zone data, /etc/nsswitch.conf, /etc/os-release, /tmp and
//     /home/nonroot: left out. Yzma logs in UTC and loads no zones; Go's
//     resolver does without nsswitch.conf; the operator mounts an
//     emptyDir at /tmp for the node, and the manager writes no files.
//
// The Dockerfile (for users with Docker) builds the same image: its final
// stage is FROM scratch and copies exactly rootfs/ and the three binaries,
// with the same ENV, USER, WORKDIR and ENTRYPOINT. A test
// (TestDockerfileMatchesArchive) parses that stage and compares its file
// list and config with an archive written here, so the two cannot drift.
//
// # Reproducible
//
// Every timestamp (the config's created, the history, each file's mtime)
// is $SOURCE_DATE_EPOCH, else the Unix epoch; files are owned by 0:0 in a
// fixed order; the one layer is gzipped by Go's compress/gzip, which is
// deterministic. The same checkout and Go version give the same image
// digest, whatever the tag (the tag is only in manifest.json).
package image
