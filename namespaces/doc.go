// Package namespaces maps a folder of .lua files to the namespaces a server
// serves: it names them, loads them through the engine, follows the folder
// as its files change, and keeps the registry that dispatches calls to
// them.
//
// # The folder
//
// Every .lua file under the folder is a namespace, named by its path:
// folders and dots both separate the parts of the name ([NameOf]).
//
//	lua/
//	  slacker/example/api.lua     namespace slacker.example.api
//	  slacker.example.math.lua    namespace slacker.example.math
//	  _lib/util/text.lua          module util.text, for require; not served
//	  .draft.lua, _wip/x.lua      skipped: hidden, or starting with "_"
//	  README.md                   skipped: not a .lua file
//
// [Open] loads the folder. A file it cannot serve (a syntax error, an error
// while loading, an invalid name) is logged with its file and line,
// recorded in [Registry.Failures], and skipped: the rest of the folder is
// served. Two files naming the same namespace (a/b.lua and a.b.lua) are
// both failures, a [*ClashError] naming them, and neither is served; once
// the folder is served, a [Watcher] keeps serving the first and reports
// the second.
//
// # The registry
//
// A [Registry] is the server's [transport.Handler]: Call runs
// "namespace/function", Functions and Meta answer inspect requests. It is
// also the [engine.Caller] of the namespaces it loads, so Lua's
// slacker.call("ns/fn", ...) calls the namespaces of the same process
// directly. Go functions can be served beside the Lua namespaces with
// [Registry.SetGo], called and inspected the same way.
//
// Errors reach the caller with the result codes of the transport: a missing,
// private or removed function is not-found, a namespace whose pool and queue
// are full is thread-pool-full, a call stopped by its deadline or an
// interrupt is canceled, and a Lua error is an exception whose message is
// the Lua message ("slacker/example/api.lua:12: boom").
//
// Namespaces can be added, replaced and removed while calls run
// ([Registry.Set], [Registry.Remove]). A call reads the registry's
// contents with one atomic load; a change copies them, swaps the copy in,
// and then closes the replaced namespace. Calls running on it finish on it;
// calls still waiting for one of its VMs run on its replacement.
//
// # Hot reload
//
// [Registry.Watch] keeps a registry in step with its folder while it
// serves: files added are served, files changed are reloaded, files gone
// stop being served (see [Watcher] for how each case goes). A reload
// compiles and loads the new version in full, then swaps it in with
// [Registry.Set]'s atomic replacement; a version that fails leaves the old
// one serving and is recorded in [Registry.Failures]. [Registry.Subscribe]
// streams the changes, in order, as [Event] values: added, updated,
// removed, failed, cleared, leaving and kept.
//
// # Example
//
//	reg, err := namespaces.Open(ctx, "lua", namespaces.Config{Logger: log})
//	if err != nil { ... } // an unreadable folder, an invalid config, ctx done
//	defer reg.Close()
//	for _, f := range reg.Failures() {
//		... // f.Path, f.Err: served without it
//	}
//	if _, err := reg.Watch(ctx, namespaces.WatchConfig{}); err != nil { ... } // follow the folder
//	srv, err := transport.NewServer(reg, transport.ServerConfig{Logger: log})
package namespaces
