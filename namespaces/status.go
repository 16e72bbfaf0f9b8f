package namespaces

import (
	"context"
	"slices"

	"github.com/slacker-lua/slacker-lua/engine"
)

// StatusNamespace is the namespace [Registry.ServeStatus] serves.
const StatusNamespace = "slacker-lua.status"

// ServeStatus serves, as the Go namespace [StatusNamespace], two functions
// that tell operators what the registry serves, over the wire like any
// other function (slacker-lua status calls them):
//
//	namespaces()  the served namespaces, sorted by name: each a map of
//	              "namespace", "file" and "version" (the file's hash; both
//	              "" for Go namespaces), "functions" (how many), and
//	              "stateful" and "idempotent" (its options)
//	failures()    the files whose version on disk failed to load (see
//	              [Registry.Failures]): each a map of "file",
//	              "namespace", "version" (the hash of the version that
//	              failed) and "error", the message with file and line
func (r *Registry) ServeStatus() error {
	return r.SetGo(StatusNamespace, []GoFunction{
		{
			Name:   "namespaces",
			Doc:    "The served namespaces, with their files, versions (content hashes) and function counts.",
			Params: []string{},
			Fn: func(context.Context, []any) (any, error) {
				cur := r.snap.Load().ns
				names := make([]string, 0, len(cur))
				for name := range cur {
					names = append(names, name)
				}
				slices.Sort(names)
				out := make([]any, 0, len(names))
				for _, name := range names {
					e := cur[name]
					var opts engine.Options
					if e.lua != nil {
						opts = e.lua.Options()
					}
					out = append(out, map[string]any{
						"namespace":  name,
						"file":       e.file,
						"version":    e.hash(),
						"functions":  int64(len(e.meta)),
						"stateful":   opts.Stateful,
						"idempotent": opts.Idempotent,
					})
				}
				return out, nil
			},
		},
		{
			Name:   "failures",
			Doc:    "The namespace files whose version on disk failed to load, with the errors; the version before, if any, still serves.",
			Params: []string{},
			Fn: func(context.Context, []any) (any, error) {
				fs := r.Failures()
				out := make([]any, 0, len(fs))
				for _, f := range fs {
					out = append(out, map[string]any{"file": f.Path, "namespace": f.Name, "version": f.Hash, "error": f.Err.Error()})
				}
				return out, nil
			},
		},
	})
}
