package pattern

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/yuin/gopher-lua/pm"
)

// pmDiffers matches patterns on which gopher-lua's matcher departs from Lua
// 5.1 (see the package documentation): the frontier, back-references
// where a position capture exists, a class as a range's end or start in a
// set or a range right after a range, %b without its arguments, and % at the end of the pattern.
var pmDiffers = regexp.MustCompile(`%f|\(\).*%[0-9]|%[0-9].*\(\)|%.-|-%|-.-|%b.?$|%$`)

// FuzzMatch compares the matcher with gopher-lua's on the patterns both
// accept, where gopher-lua agrees with Lua 5.1: the first match from init,
// and every match from the start as string.gmatch finds them. Inputs the
// matcher can't finish quickly are skipped, as gopher-lua would take as
// long.
func FuzzMatch(f *testing.F) {
	for _, c := range findCases {
		f.Add(c.subj, c.pat, uint8(max(c.init, 0)))
	}
	f.Fuzz(func(t *testing.T, subj, pat string, init uint8) {
		if len(subj) > 256 || len(pat) > 64 {
			return
		}
		p, err := Compile(pat)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("Compile(%q): %v, not an *Error", pat, err)
			}
			return
		}
		off := min(int(init), len(subj))
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		m := p.Matcher(ctx, subj)
		start, end, ok, err := m.Find(off)
		if err != nil {
			return // too slow, or too deep
		}
		got := "nil"
		if ok {
			got = render(m, start, end)
		}
		all, err := gmatch(ctx, p, subj)
		if err != nil {
			return
		}
		if pmDiffers.MatchString(pat) {
			return
		}
		mds, err := pm.Find(pat, []byte(subj), off, 1)
		if err != nil {
			return
		}
		want := "nil"
		if len(mds) > 0 {
			want = renderPM(mds[0], subj)
		}
		if got != want {
			t.Fatalf("find(%q, %q, %d) = %s; gopher-lua: %s", subj, pat, off+1, got, want)
		}
		if p.Anchored() {
			return
		}
		mds, err = pm.Find(pat, []byte(subj), 0, -1)
		if err != nil {
			return
		}
		var wantAll []string
		for _, md := range mds {
			wantAll = append(wantAll, renderPM(md, subj))
		}
		if strings.Join(all, "; ") != strings.Join(wantAll, "; ") {
			t.Fatalf("gmatch(%q, %q) = %v; gopher-lua: %v", subj, pat, all, wantAll)
		}
	})
}

// gmatch returns every match as string.gmatch finds them.
func gmatch(ctx context.Context, p *Pattern, subj string) ([]string, error) {
	m := p.Matcher(ctx, subj)
	var all []string
	for s := 0; s <= len(subj); {
		e, ok, err := m.MatchAt(s)
		if err != nil {
			return nil, err
		}
		if !ok {
			s++
			continue
		}
		all = append(all, render(m, s, e))
		if e > s {
			s = e
		} else {
			s++
		}
	}
	return all, nil
}

func render(m *Matcher, start, end int) string {
	out := []string{fmt.Sprint(start + 1), fmt.Sprint(end)}
	for i := range m.Captures() {
		s, _, pos := m.Capture(i)
		if pos {
			out = append(out, fmt.Sprint(s+1))
		} else {
			out = append(out, fmt.Sprintf("%q", m.String(i)))
		}
	}
	return strings.Join(out, " ")
}

func renderPM(md *pm.MatchData, subj string) string {
	out := []string{fmt.Sprint(md.Capture(0) + 1), fmt.Sprint(md.Capture(1))}
	for i := 2; i < md.CaptureLength(); i += 2 {
		if md.IsPosCapture(i) {
			out = append(out, fmt.Sprint(md.Capture(i)))
		} else {
			out = append(out, fmt.Sprintf("%q", subj[md.Capture(i):md.Capture(i+1)]))
		}
	}
	return strings.Join(out, " ")
}
