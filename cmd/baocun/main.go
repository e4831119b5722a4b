// Command baocun runs the department–village pairing programme service (部门包村).
//
//	baocun serve   the service: embedded Temporal, the worker, the API and the UI
//
// main only wires the process to run, which the tests call directly.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "baocun: %v\n", oneLine(err))
		os.Exit(exitCode(err))
	}
}
