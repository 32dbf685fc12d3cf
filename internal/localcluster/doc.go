// Package localcluster runs a small but real Kubernetes cluster on one
// machine without Docker, containers or root: the real etcd,
// kube-apiserver and kube-controller-manager binaries (from bin/k8s, built
// by hack/k8s-bins.sh), plus three stand-ins written here:
//
//   - a process kubelet: it registers one Node, binds every unscheduled Pod
//     to it (there is no scheduler) and runs each container as a local
//     process, with a loopback address per Pod, environment, volumes,
//     probes, restarts and graceful deletion much like a kubelet would;
//   - a storage provisioner: every PersistentVolumeClaim gets a hostPath
//     PersistentVolume, pre-bound to it, backed by a directory that lives
//     as long as the claim does (kube-controller-manager's binder binds
//     them);
//   - a DNS server on loopback answering the cluster's Service and Pod
//     names from the Pods the API server knows.
//
// It is meant for end-to-end tests of the Yzma operator and for trying the
// operator by hand (see hack/localcluster), not for production.
//
// # Containers are processes
//
// A container's image is found first in the image archives
// (Options.ImageArchives: docker-save style archives, such as `make
// image` writes), by tag ("yzma" is "yzma:latest" is
// "docker.io/library/yzma:latest") or by repository and manifest digest.
// Such an image is unpacked once, the first time a container (or
// Cluster.ImageRoot) needs it, into Dir/images/<image ID>, and its
// container runs from there as the image says and Kubernetes combines
// it: the container's command and args; else the image's entrypoint with
// the container's args; else the image's entrypoint and cmd. The program
// is the image's file: "/node" is <root>/node, a name without a slash is
// searched in the container's PATH inside the image, symlinks resolve
// inside the image as in a chroot (a path under a volume mount is the
// volume's file; exec probes and preStop hooks are found the same way).
// The environment is the image's (its config Env) under the container's
// own variables, whose $(VAR) references see the container's variables,
// not the image's. The working directory is the container's workingDir,
// else the image's, inside the image's root (made if missing), or a
// volume. Only the program and the working directory come from the
// image's root: the process still sees the host's file system, so
// /etc/passwd, /tmp or a path in the image's environment are the host's
// unless a volume is mounted there (see below); os.Args[0] is the host
// path of the program; and the root is shared by every container of the
// image (readOnlyRootFilesystem is not enforced: do not write to it).
//
// Otherwise the image selects a local binary through Options.ImageMap:
// the image's repository without tag or digest ("ghcr.io/yzma/yzma:v1" →
// "ghcr.io/yzma/yzma") is matched exactly or by its last path elements
// ("yzma" matches "ghcr.io/yzma/yzma"); the default map sends "yzma" to
// Options.NodeBinary (unless image archives are given and NodeBinary is
// not). The container's command is ignored in favour of the mapped binary
// (unless the map value is RunCommand); its args are passed.
//
// Either way the process gets only the container's environment (envFrom,
// env with $(VAR) expansion, fieldRef, resourceFieldRef, secretKeyRef,
// configMapKeyRef) on top of PATH, HOME, TMPDIR and HOSTNAME (the image's
// variables between the two), plus:
//
//	YZMA_BIND_HOST=<pod IP>      listeners with an unspecified host bind to it
//	YZMA_DNS_SERVER=<host:port>  this package's DNS server
//
// The Yzma node honours both, which stands in for the Pod's own network
// namespace and resolv.conf. Other programs must be told their address
// some other way (status.podIP through the downward API works).
//
// Every Pod gets its own loopback address (Linux routes all of
// 127.0.0.0/8 to the loopback interface), written to its status as podIP;
// hostIP is 127.0.0.1. A cluster takes its addresses from the first block
// 127.B.0.0/16 (B = 1, 2, …) that no other local cluster on the machine
// holds, so the first Pods get 127.1.0.1, 127.1.0.2, … and two clusters
// (parallel test packages) never hand out the same address. There is no
// kube-proxy: Service cluster IPs are allocated by the API server but lead
// nowhere; use the DNS names, which resolve to Pod addresses, or the Pod
// addresses themselves, reachable from the host as they are.
//
// # Names
//
// The DNS server (Cluster.DNSAddr; YZMA_DNS_SERVER in every container;
// Cluster.Resolver and Cluster.DialContext for code in the test process)
// answers A queries from the Pods and Services the API server holds:
//
//	<svc>.<ns>.svc.cluster.local                  the Service's Pods
//	<hostname>.<subdomain>.<ns>.svc.cluster.local the Pod with that spec.hostname
//	                                              and spec.subdomain (StatefulSet Pods)
//	<a-b-c-d>.<ns>.pod.cluster.local              a.b.c.d
//
// A Service's Pods are those its selector matches that have an address,
// have not finished, and are Ready and not terminating, or, with
// publishNotReadyAddresses, any; headless or not makes no difference. An
// ExternalName Service answers with a CNAME. Other names in the cluster
// domain are NXDOMAIN; names outside it are looked up with the host's
// resolver. There are no SRV records and no search domains.
//
// # Volumes share the host's file system
//
// Processes cannot have their own mount table, so each volumeMount's
// mountPath is mapped to a host directory and the mapping is applied to
// the process's view of paths by rewriting: an argument, an environment
// value (the container's or the image's, not the kubelet's own HOME,
// TMPDIR or KUBECONFIG, which are host paths already) or the working
// directory that is a mountPath or starts with mountPath + "/" (also
// after "--flag=") has that prefix replaced by the host directory. Paths
// the program builds itself, or reads from a file, are not rewritten. The
// host directories are:
//
//   - persistentVolumeClaim: the hostPath of the PersistentVolume bound to
//     the claim, <Dir>/volumes/pvc-<claim UID> for claims this package
//     provisioned; it survives Pod restarts and re-creation and is removed
//     once the claim object is gone;
//   - secret, configMap, downwardAPI, projected (without service account
//     tokens): files written once when the Pod starts, under the Pod's
//     directory;
//   - emptyDir: a directory under the Pod's directory;
//   - hostPath: the path itself;
//   - a container's terminationMessagePath (by default
//     /dev/termination-log): the file <container>.termination-log in the
//     Pod's directory (see Termination messages below).
//
// subPath and subPathExpr select a subdirectory. readOnly is not enforced.
// Claims without a class get the default StorageClass, "standard", whose
// provisioner is this package's (Provisioner); claims of a class that does
// not exist are provisioned too, those of another provisioner's class are
// left alone.
//
// # Pods
//
// A Pod's directory is <Dir>/pods/<namespace>_<name>_<uid>; each
// container's stdout and stderr are appended to <container>.log there (the
// path is logged, and `kubectl logs` works too: the kubelet serves the log
// API on the Node's address). Init containers run one after another to
// completion before the containers start. Startup, readiness and liveness
// probes (httpGet, tcpSocket, exec on the host) run with their
// initialDelaySeconds, periodSeconds, timeoutSeconds, successThreshold and
// failureThreshold; readiness feeds the Ready and ContainersReady
// conditions, a failing liveness or startup probe restarts the container.
// A container that exits is restarted according to the Pod's
// restartPolicy after a back-off of one second doubling up to 30 seconds,
// and its restartCount incremented.
//
// A Pod given a deletionTimestamp is stopped like a kubelet does it: preStop
// hooks (httpGet, exec on the host, sleep), SIGTERM to the process group, SIGKILL once the grace
// period is over, then the Pod object is deleted with grace period 0.
// Container processes run in their own process group with a parent-death
// signal, so they die with the cluster (Cluster.Stop) and with the process
// that started it; etcd and kube-apiserver get the parent-death signal through
// setpriv(1) when it is installed.
//
// # Termination messages
//
// Each run of a container starts with its terminationMessagePath file
// empty (the path is rewritten in its arguments and environment as a
// mountPath is, so a program told "--report /dev/termination-log" writes
// the Pod's own file). When the process exits, the file's first 4096
// bytes become the message of the container's terminated state, which
// becomes its lastState's after a restart, as with a kubelet. With
// terminationMessagePolicy FallbackToLogsOnError, a run that failed and
// left the file empty gets the tail of its log instead: its last 2048
// bytes, of those the last 80 lines. A program that opens the real
// /dev/termination-log by a path it builds itself writes nowhere useful.
//
// # Exec and port-forward
//
// The kubelet's HTTPS port also serves the streaming API that the API
// server proxies to (streaming.go). Both ends authenticate, as on a real
// cluster (kubeletpki.go): the API server verifies the kubelet's
// certificate and presents a client certificate the kubelet requires, so
// no other process that finds the port can exec into a pod. It speaks
// with the real kubelet's protocol code (k8s.io/cri-streaming), so `kubectl exec` and `kubectl port-forward`
// work, over WebSockets (kubectl's default; kube-apiserver translates them
// to SPDY for this Node, which declares no ExtendWebSocketsToKubelet
// feature) or SPDY. A forwarded connection goes to the Pod's address and
// the requested port (a program listening on 127.0.0.1 only is not
// reached); any number may run at once. An exec'd command runs with the
// container's environment, working directory and path rewriting, its
// program found under a volume mount, else in the image: an archive's
// image in its unpacked root; for an image-map binary, the binary's
// directory stands for the image's root ("/yzmactl" is bin/yzmactl beside
// bin/node), then the host (a bare name in the container's PATH). It gets
// stdin, stdout and stderr, or a pseudo-terminal with -t; kubectl exits
// with its exit code; it is killed with the Pod. There is no attach.
//
// # Limitations
//
// One node; no scheduler (every Pod is bound to the node whatever its
// affinity, nodeSelector or resources); no kube-proxy, NetworkPolicy or
// port isolation (a program that binds 0.0.0.0 rather than its Pod's
// address takes that port on every address); no Endpoints or
// EndpointSlices (the API server refuses loopback addresses in them);
// resource limits, security contexts and read-only mounts are not
// enforced; os.Hostname() in a Pod is the host's name (HOSTNAME is set to
// the Pod's hostname); Secret and ConfigMap volumes are not updated after
// the Pod starts; `kubectl logs --previous` shows every run (they share one
// file); kubectl attach is not supported; the ServiceAccount admission
// plugin is off and no service account token is mounted
// (Options.PodKubeconfig gives containers the admin kubeconfig instead).
// The cluster starts empty every time: Start wipes the state it finds in
// Dir. Linux only.
package localcluster
