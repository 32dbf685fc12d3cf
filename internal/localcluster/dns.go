package localcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// dnsTTL is the TTL of every answer, as CoreDNS's default.
const dnsTTL = 5

// dnsServer answers the cluster's names from the Pods and Services in the
// kubelet's cache, on UDP and TCP at the same loopback address (other
// names are looked up with the host's resolver):
//
//	<svc>.<ns>.svc.<domain>                      addresses of the Service's Pods
//	<hostname>.<subdomain>.<ns>.svc.<domain>     that Pod's address
//	<a-b-c-d>.<ns>.pod.<domain>                  a.b.c.d
//
// A Service's Pods are those matching its selector that have an address,
// are not finished, and are Ready and not terminating, or, with
// publishNotReadyAddresses, any. That is what the endpoints controller
// would publish; headless or not makes no difference as there is no
// kube-proxy. ExternalName Services answer with a CNAME. Other names in
// the cluster domain are NXDOMAIN.
type dnsServer struct {
	domain string // "cluster.local."
	c      client.Reader
	log    *slog.Logger
	udp    *dns.Server
	tcp    *dns.Server
	addr   string
}

// listenDNS binds UDP and TCP on the same port of host (port 0: any free
// one) and starts serving.
func listenDNS(addr, domain string, c client.Reader, log *slog.Logger) (*dnsServer, error) {
	s := &dnsServer{domain: dns.Fqdn(domain), c: c, log: log}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("DNS address %q: %w", addr, err)
	}
	var pc net.PacketConn
	var ln net.Listener
	for attempt := 0; ; attempt++ {
		pc, err = net.ListenPacket("udp", net.JoinHostPort(host, port))
		if err != nil {
			return nil, fmt.Errorf("DNS: %w", err)
		}
		_, p, _ := net.SplitHostPort(pc.LocalAddr().String())
		ln, err = net.Listen("tcp", net.JoinHostPort(host, p))
		if err == nil {
			break
		}
		_ = pc.Close() // unused: give its port back
		if port != "0" || attempt > 20 {
			return nil, fmt.Errorf("DNS: %w", err)
		}
	}
	s.addr = pc.LocalAddr().String()
	h := dns.HandlerFunc(s.serve)
	s.udp = &dns.Server{PacketConn: pc, Handler: h}
	s.tcp = &dns.Server{Listener: ln, Handler: h}
	go func() {
		if err := s.udp.ActivateAndServe(); err != nil {
			log.Error("DNS over UDP stopped", "err", err)
		}
	}()
	go func() {
		if err := s.tcp.ActivateAndServe(); err != nil {
			log.Error("DNS over TCP stopped", "err", err)
		}
	}()
	return s, nil
}

func (s *dnsServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.udp.ShutdownContext(ctx)
	_ = s.tcp.ShutdownContext(ctx)
}

func (s *dnsServer) serve(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ans, err := s.resolve(ctx, strings.ToLower(q.Name))
	switch {
	case errors.Is(err, errNXDomain):
		m.Rcode = dns.RcodeNameError
	case err != nil:
		s.log.Warn("DNS lookup failed", "name", q.Name, "err", err)
		m.Rcode = dns.RcodeServerFailure
	default:
		hdr := func(t uint16) dns.RR_Header {
			return dns.RR_Header{Name: q.Name, Rrtype: t, Class: dns.ClassINET, Ttl: dnsTTL}
		}
		if ans.cname != "" {
			if q.Qtype == dns.TypeCNAME || q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY || q.Qtype == dns.TypeAAAA {
				m.Answer = append(m.Answer, &dns.CNAME{Hdr: hdr(dns.TypeCNAME), Target: dns.Fqdn(ans.cname)})
			}
			break
		}
		for _, ip := range ans.ips {
			switch {
			case ip.Is4() && (q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY):
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr(dns.TypeA), A: ip.AsSlice()})
			case ip.Is6() && (q.Qtype == dns.TypeAAAA || q.Qtype == dns.TypeANY):
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: ip.AsSlice()})
			}
		}
	}
	_ = w.WriteMsg(m)
}

var errNXDomain = errors.New("no such name")

type dnsAnswer struct {
	ips   []netip.Addr
	cname string
}

// resolve answers a lower-case fully qualified name.
func (s *dnsServer) resolve(ctx context.Context, name string) (dnsAnswer, error) {
	rest, ok := strings.CutSuffix(name, "."+s.domain)
	if !ok {
		return s.forward(ctx, name)
	}
	labels := strings.Split(rest, ".")
	n := len(labels)
	switch {
	case n == 3 && labels[2] == "svc":
		return s.service(ctx, labels[1], labels[0])
	case n == 4 && labels[3] == "svc":
		return s.podByHostname(ctx, labels[2], labels[1], labels[0])
	case n == 3 && labels[2] == "pod":
		ip, err := netip.ParseAddr(strings.ReplaceAll(labels[0], "-", "."))
		if err != nil {
			return dnsAnswer{}, errNXDomain
		}
		return dnsAnswer{ips: []netip.Addr{ip}}, nil
	}
	return dnsAnswer{}, errNXDomain
}

// forward answers a name outside the cluster with the host's resolver,
// as CoreDNS forwards to the node's.
func (s *dnsServer) forward(ctx context.Context, name string) (dnsAnswer, error) {
	// Without the final dot: Go looks names with it up in DNS only, not in
	// /etc/hosts.
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", strings.TrimSuffix(name, "."))
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return dnsAnswer{}, errNXDomain
	}
	if err != nil {
		return dnsAnswer{}, err
	}
	for i, a := range addrs {
		addrs[i] = a.Unmap()
	}
	return dnsAnswer{ips: addrs}, nil
}

func (s *dnsServer) getService(ctx context.Context, ns, name string) (*corev1.Service, error) {
	var svc corev1.Service
	err := s.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &svc)
	if apierrors.IsNotFound(err) {
		return nil, errNXDomain
	}
	return &svc, err
}

// endpoints are the Pods of svc that its endpoints would list.
func (s *dnsServer) endpoints(ctx context.Context, svc *corev1.Service) ([]corev1.Pod, error) {
	if len(svc.Spec.Selector) == 0 {
		return nil, nil
	}
	var pods corev1.PodList
	if err := s.c.List(ctx, &pods, client.InNamespace(svc.Namespace),
		client.MatchingLabelsSelector{Selector: labels.SelectorFromSet(svc.Spec.Selector)}); err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range pods.Items {
		if p.Status.PodIP == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if !svc.Spec.PublishNotReadyAddresses && (p.DeletionTimestamp != nil || !podReady(&p)) {
			continue
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (s *dnsServer) service(ctx context.Context, ns, name string) (dnsAnswer, error) {
	svc, err := s.getService(ctx, ns, name)
	if err != nil {
		return dnsAnswer{}, err
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return dnsAnswer{cname: svc.Spec.ExternalName}, nil
	}
	pods, err := s.endpoints(ctx, svc)
	if err != nil {
		return dnsAnswer{}, err
	}
	var ans dnsAnswer
	for _, p := range pods {
		if ip, err := netip.ParseAddr(p.Status.PodIP); err == nil {
			ans.ips = append(ans.ips, ip)
		}
	}
	return ans, nil
}

func (s *dnsServer) podByHostname(ctx context.Context, ns, subdomain, hostname string) (dnsAnswer, error) {
	svc, err := s.getService(ctx, ns, subdomain)
	if err != nil {
		return dnsAnswer{}, err
	}
	pods, err := s.endpoints(ctx, svc)
	if err != nil {
		return dnsAnswer{}, err
	}
	for _, p := range pods {
		if p.Spec.Hostname == hostname && p.Spec.Subdomain == subdomain {
			ip, err := netip.ParseAddr(p.Status.PodIP)
			if err != nil {
				break
			}
			return dnsAnswer{ips: []netip.Addr{ip}}, nil
		}
	}
	return dnsAnswer{}, errNXDomain
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
