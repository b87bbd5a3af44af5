"""From the run records to results.json, results.md (tables, ratios, targets) and PNG plots."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import summary

PLOTS = ("scoring_throughput.png", "scoring_p99.png", "batching_throughput.png")


def _ms(us: float | None) -> str:
    return "-" if us is None else f"{us / 1000:.2f}"


def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _spread(r: dict[str, Any]) -> str:
    """`` (lowest-highest)`` of a merged record's per-round throughput; nothing for a single round."""
    values = [v for v in r.get("rps_rounds") or () if v is not None]
    return f" ({min(values):,.0f}-{max(values):,.0f})" if len(values) > 1 else ""


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _ok(flag: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "n/a"}[flag]


def _template(command: str) -> str:
    """A loadgen template for the reader: runs of one repeated argument shortened to ``arg x N``."""
    words, out = command.split(" "), []
    i = 0
    while i < len(words):
        n = 1
        while i + n < len(words) and words[i + n] == words[i]:
            n += 1
        out.append(f"{words[i]} x {n}" if n > 2 else " ".join(words[i:i + n]))
        i += n
    return " ".join(out)


def _scoring_setup_lines(setup: dict[str, Any]) -> list[str]:
    commands = setup.get("inferd_command") or {}
    if isinstance(commands, str):  # records written before each system's command was stored
        commands = {"inferd": commands}
    tx = setup.get("tx_floats", 30)
    lines = ["One request = score one transaction (1x30) against a random user's reference tensor (1x256), "
             f"{setup.get('users', '?')} users; every system is driven by the same C closed-loop client. "
             "Each inferd system makes one `AI.DAGEXECUTE` round trip, to the model stored with BATCHSIZE "
             f"{setup.get('scoring_batchsize', '?')} (`fraud`) or BATCHSIZE 0 (`fraud_nobatch`). Commands sent, "
             f"with `__user__` the user id, `__tx_blob__` {tx} random float32 as {tx * 4} raw bytes (as RedisAI's "
             "aibench and redisai-py send tensors) and `__rand_float__` a random decimal in [0, 1) as text "
             "(e.g. `0.123456`):", ""]
    lines += [f"* {system}: `{_template(command)}`" for system, command in commands.items()]
    lines += [f"* peer: redis-server `GET ref:__user__`, then `POST /score` to FastAPI/uvicorn with body {tx} "
              "random float32 + the reference's bytes, reply the score as raw float32 "
              f"({setup.get('peer_workers', '?')} workers, each with its own listening socket on the port "
              "(SO_REUSEPORT: connections spread over the workers), onnxruntime 1 thread each).", ""]
    return lines


def scoring_tables(records: list[dict[str, Any]]) -> list[str]:
    """Markdown for the transaction-scoring suite."""
    runs = summary.by_suite(records, "scoring")
    setup = next((r for r in runs if r.get("system") == "setup"), {})
    lines = ["## Transaction scoring", "", *_scoring_setup_lines(setup),
             "Correctness checks (score equals in-process onnxruntime): "
             + "; ".join(f"{k}: {_errors({'error': v})}" for k, v in setup.get("checks", {}).items()), "",
             "| clients | system | inferences/s | p50 ms | p99 ms | p99.9 ms | server CPU µs/inference "
             "| client CPU µs/inference | errors |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in runs:
        if r.get("system") == "setup":
            continue
        lat = r.get("latency_us", {})
        lines.append(f"| {r.get('clients')} | {r['system']} | {_num(r.get('rps'))}{_spread(r)} | "
                     f"{_ms(lat.get('p50'))} | {_ms(lat.get('p99'))} | {_ms(lat.get('p999'))} | "
                     f"{_num(r.get('server_cpu_us_per_op'), 1)} | {_num(r.get('client_cpu_us_per_op'), 1)} | "
                     f"{_errors(r)} |")
    batched = [r for r in runs if "rows_per_batch" in r]
    if batched:
        lines += ["", "inferd's batches over each run, warm-up included (INFO ai: the CPU queue's batches, rows and "
                  "batches run on the event loop and on the native thread, onnx-run-thread; AI.INFO: the model's run, "
                  "with its batch's concatenation and split, per row):", "",
                  "| clients | system | rows per batch | batches on the loop | on the native thread | model run µs "
                  "per row |", "|---:|---|---:|---:|---:|---:|"]
        lines += [f"| {r.get('clients')} | {r['system']} | {_num(r['rows_per_batch'], 1)} | "
                  f"{_num(100 * r['batches_on_loop'], 1)}% | {_num(100 * r.get('batches_on_thread', 0), 1)}% | "
                  f"{_num(r['model_run_us_per_row'], 1)} |" for r in batched]
    systems = summary.SCORING_SYSTEMS
    lines += ["", "| clients | " + " | ".join(f"{s}/peer throughput | {s}/peer p99" for s in systems) + " |",
              "|---:|" + "---:|" * (2 * len(systems))]
    for row in summary.scoring_ratios(records):
        cells = " | ".join(f"{_ratio(row[f'{s}_rps'])} | {_ratio(row[f'{s}_p99'])}" for s in systems)
        lines.append(f"| {row['clients']} | {cells} |")
    budget = summary.scoring_budget(records)
    if budget:
        lines += ["", _scoring_budget_line(budget)]
    floor = summary.scoring_floor(records)
    if floor:
        lines += ["", _scoring_floor_line(floor)]
    lines += ["", "![throughput vs clients](scoring_throughput.png) ![p99 vs clients](scoring_p99.png)", ""]
    return lines


def _scoring_budget_line(b: dict[str, Any]) -> str:
    """The CPUs' bound on the scoring target's run at its measured costs, and the server cost that 5x needs."""
    return (f"CPU per inference at {b['clients']} clients: inferd {_num(b['server_cpu_us'], 1)} µs, the load "
            f"generator {_num(b['client_cpu_us'], 1)} µs. Sharing {b['cpus']} CPUs, client and server can complete "
            f"at most {_num(b['cpu_bound_rps'])} inferences/s at these costs (inferd reached {_num(b['rps'])}); "
            f"{summary.SCORING_MIN_RPS_RATIO:g}x the peer ({_num(b['needed_rps'])}/s) leaves inferd "
            f"{_num(b['server_budget_us'], 1)} µs of CPU per inference, with every CPU busy all the time.")


def _scoring_floor_line(f: dict[str, Any]) -> str:
    """What a Python server doing only the unavoidable work reached, and how much of it inferd reached."""
    return (f"The floor of a Python scoring server, in the same run: bench/scoring_floor.py (uvloop, hiredis, one "
            f"batched onnxruntime call per loop turn, the score written back; no keyspace, DAG or scheduler) made "
            f"{_num(f['rps'])} inferences/s at {f['clients']} clients ({_ratio(f['peer_ratio'])} the peer) with "
            f"{_num(f['server_cpu_us'], 1)} µs of CPU per inference; inferd reached {_ratio(f['inferd_share'])} of "
            f"it, its own work costing {_num(f['own_cpu_us'], 1)} µs of CPU per inference more.")


def protocol_tables(records: list[dict[str, Any]]) -> list[str]:
    """Markdown for the protocol suite."""
    lines = ["## Protocol (redis-benchmark, -c 50, -r 100000)", "",
             "| test | -P | redis-server req/s | inferd req/s | ratio | redis p50/p99 ms | inferd p50/p99 ms | "
             "redis CPU µs/op | inferd CPU µs/op | errors |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    pairs = summary.protocol_pairs(records)
    for row in pairs:
        redis, inferd = row["redis-server"], row["inferd"]
        errors = "; ".join(f"{name}: {_errors(r)}" for name, r in (("redis", redis), ("inferd", inferd))
                           if r.get("error")) or "0"
        lines.append(f"| {row['test']} | {row['pipeline']} | {_num(redis.get('rps'))}{_spread(redis)} | "
                     f"{_num(inferd.get('rps'))}{_spread(inferd)} | "
                     f"{_ratio(row['ratio'])} | {_lat(redis)} | {_lat(inferd)} | "
                     f"{_num(redis.get('server_cpu_us_per_op'), 2)} | {_num(inferd.get('server_cpu_us_per_op'), 2)} | "
                     f"{errors} |")
    floors = [row for row in pairs if row["uvloop-floor"]]
    if floors:
        lines += ["", "The floor of a Python server on this event loop, in the same run: bench/uvloop_floor.py (a "
                  "uvloop Protocol that only counts the requests of each read and writes as many +OK), "
                  + "; ".join(f"{row['test']} -P {row['pipeline']} {_num(row['uvloop-floor'].get('rps'))} req/s "
                              f"({_ratio(row['floor_ratio'])} redis-server), "
                              f"{_num(row['uvloop-floor'].get('server_cpu_us_per_op'), 2)} µs of CPU per request"
                              for row in floors) + "."]
    return lines + [""]


def _lat(r: dict[str, Any]) -> str:
    if r.get("p50_latency_ms") is None:
        return "-"
    return f"{r['p50_latency_ms']:.3f} / {r['p99_latency_ms']:.3f}"


def _batching_model_tables(runs: list[dict[str, Any]], b: dict[str, Any]) -> list[str]:
    tag = b["model"]
    lines = [f"### {tag}", "", "Raw onnxruntime, in-process, default session options:", "",
             "| batch | rows/s | call p50 µs | call p99 µs |", "|---:|---:|---:|---:|"]
    for r in runs:
        if r.get("system") == "raw" and r.get("model") == tag:
            lat = r["latency_us"]
            lines.append(f"| {r['batch']} | {_num(r['rows_per_s'])}{_spread(r)} | {_num(lat['p50'], 1)} | "
                         f"{_num(lat['p99'], 1)} |")
    lines += ["", "inferd, `AI.MODELEXECUTE` of one row per request (C closed-loop client):", "",
              "| clients | system | rows/s | p50 ms | p99 ms | p99.9 ms | server CPU µs/op | errors |",
              "|---:|---|---:|---:|---:|---:|---:|---|"]
    for r in runs:
        if r.get("system") in ("inferd", "inferd-nobatch", "ping") and r.get("model") == tag:
            lat = r.get("latency_us", {})
            what = "PING" if r["system"] == "ping" else f"{r['system']} (BATCHSIZE {r.get('batchsize', '?')})"
            lines.append(f"| {r.get('clients')} | {what} | "
                         f"{_num(r.get('rps'))}{_spread(r)} | {_ms(lat.get('p50'))} | {_ms(lat.get('p99'))} | "
                         f"{_ms(lat.get('p999'))} | {_num(r.get('server_cpu_us_per_op'), 1)} | {_errors(r)} |")
    lines += ["", f"Best raw: {_num(b['raw_best_rows_per_s'])} rows/s at batch {b['raw_best_batch']}; best inferd: "
              f"{_num(b['inferd_best_rows_per_s'])} rows/s ({b['inferd_best_clients']} clients) -> "
              f"**{_ratio(b['saturation_ratio'])}**. Single client: MODELEXECUTE p50 "
              f"{_num(b['modelexecute_p50_us'], 1)} µs vs PING p50 {_num(b['ping_p50_us'], 1)} µs + raw 1-row call "
              f"p50 {_num(b['raw_single_p50_us'], 1)} µs -> **{_ratio(b['single_client_ratio'])}**."
              + _single_client_references(b), ""]
    if b.get("cpus"):
        lines += [_cpu_budget_line(b) + _serial_cycle_sentence(b), ""]
    return lines


def _cpu_budget_line(b: dict[str, Any]) -> str:
    """Where the CPU of a row goes at inferd's best saturating run, and what the machine's CPUs allow at that cost."""
    split = ""
    if b.get("loop_cpu_us_per_row") is not None and b.get("threads_cpu_us_per_row") is not None:
        split = (f" (its event loop {_num(b['loop_cpu_us_per_row'], 1)}, its other threads "
                 f"{_num(b['threads_cpu_us_per_row'], 1)})")
    return (f"CPU per row at that best run ({b['inferd_best_clients']} clients): inferd "
            f"{_num(b['server_cpu_us_per_row'], 1)} µs{split}, the load generator "
            f"{_num(b['client_cpu_us_per_row'], 1)} µs; "
            f"the raw call itself costs {_num(b['raw_cpu_us_per_row'], 1)} µs of CPU per row at batch "
            f"{b['raw_best_batch']} (all its threads), so inferd's own work is {_num(b['own_us_per_row'], 1)} µs per "
            f"row. Sharing {b['cpus']} CPUs, client and server can complete at most "
            f"{_num(b['cpu_bound_rows_per_s'])} rows/s at these costs (inferd reached "
            f"{_num(b['inferd_best_rows_per_s'])}); a server costing no more than the raw "
            f"call would allow {_num(b['free_server_bound_rows_per_s'])} rows/s "
            f"({_ratio(b['free_server_bound_ratio'])} the raw best). {summary.BATCHING_MIN_SATURATION:g}x the raw best "
            f"leaves inferd's own work {_num(b['server_budget_us_per_row'], 1)} µs of CPU per row.")


def _serial_cycle_sentence(b: dict[str, Any]) -> str:
    """What a run whose clients all fit in one batch allows when the backend and inferd's own work take turns."""
    if b.get("serial_bound_rows_per_s") is None:
        return ""
    rows = b["serial_rows"]
    return (f" With {rows} clients and BATCHSIZE {b['serial_batchsize']}, every waiting client's row fits in one "
            f"batch; where the backend's run and inferd's own work take turns (no request arrives while the batch "
            f"runs), a cycle of {rows} rows costs the raw call of that batch ({_num(b['serial_call_us'], 1)} µs p50) "
            f"plus {rows} x {_num(b['serial_own_us_per_row'], 1)} µs (inferd's own work per row at {rows} clients), "
            f"{_num(b['serial_cycle_us'] / 1000, 1)} ms, which allows {_num(b['serial_bound_rows_per_s'])} rows/s "
            f"({_ratio(b['serial_bound_ratio'])} the raw best; that run reached "
            f"{_num(b['serial_reached_rows_per_s'])}).")


def _single_client_references(b: dict[str, Any]) -> str:
    """The in-server run time and the raw 1-row call with work, sleep or a busy wait between calls (when measured)."""
    if b.get("server_run_us") is None:
        return ""
    text = f" Inside inferd that client's 1-row runs took {_num(b['server_run_us'], 1)} µs on average (AI.INFO)."
    between = {"cold": f"{_num(b.get('raw_cold_kib'))} KiB of other memory read (other work)",
               "idle": f"the thread asleep ({_num(b.get('raw_idle_between_us'))} µs: the loop waiting for the next "
                       "request)",
               "busy": f"the thread busy as long ({_num(b.get('raw_busy_between_us'))} µs: its CPU never idle)"}
    parts = [f"{what}: {_num(b[f'raw_{kind}_p50_us'], 1)} µs" for kind, what in between.items()
             if b.get(f"raw_{kind}_p50_us") is not None]
    if parts:
        text += " The raw 1-row call (p50) with, between calls, " + "; ".join(parts) + "."
    return text


def batching_tables(records: list[dict[str, Any]]) -> list[str]:
    """Markdown for the batching suite, one section per model."""
    runs = summary.by_suite(records, "batching")
    lines = ["## Batching (dense ONNX models: N x W -> layers x (Dense W + ReLU))", ""]
    for tag in summary.batching_models(records):
        lines += _batching_model_tables(runs, summary.batching_summary(records, tag))
    gain = next((r for r in runs if r.get("system") == "batching_gain"), None)
    if gain is not None:
        lines += ["### Scheduler batching gain (bench/batching_gain.py)", "", _gain_line(gain), ""]
    return lines + ["![batching](batching_throughput.png)", ""]


def _gain_line(r: dict[str, Any]) -> str:
    if r.get("error"):
        return f"Not measured: {_errors(r)}"
    batched, unbatched = r.get("batched", {}), r.get("unbatched", {})
    return (f"{r.get('clients')} redis-py clients, 256 -> 3 x Dense 2048 model: BATCHSIZE {r.get('batchsize')} "
            f"{_num(batched.get('requests_per_s'))} req/s (mean batch {batched.get('mean_batch')}) vs BATCHSIZE 0 "
            f"{_num(unbatched.get('requests_per_s'))} req/s -> **{_ratio(r.get('throughput_gain'))}** "
            f"(raw per-row cost at batch 64 / batch 1: {r.get('raw_batch64_over_batch1_per_row')}).")


def _errors(r: dict[str, Any]) -> str:
    text = r.get("error") or (str(r.get("errors")) if r.get("errors") else "0")
    text = str(text).replace("|", "/")
    return text if len(text) <= 160 else text[:157] + "..."


PROFILE_ORDER = ("scoring", "protocol", "batching")


def profile_tables(records: list[dict[str, Any]]) -> list[str]:
    """Markdown for each profiled run: per-thread CPU, the hottest Python functions, perf's libraries and symbols."""
    lines: list[str] = []
    profiles = summary.by_suite(records, "profile")
    profiles.sort(key=lambda r: PROFILE_ORDER.index(r["owner"]) if r.get("owner") in PROFILE_ORDER else 0)
    for r in profiles:
        load = r.get("load", {})
        unit = r.get("unit", "inference")
        title = r.get("title") or f"transaction scoring, {r.get('clients')} clients"
        idle = r.get("machine_idle")
        lines += [f"## Where inferd's time goes ({title}, profiled run)", "",
                  f"An extra run, not one of the measured ones: {_num(load.get('rps'))} {unit}s/s while sampled "
                  "by py-spy at 100 Hz (each sample pauses the process briefly) and perf. "
                  + (f"The machine was {idle:.0%} idle over the run (both CPUs, /proc/stat). " if idle is not None
                     else "") +
                  f"Raw stacks: `profile/{r['name']}.stacks.txt`. "
                  f"{r.get('error') or r.get('py_spy_error') or ''}", "",
                  f"| thread | CPU s | busy (of one CPU) | CPU µs per {unit} | of which user | of which kernel |",
                  "|---|---:|---:|---:|---:|---:|"]
        for t in r.get("threads", []):
            busy = f"{t['busy']:.0%}" if t.get("busy") is not None else "-"
            lines.append(f"| {t['kind']} ({t['tid']}) | {t['cpu_s']:.2f} | {busy} | {_num(t['cpu_us_per_op'], 1)} | "
                         f"{_num(t.get('user_us_per_op'), 1)} | {_num(t.get('kernel_us_per_op'), 1)} |")
        lines += ["", f"Event-loop thread, hottest functions by own time ({r.get('loop_samples', 0)} samples "
                  "while not idle):", "", "| function | share |", "|---|---:|"]
        lines += [f"| `{row['function']}` | {row['share']:.1%} |" for row in r.get("top_self", [])]
        lines += ["", "Event-loop thread, inferd functions by inclusive time:", "", "| function | share |",
                  "|---|---:|"]
        lines += [f"| `{row['function']}` | {row['share']:.1%} |" for row in r.get("top_inclusive", [])]
        lines += ["", "Event-loop thread by library and symbol (`perf record -e cpu-clock`, same run): py-spy puts "
                  "time spent outside Python frames (the interpreter's own C, uvloop, the kernel) on the innermost "
                  "Python frame, so its `Runner.run` line is this table's kernel and C rows. "
                  f"{r.get('perf_error') or ''}", "", "| library | share |", "|---|---:|"]
        lines += [f"| `{row['where']}` | {row['share']:.1%} |" for row in r.get("perf_by_dso", [])]
        lines += ["", "| library and symbol | share |", "|---|---:|"]
        lines += [f"| `{row['where']}` | {row['share']:.1%} |" for row in r.get("perf_by_symbol", [])]
        lines.append("")
    return lines


def targets_table(records: list[dict[str, Any]]) -> list[str]:
    """The issue's targets, what was measured, and whether each is met."""
    lines = ["## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for target, measured, met in summary.targets(records):
        lines.append(f"| {target} | {measured} | {_ok(met)} |")
    return lines + [""]


def machine_lines(machine: dict[str, Any], command: str, settings: dict[str, Any]) -> list[str]:
    """The header: command, machine, software versions, load."""
    inferd_args = " ".join(settings.get("inferd_args") or ()) or "none (defaults)"
    packages = ", ".join(f"{k} {v}" for k, v in machine.get("packages", {}).items())
    return ["# inferd benchmark results", "", f"Command: `{command}`", "",
            f"Date (UTC): {machine.get('date_utc')}; commit {machine.get('git_commit')}", "",
            f"Machine: {machine.get('nproc')} CPUs ({machine.get('cpu_model')}), {machine.get('memory_gib')} GiB "
            f"memory, Linux {machine.get('kernel')}; Python {machine.get('python')}; {machine.get('redis_server')}; "
            f"{machine.get('gcc')}.", "", f"Packages: {packages}.", "",
            f"inferd options: {inferd_args}. Load average (1/5/15 min) at start "
            f"{machine.get('load_average_start')}, at end "
            f"{machine.get('load_average_end')}. Client and servers share the machine; all traffic is loopback.", "",
            f"Rounds: {settings.get('rounds', 1)}, {settings.get('duration_s')} s measured per load run. Every suite "
            "runs once per round, one round after the other; each figure below is the median over the rounds, and "
            "a throughput followed by (a-b) shows the rounds' lowest and highest.", ""]


def write(out: Path, records: list[dict[str, Any]], machine: dict[str, Any], command: str,
          settings: dict[str, Any]) -> None:
    """Write results.json, results.md and the plots into ``out``; every figure is the median over the rounds."""
    from bench import plots
    rounds, records = records, summary.merge_rounds(records)
    doc = {"command": command, "machine": machine, "settings": settings, "targets": [
        {"target": t, "measured": m, "met": ok} for t, m, ok in summary.targets(records)], "records": rounds,
        "medians": records}
    (out / "results.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    lines = machine_lines(machine, command, settings) + targets_table(records)
    suites = {r["suite"] for r in records}
    if "scoring" in suites:
        lines += scoring_tables(records)
    if "protocol" in suites:
        lines += protocol_tables(records)
    if "batching" in suites:
        lines += batching_tables(records)
    if "profile" in suites:
        lines += profile_tables(records)
    (out / "results.md").write_text("\n".join(lines) + "\n")
    plots.write_all(out, records)
