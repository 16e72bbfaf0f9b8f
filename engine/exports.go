package engine

import (
	"fmt"
	"slices"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// readExports sets n's functions and options from the first VM, which ran
// the file and returned ret. before holds the globals of a fresh sandbox.
func (n *Namespace) readExports(v *vm, ret lua.LValue, before map[string]bool) error {
	g := v.L.G.Global
	src, opts := g, g.RawGetString("_options")
	if t, ok := ret.(*lua.LTable); ok {
		n.fromTable = true
		src, opts = t, t.RawGetString("_options")
		if !before["_options"] && g.RawGetString("_options") != lua.LNil {
			return n.optionsError("a global _options is ignored when the file returns a table: make it a field of that table")
		}
	}
	var err error
	if n.opts, err = n.parseOptions(opts); err != nil {
		return err
	}
	src.ForEach(func(k, val lua.LValue) {
		name, ok := k.(lua.LString)
		fn, isFn := val.(*lua.LFunction)
		if !ok || !isFn || strings.HasPrefix(string(name), "_") || (!n.fromTable && before[string(name)]) {
			return
		}
		n.funcs = append(n.funcs, n.funcInfo(string(name), fn))
	})
	slices.SortFunc(n.funcs, func(a, b FuncInfo) int { return strings.Compare(a.Name, b.Name) })
	n.index = make(map[string]int, len(n.funcs))
	for i, f := range n.funcs {
		n.index[f.Name] = i
	}
	return nil
}

// bind finds the public functions in a VM that ran the file and returned
// ret.
func (n *Namespace) bind(v *vm, ret lua.LValue) error {
	src := v.L.G.Global
	if n.fromTable {
		t, ok := ret.(*lua.LTable)
		if !ok {
			return fmt.Errorf("the file returned %s, not a table, this time", ret.Type())
		}
		src = t
	}
	v.fns = make([]*lua.LFunction, len(n.funcs))
	for i, f := range n.funcs {
		fn, ok := src.RawGetString(f.Name).(*lua.LFunction)
		if !ok {
			return fmt.Errorf("function %s is missing this time", f.Name)
		}
		v.fns[i] = fn
	}
	return nil
}

// funcInfo describes a public function from its compiled prototype.
func (n *Namespace) funcInfo(name string, fn *lua.LFunction) FuncInfo {
	fi := FuncInfo{Name: name, Params: []string{}}
	p := fn.Proto
	if p == nil { // a Go function, such as string.upper
		return fi
	}
	for i := 0; i < int(p.NumParameters) && i < len(p.DbgLocals); i++ {
		fi.Params = append(fi.Params, p.DbgLocals[i].Name)
	}
	fi.Variadic = p.IsVarArg&lua.VarArgIsVarArg != 0
	fi.Line = p.LineDefined
	lines := n.script.lines
	if p.SourceName != n.script.Path {
		n.mu.Lock()
		mod := n.modules[p.SourceName]
		n.mu.Unlock()
		lines = nil
		if mod != nil {
			lines = mod.lines
		}
	}
	fi.Doc = docAbove(lines, p.LineDefined)
	return fi
}
