"""The deployment files and generated docs stay consistent with the code."""
from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

from inferd import config as config_module
from inferd import docs
from inferd.preload import DATA_FIELDS, MODEL_FIELDS, WARMUP_FIELDS
from tests.ops.helpers import REPO

DEPLOY = Path(REPO) / "deploy"


def check_preload_entries(data: dict) -> int:
    entries = config_module._preload_entries(data.pop("model", []), data.pop("data", []))
    for entry in entries:
        allowed = MODEL_FIELDS if entry["kind"] == "model" else DATA_FIELDS
        assert set(entry) <= allowed, set(entry) - allowed
        if isinstance(entry.get("warmup"), dict):
            assert set(entry["warmup"]) <= WARMUP_FIELDS
    return len(entries)


def test_example_config_loads_and_its_commented_preloads_are_valid():
    path = DEPLOY / "inferd.toml"
    loaded = config_module.load(str(path), env={})
    assert loaded.metrics_port == 9121
    text = path.read_text()
    preload = text[text.index("# [[model]]"):]
    uncommented = "\n".join(line[2:] if line.startswith("# ") else line for line in preload.splitlines())
    assert check_preload_entries(tomllib.loads(uncommented)) == 4


def test_operations_guide_preload_example_is_valid():
    text = (Path(REPO) / "docs" / "operations.md").read_text()
    block = re.search(r"```toml\n(.*?)```", text, re.S)
    assert block is not None
    assert check_preload_entries(tomllib.loads(block.group(1))) == 3


def test_generated_tables_are_up_to_date(tmp_path):
    """`make docs` was run after the last change to the options or metrics."""
    guide = Path(REPO) / "docs" / "operations.md"
    copy = tmp_path / "operations.md"
    shutil.copy(guide, copy)
    docs.update_operations(str(copy))
    assert copy.read_text() == guide.read_text(), "docs/operations.md is stale: run `make docs`"
    for option in config_module.OPTIONS:
        assert f"| `{option.name}` |" in guide.read_text()


def test_container_and_kubernetes_files():
    containerfile = (DEPLOY / "Containerfile").read_text()
    assert "EXPOSE 6379 9121" in containerfile and "HEALTHCHECK" in containerfile and "/healthz" in containerfile
    deployment = (DEPLOY / "kubernetes" / "deployment.yaml").read_text()
    assert re.search(r"livenessProbe:\n\s+httpGet: \{path: /healthz", deployment)
    assert re.search(r"readinessProbe:.*\n\s+httpGet: \{path: /readyz", deployment)
    assert 'prometheus.io/scrape: "true"' in deployment
    assert "kind: ServiceMonitor" in (DEPLOY / "kubernetes" / "servicemonitor.yaml").read_text()
    assert "kind: Service\n" in (DEPLOY / "kubernetes" / "service.yaml").read_text()
