"""What the plain-PostgreSQL rollups cost each insert: database CPU and WAL per sample.

    python bench/rollup_cost.py                    # batches of 50, 500 and 5,000; 5 rounds
    python bench/rollup_cost.py --batches 200 --rounds 3 --sizes 1000

It makes a fresh database with TIMESCALEDB=off (so the rollups' trigger is installed) and
writes batches as the ingest worker does (one binary COPY and a commit per batch), each
sample a new time of one of `--tags` tags in turn, as a plant's tags at 20 values a second
each. Each round writes `--batches` batches of each size with the trigger and as many
without it (dropped and created again between the halves; the order alternates by round),
and reads the CPU time of the database backend doing the writes (from /proc, so other load
on the box matters less than it does to wall time) and the WAL it wrote; with the rollups,
that includes folding what the batches left pending (the worker does it every 10 s, so
folding once per `--batches` batches costs at least as much). It prints, per
batch size, the median over the rounds of the CPU and WAL per sample with and without the
rollups, and the wall time per batch beside them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from plant.rollups import DROP_SQL, FOLD_SQL, FUNCTION_SQL, SEQUENCE_SQL, TRIGGER_SQL
from tests.services import database_url, fresh_database

COPY_SQL = "COPY plant_sample (tag_id, time, value, text, quality) FROM STDIN (FORMAT BINARY)"
TYPES = ["int8", "timestamptz", "float8", "text", "int2"]
START = datetime(2026, 1, 5, tzinfo=UTC)


def backend_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Writer:
    """One connection writing batches, each sample a new time of the next tag in turn."""

    def __init__(self, url: str, tags: int) -> None:
        self.conn = psycopg.connect(url)
        self.pid = self.conn.info.backend_pid
        self.tags = tags
        self.n = 0

    def batch(self, size: int) -> None:
        with self.conn.cursor() as cursor, cursor.copy(COPY_SQL) as copy:
            copy.set_types(TYPES)
            for _ in range(size):
                tag, step = self.n % self.tags + 1, self.n // self.tags
                copy.write_row((tag, START + timedelta(milliseconds=50 * step), 1.5, None, 0))
                self.n += 1
        self.conn.commit()

    def measure(self, size: int, batches: int, fold: bool) -> tuple[float, float, float]:
        """CPU µs and WAL bytes per sample, and wall ms per batch, over `batches` batches
        (and with rollups, the fold of what they left pending)."""
        wal_before = self.wal()
        cpu_before = backend_cpu_s(self.pid)
        started = time.perf_counter()
        for _ in range(batches):
            self.batch(size)
        if fold:
            self.conn.execute(FOLD_SQL)
            self.conn.commit()
        wall = time.perf_counter() - started
        cpu = backend_cpu_s(self.pid) - cpu_before
        wal = self.wal() - wal_before
        samples = size * batches
        return cpu / samples * 1e6, wal / samples, wall / batches * 1000

    def wal(self) -> int:
        row = self.conn.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()
        self.conn.commit()
        return int(row[0]) if row else 0

    def rollups(self, on: bool) -> None:
        self.conn.execute(SEQUENCE_SQL)
        self.conn.execute(FUNCTION_SQL)
        self.conn.execute(TRIGGER_SQL if on else DROP_SQL)
        self.conn.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 500, 5000])
    parser.add_argument("--batches", type=int, default=100, help="batches per size and half")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tags", type=int, default=1000)
    parser.add_argument("--database", default="scada_bench_rollup_cost")
    args = parser.parse_args()
    url = fresh_database(args.database, "off")
    writer = Writer(url, args.tags)
    writer.batch(args.tags)  # warm: every tag's first bucket exists, plans are cached
    results: dict[tuple[int, bool], list[tuple[float, float, float]]] = {}
    for r in range(args.rounds):
        for on in (r % 2 == 0, r % 2 == 1):
            writer.rollups(on)
            for size in args.sizes:
                measured = writer.measure(size, args.batches, fold=on)
                results.setdefault((size, on), []).append(measured)
    writer.conn.close()
    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(
        f"rollup_cost: {args.rounds} rounds of {args.batches} batches, {args.tags} tags; "
        f"load average at the end {load}"
    )
    print(f"{'batch':>6} {'rollups':>8} {'CPU µs/sample':>14} {'WAL B/sample':>13} {'ms/batch':>9}")
    for size in args.sizes:
        for on in (False, True):
            cpu, wal, wall = (statistics.median(m) for m in zip(*results[(size, on)], strict=True))
            print(f"{size:>6} {'on' if on else 'off':>8} {cpu:>14.2f} {wal:>13.0f} {wall:>9.2f}")


if __name__ == "__main__":
    main()
