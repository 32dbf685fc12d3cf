package monitoring

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// Paths from this package's directory, where go test runs.
const (
	repoRoot      = "../.."
	promDir       = "../../config/prometheus"
	promAuthDir   = "../../config/prometheus-auth"
	rulesFile     = "../../config/prometheus/rules.yaml"
	dashboardFile = "../../config/prometheus/grafana/yzma-dashboard.json"
)

// metricKind is how a metric is exposed, which decides its series names.
type metricKind string

const (
	counter   metricKind = "Counter"
	gauge     metricKind = "Gauge"
	histogram metricKind = "Histogram"
	summary   metricKind = "Summary"
	untyped   metricKind = "Desc" // prometheus.NewDesc: a single series
)

var (
	// Name: "yzma_…" as the first field of a prometheus.*Opts literal.
	optsName = regexp.MustCompile(`(Counter|Gauge|Histogram|Summary)Opts\{\s*Name:\s*"(yzma_[a-z0-9_]+)"`)
	// prometheus.NewDesc("yzma_…", …).
	descName = regexp.MustCompile(`NewDesc\(\s*"(yzma_[a-z0-9_]+)"`)
	// Any Name: "yzma_…", to catch a declaration the two above miss.
	anyName = regexp.MustCompile(`Name:\s*"(yzma_[a-z0-9_]+)"`)
	// A metric name in a manifest. Label names of ours never start with
	// "yzma_" (the cluster label is "yzmacluster"), and names such as
	// yzma-sample have a hyphen.
	manifestName = regexp.MustCompile(`\byzma_[a-z0-9_]+`)
)

// codeMetrics returns the metrics the code registers, by name, from the
// non-test Go files under node, internal and cmd.
func codeMetrics(t *testing.T) map[string]metricKind {
	t.Helper()
	out := map[string]metricKind{}
	for _, dir := range []string{"node", "internal", "cmd"} {
		err := filepath.WalkDir(filepath.Join(repoRoot, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			typed := map[string]bool{}
			add := func(name string, kind metricKind) {
				if prev, ok := out[name]; ok && prev != kind {
					t.Errorf("%s: metric %s declared as %s and as %s", path, name, prev, kind)
				}
				out[name] = kind
				typed[name] = true
			}
			for _, m := range optsName.FindAllStringSubmatch(string(src), -1) {
				add(m[2], metricKind(m[1]))
			}
			for _, m := range descName.FindAllStringSubmatch(string(src), -1) {
				add(m[1], untyped)
			}
			for _, m := range anyName.FindAllStringSubmatch(string(src), -1) {
				if !typed[m[1]] {
					t.Errorf("%s: cannot tell the type of metric %s (Name: not first in a prometheus.*Opts literal): teach codeMetrics", path, m[1])
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// A sanity check of the extraction itself: these exist, with these types.
	for name, kind := range map[string]metricKind{
		"yzma_cluster_members":                 gauge,
		"yzma_replication_lag_ops":             gauge,
		"yzma_http_request_duration_seconds":   histogram,
		"yzma_store_shed_writes_total":         counter,
		"yzma_operator_scaledown_steps_total":  counter,
		"yzma_operator_leave_duration_seconds": histogram,
	} {
		if out[name] != kind {
			t.Fatalf("metric extraction broken: %s is %q, want %q", name, out[name], kind)
		}
	}
	return out
}

// seriesNames are the names of the series a metric exposes.
func seriesNames(name string, kind metricKind) []string {
	switch kind {
	case histogram:
		return []string{name, name + "_bucket", name + "_sum", name + "_count"}
	case summary:
		return []string{name, name + "_sum", name + "_count"}
	}
	return []string{name}
}

// TestMetricNamesExist checks every yzma_* name in config/prometheus (the
// rules, the dashboard, the monitors and their comments) against the
// metrics the code registers.
func TestMetricNamesExist(t *testing.T) {
	metrics := codeMetrics(t)
	series := map[string]string{} // series name -> metric
	for name, kind := range metrics {
		for _, s := range seriesNames(name, kind) {
			series[s] = name
		}
	}
	used := map[string]bool{}
	err := filepath.WalkDir(promDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, name := range manifestName.FindAllString(string(src), -1) {
			m, ok := series[name]
			if !ok {
				t.Errorf("%s: %s is no metric the code registers (nor a histogram's _bucket/_sum/_count)", path, name)
				continue
			}
			used[m] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var all, unused []string
	for name := range metrics {
		all = append(all, name)
		if !used[name] {
			unused = append(unused, name)
		}
	}
	sort.Strings(all)
	sort.Strings(unused)
	t.Logf("%d metrics in the code: %s", len(all), strings.Join(all, " "))
	if len(unused) > 0 {
		t.Logf("not used by config/prometheus: %s", strings.Join(unused, " "))
	}
	for _, must := range []string{"yzma_cluster_members", "yzma_replication_lag_ops", "yzma_store_file_bytes", "yzma_operator_scaledown_steps_total"} {
		if !used[must] {
			t.Errorf("config/prometheus does not use %s", must)
		}
	}
}

// rule is one rule of a PrometheusRule.
type rule struct {
	Alert       string            `json:"alert,omitempty"`
	Record      string            `json:"record,omitempty"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type ruleGroup struct {
	Name  string `json:"name"`
	Rules []rule `json:"rules"`
}

func readRules(t *testing.T) []ruleGroup {
	t.Helper()
	src, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var pr struct {
		APIVersion string         `json:"apiVersion"`
		Kind       string         `json:"kind"`
		Metadata   map[string]any `json:"metadata"`
		Spec       struct {
			Groups []ruleGroup `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.UnmarshalStrict(src, &pr); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	if pr.Kind != "PrometheusRule" || len(pr.Spec.Groups) == 0 {
		t.Fatalf("%s: kind %q with %d groups", rulesFile, pr.Kind, len(pr.Spec.Groups))
	}
	return pr.Spec.Groups
}

// TestAlerts checks that each alert says how bad it is, what and why, and
// waits before firing.
func TestAlerts(t *testing.T) {
	seen := map[string]bool{}
	for _, g := range readRules(t) {
		for _, r := range g.Rules {
			if r.Alert == "" {
				t.Errorf("group %s: a rule that is not an alert (%q)", g.Name, r.Record)
				continue
			}
			if seen[r.Alert] {
				t.Errorf("alert %s twice", r.Alert)
			}
			seen[r.Alert] = true
			if s := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, s) {
				t.Errorf("alert %s: severity %q, want critical, warning or info", r.Alert, s)
			}
			for _, a := range []string{"summary", "description"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("alert %s: no %s annotation", r.Alert, a)
				}
			}
			if r.For == "" {
				t.Errorf("alert %s: no for", r.Alert)
			}
			if err := balanced(r.Expr); err != "" {
				t.Errorf("alert %s: expr: %s", r.Alert, err)
			}
		}
	}
	for _, want := range []string{"YzmaMemberDown", "YzmaReplicationLagGrowing", "YzmaScaleDownStalled", "YzmaVolumeAlmostFull"} {
		if !seen[want] {
			t.Errorf("no alert %s", want)
		}
	}
}

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int               `json:"id"`
	Type       string            `json:"type"`
	Title      string            `json:"title"`
	Datasource map[string]string `json:"datasource"`
	Targets    []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	src, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(src, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// TestDashboard checks that the dashboard parses, is templated on the data
// source, namespace and cluster, and that every query names the data
// source variable.
func TestDashboard(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q, title %q", d.UID, d.Title)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	for name, typ := range map[string]string{"datasource": "datasource", "namespace": "query", "cluster": "query"} {
		if vars[name] != typ {
			t.Errorf("variable %s: type %q, want %q", name, vars[name], typ)
		}
	}
	ids := map[int]bool{}
	queries := 0
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if p.Datasource["uid"] != "${datasource}" {
			t.Errorf("panel %q: data source %v, want the ${datasource} variable", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q: no query", p.Title)
		}
		refs := map[string]bool{}
		for _, q := range p.Targets {
			queries++
			if refs[q.RefID] || q.RefID == "" {
				t.Errorf("panel %q: refId %q empty or twice", p.Title, q.RefID)
			}
			refs[q.RefID] = true
			if err := balanced(q.Expr); err != "" {
				t.Errorf("panel %q: %s: %s", p.Title, q.Expr, err)
			}
			for _, v := range []string{"$namespace", "$cluster"} {
				if strings.Contains(q.Expr, "yzma_") && !strings.Contains(q.Expr, "job=\"yzma-controller-manager-metrics-service\"") && !strings.Contains(q.Expr, v) {
					t.Errorf("panel %q: node query not filtered by %s: %s", p.Title, v, q.Expr)
				}
			}
		}
	}
	if queries < 20 {
		t.Errorf("only %d queries", queries)
	}
}

// balanced reports unbalanced brackets or quotes in a PromQL expression,
// the usual slip when editing one by hand ("" if none). promtool, when
// present, checks the full syntax (TestPromQLParses).
func balanced(expr string) string {
	if strings.TrimSpace(expr) == "" {
		return "empty"
	}
	var stack []rune
	pairs := map[rune]rune{')': '(', ']': '[', '}': '{'}
	inString := false
	for i, r := range expr {
		switch {
		case inString:
			if r == '"' && (i == 0 || expr[i-1] != '\\') {
				inString = false
			}
		case r == '"':
			inString = true
		case r == '(' || r == '[' || r == '{':
			stack = append(stack, r)
		case r == ')' || r == ']' || r == '}':
			if len(stack) == 0 || stack[len(stack)-1] != pairs[r] {
				return "unbalanced " + string(r)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if inString {
		return "unterminated string"
	}
	if len(stack) > 0 {
		return "unclosed " + string(stack[len(stack)-1])
	}
	return ""
}

// TestPromQLParses runs promtool check rules on the alerts and on the
// dashboard's queries (as recording rules, Grafana's variables replaced by
// values), when promtool is installed.
func TestPromQLParses(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("no promtool on the PATH (apt-get install prometheus): PromQL syntax not checked")
	}
	groups := readRules(t)
	d := readDashboard(t)
	vars := strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h",
		"$namespace", ".*", "$cluster", ".*", "$pod", ".*")
	dash := ruleGroup{Name: "dashboard"}
	for _, p := range d.Panels {
		for _, q := range p.Targets {
			if q.Expr != "" {
				dash.Rules = append(dash.Rules, rule{Record: fmt.Sprintf("dashboard:panel%d_%s", p.ID, q.RefID), Expr: vars.Replace(q.Expr)})
			}
		}
	}
	groups = append(groups, dash)
	out, err := yaml.Marshal(map[string]any{"groups": groups})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(file, out, 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := exec.Command(promtool, "check", "rules", file).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, res)
	}
	t.Logf("%s", res)
}

// TestAlertsFire runs promtool test rules on testdata/alerts_test.yaml:
// each alert fires on the series it is meant for, after its for, and not
// on healthy ones. Annotations are left out (promtool compares them
// whole); TestPromQLParses checks their templates. Skipped without
// promtool.
func TestAlertsFire(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("no promtool on the PATH (apt-get install prometheus): alerts not evaluated")
	}
	groups := readRules(t)
	for _, g := range groups {
		for i := range g.Rules {
			g.Rules[i].Annotations = nil
		}
	}
	out, err := yaml.Marshal(map[string]any{"groups": groups})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), out, 0o600); err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile("testdata/alerts_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts_test.yaml"), tests, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(promtool, "test", "rules", "alerts_test.yaml")
	cmd.Dir = dir
	res, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, res)
	}
	t.Logf("%s", res)
}
