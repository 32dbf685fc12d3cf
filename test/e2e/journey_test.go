package e2e

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yzma/yzma/internal/modroot"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
)

const (
	ns     = "yzma-e2e"
	sample = "yzma-sample"
	// restored is the cluster restored from a backup of the sample, and
	// backupClaim the claim the backup is written to.
	restored    = "yzma-restored"
	backupClaim = "yzma-backups"
)

// selector of the sample's pods.
var podLabels = labelsOf(sample)

// TestJourney is a user's journey with the operator, step by step; each
// step builds on the previous one.
func TestJourney(t *testing.T) {
	var k *kube
	var written []string // every key written so far

	available := func(t *testing.T, n int32) {
		t.Helper()
		var c *yzmav1.YzmaCluster
		waitFor(t, fmt.Sprintf("%d ready nodes, %d alive members, Available", n, n), 4*time.Minute, func() bool {
			c = k.cluster(t, ns, sample)
			return c.Status.ReadyReplicas == n && c.Status.AliveMembers == n && c.Status.ScaleDown == nil &&
				meta.IsStatusConditionTrue(c.Status.Conditions, yzmav1.ConditionAvailable) && len(k.pods(t, ns, podLabels)) == int(n)
		}, func() string { return fmt.Sprintf("status %+v", c.Status) })
	}
	scale := func(ctx context.Context, t *testing.T, n int) {
		t.Helper()
		if out, err := plat.kubectl(ctx, "-n", ns, "scale", "yzmacluster/"+sample, fmt.Sprintf("--replicas=%d", n)); err != nil {
			t.Fatalf("kubectl scale: %v %s", err, out)
		}
	}

	// wayIn is how a user reaches the cluster: kubectl port-forward to the
	// client Service (through the API server), curl with the CA and token
	// from the operator's Secrets, and yzmactl through kubectl exec (it
	// finds its node's CA and token itself), with its exit codes and stdin.
	wayIn := func(ctx context.Context, t *testing.T, key string) {
		t.Helper()
		addr := portForward(ctx, t, "svc/"+sample, 8080)
		url := "https://" + addr + "/keys/" + key
		a := k.access(t)
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: a.tlsConfig(t, "")}} // the certificate names 127.0.0.1
		defer hc.CloseIdleConnections()
		err := retry(ctx, func() error {
			req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, strings.NewReader("hi"))
			if err != nil {
				return err
			}
			req.Header.Set("Authorization", "Bearer "+a.token)
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("PUT through the port-forward: %s", resp.Status)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"?raw=1", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+a.token)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if code := unauthenticated(ctx, t, hc, url); code != http.StatusUnauthorized {
			t.Errorf("GET without a token through the port-forward: %d, want 401", code)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "hi" {
			t.Errorf("GET through the port-forward: %s %q", resp.Status, body)
		}
		var out string
		var code int
		waitFor(t, "kubectl exec "+sample+"-0 -- /yzmactl get "+key+" prints hi", 30*time.Second, func() bool {
			out, code = execYzmactl(ctx, t, sample+"-0", nil, "get", key)
			return code == 0 && strings.TrimSpace(out) == "hi"
		}, func() string { return fmt.Sprintf("exit %d: %s", code, out) })
		if out, code := execYzmactl(ctx, t, sample+"-1", strings.NewReader("from stdin"), "put", key+"-stdin"); code != 0 {
			t.Errorf("kubectl exec -i /yzmactl put: exit %d: %s", code, out)
		}
		waitFor(t, "the value put from stdin read on another pod", 30*time.Second, func() bool {
			out, code = execYzmactl(ctx, t, sample+"-0", nil, "get", key+"-stdin")
			return code == 0 && strings.TrimSpace(out) == "from stdin"
		}, func() string { return fmt.Sprintf("exit %d: %s", code, out) })
		if out, code := execYzmactl(ctx, t, sample+"-0", nil, "get", key+"-missing"); code != 1 {
			t.Errorf("kubectl exec /yzmactl get of a missing key: exit %d, want 1: %s", code, out)
		}
	}

	journey := features.New("journey").
		Setup(func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			k = newKube(t, cfg)
			nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
			if err := k.Create(ctx, nsObj); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
			return ctx
		}).
		Assess("the sample becomes Available with 3 members", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			root, err := modroot.Find()
			if err != nil {
				t.Fatal(err)
			}
			if out, err := plat.kubectl(ctx, "-n", ns, "apply", "-f", filepath.Join(root, "config", "samples", "db_v1alpha1_yzmacluster.yaml")); err != nil {
				t.Fatalf("apply the sample: %v %s", err, out)
			}
			available(t, 3)
			out, err := plat.kubectl(ctx, "-n", ns, "get", "yzma")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(out), "REPLICAS") || !strings.Contains(string(out), "MEMBERS") || !strings.Contains(string(out), "Available") {
				t.Errorf("kubectl get yzma:\n%s", out)
			}
			t.Logf("kubectl get yzma:\n%s", out)
			return ctx
		}).
		Assess("the user's way in: kubectl port-forward svc/… and kubectl exec … /yzmactl", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			wayIn(ctx, t, "way-in")
			return ctx
		}).
		Assess("1,000 keys written through the HTTP API, each to a random pod", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			keys := keyRange("a", 1000)
			k.writeKeys(t, ns, keys, randomPod(sample, 3))
			written = append(written, keys...)
			return ctx
		}).
		Assess("a YzmaBackup restores into a new cluster: every key, no deleted one, new node IDs", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			// Keys deleted before the backup must stay deleted.
			deleted := written[:20]
			written = slices.Clone(written[20:])
			node := k.nodeAPI(t, ns, sample+"-0")
			for _, key := range deleted {
				if err := retry(ctx, func() error { return node.Delete(ctx, key) }); err != nil {
					t.Fatalf("delete %s: %v", key, err)
				}
			}
			for _, pod := range []string{sample + "-0", sample + "-1", sample + "-2"} {
				waitFor(t, pod+" without the deleted keys", time.Minute, func() bool {
					return len(k.missingKeys(t, ns, pod, deleted)) == len(deleted)
				})
			}

			backup := restoreFromBackup(ctx, t, k)
			if backup.Status.Keys < int64(len(written)) {
				t.Errorf("the backup holds %d keys, want at least the %d written", backup.Status.Keys, len(written))
			}
			for _, pod := range []string{restored + "-0", restored + "-1"} {
				k.holdsAll(t, ns, pod, written, 2*time.Minute)
				if kept := len(deleted) - len(k.missingKeys(t, ns, pod, deleted)); kept > 0 {
					t.Errorf("%s holds %d keys deleted before the backup", pod, kept)
				}
			}
			var before, after []string
			waitFor(t, "both clusters' node IDs in their status", time.Minute, func() bool {
				before, after = nodeIDs(k.cluster(t, ns, sample)), nodeIDs(k.cluster(t, ns, restored))
				return len(before) == 3 && len(after) == 2
			}, func() string { return fmt.Sprintf("%v and %v", before, after) })
			for _, id := range after {
				if slices.Contains(before, id) {
					t.Errorf("node ID %s is in both clusters: %v, %v", id, before, after)
				}
			}
			if id := backup.Status.Node; !slices.Contains(before, id) {
				t.Errorf("the backup was taken from node %q, not one of %v", id, before)
			}

			// The restored cluster, its claims, the backup and its claim go.
			if err := k.Delete(ctx, k.cluster(t, ns, restored)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the restored cluster's pods gone", 2*time.Minute, func() bool { return len(k.pods(t, ns, labelsOf(restored))) == 0 })
			if err := k.DeleteAllOf(ctx, &corev1.PersistentVolumeClaim{}, client.InNamespace(ns), client.MatchingLabels(labelsOf(restored))); err != nil {
				t.Errorf("delete the restored cluster's claims: %v", err)
			}
			if err := k.Delete(ctx, backup); err != nil {
				t.Errorf("delete the backup: %v", err)
			}
			waitFor(t, "the backup Job's pods gone", time.Minute, func() bool {
				var pods corev1.PodList
				return k.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"batch.kubernetes.io/job-name": backup.Name + "-backup"}) == nil &&
					len(pods.Items) == 0
			})
			if err := k.Delete(ctx, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: backupClaim}}); err != nil {
				t.Errorf("delete the backup claim: %v", err)
			}
			return ctx
		}).
		Assess("kubectl scale to 5: the new pods join and hold all 1,000 keys", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			scale(ctx, t, 5)
			available(t, 5)
			for _, pod := range []string{sample + "-3", sample + "-4"} {
				if missing := k.missingKeys(t, ns, pod, written); len(missing) > 0 {
					t.Errorf("%s became ready without %d keys, e.g. %v", pod, len(missing), missing[:min(5, len(missing))])
				}
			}
			return ctx
		}).
		Assess("scale to 2: leave on pods 4, 3, 2 in order, each before its pod goes; nothing lost", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			keys := keyRange("b", 1000)
			k.writeKeys(t, ns, keys, randomPod(sample, 5)) // many on the pods about to leave
			written = append(written, keys...)

			trail := watchScaleDown(t, k)
			scale(ctx, t, 2)
			available(t, 2)
			steps := trail.stop()
			t.Logf("scale-down trail: %v", steps)
			var order []int
			for _, pod := range []string{sample + "-4", sample + "-3", sample + "-2"} {
				left := slices.IndexFunc(steps, func(s string) bool { return s == "left "+pod })
				gone := slices.Index(steps, "gone "+pod)
				if left < 0 || gone < 0 || gone < left {
					t.Errorf("%s: leave confirmed at step %d, pod gone at step %d", pod, left, gone)
				}
				order = append(order, left)
			}
			if !slices.IsSorted(order) {
				t.Errorf("leave order by step %v, want 4, 3, 2", order)
			}
			var events []string
			waitFor(t, "LeaveSucceeded events for pods 4, 3, 2 in that order", 30*time.Second, func() bool {
				events = leaveEvents(t, k, k.cluster(t, ns, sample).UID) // written in the background
				return slices.Equal(events, []string{sample + "-4", sample + "-3", sample + "-2"})
			}, func() string { return fmt.Sprint(events) })
			for _, pod := range []string{sample + "-0", sample + "-1"} {
				k.holdsAll(t, ns, pod, written, time.Minute)
			}
			// The sample's scaleDownPolicy is Delete.
			waitFor(t, "the leavers' claims deleted, the survivors' kept", time.Minute, func() bool {
				return slices.Equal(claims(t, k), []string{"data-" + sample + "-0", "data-" + sample + "-1"})
			}, func() string { return fmt.Sprint(claims(t, k)) })
			return ctx
		}).
		Assess("a node killed during writes restarts, rejoins and converges", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			keys := keyRange("c", 300)
			done := make(chan struct{})
			go func() {
				defer close(done)
				k.writeKeys(t, ns, keys, func(int) string { return sample + "-0" })
			}()
			victim := sample + "-1"
			if err := plat.killNode(ctx, ns, victim); err != nil {
				t.Fatalf("kill %s: %v", victim, err)
			}
			<-done
			written = append(written, keys...)
			waitFor(t, victim+" restarted and ready", 2*time.Minute, func() bool {
				var pod corev1.Pod
				if err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: victim}, &pod); err != nil || len(pod.Status.ContainerStatuses) == 0 {
					return false
				}
				cs := pod.Status.ContainerStatuses[0]
				return cs.RestartCount >= 1 && cs.Ready
			})
			k.holdsAll(t, ns, victim, written, time.Minute)
			return ctx
		}).
		Assess("the operator killed mid scale-down: a new one finishes it, nothing lost", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			scale(ctx, t, 3)
			available(t, 3)
			keys := keyRange("d", 300)
			k.writeKeys(t, ns, keys, func(int) string { return sample + "-2" })
			written = append(written, keys...)

			scale(ctx, t, 2)
			waitFor(t, "the scale-down to start", time.Minute, func() bool { return k.cluster(t, ns, sample).Status.ScaleDown != nil })
			if err := plat.killOperator(ctx); err != nil {
				t.Fatalf("kill the operator: %v", err)
			}
			if n := len(k.pods(t, ns, podLabels)); n != 3 {
				t.Fatalf("%d pods when the operator was killed: the scale-down was not in the middle", n)
			}
			if err := plat.startOperator(ctx); err != nil {
				t.Fatalf("start the operator: %v", err)
			}
			available(t, 2)
			for _, pod := range []string{sample + "-0", sample + "-1"} {
				k.holdsAll(t, ns, pod, written, time.Minute)
			}
			return ctx
		}).
		Assess("a rolling restart under continuous writes: one caught-up pod at a time, no acknowledged write lost", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			scale(ctx, t, 3)
			available(t, 3)
			before := map[string]types.UID{}
			for _, pod := range k.pods(t, ns, podLabels) {
				before[pod.Name] = pod.UID
			}
			w := k.startWriter(t, ns, "e", 50000, 10*time.Millisecond)
			time.Sleep(2 * time.Second) // some writes before the restart begins
			c := k.cluster(t, ns, sample)
			if c.Spec.PodTemplate.Annotations == nil {
				c.Spec.PodTemplate.Annotations = map[string]string{}
			}
			c.Spec.PodTemplate.Annotations["e2e.yzma.io/restarted-at"] = time.Now().Format(time.RFC3339)
			if err := k.Update(ctx, c); err != nil {
				t.Fatal(err)
			}
			// One pod at a time: never fewer than two ready while it rolls.
			var sts appsv1.StatefulSet
			minReady := int32(3)
			var waits []string // the rollout's waiting messages, in order
			waitFor(t, "every pod restarted on the new revision, ready", 5*time.Minute, func() bool {
				if err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: sample}, &sts); err != nil {
					return false
				}
				cl := k.cluster(t, ns, sample)
				ready := int32(0)
				for _, pod := range k.pods(t, ns, podLabels) {
					if podIsReady(&pod) {
						ready++
					}
				}
				minReady = min(minReady, ready)
				if ro := cl.Status.Rollout; ro != nil && (len(waits) == 0 || waits[len(waits)-1] != ro.Message) {
					waits = append(waits, ro.Message)
				}
				return sts.Spec.Template.Annotations["e2e.yzma.io/restarted-at"] != "" &&
					sts.Status.ObservedGeneration == sts.Generation && sts.Status.UpdatedReplicas == 3 &&
					sts.Status.ReadyReplicas == 3 && sts.Status.CurrentRevision == sts.Status.UpdateRevision && cl.Status.Rollout == nil
			}, func() string { return fmt.Sprintf("statefulset status %+v", sts.Status) })
			acked, failed := w.stop()
			if len(failed) > 0 {
				t.Errorf("%d writes failed for good during the restart, e.g. %v", len(failed), failed[0])
			}
			if minReady < 2 {
				t.Errorf("%d ready pods at one point of the rolling restart, want at least 2", minReady)
			}
			t.Logf("%d writes acknowledged during the rolling restart; fewest ready pods %d; the rollout waited: %q", len(acked), minReady, waits)
			for _, pod := range k.pods(t, ns, podLabels) {
				if before[pod.Name] == pod.UID {
					t.Errorf("pod %s was not restarted", pod.Name)
				}
			}
			written = append(written, acked...)
			for _, pod := range []string{sample + "-0", sample + "-1", sample + "-2"} {
				k.holdsAll(t, ns, pod, written, 2*time.Minute)
			}
			wayIn(ctx, t, "way-in-after-restart") // new pods, new addresses: still the same way in
			return ctx
		}).
		Assess("rotating the token, the peer secret and the gossip key under writes loses nothing", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			secret := func() *corev1.Secret {
				var sec corev1.Secret
				if err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: sample + "-auth"}, &sec); err != nil {
					t.Fatal(err)
				}
				return &sec
			}
			first := func(b []byte) string { return strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]) }
			sec := secret()
			oldTok := k.access(t).token
			oldPeer, oldKey := first(sec.Data["peer-tokens"]), first(sec.Data["gossip-keys"])
			newTok, newPeer, newKey := randomHex(t), randomHex(t), randomKey(t)
			w := k.startWriter(t, ns, "r", 50000, 40*time.Millisecond) // about 100/s: writes through all three rolls
			time.Sleep(2 * time.Second)
			// The documented rotation: install the new values beside the old
			// ones, make them the ones used, remove the old ones; each step
			// is a rolling change the operator makes when the Secret changes.
			for _, step := range []struct{ name, tokens, peers, keys string }{
				{"install", "rw " + oldTok + "\nrw " + newTok + "\n", oldPeer + "\n" + newPeer + "\n", oldKey + "\n" + newKey + "\n"},
				{"use", "rw " + newTok + "\nrw " + oldTok + "\n", newPeer + "\n" + oldPeer + "\n", newKey + "\n" + oldKey + "\n"},
				{"remove", "rw " + newTok + "\n", newPeer + "\n", newKey + "\n"},
			} {
				var sts appsv1.StatefulSet
				if err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: sample}, &sts); err != nil {
					t.Fatal(err)
				}
				gen := sts.Generation
				sec := secret()
				sec.Data["tokens"], sec.Data["peer-tokens"], sec.Data["gossip-keys"] = []byte(step.tokens), []byte(step.peers), []byte(step.keys)
				if err := k.Update(ctx, sec); err != nil {
					t.Fatal(err)
				}
				waitFor(t, step.name+": every pod rolled onto the changed Secret, ready", 6*time.Minute, func() bool {
					if err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: sample}, &sts); err != nil {
						return false
					}
					return sts.Generation > gen && sts.Status.ObservedGeneration == sts.Generation && sts.Status.UpdatedReplicas == 3 &&
						sts.Status.ReadyReplicas == 3 && sts.Status.CurrentRevision == sts.Status.UpdateRevision &&
						k.cluster(t, ns, sample).Status.Rollout == nil
				}, func() string {
					return fmt.Sprintf("statefulset generation %d (was %d), status %+v", sts.Generation, gen, sts.Status)
				})
				for name, node := range k.nodeAPIs(t, ns) {
					waitFor(t, name+" sees three alive members after "+step.name, time.Minute, func() bool {
						ms, err := node.Members(ctx)
						alive := 0
						for _, m := range ms {
							if m.State == "alive" {
								alive++
							}
						}
						return err == nil && alive == 3
					})
				}
			}
			acked, failed := w.stop()
			if len(failed) > 0 {
				t.Errorf("%d writes failed for good during the rotation, e.g. %v", len(failed), failed[0])
			}
			t.Logf("%d writes acknowledged during the rotation", len(acked))
			if len(acked)+len(failed) >= 50000 {
				t.Errorf("the writer ran out before the rotation ended: writes did not span it")
			}
			written = append(written, acked...)
			for _, pod := range []string{sample + "-0", sample + "-1", sample + "-2"} {
				k.holdsAll(t, ns, pod, written, 2*time.Minute)
			}
			for name, node := range k.nodeAPIs(t, ns) {
				if _, err := node.Get(ctx, "r-00001"); err != nil {
					t.Errorf("%s with the new token: %v", name, err)
				}
			}
			a := k.access(t)
			a.token = oldTok
			if _, err := k.nodeAPIsWith(t, ns, a)[sample+"-0"].Get(ctx, "r-00001"); err == nil || !strings.Contains(err.Error(), "401") {
				t.Errorf("the removed token still reads: %v", err)
			}
			return ctx
		}).
		Assess("a rollout stuck on a bad image recovers once the image is fixed", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			setImage := func(image string) {
				t.Helper()
				c := k.cluster(t, ns, sample)
				c.Spec.Image = image
				if err := k.Update(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			good := k.cluster(t, ns, sample).Status.Image
			setImage("yzma:does-not-exist")
			waitFor(t, "the rollout stuck on pod 2", 2*time.Minute, func() bool {
				ro := k.cluster(t, ns, sample).Status.Rollout
				return ro != nil && ro.Pod == sample+"-2" && strings.Contains(ro.Message, "not ready")
			})
			if ro := k.cluster(t, ns, sample).Status.Rollout; ro.Partition != 2 {
				t.Errorf("partition %d while pod 2 is broken, want 2 (pods 0 and 1 untouched)", ro.Partition)
			}
			setImage(good)
			var sts appsv1.StatefulSet
			waitFor(t, "every pod on the fixed image, ready", 3*time.Minute, func() bool {
				return k.Get(ctx, client.ObjectKey{Namespace: ns, Name: sample}, &sts) == nil &&
					sts.Spec.Template.Spec.Containers[0].Image == good &&
					sts.Status.ObservedGeneration == sts.Generation && sts.Status.ReadyReplicas == 3 &&
					sts.Status.CurrentRevision == sts.Status.UpdateRevision && k.cluster(t, ns, sample).Status.Rollout == nil
			}, func() string { return fmt.Sprintf("statefulset status %+v", sts.Status) })
			// The operator restarts a stuck pod of an outdated revision after
			// --stuck-pod-timeout; a StatefulSet controller that replaces it
			// by itself (recent Kubernetes, with maxUnavailable) may be first.
			uid := k.cluster(t, ns, sample).UID
			byOperator := slices.ContainsFunc(clusterEvents(t, k, uid), func(e string) bool { return strings.HasPrefix(e, "StuckPodRestarted ") })
			t.Logf("the stuck pod was replaced by the operator: %v", byOperator)
			available(t, 3)
			return ctx
		}).
		Assess("a template change during a scale-down waits: the leaving pod is not restarted, the rest roll after", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			leaving := sample + "-2"
			var pod corev1.Pod
			if err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: leaving}, &pod); err != nil {
				t.Fatal(err)
			}
			uid := pod.UID
			scale(ctx, t, 2)
			waitFor(t, "the scale-down to start", time.Minute, func() bool { return k.cluster(t, ns, sample).Status.ScaleDown != nil })
			c := k.cluster(t, ns, sample)
			c.Spec.PodTemplate.Annotations["e2e.yzma.io/restarted-at"] = "during-scale-down"
			if err := k.Update(ctx, c); err != nil {
				t.Fatal(err)
			}
			waitFor(t, leaving+" gone, never restarted", 3*time.Minute, func() bool {
				err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: leaving}, &pod)
				if err == nil && pod.UID != uid {
					t.Fatalf("%s was recreated during its scale-down", leaving)
				}
				return apierrors.IsNotFound(err)
			})
			var sts appsv1.StatefulSet
			waitFor(t, "the remaining pods rolled to the new template", 3*time.Minute, func() bool {
				return k.Get(ctx, client.ObjectKey{Namespace: ns, Name: sample}, &sts) == nil &&
					sts.Spec.Template.Annotations["e2e.yzma.io/restarted-at"] == "during-scale-down" &&
					sts.Status.ObservedGeneration == sts.Generation && sts.Status.UpdatedReplicas == 2 && sts.Status.ReadyReplicas == 2 &&
					sts.Status.CurrentRevision == sts.Status.UpdateRevision
			}, func() string { return fmt.Sprintf("statefulset status %+v", sts.Status) })
			available(t, 2)
			return ctx
		}).
		Assess("a scale-up whose pod never starts is undone by scaling back: it goes without a leave", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			// Pod 2's claim asks for a storage class nothing provisions:
			// the pod stays Pending, as an unschedulable pod would.
			never := "e2e-never"
			sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: never}, Provisioner: "example.com/none"}
			if err := k.Create(ctx, sc); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = k.Delete(context.Background(), sc) })
			pvc := &corev1.PersistentVolumeClaim{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "data-" + sample + "-2"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					StorageClassName: &never,
					Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}
			waitFor(t, "the claim of the pod 2 that left gone (scaleDownPolicy Delete)", time.Minute, func() bool {
				return apierrors.IsNotFound(k.Get(ctx, client.ObjectKeyFromObject(pvc), &corev1.PersistentVolumeClaim{}))
			})
			if err := k.Create(ctx, pvc); err != nil {
				t.Fatal(err)
			}
			scale(ctx, t, 3)
			var pod corev1.Pod
			waitFor(t, "pod 2 created and stuck", 2*time.Minute, func() bool {
				return k.Get(ctx, client.ObjectKey{Namespace: ns, Name: sample + "-2"}, &pod) == nil && pod.Status.Phase == corev1.PodPending
			})
			scale(ctx, t, 2)
			available(t, 2)
			uid := k.cluster(t, ns, sample).UID
			waitFor(t, "a NeverAMember event for pod 2", 30*time.Second, func() bool {
				return slices.ContainsFunc(clusterEvents(t, k, uid), func(e string) bool {
					return strings.HasPrefix(e, "NeverAMember ") && strings.Contains(e, sample+"-2 ")
				})
			})
			if err := k.Delete(ctx, pvc); err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("delete the stuck claim: %v", err)
			}
			return ctx
		}).
		Assess("deleting the YzmaCluster removes its children; claims follow the delete policy", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			if out, err := plat.kubectl(ctx, "-n", ns, "describe", "yzmacluster", sample); err != nil || !strings.Contains(string(out), "LeaveSucceeded") {
				t.Errorf("kubectl describe shows no operator events: %v\n%s", err, out)
			}
			if err := k.Delete(ctx, k.cluster(t, ns, sample)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "StatefulSet, Services, budget and pods garbage-collected", 2*time.Minute, func() bool {
				gone := func(obj client.Object, name string) bool {
					return apierrors.IsNotFound(k.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj))
				}
				return gone(&appsv1.StatefulSet{}, sample) && gone(&corev1.Service{}, sample) &&
					gone(&corev1.Service{}, sample+"-peers") && gone(&policyv1.PodDisruptionBudget{}, sample) &&
					len(k.pods(t, ns, podLabels)) == 0
			})
			// The sample's deletePolicy is Retain: the data stays.
			if got := claims(t, k); !slices.Equal(got, []string{"data-" + sample + "-0", "data-" + sample + "-1"}) {
				t.Errorf("claims after delete: %v", got)
			}
			return ctx
		}).
		Teardown(func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			// The retained claims would hand a later run old data.
			err := k.DeleteAllOf(ctx, &corev1.PersistentVolumeClaim{}, client.InNamespace(ns), client.MatchingLabels(podLabels))
			if err != nil {
				t.Errorf("delete the retained claims: %v", err)
			}
			waitFor(t, "the claims gone", time.Minute, func() bool { return len(claims(t, k)) == 0 })
			return ctx
		}).
		Feature()
	testenv.Test(t, journey)
}

// restoreFromBackup backs the sample up into a new claim with a
// YzmaBackup, waits for it to succeed, then creates the YzmaCluster
// restored with 2 nodes from it and waits until it is Restored and
// Available. It returns the backup.
func restoreFromBackup(ctx context.Context, t *testing.T, k *kube) *yzmav1.YzmaBackup {
	t.Helper()
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: backupClaim},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	if err := k.Create(ctx, pvc); err != nil {
		t.Fatal(err)
	}
	backup := &yzmav1.YzmaBackup{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "journey"},
		Spec: yzmav1.YzmaBackupSpec{Cluster: sample, Target: yzmav1.BackupTarget{
			PersistentVolumeClaim: yzmav1.BackupClaim{ClaimName: backupClaim},
		}},
	}
	if err := k.Create(ctx, backup); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(backup)
	waitFor(t, "the backup Succeeded", 3*time.Minute, func() bool {
		if err := k.Get(ctx, key, backup); err != nil {
			t.Fatal(err)
		}
		if backup.Status.Phase == yzmav1.BackupFailed {
			t.Fatalf("the backup failed: %+v", backup.Status.Conditions)
		}
		return backup.Status.Phase == yzmav1.BackupSucceeded
	}, func() string { return fmt.Sprintf("status %+v", backup.Status) })
	st := backup.Status
	if st.Size <= 0 || len(st.Checksum) != len("sha256:")+64 || !strings.HasPrefix(st.Checksum, "sha256:") || st.File != "journey.yzb" {
		t.Errorf("backup status %+v: want a size, a sha256: checksum and the file journey.yzb", st)
	}
	if out, err := plat.kubectl(ctx, "-n", ns, "get", "yb", "-o", "wide"); err != nil || !strings.Contains(string(out), "Succeeded") {
		t.Errorf("kubectl get yb: %v\n%s", err, out)
	} else {
		t.Logf("kubectl get yb -o wide:\n%s", out)
	}

	c := &yzmav1.YzmaCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: restored},
		Spec:       yzmav1.YzmaClusterSpec{Replicas: ptr.To[int32](2), RestoreFrom: &yzmav1.RestoreFrom{Backup: backup.Name}},
	}
	if err := k.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new cluster Restored and Available with 2 ready nodes", 5*time.Minute, func() bool {
		c = k.cluster(t, ns, restored)
		if cond := meta.FindStatusCondition(c.Status.Conditions, yzmav1.ConditionRestored); cond != nil && cond.Reason == "RestoreFailed" {
			t.Fatalf("the restore failed: %s", cond.Message)
		}
		return meta.IsStatusConditionTrue(c.Status.Conditions, yzmav1.ConditionRestored) &&
			meta.IsStatusConditionTrue(c.Status.Conditions, yzmav1.ConditionAvailable) && c.Status.ReadyReplicas == 2
	}, func() string { return fmt.Sprintf("status %+v", c.Status) })
	t.Logf("restored: %s", meta.FindStatusCondition(c.Status.Conditions, yzmav1.ConditionRestored).Message)
	return backup
}

// nodeIDs are the node IDs of a cluster's members, as its status lists
// them.
func nodeIDs(c *yzmav1.YzmaCluster) []string {
	var ids []string
	for _, m := range c.Status.Members {
		if m.NodeID != "" && m.State == "alive" {
			ids = append(ids, m.NodeID)
		}
	}
	return ids
}

// claims lists the sample's PersistentVolumeClaims that are not being
// deleted, by name.
func claims(t *testing.T, k *kube) []string {
	var list corev1.PersistentVolumeClaimList
	if err := k.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range list.Items {
		if c.DeletionTimestamp == nil {
			names = append(names, c.Name)
		}
	}
	slices.Sort(names)
	return names
}

// leaveEvents lists, oldest first, the pods of the operator's
// LeaveSucceeded events on the YzmaCluster uid.
func leaveEvents(t *testing.T, k *kube, uid types.UID) []string {
	var pods []string
	for _, e := range clusterEvents(t, k, uid) {
		if msg, ok := strings.CutPrefix(e, "LeaveSucceeded "); ok {
			pods = append(pods, strings.Fields(msg)[1]) // "pod X handed …"
		}
	}
	return pods
}

// scaleDownTrail records, while a scale-down runs, when the operator
// records a leave as done ("left X": the step moved past Leaving) and when
// a pod is deleted ("gone X"). It watches both kinds and orders the
// updates by resourceVersion, which one etcd numbers in a single sequence.
type scaleDownTrail struct {
	mu     sync.Mutex
	steps  map[int64]string
	cancel context.CancelFunc
	done   sync.WaitGroup
}

func watchScaleDown(t *testing.T, k *kube) *scaleDownTrail {
	wc, err := client.NewWithWatch(k.cfg, client.Options{Scheme: k.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tr := &scaleDownTrail{steps: map[int64]string{}, cancel: cancel}
	clusters, err := wc.Watch(ctx, &yzmav1.YzmaClusterList{}, client.InNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	pods, err := wc.Watch(ctx, &corev1.PodList{}, client.InNamespace(ns), client.MatchingLabels(podLabels))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	tr.done.Go(func() {
		for ev := range clusters.ResultChan() {
			c, ok := ev.Object.(*yzmav1.YzmaCluster)
			if !ok {
				continue
			}
			if sd := c.Status.ScaleDown; sd != nil && sd.Phase != yzmav1.PhaseLeaving && !seen[sd.Pod] {
				seen[sd.Pod] = true
				tr.add(c.ResourceVersion, "left "+sd.Pod)
			}
		}
	})
	tr.done.Go(func() {
		for ev := range pods.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type == watch.Deleted {
				tr.add(p.ResourceVersion, "gone "+p.Name)
			}
		}
	})
	t.Cleanup(func() { tr.stop() })
	return tr
}

func (tr *scaleDownTrail) add(rv, s string) {
	n, _ := strconv.ParseInt(rv, 10, 64)
	tr.mu.Lock()
	tr.steps[n] = s
	tr.mu.Unlock()
}

// stop ends the watch and returns the steps seen, in order.
func (tr *scaleDownTrail) stop() []string {
	tr.cancel()
	tr.done.Wait()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []string
	for _, rv := range slices.Sorted(maps.Keys(tr.steps)) {
		out = append(out, tr.steps[rv])
	}
	return out
}

// clusterEvents lists the YzmaCluster's events, oldest first, as
// "Reason message".
func clusterEvents(t *testing.T, k *kube, uid types.UID) []string {
	var list corev1.EventList
	if err := k.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(list.Items, func(a, b corev1.Event) int { return a.EventTime.Compare(b.EventTime.Time) })
	var out []string
	for _, e := range list.Items {
		if e.InvolvedObject.UID == uid {
			out = append(out, e.Reason+" "+e.Message)
		}
	}
	return out
}

func podIsReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue && pod.DeletionTimestamp == nil
		}
	}
	return false
}
