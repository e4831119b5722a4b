// Package baocun holds the domain of the department–village pairing programme
// (部门包村): its types, the interfaces the rest of the module implements, and the one
// error type every layer returns. Subpackages are named after what they wrap (sqldb
// wraps database/sql, temporalserver the embedded Temporal server, web Gin) and import
// this package, never each other; cmd/baocun wires them together.
package baocun

// TaskQueue is the Temporal task queue every Baocun workflow and activity runs on.
const TaskQueue = "baocun"

// DefaultNamespace is the Temporal namespace Baocun uses unless told otherwise.
const DefaultNamespace = "baocun"
