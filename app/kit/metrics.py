"""The process's Prometheus metrics that code deep in the app counts (imports, exports).

They live in the client library's default registry; /metrics (app.observability.metrics)
serves them with the per-request and database-pool figures.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import Counter

RECORDS_IMPORTED = Counter(
    "testimony_import_records",
    "Records an import wrote or found unchanged, by kind and outcome (dry runs excluded).",
    ["kind", "outcome"],
)
ROWS_EXPORTED = Counter("testimony_export_rows", "Records sent in exports, by export.", ["export"])


def count_imported(outcomes: Mapping[str, Mapping[str, int]]) -> None:
    """Count one import's records: `{outcome: {kind: records}}`."""
    for outcome, kinds in outcomes.items():
        for kind, records in kinds.items():
            RECORDS_IMPORTED.labels(kind=kind, outcome=outcome).inc(records)
