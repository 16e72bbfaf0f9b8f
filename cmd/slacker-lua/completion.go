package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

const completionHelp = "Prints a script that completes slacker-lua's commands and their flags in the\n" +
	"shell, made from the commands' flag sets. A flag that takes a value completes\n" +
	"file names after it, as do arguments. Load it for this shell with\n\n" +
	"  source <(slacker-lua completion bash)    # in ~/.bashrc, or saved in /etc/bash_completion.d/slacker-lua\n" +
	"  source <(slacker-lua completion zsh)     # in ~/.zshrc after compinit, or saved as _slacker-lua in $fpath"

// runCompletion is `slacker-lua completion SHELL`, for the commands cmds.
// It is not one of commands, whose flags it reads.
func runCompletion(args []string, stdout, stderr io.Writer, cmds []command) int {
	fs := newFlags("completion", "bash|zsh", completionHelp, stderr)
	if code, done := parseCommandLine(fs, args, stdout, nargs{1, 1, "bash or zsh"}); done {
		return code
	}
	specs := completionSpecs(cmds)
	switch fs.Arg(0) {
	case "bash":
		io.WriteString(stdout, bashCompletion(specs))
	case "zsh":
		io.WriteString(stdout, zshCompletion(specs))
	default:
		return usageError(stderr, "completion", "unknown shell %q: want bash or zsh", fs.Arg(0))
	}
	return exitOK
}

// completionSpec is what a completion script knows of a command.
type completionSpec struct {
	name, summary string
	flags         []completionFlag
	words         []string // the arguments to offer, if not file names
}

type completionFlag struct {
	name, about string
	value       string // the name of its value; "" for a boolean flag
}

// spelled is the flag as the scripts offer it: -x for one letter, --name
// for more (the flag package takes either).
func (f completionFlag) spelled() string {
	if len(f.name) == 1 {
		return "-" + f.name
	}
	return "--" + f.name
}

// completionSpecs asks each command of cmds for its flag set (see
// flagCapture), and adds the builtins.
func completionSpecs(cmds []command) []completionSpec {
	var specs, builtinSpecs []completionSpec
	var names []string
	for _, c := range cmds {
		capture := &flagCapture{Writer: io.Discard}
		c.run(context.Background(), []string{"--help"}, capture, capture)
		specs = append(specs, completionSpec{name: c.name, summary: c.summary, flags: flagsOf(capture.fs)})
		names = append(names, c.name)
	}
	for _, b := range builtins {
		spec := completionSpec{name: b.name, summary: b.summary}
		switch b.name {
		case "completion":
			spec.words = []string{"bash", "zsh"}
		case "help":
			spec.words = names
		}
		builtinSpecs = append(builtinSpecs, spec)
	}
	return append(specs, builtinSpecs...)
}

func flagsOf(fs *flag.FlagSet) []completionFlag {
	if fs == nil {
		return nil
	}
	var out []completionFlag
	fs.VisitAll(func(f *flag.Flag) {
		value, usage := flag.UnquoteUsage(f)
		if isBoolFlag(f) {
			value = ""
		} else if value == "" {
			value = "value"
		}
		out = append(out, completionFlag{name: f.Name, about: shortAbout(usage), value: value})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// shortAbout is a flag's usage cut to its first clause, for a menu.
func shortAbout(usage string) string {
	if i := strings.IndexAny(usage, ";(\n"); i > 0 {
		usage = usage[:i]
	}
	usage = strings.TrimRight(strings.TrimSpace(usage), ":,")
	if r := []rune(usage); len(r) > 70 {
		usage = string(r[:69]) + "…"
	}
	return usage
}

func bashCompletion(specs []completionSpec) string {
	var b strings.Builder
	var names []string
	for _, s := range specs {
		names = append(names, s.name)
	}
	fmt.Fprintf(&b, `# bash completion for slacker-lua, made by "slacker-lua completion bash".
# Load it with: source <(slacker-lua completion bash)
_slacker_lua() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	local flags="" valued="" i
	COMPREPLY=()
	if [[ $COMP_CWORD -eq 1 ]]; then
		COMPREPLY=($(compgen -W "%s -V --version --help" -- "$cur"))
		return 0
	fi
	for ((i = 2; i < COMP_CWORD; i++)); do
		# After --, every word is an argument.
		[[ ${COMP_WORDS[i]} == -- ]] && return 0
	done
	case ${COMP_WORDS[1]} in
`, strings.Join(names, " "))
	for _, s := range specs {
		if s.words != nil {
			fmt.Fprintf(&b, "\t%s)\n\t\tCOMPREPLY=($(compgen -W %q -- \"$cur\"))\n\t\treturn 0\n\t\t;;\n", s.name, strings.Join(s.words, " "))
			continue
		}
		var all, valued []string
		for _, f := range s.flags {
			all = append(all, f.spelled())
			if f.value != "" {
				valued = append(valued, "-"+f.name, "--"+f.name)
			}
		}
		fmt.Fprintf(&b, "\t%s)\n\t\tflags=%q\n\t\tvalued=%q\n\t\t;;\n", s.name, strings.Join(append(all, "--help"), " "), strings.Join(valued, " "))
	}
	b.WriteString(`	*)
		return 0
		;;
	esac
	if [[ " $valued " == *" $prev "* ]]; then
		return 0 # a flag's value: file names, by -o default
	fi
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$flags" -- "$cur"))
	fi
	return 0
}
complete -o default -F _slacker_lua slacker-lua
`)
	return b.String()
}

func zshCompletion(specs []completionSpec) string {
	var b strings.Builder
	b.WriteString(`#compdef slacker-lua
# zsh completion for slacker-lua, made by "slacker-lua completion zsh".
# Save it as _slacker-lua in a folder of $fpath, or load it with
#   source <(slacker-lua completion zsh)
_slacker-lua() {
	local -a commands
	commands=(
`)
	for _, s := range specs {
		fmt.Fprintf(&b, "\t\t%s\n", zshQuote(s.name+":"+s.summary))
	}
	b.WriteString(`	)
	if (( CURRENT == 2 )); then
		_describe -t commands 'slacker-lua command' commands
		return
	fi
	local cmd=$words[2]
	shift words
	(( CURRENT-- ))
	case $cmd in
`)
	for _, s := range specs {
		fmt.Fprintf(&b, "\t%s)\n", s.name)
		switch {
		case s.name == "help":
			b.WriteString("\t\t_describe -t commands 'slacker-lua command' commands\n")
		case s.words != nil:
			fmt.Fprintf(&b, "\t\t_values shell %s\n", strings.Join(s.words, " "))
		default:
			b.WriteString("\t\t_arguments -S \\\n")
			for _, f := range s.flags {
				spec := f.spelled() + "[" + zshBracket(f.about) + "]"
				if f.value != "" {
					spec += ":" + strings.ReplaceAll(f.value, ":", " ") + ":_files"
				}
				fmt.Fprintf(&b, "\t\t\t%s \\\n", zshQuote(spec))
			}
			b.WriteString("\t\t\t'--help[print the help]' \\\n\t\t\t'*:argument:_files'\n")
		}
		b.WriteString("\t\t;;\n")
	}
	b.WriteString(`	esac
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
	_slacker-lua "$@"
else
	compdef _slacker-lua slacker-lua
fi
`)
	return b.String()
}

// zshQuote quotes s in single quotes for zsh.
func zshQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// zshBracket makes s fit in an _arguments description, between [ and ].
func zshBracket(s string) string {
	return strings.NewReplacer("[", "(", "]", ")", `\`, "/").Replace(s)
}
