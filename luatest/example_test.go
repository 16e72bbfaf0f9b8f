package luatest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/slacker-lua/slacker-lua/luatest"
)

// goMath is what slacker.call reaches in the tests below: m/add, in Go.
// slacker-lua test points it at a folder's namespaces, a server or a
// cluster instead.
type goMath struct{}

func (goMath) Call(ctx context.Context, name string, args []any) (any, error) {
	if name != "m/add" || len(args) != 2 {
		return nil, fmt.Errorf("no function %s of %d arguments", name, len(args))
	}
	return args[0].(int64) + args[1].(int64), nil
}

func ExampleRun() {
	dir, _ := os.MkdirTemp("", "luatest")
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "m_test.lua")
	os.WriteFile(file, []byte(`
function test_add(t)
  t:eq(slacker.call("m/add", 1, 2), 3)
end

function test_wrong(t)
  t:eq(slacker.call("m/add", 1, 1), 3, "one and one")
end
`), 0o644)

	rep, err := luatest.Run(context.Background(), luatest.Config{Caller: goMath{}}, []string{file})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range rep.Results {
		fmt.Println(r.Name, r.Status)
	}
	fmt.Println(rep.Summary())
	// Output:
	// test_add ok
	// test_wrong FAIL
	// 1 passed, 1 failed
}
