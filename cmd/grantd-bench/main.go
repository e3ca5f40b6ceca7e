// Command grantd-bench measures grantd on loopback and prints a table; see
// BENCHMARKS.md for what it measures and the latest figures.
//
//	grantd-bench [-grantd bin/grantd] [-duration 5s] [-rounds 3] all|proxy|storm|scale|connections|replicas|mcp
//	grantd-bench charts [-in bin/bench.json] [-out docs/bench]
//
// It starts its own upstream, token endpoint, baseline proxy and bare
// fasthttp forwarder (as subprocesses of itself, so each has its own
// runtime) and the real grantd binary, and drives them with wrk.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	grantd     string
	duration   time.Duration
	rounds     int
	conns      []int
	datasets   []int
	idle       time.Duration
	stormSize  int
	out        string
	pinLoadgen bool
	workers    int
	// connections are the per-user connection counts of the
	// connections run.
	connections []int
	// replicaConns are the connection counts of the replicas run on etcd;
	// lockTTL is the replicas' --lock-ttl.
	replicaConns []int
	lockTTL      time.Duration
	// cpuProfile, when set, is where the proxy run writes a CPU profile
	// of grantd, served on pprofAddr.
	cpuProfile, pprofAddr string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 && strings.HasPrefix(os.Args[1], "serve-") {
		// Helper processes started by the benchmarks themselves.
		if err := serveHelper(ctx, os.Args[1], os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "grantd-bench:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	var conns, datasets, connections string
	flag.StringVar(&o.grantd, "grantd", "bin/grantd", "the grantd binary to measure")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "length of each proxy load run")
	flag.IntVar(&o.rounds, "rounds", 3, "interleaved rounds per proxy point (the median is reported)")
	flag.StringVar(&conns, "conns", "1,16,64", "proxy concurrency levels")
	flag.StringVar(&datasets, "datasources", "100000", "datasource counts for the scale run, one run each (e.g. 10000,100000,1000000)")
	flag.StringVar(&connections, "connections", "10000,100000,1000000", "per-user connection counts for the connections run, one run each")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write CPU profiles of grantd under load to this file (+ suffixes): the proxy run (64 connections, header placement), the connections wave, the MCP run (16 callers)")
	flag.StringVar(&o.pprofAddr, "pprof-addr", "127.0.0.1:6061", "grantd's --pprof-addr when -cpuprofile is set")
	var replicaConns string
	flag.StringVar(&replicaConns, "replica-connections", "100000", "per-user connection counts for the replicas run on etcd, one run each")
	flag.DurationVar(&o.lockTTL, "lock-ttl", 5*time.Second, "the replicas' --lock-ttl in the replicas run")
	flag.DurationVar(&o.idle, "idle", 30*time.Second, "idle CPU window of the scale run")
	flag.IntVar(&o.stormSize, "storm", 1000, "concurrent requests in the refresh storm")
	flag.StringVar(&o.out, "out", "", "also write the results as JSON here")
	flag.BoolVar(&o.pinLoadgen, "pin", false, "pin wrk to the last CPU with taskset")
	flag.IntVar(&o.workers, "workers", 0, "grantd's --refresh-workers in the scale run (0: its default)")
	flag.Parse()
	var err error
	if o.conns, err = parseCounts(conns); err != nil {
		fmt.Fprintln(os.Stderr, "grantd-bench: -conns:", err)
		os.Exit(2)
	}
	if o.datasets, err = parseCounts(datasets); err != nil {
		fmt.Fprintln(os.Stderr, "grantd-bench: -datasources:", err)
		os.Exit(2)
	}
	if o.connections, err = parseCounts(connections); err != nil {
		fmt.Fprintln(os.Stderr, "grantd-bench: -connections:", err)
		os.Exit(2)
	}
	if o.replicaConns, err = parseCounts(replicaConns); err != nil {
		fmt.Fprintln(os.Stderr, "grantd-bench: -replica-connections:", err)
		os.Exit(2)
	}
	what := flag.Arg(0)
	if what == "" {
		what = "all"
	}
	if what == "charts" {
		// Charts from the results of an earlier run; nothing is measured.
		if err := runCharts(flag.Args()[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "grantd-bench:", err)
			os.Exit(1)
		}
		return
	}
	r := &report{Machine: machine(), Date: time.Now().UTC().Format("2006-01-02 15:04 MST")}
	fmt.Printf("grantd-bench on %s\n\n", r.Machine)
	switch what {
	case "all":
		if err = benchProxy(ctx, o, r); err == nil {
			if err = benchStorm(ctx, o, r); err == nil {
				if err = benchScale(ctx, o, r); err == nil {
					if err = benchConnections(ctx, o, r); err == nil {
						if err = benchReplicas(ctx, o, r); err == nil {
							err = benchMCP(ctx, o, r)
						}
					}
				}
			}
		}
	case "proxy":
		err = benchProxy(ctx, o, r)
	case "storm":
		err = benchStorm(ctx, o, r)
	case "scale":
		err = benchScale(ctx, o, r)
	case "connections":
		err = benchConnections(ctx, o, r)
	case "replicas":
		err = benchReplicas(ctx, o, r)
	case "mcp":
		err = benchMCP(ctx, o, r)
	default:
		err = fmt.Errorf("unknown benchmark %q (all, proxy, storm, scale, connections, replicas, mcp, or charts)", what)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "grantd-bench:", err)
		os.Exit(1)
	}
	r.print(os.Stdout)
	if o.out != "" {
		if err := r.save(o.out); err != nil {
			fmt.Fprintln(os.Stderr, "grantd-bench:", err)
			os.Exit(1)
		}
	}
}

// parseCounts reads a comma-separated list of positive counts; an
// underscore may group digits (1_000_000).
func parseCounts(s string) ([]int, error) {
	var counts []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.ReplaceAll(strings.TrimSpace(f), "_", ""))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive count", f)
		}
		counts = append(counts, n)
	}
	return counts, nil
}

func machine() string {
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.SplitN(string(b), "\n", 2)[0], "MemTotal: %d kB", &kb)
		mem = fmt.Sprintf(", %.1f GiB", float64(kb)/(1<<20))
	}
	cpu := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = ", " + strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	return fmt.Sprintf("%d CPUs%s%s, %s/%s, %s", runtime.NumCPU(), cpu, mem, runtime.GOOS, runtime.GOARCH, runtime.Version())
}
