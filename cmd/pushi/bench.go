package main

import (
	"os"

	"github.com/pushi-io/pushi/internal/bench"
)

// runBench is `pushi bench <scenario> [flags]`: the load generator that
// drives pushi or any Pusher-protocol peer on loopback (internal/bench).
func runBench(args []string) {
	os.Exit(bench.Run(args, os.Stdout, os.Stderr))
}
