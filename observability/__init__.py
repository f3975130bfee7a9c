"""Monitoring as code: the Prometheus rules and Grafana dashboards the chart ships and `dhg up --monitoring`
loads, generated from the metric names the services define (`python -m observability` writes them)."""
