package archcheck

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const (
	module = "github.com/pushi-io/pushi/"
	root   = "../.." // the module root, from this package's directory
	doc    = "docs/architecture.md"
)

// edges maps a package's short name to the short names it imports.
type edges map[string]map[string]bool

// short names a module package as the doc does: without the module path
// and without "internal/" ("hub", "store/sqlite", "cmd/pushi").
func short(path string) string {
	return strings.TrimPrefix(strings.TrimPrefix(path, module), "internal/")
}

func TestImportsMatchArchitectureDoc(t *testing.T) {
	got := listed(t)
	want, lines := documented(t)
	var problems []string
	for _, pkg := range slices.Sorted(maps.Keys(union(got, want))) {
		var missing, stale []string
		for dep := range got[pkg] {
			if !want[pkg][dep] {
				missing = append(missing, dep)
			}
		}
		for dep := range want[pkg] {
			if !got[pkg][dep] {
				stale = append(stale, dep)
			}
		}
		if len(missing)+len(stale) == 0 {
			continue
		}
		slices.Sort(missing)
		slices.Sort(stale)
		var why []string
		for _, dep := range missing {
			why = append(why, fmt.Sprintf("%s imports %s, which the block does not list", pkg, dep))
		}
		for _, dep := range stale {
			why = append(why, fmt.Sprintf("the block lists %s -> %s, but %s does not import %s", pkg, dep, pkg, dep))
		}
		fix := "add the line\n\t" + line(pkg, got[pkg])
		switch {
		case lines[pkg] != "" && len(got[pkg]) == 0:
			fix = "remove the line\n\t" + lines[pkg]
		case lines[pkg] != "":
			fix = "replace the line\n\t" + lines[pkg] + "\nwith\n\t" + line(pkg, got[pkg])
		}
		problems = append(problems, strings.Join(why, "\n")+"\nIn the ```imports block of "+doc+", "+fix)
	}
	if len(problems) > 0 {
		t.Fatalf("%s's import diagram is out of date (go list ./..., non-test imports):\n\n%s", doc, strings.Join(problems, "\n\n"))
	}
}

// line is the block's line for pkg: its imports sorted.
func line(pkg string, deps map[string]bool) string {
	return pkg + " -> " + strings.Join(slices.Sorted(maps.Keys(deps)), ", ")
}

func union(a, b edges) edges {
	out := edges{}
	for k := range a {
		out[k] = nil
	}
	for k := range b {
		out[k] = nil
	}
	return out
}

// listed asks the go command for every edge between the module's own
// packages; test imports are left out, as they shape no production code.
func listed(t *testing.T) edges {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	got := edges{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(l)
		for _, imp := range fields[1:] {
			if strings.HasPrefix(imp, module) {
				add(got, short(fields[0]), short(imp))
			}
		}
	}
	return got
}

func add(e edges, from, to string) {
	if e[from] == nil {
		e[from] = map[string]bool{}
	}
	e[from][to] = true
}

var lineRE = regexp.MustCompile(`^(\S+)\s*->\s*(.*)$`)

// documented reads the doc's one ```imports block: lines "pkg -> a, b".
// A package that imports none of the module's packages needs no line.
// It also returns each package's line as written, for the fix message.
func documented(t *testing.T) (edges, map[string]string) {
	t.Helper()
	raw, err := os.ReadFile(root + "/" + doc)
	if err != nil {
		t.Fatal(err)
	}
	want, lines := edges{}, map[string]string{}
	blocks, in := 0, false
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		switch {
		case !in && l == "```imports":
			in = true
			blocks++
			continue
		case in && l == "```":
			in = false
			continue
		case !in || l == "":
			continue
		}
		m := lineRE.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("%s:%d: %q in the imports block is not \"pkg -> dep, dep\"", doc, n, l)
		}
		pkg := m[1]
		if _, dup := lines[pkg]; dup {
			t.Fatalf("%s:%d: %s has a second line in the imports block; keep one per package", doc, n, pkg)
		}
		lines[pkg] = l
		want[pkg] = map[string]bool{}
		for _, dep := range strings.Split(m[2], ",") {
			if dep = strings.TrimSpace(dep); dep != "" {
				want[pkg][dep] = true
			}
		}
	}
	if blocks != 1 || in {
		t.Fatalf("%s must hold exactly one closed ```imports block (found %d)", doc, blocks)
	}
	return want, lines
}
