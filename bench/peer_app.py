"""The peer's model server: FastAPI + uvicorn running the same ONNX model with onnxruntime, as users build it today.

Configured to be as fast as this stack gets: the request body is raw float32 bytes (no JSON), decoded with
np.frombuffer; the endpoint is ``async def`` and calls onnxruntime inline (a thread-pool hop would only add latency
for a sub-millisecond model); one ORT thread per worker process, one worker per core (uvicorn ``--workers``).

Environment: BENCH_PEER_MODEL (path of the .onnx file), BENCH_PEER_THREADS (ORT intra-op threads, default 1).
Body of POST /score: 30 float32 (transaction) then 256 float32 (reference); reply: 2 float32 (the score).
"""
from __future__ import annotations

import os

import numpy as np
import onnxruntime as ort
from fastapi import FastAPI, Request, Response

TX_BYTES = 30 * 4
REF_BYTES = 256 * 4


def _session() -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(os.environ.get("BENCH_PEER_THREADS", "1"))
    options.inter_op_num_threads = 1
    return ort.InferenceSession(os.environ["BENCH_PEER_MODEL"], options, providers=["CPUExecutionProvider"])


session = _session()
app = FastAPI()


@app.get("/healthz")
async def healthz() -> Response:
    """Liveness, answering with this worker's pid (the harness waits until every worker answered)."""
    return Response(content=str(os.getpid()), media_type="text/plain")


@app.post("/score")
async def score(request: Request) -> Response:
    """Score one transaction against its user's reference tensor."""
    body = await request.body()
    if len(body) != TX_BYTES + REF_BYTES:
        return Response(content=b"body must be 30 + 256 float32", status_code=400)
    tx = np.frombuffer(body, dtype=np.float32, count=30).reshape(1, 30)
    ref = np.frombuffer(body, dtype=np.float32, offset=TX_BYTES).reshape(1, 256)
    out = session.run(None, {"transaction": tx, "reference": ref})[0]
    return Response(content=out.tobytes(), media_type="application/octet-stream")
