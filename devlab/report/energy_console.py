"""The console lines `devlab run` prints for --energy and --sustained: one per variant, with the source, and every
reason an energy number cannot be trusted on its own line (nothing of it is left to the report alone)."""

from __future__ import annotations

from typing import Any


def energy_lines(record: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for row in record.get("variants", []):
        extra = row.get("extra") or {}
        label = f"{row['variant']} on {row['accelerator']}"
        energy = extra.get("energy")
        if energy:
            mj = energy.get("mj_per_inference")
            moved = [r["rail"] for r in energy.get("rails", []) if r.get("moved")]
            what = "no number" if mj is None else f"{mj:.3f} mJ / inference"
            how = energy.get("method", "-") + (f": {', '.join(moved)}" if moved else "")
            lines.append(f"energy: {label}: {what} ({energy.get('status')}, {energy.get('source')}, {how})")
            lines += [f"energy: {label}: {w}" for w in energy.get("warnings", [])]
        sustained = extra.get("sustained")
        if sustained:
            if sustained.get("error"):
                lines.append(f"sustained: {label}: {sustained['error']}")
                continue
            cooldown = sustained.get("cooldown") or {}
            if cooldown.get("cooled") is False:   # MLPerf Mobile waits for a cool phone: say it did not get one
                lines.append(f"sustained: {label}: started warm: thermal status {cooldown.get('status')} after "
                             f"waiting {cooldown.get('waited_s', 0):.0f} s for it to cool")
            ratio, onset = sustained.get("sustained_to_peak"), sustained.get("throttling_onset_s")
            start = sustained.get("sustained_to_start")
            lines.append(f"sustained: {label}: sustained/peak {'-' if ratio is None else f'{ratio:.3f}'} "
                         f"({sustained.get('source')}; last minute vs the first points "
                         f"{'-' if start is None else f'{start:.3f}'}), throttling from "
                         f"{'never' if onset is None else f'{onset:.0f} s'}, worst thermal status "
                         f"{sustained.get('max_thermal_status') or '-'}, {len(sustained.get('points', []))} points")
    return lines
