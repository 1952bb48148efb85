"""Derive the compact Azure LLM inference trace shipped in optim/data from the raw file.

Usage: ``python optim/data/derive_azure_trace.py ../shared/data/azure_llm_trace``

Reads ``AzureLLMInferenceTrace_code.csv`` (TIMESTAMP, ContextTokens, GeneratedTokens; 8,818
requests of a code-completion service, Azure, November 2023, published with the Splitwise paper)
and writes ``azure_code_trace.csv``: ``arrival_s`` (seconds since the first request, ms precision),
``input_tokens``, ``output_tokens``, all rows, in arrival order; and appends its provenance to
``PROVENANCE.md``.
"""
from __future__ import annotations

import csv
import datetime
import hashlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RAW = "AzureLLMInferenceTrace_code.csv"


def main(src: Path) -> None:
    """Derive the compact trace from the raw file in ``src``."""
    rows = []
    with open(src / RAW, newline="") as f:
        for r in csv.DictReader(f):
            t = datetime.datetime.fromisoformat(r["TIMESTAMP"][:26])
            rows.append((t, int(r["ContextTokens"]), int(r["GeneratedTokens"])))
    rows.sort(key=lambda r: r[0])
    t0 = rows[0][0]
    with open(HERE / "azure_code_trace.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arrival_s", "input_tokens", "output_tokens"])
        for t, i, o in rows:
            w.writerow([f"{(t - t0).total_seconds():.3f}", i, o])
    digest = hashlib.sha256((src / RAW).read_bytes()).hexdigest()
    prov = HERE / "PROVENANCE.md"
    text = prov.read_text()
    marker = "\n# Provenance of the shipped request trace\n"
    text = text.split(marker)[0].rstrip("\n") + "\n" + marker + f"""
- **Source**: Azure public dataset AzureLLMInferenceTrace (code completion, 2023-11), published with the
  Splitwise paper, as mirrored in TingyangSunJeff/load_balance_llm_simulator and copied to
  `shared/data/azure_llm_trace/`.
- **Input**: `{RAW}` (sha256 {digest}, {len(rows)} requests).
- **Selection**: every request; timestamps made relative to the first ({t0.isoformat()}), ms precision;
  context and generated token counts unchanged.
- **Derived file**: `azure_code_trace.csv` (arrival_s, input_tokens, output_tokens), sorted by arrival.
- **Made by**: `python optim/data/derive_azure_trace.py {src}` on {datetime.date.today().isoformat()}.
"""
    prov.write_text(text)
    span = (rows[-1][0] - t0).total_seconds()
    print(f"{len(rows)} requests over {span:.1f} s ({len(rows) / span:.3f} req/s)")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/azure_llm_trace"))
