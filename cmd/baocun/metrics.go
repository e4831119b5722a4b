package main

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdkmetrics "go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
)

// metrics is the process's one Prometheus registry: Go runtime and process metrics,
// the HTTP metrics web adds, and the Temporal SDK's metrics, which the SDK reports
// through OpenTelemetry and the OpenTelemetry Prometheus exporter hands to the same
// registry (the SDK's own Prometheus bridge, contrib/tally, is not published).
type metrics struct {
	registry *prometheus.Registry
	temporal sdkmetrics.MetricsHandler
}

func newMetrics() *metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		panic(err) // only fails on a registry conflict, which a fresh registry cannot have
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	return &metrics{
		registry: reg,
		temporal: temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{Meter: provider.Meter("temporal-sdk-go")}),
	}
}
