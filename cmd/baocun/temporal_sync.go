package main

import (
	"flag"
	"fmt"

	"baocun/temporalserver"
)

// temporalSyncFlag is --temporal-sync, the same for `serve` and `temporal`.
func temporalSyncFlag(fs *flag.FlagSet, p *string) {
	fs.StringVar(p, "temporal-sync", temporalserver.SyncFull,
		"durability of the embedded server's temporal.db: full, or normal (faster, but a power cut can lose Temporal's last commits while baocun.db keeps the steps they drove: steps the API acknowledged that no workflow knows of)")
}

func checkTemporalSync(command, v string) error {
	if v != temporalserver.SyncFull && v != temporalserver.SyncNormal {
		return &usageError{fmt.Sprintf("%s: --temporal-sync %q: want full or normal", command, v)}
	}
	return nil
}
