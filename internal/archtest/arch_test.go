package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// module is the module path; layer patterns are relative to it.
const module = "github.com/qxfer/qxfer"

// kong is the command-line parser: only commands parse command lines.
const kong = "github.com/alecthomas/kong/..."

// A layer is a set of the module's packages and what their non-test code
// may depend on. Patterns are package paths relative to the module, or full
// import paths outside it; "p/..." matches p and every package below it.
type layer struct {
	name string
	// pkgs matches the packages of the layer.
	pkgs string
	// may lists the module packages the layer may import directly, besides
	// the packages of the layer itself; nil: none. Every edge inside the
	// module is checked against it, so together the layers also fix what a
	// package reaches indirectly.
	may []string
	// mayNot lists packages, of the module or not, that the layer may not
	// depend on even indirectly.
	mayNot []string
}

// productMayNot is what no product package may depend on: the benchmarks,
// the test-only packages and the command-line parser.
var productMayNot = []string{"bench/...", "internal/udpproxy", "internal/testutil", "internal/archtest", kong}

// layers is the architecture. A package belongs to the first layer whose
// pkgs matches it.
var layers = []layer{
	{
		name: "commands on top",
		pkgs: "cmd/...",
		may:  []string{"session", "quicx", "certs"},
		// kong is allowed here.
		mayNot: []string{"bench/...", "internal/udpproxy", "internal/testutil", "internal/archtest"},
	},
	{
		name:   "the engine behind a wall: no sessions, transport or trust",
		pkgs:   "session/internal/xfer/...",
		may:    []string{"session/internal/wire"},
		mayNot: append([]string{"session", "quicx", "certs"}, productMayNot...),
	},
	{
		name:   "the stores over the engine and the wire: no sessions, transport or trust",
		pkgs:   "session/internal/store/...",
		may:    []string{"session/internal/xfer", "session/internal/wire"},
		mayNot: append([]string{"session", "quicx", "certs"}, productMayNot...),
	},
	{
		name:   "wire imports nothing of the module",
		pkgs:   "session/internal/wire/...",
		mayNot: productMayNot,
	},
	{
		name:   "session over the engine, the wire, the transport and trust",
		pkgs:   "session",
		may:    []string{"session/internal/store", "session/internal/xfer", "session/internal/wire", "quicx", "certs"},
		mayNot: productMayNot,
	},
	{
		name:   "quicx over certs",
		pkgs:   "quicx",
		may:    []string{"certs"},
		mayNot: productMayNot,
	},
	{
		name:   "certs imports nothing of the module",
		pkgs:   "certs",
		mayNot: productMayNot,
	},
	{
		name: "benchmarks, beside the product",
		pkgs: "bench/...",
		may:  []string{"bench/...", "session", "quicx", "certs", "internal/udpproxy"},
	},
	{
		name:   "the test proxy imports nothing of the module",
		pkgs:   "internal/udpproxy",
		mayNot: []string{kong},
	},
	{
		// Only _test.go files import it, which go list leaves out of
		// the graph; the layers above keep it out of the product.
		name:   "the shared test helpers import nothing of the module, so any package's tests can use them",
		pkgs:   "internal/testutil",
		mayNot: []string{kong},
	},
	{
		name: "this test",
		pkgs: "internal/archtest",
	},
}

// pkg is one package of an import graph, as go list describes it. Paths of
// the module's packages are relative to the module.
type pkg struct {
	ImportPath string
	Imports    []string // direct, non-test
	Deps       []string // transitive, non-test
	Standard   bool     // in the standard library
	Error      *struct{ Err string }
}

// violation is one broken rule.
type violation struct {
	Pkg   string   // the module package breaking the rule
	Dep   string   // what it imports or depends on; "" for a package in no layer
	Kind  string   // "no layer", "import" or "dependency"
	Via   []string // for a dependency: the import chain from Pkg to Dep
	Layer layer    // the layer Pkg belongs to
}

func (v violation) String() string {
	switch v.Kind {
	case "no layer":
		return fmt.Sprintf("%s: got a package in no layer, want it placed in a layer of arch_test.go", v.Pkg)
	case "import":
		return fmt.Sprintf("%s imports %s: got an arrow the layer %q does not allow, want imports of the module only from %v",
			v.Pkg, v.Dep, v.Layer.name, v.Layer.may)
	}
	return fmt.Sprintf("%s depends on %s through %s: got that dependency, want none of %v (layer %q)",
		v.Pkg, v.Dep, strings.Join(v.Via, " -> "), v.Layer.mayNot, v.Layer.name)
}

// match reports whether path matches pattern ("p" or "p/...").
func match(pattern, path string) bool {
	if p, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == p || strings.HasPrefix(path, p+"/")
	}
	return path == pattern
}

func matchAny(patterns []string, path string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return match(p, path) })
}

// inModule reports whether path is one of the module's packages in graph:
// not in the standard library, and relative (no dot in its first element,
// which every other path has).
func inModule(graph map[string]*pkg, path string) bool {
	first, _, _ := strings.Cut(path, "/")
	p := graph[path]
	return p != nil && !p.Standard && !strings.Contains(first, ".")
}

// check applies layers to graph, a set of packages keyed by path, and
// returns the violations of the module's packages in path order.
func check(graph map[string]*pkg, layers []layer) []violation {
	var paths []string
	for p := range graph {
		if inModule(graph, p) {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	var out []violation
	for _, p := range paths {
		i := slices.IndexFunc(layers, func(l layer) bool { return match(l.pkgs, p) })
		if i < 0 {
			out = append(out, violation{Pkg: p, Kind: "no layer"})
			continue
		}
		l := layers[i]
		for _, imp := range graph[p].Imports {
			if inModule(graph, imp) && !match(l.pkgs, imp) && !matchAny(l.may, imp) {
				out = append(out, violation{Pkg: p, Dep: imp, Kind: "import", Layer: l})
			}
		}
		for _, dep := range graph[p].Deps {
			if matchAny(l.mayNot, dep) {
				out = append(out, violation{Pkg: p, Dep: dep, Kind: "dependency", Via: chain(graph, p, dep), Layer: l})
			}
		}
	}
	return out
}

// chain returns the shortest import chain from p to dep in graph.
func chain(graph map[string]*pkg, p, dep string) []string {
	prev := map[string]string{p: ""}
	queue := []string{p}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur == dep {
			var c []string
			for ; cur != ""; cur = prev[cur] {
				c = append(c, cur)
			}
			slices.Reverse(c)
			return c
		}
		if graph[cur] == nil {
			continue
		}
		for _, imp := range graph[cur].Imports {
			if _, seen := prev[imp]; !seen {
				prev[imp] = cur
				queue = append(queue, imp)
			}
		}
	}
	return []string{p, "?", dep}
}

// loadGraph runs go list over the module for goos and returns every
// package of the module and of its dependencies, module paths made
// relative.
func loadGraph(t *testing.T, goos string) map[string]*pkg {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("got no go command on PATH (%v), want one to list packages", err)
	}
	root := moduleRoot(t, goBin)
	cmd := exec.Command(goBin, "list", "-e", "-deps", "-json=ImportPath,Imports,Deps,Error,Standard", "./...")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS="+goos)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	graph := map[string]*pkg{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		p.ImportPath = rel(p.ImportPath)
		for i := range p.Imports {
			p.Imports[i] = rel(p.Imports[i])
		}
		for i := range p.Deps {
			p.Deps[i] = rel(p.Deps[i])
		}
		graph[p.ImportPath] = &p
	}
	return graph
}

// rel makes a module package's path relative to the module.
func rel(path string) string {
	if path == module {
		return "."
	}
	if r, ok := strings.CutPrefix(path, module+"/"); ok {
		return r
	}
	return path
}

// moduleRoot returns the directory of the module's go.mod.
func moduleRoot(t *testing.T, goBin string) string {
	t.Helper()
	out, err := exec.Command(goBin, "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatalf("go env GOMOD: got %q, want the module's go.mod", gomod)
	}
	return filepath.Dir(gomod)
}

// TestImportArrows checks the module's real import graph, as built for each
// operating system qxfer ships for, against layers.
func TestImportArrows(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list over the module")
	}
	for _, goos := range []string{"linux", "darwin", "windows"} {
		t.Run(goos, func(t *testing.T) {
			graph := loadGraph(t, goos)
			// A graph without the product would let every rule pass.
			for _, want := range []string{"cmd/qxfer", "session", "session/internal/wire", "quicx", "certs"} {
				if graph[want] == nil {
					t.Fatalf("go list: got no package %s, want the module's packages", want)
				}
			}
			for _, p := range graph {
				if inModule(graph, p.ImportPath) && p.Error != nil {
					t.Errorf("go list %s: got error %s, want a package whose imports can be read", p.ImportPath, p.Error.Err)
				}
			}
			for _, v := range check(graph, layers) {
				t.Error(v)
			}
		})
	}
}

// TestCheckCatches runs check over made-up graphs, so a rule that can no
// longer fail is noticed.
func TestCheckCatches(t *testing.T) {
	// g builds a graph from "pkg: import import ..." lines; Deps are
	// computed from the imports.
	g := func(lines ...string) map[string]*pkg {
		graph := map[string]*pkg{}
		for _, l := range lines {
			path, imps, _ := strings.Cut(l, ":")
			graph[path] = &pkg{ImportPath: path, Imports: strings.Fields(imps)}
			for _, imp := range strings.Fields(imps) {
				if graph[imp] == nil {
					graph[imp] = &pkg{ImportPath: imp}
				}
			}
		}
		for path, p := range graph {
			seen := map[string]bool{}
			var walk func(string)
			walk = func(q string) {
				for _, imp := range graph[q].Imports {
					if !seen[imp] {
						seen[imp] = true
						walk(imp)
					}
				}
			}
			walk(path)
			for d := range seen {
				p.Deps = append(p.Deps, d)
			}
			slices.Sort(p.Deps)
		}
		return graph
	}
	good := []string{
		"cmd/qxfer: session quicx certs github.com/alecthomas/kong",
		"session: session/internal/xfer session/internal/wire quicx certs",
		"session/internal/xfer: session/internal/wire",
		"session/internal/wire:",
		"quicx: certs",
		"certs:",
		"bench/benchrun: session internal/udpproxy github.com/alecthomas/kong",
		"internal/udpproxy:",
		"internal/testutil:",
		"internal/archtest:",
	}
	// with returns good with the lines for the packages in extra replaced
	// or added.
	with := func(extra ...string) []string {
		out := slices.Clone(good)
		for _, e := range extra {
			name, _, _ := strings.Cut(e, ":")
			i := slices.IndexFunc(out, func(l string) bool { return strings.HasPrefix(l, name+":") })
			if i < 0 {
				out = append(out, e)
			} else {
				out[i] = e
			}
		}
		return out
	}
	type want struct{ pkg, dep, kind string }
	tests := []struct {
		name  string
		graph []string
		want  []want
	}{
		{name: "the intended graph", graph: good},
		{
			name:  "engine imports session",
			graph: with("session/internal/xfer: session/internal/wire session"),
			want: []want{
				{"session/internal/xfer", "session", "import"},
				{"session/internal/xfer", "session", "dependency"},
				// session, reached through the cycle, brings the rest.
				{"session/internal/xfer", "quicx", "dependency"},
				{"session/internal/xfer", "certs", "dependency"},
			},
		},
		{
			name:  "engine reaches quicx through a new package",
			graph: with("session/internal/xfer: session/internal/xfer/tune", "session/internal/xfer/tune: quicx"),
			want: []want{
				// The import of tune is allowed: it is in the layer.
				{"session/internal/xfer", "quicx", "dependency"},
				{"session/internal/xfer", "certs", "dependency"},
				{"session/internal/xfer/tune", "quicx", "import"},
				{"session/internal/xfer/tune", "quicx", "dependency"},
				{"session/internal/xfer/tune", "certs", "dependency"},
			},
		},
		{name: "wire imports certs", graph: with("session/internal/wire: certs"), want: []want{
			{"session/internal/wire", "certs", "import"},
			{"session/internal/xfer", "certs", "dependency"},
		}},
		{name: "certs imports quicx", graph: with("certs: quicx"), want: []want{{"certs", "quicx", "import"}}},
		{name: "quicx imports session", graph: with("quicx: certs session"), want: []want{{"quicx", "session", "import"}}},
		{name: "session imports kong", graph: with("session: certs github.com/alecthomas/kong/mapper"), want: []want{
			{"session", "github.com/alecthomas/kong/mapper", "dependency"},
		}},
		{name: "kong through a third party", graph: with("certs: example.org/cli", "example.org/cli: github.com/alecthomas/kong"), want: []want{
			{"certs", "github.com/alecthomas/kong", "dependency"},
			{"quicx", "github.com/alecthomas/kong", "dependency"},
			{"session", "github.com/alecthomas/kong", "dependency"},
		}},
		{name: "session imports the test proxy", graph: with("session: certs internal/udpproxy"), want: []want{
			{"session", "internal/udpproxy", "import"},
			{"session", "internal/udpproxy", "dependency"},
			{"cmd/qxfer", "internal/udpproxy", "dependency"},
		}},
		{name: "the engine imports the test helpers", graph: with("session/internal/xfer: session/internal/wire internal/testutil"), want: []want{
			{"session/internal/xfer", "internal/testutil", "import"},
			{"session/internal/xfer", "internal/testutil", "dependency"},
			{"session", "internal/testutil", "dependency"},
			{"cmd/qxfer", "internal/testutil", "dependency"},
		}},
		{name: "test helpers import session", graph: with("internal/testutil: session"), want: []want{
			{"internal/testutil", "session", "import"},
		}},
		{name: "command imports a benchmark", graph: with("cmd/qxfer: session bench/internal/emu"), want: []want{
			{"cmd/qxfer", "bench/internal/emu", "import"},
			{"cmd/qxfer", "bench/internal/emu", "dependency"},
		}},
		{name: "command imports the engine", graph: with("cmd/qxfer: session session/internal/xfer"), want: []want{
			{"cmd/qxfer", "session/internal/xfer", "import"},
		}},
		{name: "package in no layer", graph: with("util:"), want: []want{{"util", "", "no layer"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []want
			for _, v := range check(g(tt.graph...), layers) {
				got = append(got, want{v.Pkg, v.Dep, v.Kind})
			}
			order := func(a, b want) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) }
			slices.SortFunc(got, order)
			slices.SortFunc(tt.want, order)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got violations %v, want %v", got, tt.want)
			}
		})
	}
}
