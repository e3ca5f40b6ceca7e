package main

import (
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// skillFiles is the Agent Skill grantd skill export writes: SKILL.md
// (front matter name and description, then the instructions) and
// examples/. {{GRANTD_URL}} in them becomes --url.
//
//go:embed skill
var skillFiles embed.FS

const skillUsage = `Usage: grantd skill export DIR [--url URL] [--force]

  grantd skill export DIR    write an Agent Skill that teaches an agent to call datasources through grantd

grantd skill export -h says more.
`

const skillExportHelp = `Usage: grantd skill export DIR [--url URL] [--force]

Writes an Agent Skill folder to DIR: SKILL.md (front matter with the
skill's name and description, then how to call datasources through
grantd's proxy with an API key, per-user calls with Grantd-End-User, and
what to do with a connect link) and examples/ (curl, Python, an MCP
client configuration). The agent reads GRANTD_URL and GRANTD_API_KEY from
its environment; --url is written in as the default URL. No key, token or
secret is written. An existing SKILL.md in DIR is kept unless --force.
`

func skillCmd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	sub, rest, err := subcommand("skill", skillUsage, args, stdout, stderr)
	if err != nil {
		return err
	}
	if sub != "export" {
		fmt.Fprint(stderr, skillUsage)
		return usageError{fmt.Sprintf("skill: unknown command %q", sub)}
	}
	fset := flag.NewFlagSet("skill export", flag.ContinueOnError)
	base := fset.String("url", env("GRANTD_URL", "http://127.0.0.1:8080"), "grantd's public `URL`, the skill's default (GRANTD_URL)")
	force := fset.Bool("force", false, "overwrite an existing skill in DIR")
	positional, err := parseArgs(fset, skillExportHelp, rest, stdout)
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		return usageError{"skill export: want DIR (see grantd skill export -h)"}
	}
	u, err := url.Parse(*base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return usageError{fmt.Sprintf("skill export: --url %q is not an http(s) URL without credentials or query", *base)}
	}
	n, err := exportSkill(positional[0], strings.TrimRight(u.String(), "/"), *force)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d files to %s\n", n, positional[0])
	return nil
}

// exportSkill writes the skill to dir with base as the default URL and
// returns how many files it wrote.
func exportSkill(dir, base string, force bool) (int, error) {
	if _, err := os.Stat(filepath.Join(dir, "SKILL.md")); err == nil && !force {
		return 0, fmt.Errorf("skill export: %s already holds a SKILL.md (--force overwrites it)", dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("skill export: %w", err)
	}
	n := 0
	err := fs.WalkDir(skillFiles, "skill", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(strings.TrimPrefix(p, "skill"), "/")))
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := skillFiles.ReadFile(p)
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(p, ".sh") {
			mode = 0o755
		}
		n++
		return os.WriteFile(target, []byte(strings.ReplaceAll(string(b), "{{GRANTD_URL}}", base)), mode)
	})
	if err != nil {
		return n, fmt.Errorf("skill export: %w", err)
	}
	return n, nil
}
