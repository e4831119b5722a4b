package temporalserver

import (
	"time"

	"go.temporal.io/server/common/dynamicconfig"
)

// DefaultHistoryCache is how many workflow runs' mutable states the history service
// keeps in memory when Config.HistoryCache is 0 (`--history-cache`). A city's cycle has
// about 600 runs open (its pairings, the cycle and its batches), and at each period's
// end about 600 close as their pairings continue as new; 4,096 holds those with room,
// and stays above MinHistoryCache, so the cache never has to refuse work.
const DefaultHistoryCache = 4096

// MinHistoryCache is the smallest history cache Start accepts. A run in use is pinned
// in the cache and never pushed out, and the history service works on up to about
// 1,600 runs at once when its task queues are backed up (512 workers each for transfer,
// timer and visibility tasks, 64 for in-memory timers) besides the API's requests; a
// cache that all of them pinned would refuse work ("cache capacity is fully occupied
// with pinned elements").
const MinHistoryCache = 2048

// DynamicConfig is the dynamic configuration the embedded server runs with: its
// history service's caches sized for one machine running a city, instead of the
// server's defaults, which are a cluster host's. Every other key keeps its default.
// Each value is read once, when the history service starts.
func DynamicConfig(historyCache int) dynamicconfig.StaticClient {
	if historyCache == 0 {
		historyCache = DefaultHistoryCache
	}
	return dynamicconfig.StaticClient{
		// The mutable-state cache: one entry per workflow run the service has touched
		// (its execution info, pending activities, timers and children, its Updates),
		// so a request or a task need not read the run's rows from temporal.db again.
		//
		// history.hostLevelCacheMaxSize — default 128,000 entries; here 4,096
		// (--history-cache). The default keeps every run touched for an hour (the TTL
		// below): a pairing continues as new every period, so a city's cycle left
		// thousands of closed runs there, one of the two largest parts of the process's
		// heap (docs/PERFORMANCE.md, "Memory").
		// Least recently used runs go first, so the closed ones leave and the open ones
		// (about 600 in a city) stay. Costs: a run pushed out is read again at its next
		// use: ten small indexed reads (the run's row and its nine tables of activities,
		// timers, children, signals…) on temporal.db's one connection.
		// (In this server version the mutable-state cache is always the host's: the
		// shard-level cache and its switch are gone.)
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key(): historyCache,
		// history.cacheSizeBasedLimit — default false; kept false, and said so because
		// the bound above means runs only while it is. Bounding by bytes was tried (64 MiB,
		// history.hostLevelCacheMaxSizeBytes) and did not lower the city cycle's peak:
		// the size it counts is a run's persisted size, a fraction of what the run holds
		// in memory (docs/PERFORMANCE.md).
		dynamicconfig.HistoryCacheSizeBasedLimit.Key(): false,
		// history.cacheTTL — default 1 hour; here 10 minutes. Counted from when a run
		// was read from temporal.db, not from its last use. Saves: with the background
		// eviction below, the states a burst of work loaded are gone 10–11 minutes after
		// it, instead of staying until 4,096 newer runs push them out. Costs: a run in
		// constant use is read again once every 10 minutes (those ten reads).
		dynamicconfig.HistoryCacheTTL.Key(): 10 * time.Minute,
		// history.cacheBackgroundEvict — default off (every minute, 1,024 entries a
		// pass, when on); here on. Without it an expired run leaves only when it is
		// asked for again or pushed out, so the TTL would free nothing. Costs one pass
		// a minute over the expired entries, the cache locked for up to 1,024 at a time.
		dynamicconfig.HistoryCacheBackgroundEvict.Key(): dynamicconfig.CacheBackgroundEvictSettings{
			Enabled: true, LoopInterval: time.Minute, MaxEntryPerCall: 1024,
		},

		// The events cache: history events the server reads back soon after writing
		// them — a run's start event (for its visibility record), an activity's
		// scheduled event when the worker takes the activity (it carries the input), an
		// Update's outcome when a step is sent again.
		//
		// history.enableHostLevelEventsCache — default false; kept false, said so because
		// the bound below applies only while it is. The embedded server has one history
		// shard, so the shard's cache is already the host's; the host-level cache would
		// be bounded by history.eventsHostLevelCacheMaxSizeBytes instead (256 MiB).
		dynamicconfig.EnableHostLevelEventsCache.Key(): false,
		// history.eventsCacheMaxSizeBytes — default 512 KiB; here 4 MiB, counted in
		// encoded bytes (in memory the events take perhaps two to three times that).
		// At a period's end about 600 pairings continue as new at once, each new run's
		// start event carrying the pairing's state (the pairing, its settings, team and
		// open tasks); 512 KiB holds only part of them, so the rest are read back from
		// temporal.db as their visibility records are written, at the busiest moment of
		// the quarter, and so is an activity's input when the activity waited behind
		// them. A miss reads the event's batch from the history tables.
		dynamicconfig.EventsCacheMaxSizeBytes.Key(): 4 << 20,
		// history.eventsCacheTTL — default 1 hour, left: the events cache has no
		// background eviction, so a shorter TTL would only turn later reads into misses;
		// its byte bound is what bounds its memory.
	}
}
