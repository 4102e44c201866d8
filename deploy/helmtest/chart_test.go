// Package helmtest tests the Helm chart deploy/helm/capitain with the Helm Go SDK. It is its own
// module so that Helm and the Kubernetes API types never reach the chaos binary's module.
package helmtest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	kubefake "helm.sh/helm/v4/pkg/kube/fake"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"
	"helm.sh/helm/v4/pkg/strvals"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

const chartDir = "../helm/capitain"

// objects is a rendered release, decoded strictly into the Kubernetes API types.
type objects struct {
	ConfigMaps      []corev1.ConfigMap
	Secrets         []corev1.Secret
	Services        []corev1.Service
	ServiceAccounts []corev1.ServiceAccount
	StatefulSets    []appsv1.StatefulSet
	Deployments     []appsv1.Deployment
	Ingresses       []networkingv1.Ingress
	PDBs            []policyv1.PodDisruptionBudget
	ServiceMonitors []serviceMonitor
}

// serviceMonitor is the part of Prometheus Operator's ServiceMonitor the chart sets (its Go types
// are a module of their own; strict decoding still refuses a field this struct lacks).
type serviceMonitor struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Selector  struct{ MatchLabels map[string]string } `json:"selector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path"`
			Interval string `json:"interval"`
		} `json:"endpoints"`
	} `json:"spec"`
}

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// render is `helm template` through the SDK: an install, client-side dry run, in memory.
func render(t *testing.T, vals map[string]any, skipSchema bool) (string, error) {
	t.Helper()
	cfg := &action.Configuration{
		Releases:     storage.Init(driver.NewMemory()),
		KubeClient:   &kubefake.PrintingKubeClient{Out: io.Discard},
		Capabilities: common.DefaultCapabilities,
	}
	in := action.NewInstall(cfg)
	in.DryRunStrategy = action.DryRunClient
	in.Replace = true
	in.ReleaseName = "cap"
	in.Namespace = "ops"
	in.SkipSchemaValidation = skipSchema
	rel, err := in.RunWithContext(context.Background(), loadChart(t), vals)
	if err != nil {
		return "", err
	}
	return rel.(*release.Release).Manifest, nil
}

// decode splits a manifest and decodes each document strictly (unknown or duplicate fields fail)
// into its kind's API type.
func decode(t *testing.T, manifest string) objects {
	t.Helper()
	var o objects
	for doc := range strings.SplitSeq(manifest, "\n---") {
		if strings.TrimSpace(strings.TrimPrefix(doc, "---")) == "" {
			continue
		}
		var head struct{ APIVersion, Kind string }
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		var err error
		strict := func(v any) { err = yaml.UnmarshalStrict([]byte(doc), v) }
		switch head.APIVersion + " " + head.Kind {
		case "v1 ConfigMap":
			o.ConfigMaps = append(o.ConfigMaps, corev1.ConfigMap{})
			strict(&o.ConfigMaps[len(o.ConfigMaps)-1])
		case "v1 Secret":
			o.Secrets = append(o.Secrets, corev1.Secret{})
			strict(&o.Secrets[len(o.Secrets)-1])
		case "v1 Service":
			o.Services = append(o.Services, corev1.Service{})
			strict(&o.Services[len(o.Services)-1])
		case "v1 ServiceAccount":
			o.ServiceAccounts = append(o.ServiceAccounts, corev1.ServiceAccount{})
			strict(&o.ServiceAccounts[len(o.ServiceAccounts)-1])
		case "apps/v1 StatefulSet":
			o.StatefulSets = append(o.StatefulSets, appsv1.StatefulSet{})
			strict(&o.StatefulSets[len(o.StatefulSets)-1])
		case "apps/v1 Deployment":
			o.Deployments = append(o.Deployments, appsv1.Deployment{})
			strict(&o.Deployments[len(o.Deployments)-1])
		case "networking.k8s.io/v1 Ingress":
			o.Ingresses = append(o.Ingresses, networkingv1.Ingress{})
			strict(&o.Ingresses[len(o.Ingresses)-1])
		case "policy/v1 PodDisruptionBudget":
			o.PDBs = append(o.PDBs, policyv1.PodDisruptionBudget{})
			strict(&o.PDBs[len(o.PDBs)-1])
		case "monitoring.coreos.com/v1 ServiceMonitor":
			o.ServiceMonitors = append(o.ServiceMonitors, serviceMonitor{})
			strict(&o.ServiceMonitors[len(o.ServiceMonitors)-1])
		default:
			t.Fatalf("unexpected object %s %s", head.APIVersion, head.Kind)
		}
		if err != nil {
			t.Fatalf("%s: %v\n%s", head.Kind, err, doc)
		}
	}
	return o
}

// subset reports whether every label of sel is in labels with the same value.
func subset(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// checkPod checks what every value set's pod template must have, and returns its container.
func checkPod(t *testing.T, o objects, sel *map[string]string, pod corev1.PodTemplateSpec, claims []string) corev1.Container {
	t.Helper()
	if !subset(*sel, pod.Labels) {
		t.Errorf("selector %v does not match the pod's labels %v", *sel, pod.Labels)
	}
	for _, s := range o.Services {
		if !subset(s.Spec.Selector, pod.Labels) {
			t.Errorf("service %s selects %v, not the pod's labels %v", s.Name, s.Spec.Selector, pod.Labels)
		}
	}
	for _, p := range o.PDBs {
		if p.Spec.Selector == nil || !subset(p.Spec.Selector.MatchLabels, pod.Labels) {
			t.Errorf("PDB %s does not select the pod", p.Name)
		}
	}
	ps := pod.Spec
	if len(o.ServiceAccounts) != 1 || ps.ServiceAccountName != o.ServiceAccounts[0].Name {
		t.Errorf("service account %q, objects %v", ps.ServiceAccountName, o.ServiceAccounts)
	}
	if ps.SecurityContext == nil || ps.SecurityContext.RunAsNonRoot == nil || !*ps.SecurityContext.RunAsNonRoot ||
		ps.SecurityContext.RunAsUser == nil || *ps.SecurityContext.RunAsUser != 65532 {
		t.Errorf("pod security context: %+v", ps.SecurityContext)
	}
	if len(ps.Containers) != 1 {
		t.Fatalf("containers: %d", len(ps.Containers))
	}
	c := ps.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil ||
		*sc.AllowPrivilegeEscalation || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container security context: %+v", sc)
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 8080 {
		t.Errorf("ports: %+v", c.Ports)
	}
	for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Port.StrVal != "http" {
			t.Errorf("%s probe: %+v", name, p)
		}
	}
	if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("probes: readiness %s, liveness %s", c.ReadinessProbe.HTTPGet.Path, c.LivenessProbe.HTTPGet.Path)
	}
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources: %+v", c.Resources)
	}
	// Every mount has its volume (or claim), the config volume is the chart's ConfigMap, and the
	// read-only root leaves /data and /tmp writable.
	vols := map[string]corev1.Volume{}
	for _, v := range ps.Volumes {
		vols[v.Name] = v
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
		if _, ok := vols[m.Name]; !ok && !slices.Contains(claims, m.Name) {
			t.Errorf("mount %s: no volume %s", m.MountPath, m.Name)
		}
	}
	if mounts["/data"] == "" || mounts["/tmp"] == "" || mounts["/etc/capitain/capitain.yml"] != "config" {
		t.Errorf("mounts: %v", mounts)
	}
	if cm := vols["config"].ConfigMap; cm == nil || len(o.ConfigMaps) != 1 || cm.Name != o.ConfigMaps[0].Name {
		t.Errorf("config volume %+v, config maps %d", vols["config"], len(o.ConfigMaps))
	}
	return c
}

func lint(t *testing.T, vals map[string]any) {
	t.Helper()
	res := action.NewLint().Run([]string{chartDir}, vals)
	for _, err := range res.Errors {
		t.Errorf("lint: %v", err)
	}
	for _, m := range res.Messages {
		if m.Severity >= support.WarningSev {
			t.Errorf("lint: %s", m)
		}
	}
}

func TestDefaultSQLite(t *testing.T) {
	lint(t, nil)
	m, err := render(t, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	o := decode(t, m)
	if len(o.StatefulSets) != 1 || len(o.Deployments) != 0 || len(o.Secrets) != 0 || len(o.Ingresses) != 0 ||
		len(o.ServiceMonitors) != 0 || len(o.Services) != 1 || len(o.PDBs) != 1 {
		t.Fatalf("objects: %d statefulsets, %d deployments, %d secrets, %d ingresses, %d servicemonitors, %d services, %d PDBs",
			len(o.StatefulSets), len(o.Deployments), len(o.Secrets), len(o.Ingresses), len(o.ServiceMonitors), len(o.Services), len(o.PDBs))
	}
	ss := o.StatefulSets[0]
	if ss.Spec.Replicas == nil || *ss.Spec.Replicas != 1 || ss.Spec.ServiceName != o.Services[0].Name {
		t.Errorf("statefulset: replicas %v, service %q", ss.Spec.Replicas, ss.Spec.ServiceName)
	}
	if len(ss.Spec.VolumeClaimTemplates) != 1 || ss.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests.Storage().String() != "2Gi" {
		t.Errorf("claims: %+v", ss.Spec.VolumeClaimTemplates)
	}
	c := checkPod(t, o, &ss.Spec.Selector.MatchLabels, ss.Spec.Template, []string{ss.Spec.VolumeClaimTemplates[0].Name})
	if len(c.Env) != 0 || c.Image != "localhost/capitain:dev" {
		t.Errorf("container: env %v, image %s", c.Env, c.Image)
	}
	if o.PDBs[0].Spec.MaxUnavailable == nil || o.PDBs[0].Spec.MaxUnavailable.IntValue() != 1 {
		t.Errorf("PDB: %+v", o.PDBs[0].Spec)
	}
	checkRoutes(t, o, c)
}

func TestPostgreSQLThreeReplicas(t *testing.T) {
	vals := map[string]any{"replicaCount": 3, "database": map[string]any{"type": "postgres",
		"postgres": map[string]any{"dsn": "postgres://capitain:pw@db.ops/capitain"}}}
	lint(t, vals)
	m, err := render(t, vals, false)
	if err != nil {
		t.Fatal(err)
	}
	o := decode(t, m)
	if len(o.Deployments) != 1 || len(o.StatefulSets) != 0 || len(o.Secrets) != 1 {
		t.Fatalf("objects: %d deployments, %d statefulsets, %d secrets", len(o.Deployments), len(o.StatefulSets), len(o.Secrets))
	}
	d := o.Deployments[0]
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("replicas %v", d.Spec.Replicas)
	}
	c := checkPod(t, o, &d.Spec.Selector.MatchLabels, d.Spec.Template, nil)
	s := o.Secrets[0]
	if len(c.Env) != 1 || c.Env[0].Name != "CHAOS_CAPITAIN_DB" || c.Env[0].ValueFrom == nil || c.Env[0].ValueFrom.SecretKeyRef == nil ||
		c.Env[0].ValueFrom.SecretKeyRef.Name != s.Name || s.StringData[c.Env[0].ValueFrom.SecretKeyRef.Key] != "postgres://capitain:pw@db.ops/capitain" {
		t.Errorf("DSN: env %+v, secret %+v", c.Env, s)
	}
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == "data" && v.EmptyDir == nil {
			t.Errorf("data volume with PostgreSQL: %+v", v)
		}
	}

	// An existing Secret instead: the chart makes none and reads the one named.
	vals["database"] = map[string]any{"type": "postgres", "postgres": map[string]any{"existingSecret": "pg", "existingSecretKey": "url"}}
	m, err = render(t, vals, false)
	if err != nil {
		t.Fatal(err)
	}
	o = decode(t, m)
	ref := o.Deployments[0].Spec.Template.Spec.Containers[0].Env[0].ValueFrom.SecretKeyRef
	if len(o.Secrets) != 0 || ref.Name != "pg" || ref.Key != "url" {
		t.Errorf("existing secret: %d secrets, ref %+v", len(o.Secrets), ref)
	}
}

func TestIngressTLS(t *testing.T) {
	vals := map[string]any{
		"ingress": map[string]any{"enabled": true, "className": "nginx",
			"hosts": []any{map[string]any{"host": "capitain.example.org", "paths": []any{map[string]any{"path": "/"}}}},
			"tls":   []any{map[string]any{"secretName": "capitain-tls", "hosts": []any{"capitain.example.org"}}}},
		"serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "prom"}},
		"ssh":            map[string]any{"existingSecret": "fleet-ssh"},
	}
	lint(t, vals)
	m, err := render(t, vals, false)
	if err != nil {
		t.Fatal(err)
	}
	o := decode(t, m)
	if len(o.Ingresses) != 1 || len(o.ServiceMonitors) != 1 {
		t.Fatalf("%d ingresses, %d service monitors", len(o.Ingresses), len(o.ServiceMonitors))
	}
	ing := o.Ingresses[0].Spec
	svc := o.Services[0]
	if ing.IngressClassName == nil || *ing.IngressClassName != "nginx" || len(ing.TLS) != 1 || ing.TLS[0].SecretName != "capitain-tls" ||
		ing.TLS[0].Hosts[0] != "capitain.example.org" || len(ing.Rules) != 1 || ing.Rules[0].Host != "capitain.example.org" {
		t.Errorf("ingress: %+v", ing)
	}
	b := ing.Rules[0].HTTP.Paths[0].Backend.Service
	if b.Name != svc.Name || b.Port.Name != svc.Spec.Ports[0].Name || *ing.Rules[0].HTTP.Paths[0].PathType != networkingv1.PathTypePrefix {
		t.Errorf("ingress backend %+v, service %s port %s", b, svc.Name, svc.Spec.Ports[0].Name)
	}
	sm := o.ServiceMonitors[0]
	if !subset(sm.Spec.Selector.MatchLabels, svc.Labels) || sm.Spec.Endpoints[0].Port != svc.Spec.Ports[0].Name ||
		sm.Spec.Endpoints[0].Path != "/metrics" || sm.Metadata.Labels["release"] != "prom" {
		t.Errorf("service monitor: %+v", sm)
	}
	ss := o.StatefulSets[0]
	checkPod(t, o, &ss.Spec.Selector.MatchLabels, ss.Spec.Template, []string{"data"})
	var ssh *corev1.Volume
	for i, v := range ss.Spec.Template.Spec.Volumes {
		if v.Name == "ssh" {
			ssh = &ss.Spec.Template.Spec.Volumes[i]
		}
	}
	if ssh == nil || ssh.Secret == nil || ssh.Secret.SecretName != "fleet-ssh" {
		t.Errorf("ssh volume: %+v", ssh)
	}
}

// Values the server cannot run with are refused, by the schema and, without it, by the templates.
func TestBadValuesRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		vals map[string]any
		want string // in the schema's error
		tpl  string // in the template's error ("" : the templates do not check it)
	}{
		{"sqlite with 3 replicas", map[string]any{"replicaCount": 3}, "replicaCount", "replicaCount must be 1"},
		{"postgres without a DSN", map[string]any{"database": map[string]any{"type": "postgres"}}, "postgres", "needs database.postgres.dsn"},
		{"a DSN that is not postgres://", map[string]any{"database": map[string]any{"type": "postgres", "postgres": map[string]any{"dsn": "mysql://x"}}}, "dsn", ""},
		{"unknown key", map[string]any{"replicas": 2}, "replicas", ""},
		{"bad duration", map[string]any{"config": map[string]any{"node_timeout": "soon"}}, "node_timeout", ""},
		{"unknown database", map[string]any{"database": map[string]any{"type": "mysql"}}, "type", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(t, tc.vals, false)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("schema: err %v, want one naming %q", err, tc.want)
			}
			if res := action.NewLint().Run([]string{chartDir}, tc.vals); len(res.Errors) == 0 {
				t.Error("lint accepted the values")
			}
			if tc.tpl != "" {
				if _, err := render(t, tc.vals, true); err == nil || !strings.Contains(err.Error(), tc.tpl) {
					t.Errorf("templates: err %v, want %q", err, tc.tpl)
				}
			}
		})
	}
}

// checkRoutes runs the real server with the rendered ConfigMap's capitain.yml (so its keys must be
// ones the server knows) and asks it every path the probes and the ServiceMonitor use: each must
// answer 200. The config's listen port must be the container's port.
func checkRoutes(t *testing.T, o objects, c corev1.Container) {
	t.Helper()
	conf := o.ConfigMaps[0].Data["capitain.yml"]
	var fc struct{ Listen string }
	if err := yaml.Unmarshal([]byte(conf), &fc); err != nil {
		t.Fatal(err)
	}
	if _, port, _ := net.SplitHostPort(fc.Listen); port != fmt.Sprint(c.Ports[0].ContainerPort) {
		t.Errorf("config listens on %q, the container's port is %d", fc.Listen, c.Ports[0].ContainerPort)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "capitain.yml")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	// --data and --listen override the file's /data and 0.0.0.0:8080, as flags do.
	cmd := exec.Command(chaosBinary(t), "capitain", "serve", "--config", file, "--data", filepath.Join(dir, "data"), "--listen", addr)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	paths := []string{c.StartupProbe.HTTPGet.Path, c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path, "/metrics"}
	deadline := time.Now().Add(2 * time.Minute)
	for _, p := range paths {
		for {
			resp, err := http.Get("http://" + addr + p)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			select {
			case err := <-exited:
				t.Fatalf("the server exited (%v) with the chart's config:\n%s", err, out.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no 200 (%v)\n%s", p, err, out.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// chaosBinary builds the repository's chaos binary (with its embedded worker, as the image does).
func chaosBinary(t *testing.T) string {
	t.Helper()
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "chaos")
	for _, argv := range [][]string{{"generate", "./internal/transport/workerbin"}, {"build", "-trimpath", "-o", bin, "./cmd/chaos"}} {
		cmd := exec.Command(goTool(), argv...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(argv, " "), err, out)
		}
	}
	return bin
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// The README's `helm install` commands, their --set values parsed as helm parses them: each
// renders, and the objects are the ones the README promises.
func TestREADMEHelmCommands(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)```sh\n(helm install .*?)```")
	set := regexp.MustCompile(`--set (?:'([^']+)'|(\S+))`)
	var got []objects
	for _, b := range block.FindAllStringSubmatch(string(readme), -1) {
		vals := map[string]any{}
		for _, m := range set.FindAllStringSubmatch(b[1], -1) {
			if err := strvals.ParseInto(m[1]+m[2], vals); err != nil {
				t.Fatalf("--set %s%s: %v", m[1], m[2], err)
			}
		}
		m, err := render(t, vals, false)
		if err != nil {
			t.Fatalf("%v\n%s", err, b[1])
		}
		got = append(got, decode(t, m))
	}
	if len(got) != 2 {
		t.Fatalf("%d helm install blocks in the README, want 2", len(got))
	}
	if len(got[0].StatefulSets) != 1 || got[0].StatefulSets[0].Spec.Template.Spec.Containers[0].Image != "registry.example.org/capitain:dev" {
		t.Errorf("first command: %+v", got[0].StatefulSets)
	}
	if len(got[1].Deployments) != 1 || *got[1].Deployments[0].Spec.Replicas != 3 || len(got[1].Secrets) != 0 ||
		len(got[1].Ingresses) != 1 || len(got[1].Ingresses[0].Spec.TLS) != 1 {
		t.Errorf("second command: %d deployments, %d secrets, %d ingresses", len(got[1].Deployments), len(got[1].Secrets), len(got[1].Ingresses))
	}
}
