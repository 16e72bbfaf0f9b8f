// Package luatest runs Lua test files against namespaces: the engine of
// slacker-lua test.
//
// A test file ends in _test.lua (a folder never serves it). Its global
// functions named test_... are its tests, run in the order they are
// defined, each in a fresh VM of the server's sandbox: the file is loaded
// again for each test. A test gets t, and calls namespaces with
// slacker.call, which reaches whatever Config.Caller is: the namespaces
// of a folder loaded in-process, or a server or a cluster through the Go
// client. So one file tests a folder locally and a running server alike.
//
//	-- math_test.lua
//	function test_add(t)
//	  t:eq(slacker.call("slacker.example.math/add", 1, 2), 3)
//	end
//
// t's methods, each also callable as t.name(...); the assertions end the
// test at the first failure, with the test file's line:
//
//	t:eq(got, want [, msg])       got equals want; tables by their contents
//	t:ne(got, other [, msg])      got does not equal other
//	t:ok(v [, msg])               v is neither nil nor false
//	t:near(got, want, eps [, msg])  numbers within eps
//	t:errors(pattern, fn, ...)    fn(...) raises an error whose message
//	                              matches the Lua pattern; returns it
//	t:fail([msg])                 fails the test
//	t:skip([reason])              ends the test as skipped
//	t:log(...)                    a line shown with -v, and under a failure
//	t.name                        the test's name
//
// An assertion's line is the test file's innermost line on the stack, so
// one made through pcall or a library function is reported where the test
// made it. print in a test adds a log line, as t:log does. A test that
// raises an error, or runs past Config.Timeout, fails too; the others run
// on.
package luatest
