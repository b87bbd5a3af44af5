"""Helpers for the operations tests: scraping /metrics, building a small ONNX model, running inferd as a process."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(port: int) -> Samples:
    """Every sample of /metrics, keyed by (sample name, labels)."""
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert response.status_code == 200
    out: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when absent (a labelled counter appears on first use)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def onnx_doubler(features: int = 4) -> bytes:
    """An ONNX model ``y = 2 * x`` with input ``x`` float[batch, features] and output ``y``."""
    import onnx
    from onnx import TensorProto, helper
    two = helper.make_tensor("two", TensorProto.FLOAT, [1], [2.0])
    node = helper.make_node("Mul", ["x", "two"], ["y"])
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", features])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", features])
    graph = helper.make_graph([node], "doubler", [x], [y], [two])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


class InferdProcess:
    """``python -m inferd --config FILE`` as a child process, with its stderr captured."""

    def __init__(self, config_file: str, env: dict[str, str] | None = None, **options: Any) -> None:
        self.port = options.pop("port", None) or free_port()
        args = [sys.executable, "-m", "inferd", "--config", config_file, "--port", str(self.port)]
        for name, val in options.items():
            args += [f"--{name.replace('_', '-')}", str(val)]
        self.stderr_path = config_file + ".stderr"
        self._stderr = open(self.stderr_path, "wb")
        full_env = {**os.environ, "PYTHONPATH": REPO, **(env or {})}
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self._stderr, env=full_env, cwd=REPO)

    def stderr(self) -> str:
        with open(self.stderr_path, encoding="utf-8", errors="replace") as fh:
            return fh.read()

    def wait(self, timeout: float = 60) -> int:
        code = self.proc.wait(timeout)
        self._stderr.close()
        return code

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._stderr.close()
