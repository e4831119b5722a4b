package temporalserver

import "strings"

// The values of Config.Sync.
const (
	SyncFull   = "full"
	SyncNormal = "normal"
)

// synchronous is SQLite's synchronous pragma for c.Sync. Anything but "normal" is
// FULL, so an unset or mistyped setting gets the durable one.
func (c *Config) synchronous() string {
	if strings.EqualFold(c.Sync, SyncNormal) {
		return SyncNormal
	}
	return SyncFull
}
