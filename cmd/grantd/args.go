package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// parseArgs parses args with fs and returns the positional arguments.
// Flags may come before or after them (grantd datasources get NAME -o
// json), with one dash or two; "--" ends the flags. On -h, -help or --help
// it prints help and fs's flags to stdout and returns flag.ErrHelp, which
// run turns into exit 0. A bad flag is a usageError that points at the
// command's help; nothing is printed for it here.
func parseArgs(fs *flag.FlagSet, help string, args []string, stdout io.Writer) ([]string, error) {
	fs.SetOutput(io.Discard) // errors are returned, help goes to stdout
	fs.Usage = func() {}
	var positional []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			printHelp(stdout, fs, help)
			return nil, flag.ErrHelp
		}
		if err != nil {
			return nil, usageError{fmt.Sprintf("%s: %v (see grantd %s -h)", fs.Name(), err, fs.Name())}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// noArgs is the error for positional arguments a command does not take.
func noArgs(fs *flag.FlagSet, positional []string) error {
	if len(positional) == 0 {
		return nil
	}
	return usageError{fmt.Sprintf("%s: unexpected argument %q (see grantd %s -h)", fs.Name(), positional[0], fs.Name())}
}

// printHelp writes help and then fs's flags, long ones with two dashes as
// the README writes them.
func printHelp(w io.Writer, fs *flag.FlagSet, help string) {
	fmt.Fprint(w, strings.TrimRight(help, "\n")+"\n")
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n == 0 {
		return
	}
	fmt.Fprint(w, "\nFlags (one dash or two; before or after the arguments):\n")
	fs.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		dash := "--"
		if len(f.Name) == 1 {
			dash = "-"
		}
		line := "  " + dash + f.Name
		if typ != "" {
			line += " " + typ
		}
		fmt.Fprintf(w, "%s\n        %s", line, usage)
		switch f.DefValue {
		case "", "false", "0":
		default:
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

// isHelp says whether arg asks a command group for its help.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}
