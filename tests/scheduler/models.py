"""Test models for the scheduler: a real ONNX model built with onnx.helper, and a worker-holding model."""
from __future__ import annotations

import concurrent.futures
import threading
import time
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper


def affine_onnx(width: int | str = 4) -> bytes:
    """y = x * 2 + 1 over float32 [N, width] (N dynamic; a str width is a dynamic dim too), as serialized ONNX."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", width])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", width])
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    one = helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])
    nodes = [helper.make_node("Mul", ["x", "two"], ["t"]), helper.make_node("Add", ["t", "one"], ["y"])]
    graph = helper.make_graph(nodes, "affine", [x], [y], [two, one])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


class OrtModel:
    """A scheduler model over a real onnxruntime session; records the batch shapes it ran."""

    def __init__(self, blob: bytes, batchsize: int = 0, minbatchsize: int = 0, minbatchtimeout: int = 0,
                 key: bytes = b"onnx", wrong_rows: bool = False) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = ort.InferenceSession(blob, options, providers=["CPUExecutionProvider"])
        self.batchsize, self.minbatchsize, self.minbatchtimeout = batchsize, minbatchsize, minbatchtimeout
        self.key, self.device = key, "CPU"
        self.ran: list[int] = []
        self.wrong_rows = wrong_rows

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        self.ran.append(int(inputs[0].shape[0]))
        outputs = self.session.run(None, {"x": inputs[0]})
        if self.wrong_rows:
            outputs = [o[:-1] for o in outputs]
        return list(outputs)


class Blocker:
    """Holds its device's worker until the test sets ``release``."""

    batchsize = minbatchsize = minbatchtimeout = 0
    key = b"blocker"
    device = "CPU"

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def run(self, inputs: list[Any]) -> list[Any]:
        self.started.set()
        if not self.release.wait(30):
            raise RuntimeError("the test never released the blocker")
        return inputs


# ---- driving a running server's scheduler from the test thread ---------------------------------------------
def schedulers(srv: Any) -> Any:
    return srv.state.extensions["schedulers"]


def depth(srv: Any, device: str = "CPU") -> int:
    return int(srv.call(lambda: schedulers(srv).queue(device).depth))


def hold(srv: Any, device: str = "CPU") -> tuple[Blocker, concurrent.futures.Future[Any]]:
    """Occupy ``device``'s only worker until ``blocker.release`` is set."""
    blocker = Blocker()
    result: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def go() -> None:
        fut = schedulers(srv).submit(device, blocker, [np.zeros((1, 1), np.float32)])
        fut.add_done_callback(lambda f: result.set_result(f.result()))
    srv.call(go)
    assert blocker.started.wait(10)
    return blocker, result


def wait_until(condition: Any, timeout: float = 10.0) -> None:
    """Poll a condition with a deadline (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.002)


def observe(srv: Any) -> list[Any]:
    """Every BatchRecord the server's schedulers finish from now on."""
    seen: list[Any] = []
    srv.call(lambda: schedulers(srv).observers.append(seen.append))
    return seen
