"""One line per run record of scripts/gpu/keras_apps_run.sh: status, latency, devlab's predicted split, what the
runtime reported."""

import json
import pathlib
import sys

for path in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    try:
        record = json.loads(path.read_text())
    except ValueError:
        lines = path.with_suffix(".err").read_text().strip().splitlines() or ["?"]
        print(f"{path.stem}: no run record: {lines[-1][:200]}")
        continue
    predicted = ((record.get("build") or {}).get("as-is") or {}).get("delegation") or {}
    on_gpu, on_cpu = predicted.get("ops_on_gpu") or 0, predicted.get("ops_on_cpu") or 0
    for row in record["variants"]:
        latency = (row.get("timing") or {}).get("latency_ms") or {}
        reported = (row.get("delegation") or {}).get("reported") or {}
        print(f"{path.stem} {row['accelerator']}: {row['status']} median={latency.get('median_ms')} "
              f"p90={latency.get('p90_ms')} runs={latency.get('count')} predicted={on_gpu}/{on_gpu + on_cpu} "
              f"fully_accelerated={reported.get('fully_accelerated')} init_ms={(row.get('timing') or {}).get('init_ms')} "
              f"settling={(row.get('extra') or {}).get('settling')} error={(row.get('error') or '')[:160]}")
