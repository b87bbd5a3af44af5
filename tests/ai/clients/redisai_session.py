"""Run by tests/ai/test_redisai_client.py with a separate interpreter that has redisai-py 1.3 (redis-py 4.x, RESP2).

Usage: python redisai_session.py PORT MODEL.onnx; prints one JSON object with what the client got back.
"""
import json
import sys

import numpy as np
import redisai

port, model_path = int(sys.argv[1]), sys.argv[2]
con = redisai.Client(host="127.0.0.1", port=port)
out = {}
con.tensorset("x", np.array([[1, 2], [3, 4]], dtype=np.float32))
out["tensorget"] = con.tensorget("x").tolist()
meta = con.tensorget("x", meta_only=True)
out["tensorget_meta"] = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in meta.items()}
with open(model_path, "rb") as fh:
    out["modelstore"] = con.modelstore("m", "ONNX", "CPU", fh.read(), tag="v1")
out["modelexecute"] = con.modelexecute("m", inputs=["x"], outputs=["y"])
out["y"] = con.tensorget("y").tolist()
model_meta = con.modelget("m", meta_only=True)
out["modelget"] = {k: v for k, v in model_meta.items() if k != "blob"}
out["info"] = con.infoget("m")
out["scan"] = con.modelscan()
dag = con.dag(load=["x"], persist=["z"])
dag.modelexecute("m", inputs=["x"], outputs=["z"])
dag.tensorget("z")
result = dag.execute()
out["dag"] = [r.tolist() if hasattr(r, "tolist") else r for r in result]
out["z"] = con.tensorget("z").tolist()
pipe = con.pipeline(transaction=False)
pipe.tensorset("p", np.array([5.0], dtype=np.float32))
pipe.tensorget("p")
out["pipeline"] = [r.tolist() if hasattr(r, "tolist") else r for r in pipe.execute()]
out["modeldel"] = con.modeldel("m")
script = (
    "def scale(tensors: List[Tensor], keys: List[str], args: List[str]):\n"
    "    return tensors[0] * float(args[0]), torch.tensor(len(keys))\n"
)
out["scriptstore"] = con.scriptstore("s", "CPU", script, entry_points=["scale"], tag="v2")
out["scriptexecute"] = con.scriptexecute("s", "scale", keys=["x"], inputs=["x"], args=["10"], outputs=["sx", "nk"])
out["sx"] = con.tensorget("sx").tolist()
out["nk"] = con.tensorget("nk").tolist()


def plain(reply):
    """redisai-py lowercases the field names and leaves the entry point names as bytes."""
    return {k: [x.decode() for x in v] if isinstance(v, list) else v for k, v in reply.items()}


out["scriptget"] = plain(con.scriptget("s"))
out["scriptget_meta"] = plain(con.scriptget("s", meta_only=True))
out["script_info"] = con.infoget("s")
out["scriptscan"] = con.scriptscan()
dag = con.dag(load=["x"], persist=["dx"])
dag.scriptexecute("s", "scale", inputs=["x"], args=["2"], outputs=["dx", "dn"])
dag.tensorget("dx")
out["script_dag"] = [r.tolist() if hasattr(r, "tolist") else r for r in dag.execute()]
out["scriptdel"] = con.scriptdel("s")
print(json.dumps(out, default=str))
