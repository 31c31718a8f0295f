package main

import (
	"os"

	"github.com/pushi-io/pushi/internal/soak"
)

// runSoak is `pushi soak [flags]`: the bounded soak test against a running
// server on loopback (internal/soak, driven by scripts/soak.sh).
func runSoak(args []string) {
	os.Exit(soak.Run(args, os.Stdout, os.Stderr))
}
