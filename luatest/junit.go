package luatest

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"
)

// The elements of JUnit XML that CI systems read.
type (
	junitSuites struct {
		XMLName  xml.Name     `xml:"testsuites"`
		Tests    int          `xml:"tests,attr"`
		Failures int          `xml:"failures,attr"`
		Errors   int          `xml:"errors,attr"`
		Skipped  int          `xml:"skipped,attr"`
		Time     string       `xml:"time,attr"`
		Suites   []junitSuite `xml:"testsuite"`
	}
	junitSuite struct {
		Name     string      `xml:"name,attr"`
		Tests    int         `xml:"tests,attr"`
		Failures int         `xml:"failures,attr"`
		Errors   int         `xml:"errors,attr"`
		Skipped  int         `xml:"skipped,attr"`
		Time     string      `xml:"time,attr"`
		Cases    []junitCase `xml:"testcase"`
	}
	junitCase struct {
		Name      string        `xml:"name,attr"`
		Classname string        `xml:"classname,attr"`
		Time      string        `xml:"time,attr"`
		Failure   *junitProblem `xml:"failure,omitempty"`
		Error     *junitProblem `xml:"error,omitempty"`
		Skipped   *junitProblem `xml:"skipped,omitempty"`
		SystemOut string        `xml:"system-out,omitempty"`
	}
	junitProblem struct {
		Message string `xml:"message,attr"`
		Text    string `xml:",chardata"`
	}
)

// WriteJUnit writes the report as JUnit XML: a testsuite per file, a
// testcase per test. A file that could not run is a testsuite with one
// erring testcase.
func (r *Report) WriteJUnit(w io.Writer) error {
	var all junitSuites
	var total time.Duration
	index := map[string]int{}
	suite := func(file string) *junitSuite {
		i, ok := index[file]
		if !ok {
			i = len(all.Suites)
			index[file] = i
			all.Suites = append(all.Suites, junitSuite{Name: file})
		}
		return &all.Suites[i]
	}
	times := map[string]time.Duration{}
	for _, res := range r.Results {
		s := suite(res.File)
		c := junitCase{Name: res.Name, Classname: classname(res.File), Time: seconds(res.Elapsed), SystemOut: strings.Join(res.Logs, "\n")}
		problem := &junitProblem{Message: res.Message, Text: res.Where + ": " + res.Message}
		switch res.Status {
		case Failed:
			c.Failure = problem
			s.Failures++
		case Errored:
			c.Error = problem
			s.Errors++
		case Skipped:
			c.Skipped = problem
			s.Skipped++
		}
		s.Tests++
		s.Cases = append(s.Cases, c)
		times[res.File] += res.Elapsed
		total += res.Elapsed
	}
	for _, b := range r.Broken {
		s := suite(b.File)
		s.Tests++
		s.Errors++
		s.Cases = append(s.Cases, junitCase{Name: "load", Classname: classname(b.File), Time: seconds(0), Error: &junitProblem{Message: b.Error(), Text: b.Error()}})
	}
	for i := range all.Suites {
		s := &all.Suites[i]
		s.Time = seconds(times[s.Name])
		all.Tests += s.Tests
		all.Failures += s.Failures
		all.Errors += s.Errors
		all.Skipped += s.Skipped
	}
	all.Time = seconds(total)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(all); err != nil {
		return fmt.Errorf("luatest: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// classname is a test file's name as a JUnit class: without ".lua", which
// CI systems would read as a class in a package.
func classname(file string) string { return strings.TrimSuffix(file, ".lua") }

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }
