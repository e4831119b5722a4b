package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdklog "go.temporal.io/sdk/log"

	"baocun/temporalserver"
)

// changeVersionAttribute is the search attribute in which workflow.GetVersion
// records each change a run has taken ("<change>-<version>").
const changeVersionAttribute = "TemporalChangeVersion"

// baseline names the runs that have taken no change: v0.1.0's code paths.
const baseline = "v0.1.0"

// runGroup is the open runs of one workflow type that have taken the same changes.
type runGroup struct {
	Type     string
	Changes  []string // sorted; empty is the baseline
	Runs     int
	Earliest time.Time // the oldest run's start
}

// runsCommand lists the open workflow runs by the changes (workflow.GetVersion) they
// have taken, with each group's oldest start. A branch kept for runs that began before
// a change may be deleted once no open run started before the release that brought it
// (docs/DESIGN.md, "Versions"). It reads through the operator's certificate, which may
// list and change nothing.
func runsCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var cfg serveConfig
	fs := flag.NewFlagSet("runs", flag.ContinueOnError)
	fs.StringVar(&cfg.DataDir, "data-dir", "./data", "数据目录 the data dir of `baocun serve` or `baocun temporal` (its temporal-tls/ holds the operator's certificate)")
	temporalClientFlags(fs, &cfg)
	if err := parseFlags(fs, args, getenv, stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if err := cfg.validateTemporalClient("runs"); err != nil {
		return err
	}
	opts := client.Options{Namespace: cfg.TemporalNamespace, Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))} // the answer is the table
	if cfg.embedded() {
		certs, err := temporalserver.ReadCertificates(cfg.tlsDir())
		if err != nil {
			return fmt.Errorf("runs: 读不到运维证书 the operator's certificate is unreadable (is --data-dir the service's?): %w", err)
		}
		if opts.ConnectionOptions.TLS, err = certs.ClientTLS(temporalserver.Operator); err != nil {
			return err
		}
		opts.HostPort = net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.TemporalPort))
	} else {
		if err := cfg.temporalSecurity(&opts); err != nil {
			return err
		}
		opts.HostPort = cfg.TemporalAddress
	}
	cctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	tc, err := client.DialContext(cctx, opts)
	if err != nil {
		return fmt.Errorf("runs: %s 内连不上 Temporal %s: cannot connect within %s: %v", cfg.ConnectTimeout, opts.HostPort, cfg.ConnectTimeout, err)
	}
	defer tc.Close()
	var open []*workflowpb.WorkflowExecutionInfo
	var page []byte
	for {
		lctx, cancel := context.WithTimeout(ctx, time.Minute)
		resp, err := tc.ListWorkflow(lctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: cfg.TemporalNamespace, PageSize: 1000, NextPageToken: page, Query: "ExecutionStatus = 'Running'"})
		cancel()
		if err != nil {
			return fmt.Errorf("runs: 列不出运行中的工作流 Temporal %s: cannot list the open runs: %v", opts.HostPort, err)
		}
		open = append(open, resp.GetExecutions()...)
		if page = resp.GetNextPageToken(); len(page) == 0 {
			break
		}
	}
	groups, err := groupRuns(open)
	if err != nil {
		return err
	}
	writeRuns(stdout, groups)
	return nil
}

// groupRuns groups open runs by workflow type and the changes they have taken.
func groupRuns(runs []*workflowpb.WorkflowExecutionInfo) ([]runGroup, error) {
	byKey := map[string]*runGroup{}
	for _, r := range runs {
		var changes []string
		if p := r.GetSearchAttributes().GetIndexedFields()[changeVersionAttribute]; p != nil {
			if err := converter.GetDefaultDataConverter().FromPayload(p, &changes); err != nil {
				return nil, fmt.Errorf("runs: %s %s 的 %s 无法读取 %s's %s is unreadable: %v", r.GetType().GetName(), r.GetExecution().GetWorkflowId(), changeVersionAttribute,
					r.GetExecution().GetWorkflowId(), changeVersionAttribute, err)
			}
			slices.Sort(changes)
			changes = slices.Compact(changes)
		}
		key := r.GetType().GetName() + "\x00" + strings.Join(changes, "\x00")
		g := byKey[key]
		if g == nil {
			g = &runGroup{Type: r.GetType().GetName(), Changes: changes}
			byKey[key] = g
		}
		g.Runs++
		if start := r.GetStartTime().AsTime(); g.Earliest.IsZero() || start.Before(g.Earliest) {
			g.Earliest = start
		}
	}
	out := make([]runGroup, 0, len(byKey))
	for _, g := range byKey {
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b runGroup) int {
		if c := strings.Compare(a.Type, b.Type); c != 0 {
			return c
		}
		return slices.Compare(a.Changes, b.Changes)
	})
	return out, nil
}

func writeRuns(w io.Writer, groups []runGroup) {
	if len(groups) == 0 {
		fmt.Fprintln(w, "没有运行中的工作流 No open runs: every GetVersion branch may be retired.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "类型 Type\t变更 Changes taken\t运行数 Open runs\t最早开始 Oldest start (UTC)")
	for _, g := range groups {
		changes := baseline + "（无变更 none）"
		if len(g.Changes) > 0 {
			changes = strings.Join(g.Changes, ", ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", g.Type, changes, g.Runs, g.Earliest.UTC().Format(time.DateTime))
	}
	tw.Flush()
}
