"""Ratios and target checks computed from the run records (pure functions, no I/O)."""
from __future__ import annotations

import statistics
from typing import Any

SCORING_TARGET_CLIENTS = 16
SCORING_MIN_RPS = 15_000
SCORING_MAX_P99_US = 3_000
SCORING_MIN_RPS_RATIO = 5.0
SCORING_MAX_P99_RATIO = 0.3
PROTOCOL_MIN_RATIO = {1: 0.9, 16: 0.6}
PROTOCOL_TARGET_TESTS = ("SET", "GET", "HSET", "LPUSH")   # the other tests beside them are not targets
BATCHING_MIN_SATURATION = 0.8
BATCHING_MAX_SINGLE = 1.3
RAW_REFERENCES = ("cold", "idle", "busy")  # the single-client line's raw calls (bench.batching.raw_references)
# the inferd systems of the scoring suite, each compared with the peer; the targets are read from "inferd" alone
SCORING_SYSTEMS = ("inferd", "inferd-values", "inferd-nobatch")


def _median_of(values: list[Any]) -> Any:
    """The median of numbers; of dicts, the median of each key; otherwise the first value."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        middle = statistics.median(values)
        return int(middle) if all(isinstance(v, int) for v in values) and middle == int(middle) else middle
    if all(isinstance(v, dict) for v in values):
        keys = [k for k in values[0] if all(k in v for v in values)]
        return {k: _median_of([v[k] for v in values]) for k in keys}
    return values[0]


def merge_rounds(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per measurement: its rounds (``--rounds``) folded into the median of every figure.

    A measurement is a (suite, name) pair; rounds that failed are left out while any round succeeded. The merged
    record keeps ``rounds`` (how many were folded), ``failed_rounds`` and ``rps_rounds`` (each round's throughput,
    in run order) so the spread stays visible; error replies (``errors``) are summed. Records without a ``round``
    pass through unchanged.
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    order: list[dict[str, Any] | tuple[str, str]] = []
    for r in records:
        if "round" not in r:
            order.append(r)
            continue
        key = (r["suite"], r["name"])
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(r)
    merged: list[dict[str, Any]] = []
    for item in order:
        if isinstance(item, dict):
            merged.append(item)
            continue
        rounds = groups[item]
        good = [r for r in rounds if not r.get("error")] or rounds[:1]
        one = {k: _median_of([r[k] for r in good]) for k in good[0] if k != "round" and all(k in r for r in good)}
        one["rounds"] = len(good)
        one["failed_rounds"] = sum(1 for r in rounds if r.get("error"))
        if all(isinstance(r.get("errors"), int) for r in good):
            one["errors"] = sum(r["errors"] for r in good)   # error replies add up; a median would hide them
        one["rps_rounds"] = [r.get("rps", r.get("rows_per_s")) for r in good]
        merged.append(one)
    return merged


def by_suite(records: list[dict[str, Any]], suite: str) -> list[dict[str, Any]]:
    """The records of one suite, in run order."""
    return [r for r in records if r.get("suite") == suite]


def _ok(r: dict[str, Any] | None) -> bool:
    return r is not None and not r.get("error") and bool(r.get("rps"))


def _find(records: list[dict[str, Any]], suite: str, **match: Any) -> dict[str, Any] | None:
    for r in by_suite(records, suite):
        if all(r.get(k) == v for k, v in match.items()):
            return r
    return None


def _div(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def scoring_ratios(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per client count: each inferd system's throughput and p99 divided by the peer's."""
    rows = []
    counts = sorted({r["clients"] for r in by_suite(records, "scoring") if "clients" in r})
    for clients in counts:
        peer = _find(records, "scoring", system="peer", clients=clients)
        row: dict[str, Any] = {"clients": clients}
        for system in SCORING_SYSTEMS:
            ours = _find(records, "scoring", system=system, clients=clients)
            good = _ok(ours) and _ok(peer)
            row[f"{system}_rps"] = _div(ours["rps"], peer["rps"]) if good and ours and peer else None
            row[f"{system}_p99"] = (_div(ours["latency_us"]["p99"], peer["latency_us"]["p99"])
                                    if good and ours and peer else None)
        rows.append(row)
    return rows


def scoring_budget(records: list[dict[str, Any]]) -> dict[str, Any]:
    """What the machine's CPUs allow the scoring target's run at its measured costs, and what 5x the peer needs.

    ``server`` and ``client``: inferd's and the load generator's CPU per inference at SCORING_TARGET_CLIENTS; client
    and server share the machine's ``cpus`` (the setup record's), so at these costs at most cpus / (server + client)
    inferences/s can complete (``cpu_bound``). SCORING_MIN_RPS_RATIO x the peer's throughput (``needed``) leaves
    inferd cpus / needed - client µs of CPU per inference (``server_budget``). Empty when a figure is missing.
    """
    c = SCORING_TARGET_CLIENTS
    setup = next((r for r in by_suite(records, "scoring") if r.get("system") == "setup"), {})
    ours = _find(records, "scoring", system="inferd", clients=c)
    peer = _find(records, "scoring", system="peer", clients=c)
    cpus = setup.get("cpus")
    if not (_ok(ours) and _ok(peer) and ours and peer and cpus):
        return {}
    server, client = ours.get("server_cpu_us_per_op"), ours.get("client_cpu_us_per_op")
    if not server or not client:
        return {}
    needed = SCORING_MIN_RPS_RATIO * peer["rps"]
    return {"clients": c, "cpus": cpus, "server_cpu_us": server, "client_cpu_us": client, "rps": ours["rps"],
            "cpu_bound_rps": round(cpus * 1e6 / (server + client), 1), "needed_rps": round(needed, 1),
            "server_budget_us": round(cpus * 1e6 / needed - client, 1)}


def scoring_floor(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The scoring floor (bench/scoring_floor.py) at SCORING_TARGET_CLIENTS, beside the peer and inferd.

    ``peer_ratio``: the floor's throughput over the peer's (what any Python server on this event loop could reach);
    ``inferd_share``: inferd's throughput over the floor's; ``own_cpu_us``: inferd's CPU per inference beyond the
    floor's (its keyspace, DAG and scheduler work). Empty without a floor run; None where a figure is missing.
    """
    c = SCORING_TARGET_CLIENTS
    floor = _find(records, "scoring", system="floor", clients=c)
    if not _ok(floor) or floor is None:
        return {}
    peer = _find(records, "scoring", system="peer", clients=c)
    ours = _find(records, "scoring", system="inferd", clients=c)
    floor_cpu = floor.get("server_cpu_us_per_op")
    ours_cpu = ours.get("server_cpu_us_per_op") if _ok(ours) and ours else None
    return {"clients": c, "rps": floor["rps"], "server_cpu_us": floor_cpu,
            "peer_ratio": _div(floor["rps"], peer["rps"]) if _ok(peer) and peer else None,
            "inferd_share": _div(ours["rps"], floor["rps"]) if _ok(ours) and ours else None,
            "own_cpu_us": ours_cpu - floor_cpu if ours_cpu and floor_cpu else None}


def protocol_pairs(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (test, pipeline): the redis-server and inferd records and inferd's throughput ratio; where the floor
    server ran too (SET), its record and ratio."""
    rows = []
    seen: list[tuple[str, int]] = []
    for r in by_suite(records, "protocol"):
        key = (r["test"], r["pipeline"])
        if key not in seen:
            seen.append(key)
    for test, pipeline in seen:
        redis = _find(records, "protocol", system="redis-server", test=test, pipeline=pipeline) or {}
        inferd = _find(records, "protocol", system="inferd", test=test, pipeline=pipeline) or {}
        floor = _find(records, "protocol", system="uvloop-floor", test=test, pipeline=pipeline) or {}
        ratio = _div(inferd.get("rps"), redis.get("rps")) if _ok(inferd) and _ok(redis) else None
        floor_ratio = _div(floor.get("rps"), redis.get("rps")) if _ok(floor) and _ok(redis) else None
        rows.append({"test": test, "pipeline": pipeline, "redis-server": redis, "inferd": inferd, "ratio": ratio,
                     "uvloop-floor": floor, "floor_ratio": floor_ratio})
    return rows


def batching_models(records: list[dict[str, Any]]) -> list[str]:
    """The batching suite's model tags, in run order (the first is the small one, the last the compute-bound one)."""
    tags: list[str] = []
    for r in by_suite(records, "batching"):
        if r.get("model") and r["model"] not in tags:
            tags.append(r["model"])
    return tags


def batching_summary(records: list[dict[str, Any]], model: str) -> dict[str, Any]:
    """For one model: best raw rows/s, best inferd rows/s, and the saturation and single-client ratios."""
    runs = by_suite(records, "batching")
    raw = [r for r in runs if r.get("system") == "raw" and r.get("model") == model]
    best_raw = max(raw, key=lambda r: r["rows_per_s"], default=None)
    inferd = [r for r in runs if r.get("system") == "inferd" and r.get("model") == model and _ok(r)]
    best = max(inferd, key=lambda r: r["rps"], default=None)
    single = next((r for r in inferd if r.get("clients") == 1), None)
    ping = next((r for r in runs if r.get("system") == "ping" and r.get("model") == model and _ok(r)), None)
    raw_one = next((r for r in raw if r["batch"] == 1), None)
    refs = {kind: next((r for r in runs if r.get("system") == f"raw-{kind}" and r.get("model") == model), None)
            for kind in RAW_REFERENCES}
    base = (ping["latency_us"]["p50"] + raw_one["latency_us"]["p50"]) if ping and raw_one else None
    budget = cpu_budget(best, best_raw)
    return {
        "model": model,
        "raw_best_rows_per_s": best_raw["rows_per_s"] if best_raw else None,
        "raw_best_batch": best_raw["batch"] if best_raw else None,
        "inferd_best_rows_per_s": best["rps"] if best else None,
        "inferd_best_clients": best["clients"] if best else None,
        "saturation_ratio": _div(best["rps"] if best else None, best_raw["rows_per_s"] if best_raw else None),
        "modelexecute_p50_us": single["latency_us"]["p50"] if single else None,
        "ping_p50_us": ping["latency_us"]["p50"] if ping else None,
        "raw_single_p50_us": raw_one["latency_us"]["p50"] if raw_one else None,
        "single_client_ratio": _div(single["latency_us"]["p50"] if single else None, base),
        "server_run_us": single.get("server_run_us_per_request") if single else None,
        "raw_cold_kib": refs["cold"]["cold_bytes"] // 1024 if refs["cold"] else None,
        **{f"raw_{kind}_p50_us": r["latency_us"]["p50"] if r else None for kind, r in refs.items()},
        **{f"raw_{kind}_between_us": r.get("between_us") if r else None for kind, r in refs.items()},
        **budget,
        **serial_cycle(inferd, best_raw, raw),
    }


def cpu_budget(best: dict[str, Any] | None, best_raw: dict[str, Any] | None) -> dict[str, Any]:
    """Where the CPU of each row goes at inferd's best saturating run, and the rows/s the machine's CPUs allow.

    ``server``: inferd's CPU per request (one row); ``raw``: the raw in-process call's CPU per row at its best batch
    (what the backend itself costs); ``client``: the load generator's. Client and server share the machine's
    ``cpus``, so at these costs at most cpus / (server + client) rows/s can complete (``cpu_bound``); a server that
    cost only the backend's run would allow cpus / (raw + client) (``free_server_bound``). ``own``: inferd's own work
    per row (server - raw); ``server_budget``: what it may cost for BATCHING_MIN_SATURATION x the raw best.
    """
    server = best.get("server_cpu_us_per_op") if best else None
    client = best.get("client_cpu_us_per_op") if best else None
    raw = best_raw.get("cpu_us_per_row") if best_raw else None
    cpus = best_raw.get("cpus") if best_raw else None
    if None in (server, client, raw, cpus):
        return {}
    assert server is not None and client is not None and raw is not None and cpus is not None and best_raw is not None
    assert best is not None
    target = BATCHING_MIN_SATURATION * best_raw["rows_per_s"]
    return {"cpus": cpus, "server_cpu_us_per_row": server, "client_cpu_us_per_row": client,
            "loop_cpu_us_per_row": best.get("loop_cpu_us_per_op"),
            "threads_cpu_us_per_row": best.get("threads_cpu_us_per_op"),
            "raw_cpu_us_per_row": raw, "own_us_per_row": server - raw,
            "cpu_bound_rows_per_s": round(cpus * 1e6 / (server + client), 1),
            "free_server_bound_rows_per_s": round(cpus * 1e6 / (raw + client), 1),
            "free_server_bound_ratio": _div(cpus * 1e6 / (raw + client), best_raw["rows_per_s"]),
            "server_budget_us_per_row": round(cpus * 1e6 / target - raw - client, 1)}


def serial_cycle(inferd: list[dict[str, Any]], best_raw: dict[str, Any] | None,
                 raw: list[dict[str, Any]]) -> dict[str, Any]:
    """The rows/s of a saturating run whose clients all fit in one batch, when it takes turns with the backend.

    With no more clients than the model's BATCHSIZE, every waiting client's row is in the running batch: while the
    backend runs, no request arrives for the loop, and while the loop settles the batch and reads the next requests,
    the backend has nothing to run. A cycle of ``rows`` (= clients) then lasts the raw call of that many rows (p50)
    plus inferd's own work per row at that run (:func:`cpu_budget`'s) for each row: ``serial_bound``. Taken for the
    run of ``inferd`` with the most such clients (the best run may have more clients than a batch holds); empty when
    there is none, the raw sweep has no call of that batch, or its CPU figures are missing.
    """
    calls = {c["batch"]: c for c in raw}
    fits = [r for r in inferd if 0 < int(r.get("clients") or 0) <= int(r.get("batchsize") or 0)
            and r["clients"] in calls]
    run = max(fits, key=lambda r: r["clients"], default=None)
    budget = cpu_budget(run, best_raw)
    if run is None or best_raw is None or not budget:
        return {}
    rows = int(run["clients"])
    call = calls[rows]
    cycle = call["latency_us"]["p50"] + budget["own_us_per_row"] * rows
    bound = rows * 1e6 / cycle
    return {"serial_rows": rows, "serial_batchsize": int(run["batchsize"]), "serial_call_us": call["latency_us"]["p50"],
            "serial_own_us_per_row": budget["own_us_per_row"], "serial_reached_rows_per_s": run["rps"],
            "serial_cycle_us": round(cycle, 1), "serial_bound_rows_per_s": round(bound, 1),
            "serial_bound_ratio": _div(bound, best_raw["rows_per_s"])}


def _check(value: float | None, good: bool) -> bool | None:
    return None if value is None else good


def _fmt(value: float | None, unit: str = "", digits: int = 2) -> str:
    return "not measured" if value is None else f"{value:,.{digits}f}{unit}"


def _scoring_targets(records: list[dict[str, Any]]) -> list[tuple[str, str, bool | None]]:
    c = SCORING_TARGET_CLIENTS
    ours = _find(records, "scoring", system="inferd", clients=c)
    ours = ours if _ok(ours) else None
    rps = ours["rps"] if ours else None
    p99 = ours["latency_us"]["p99"] if ours else None
    ratios = next((row for row in scoring_ratios(records) if row["clients"] == c), {})
    rps_ratio, p99_ratio = ratios.get("inferd_rps"), ratios.get("inferd_p99")
    return [
        (f"scoring, {c} clients: >= {SCORING_MIN_RPS:,} inferences/s", _fmt(rps, "/s", 0),
         _check(rps, rps is not None and rps >= SCORING_MIN_RPS)),
        (f"scoring, {c} clients: p99 <= {SCORING_MAX_P99_US / 1000:g} ms", _fmt(p99 / 1000 if p99 else None, " ms"),
         _check(p99, p99 is not None and p99 <= SCORING_MAX_P99_US)),
        (f"scoring, {c} clients: >= {SCORING_MIN_RPS_RATIO:g}x the peer's throughput", _fmt(rps_ratio, "x"),
         _check(rps_ratio, rps_ratio is not None and rps_ratio >= SCORING_MIN_RPS_RATIO)),
        (f"scoring, {c} clients: <= {SCORING_MAX_P99_RATIO:g}x the peer's p99", _fmt(p99_ratio, "x"),
         _check(p99_ratio, p99_ratio is not None and p99_ratio <= SCORING_MAX_P99_RATIO)),
    ]


def targets(records: list[dict[str, Any]]) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for every target of the issue; met is None when it was not measured."""
    rows = _scoring_targets(records)
    pairs = protocol_pairs(records)
    for pipeline, minimum in PROTOCOL_MIN_RATIO.items():
        ratios = {p["test"]: p["ratio"] for p in pairs
                  if p["pipeline"] == pipeline and p["test"] in PROTOCOL_TARGET_TESTS}
        known = [v for v in ratios.values() if v is not None]
        worst = min(known) if known and len(known) == len(ratios) else None
        measured = ", ".join(f"{t} {_fmt(v, 'x')}" for t, v in ratios.items()) or "not measured"
        rows.append((f"protocol -P {pipeline}: >= {minimum:g}x redis-server (every test)", measured,
                     _check(worst, worst is not None and worst >= minimum)))
    tags = batching_models(records) or ["(not run)"]
    sat = batching_summary(records, tags[-1])["saturation_ratio"]   # the compute-bound model, the case
    rows.append((f"batching ({tags[-1]}): saturating throughput >= {BATCHING_MIN_SATURATION:g}x raw best batch",
                 _fmt(sat, "x"), _check(sat, sat is not None and sat >= BATCHING_MIN_SATURATION)))
    for tag in tags:   # the issue names no model for the single client: every model's line
        single = batching_summary(records, tag)["single_client_ratio"]
        rows.append((f"batching ({tag}): single-client MODELEXECUTE <= {BATCHING_MAX_SINGLE:g}x (PING + raw call)",
                     _fmt(single, "x"), _check(single, single is not None and single <= BATCHING_MAX_SINGLE)))
    return rows
