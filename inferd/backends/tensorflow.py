"""TensorFlow backend: a frozen GraphDef run with named INPUTS/OUTPUTS through ``tf.compat.v1.Session``.

Extension (not in RedisAI): the blob may instead be a SavedModel directory packed as a tar or zip archive. Its
``serving_default`` signature runs; INPUTS/OUTPUTS then name the signature's inputs and outputs, in the order
MODELEXECUTE passes and returns them.
"""
from __future__ import annotations

import io
import os
import tarfile
import tempfile
import zipfile
from typing import Any

import numpy as np
import tensorflow as tf

from inferd import errors
from inferd.backends.base import LoadOptions, check_inputs, one_line
from inferd.errors import CommandError


def version() -> str:
    """TensorFlow's version."""
    return str(tf.__version__)


def _tensor_name(name: str) -> str:
    return name if ":" in name else name + ":0"


def _tf_error(exc: BaseException) -> CommandError:
    message = getattr(exc, "message", None) or str(exc)
    return CommandError(one_line(message) or type(exc).__name__)


def _config(options: LoadOptions) -> Any:
    config = tf.compat.v1.ConfigProto(allow_soft_placement=True)
    config.intra_op_parallelism_threads = options.intra_op_parallelism
    config.inter_op_parallelism_threads = options.inter_op_parallelism
    if options.gpu_index is None:
        config.device_count["GPU"] = 0
    return config


class GraphSession:
    """A frozen graph in a v1 Session (``Session.run`` is thread-safe)."""

    def __init__(self, graph_def: Any, options: LoadOptions) -> None:
        self.inputs = list(options.inputs)
        self.outputs: list[str] | None = list(options.outputs)
        self.graph = tf.Graph()
        device = "/CPU:0" if options.gpu_index is None else f"/GPU:{options.gpu_index}"
        with self.graph.as_default(), tf.device(device):
            tf.import_graph_def(graph_def, name="")
        self._feeds = [self.graph.get_tensor_by_name(_tensor_name(n)) for n in self.inputs]
        self._fetches = [self.graph.get_tensor_by_name(_tensor_name(n)) for n in options.outputs]
        self.session = tf.compat.v1.Session(graph=self.graph, config=_config(options))

    def run(self, inputs: list[np.ndarray[Any, Any]]) -> list[np.ndarray[Any, Any]]:
        """Feed the named inputs, fetch the named outputs."""
        check_inputs(self, inputs)
        try:
            results = self.session.run(self._fetches, feed_dict=dict(zip(self._feeds, inputs, strict=True)))
        except Exception as exc:
            raise _tf_error(exc) from None
        return [np.asarray(r) for r in results]


class SavedModelSession:
    """The ``serving_default`` signature of a SavedModel (concrete functions are thread-safe)."""

    def __init__(self, directory: str, options: LoadOptions) -> None:
        self.loaded = tf.saved_model.load(directory)
        signature = self.loaded.signatures.get("serving_default")
        if signature is None:
            raise CommandError(errors.AI_TF_SAVEDMODEL.format("no serving_default signature"))
        self.signature = signature
        known_inputs = set(signature.structured_input_signature[1])
        known_outputs = set(signature.structured_outputs)
        for name in options.inputs:
            if name not in known_inputs:
                raise CommandError(errors.AI_TF_INPUT_NODE.format(name))
        for name in options.outputs:
            if name not in known_outputs:
                raise CommandError(errors.AI_TF_OUTPUT_NODE.format(name))
        self.inputs = list(options.inputs)
        self.outputs: list[str] | None = list(options.outputs)

    def run(self, inputs: list[np.ndarray[Any, Any]]) -> list[np.ndarray[Any, Any]]:
        """Call the signature with keyword inputs; return the named outputs in order."""
        check_inputs(self, inputs)
        try:
            result = self.signature(**{n: tf.constant(a) for n, a in zip(self.inputs, inputs, strict=True)})
            return [result[name].numpy() for name in self.outputs or []]
        except Exception as exc:
            raise _tf_error(exc) from None


def load(blob: bytes, options: LoadOptions) -> GraphSession | SavedModelSession:
    """A frozen GraphDef, or (extension) a tar/zip archive of a SavedModel directory."""
    if _is_archive(blob):
        return _load_saved_model(blob, options)
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(blob)
    except Exception:
        raise CommandError(errors.AI_TF_INVALID_GRAPHDEF) from None
    if not graph_def.node:
        raise CommandError(errors.AI_TF_INVALID_GRAPHDEF)
    nodes = {node.name for node in graph_def.node}
    for name in options.inputs:
        if name.split(":")[0] not in nodes:
            raise CommandError(errors.AI_TF_INPUT_NODE.format(name))
    for name in options.outputs:
        if name.split(":")[0] not in nodes:
            raise CommandError(errors.AI_TF_OUTPUT_NODE.format(name))
    try:
        return GraphSession(graph_def, options)
    except CommandError:
        raise
    except Exception as exc:
        raise _tf_error(exc) from None


def _is_archive(blob: bytes) -> bool:
    return blob[:4] == b"PK\x03\x04" or blob[257:262] == b"ustar"


def _load_saved_model(blob: bytes, options: LoadOptions) -> SavedModelSession:
    with tempfile.TemporaryDirectory(prefix="inferd-savedmodel-") as tmp:
        try:
            _extract(blob, tmp)
        except (tarfile.TarError, zipfile.BadZipFile, OSError, ValueError) as exc:
            raise CommandError(errors.AI_TF_SAVEDMODEL.format(one_line(str(exc)))) from None
        root = _saved_model_root(tmp)
        try:
            return SavedModelSession(root, options)
        except CommandError:
            raise
        except Exception as exc:
            raise _tf_error(exc) from None


def _extract(blob: bytes, into: str) -> None:
    """Unpack safely: no absolute paths, no '..', no links (the archive comes from a client)."""
    if blob[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            for name in archive.namelist():
                _check_member(name)
            archive.extractall(into)
        return
    with tarfile.open(fileobj=io.BytesIO(blob)) as archive:
        archive.extractall(into, filter="data")


def _check_member(name: str) -> None:
    if name.startswith("/") or ".." in name.replace("\\", "/").split("/"):
        raise ValueError(f"unsafe path in archive: {name}")


def _saved_model_root(directory: str) -> str:
    for root, _dirs, files in os.walk(directory):
        if "saved_model.pb" in files:
            return root
    raise CommandError(errors.AI_TF_SAVEDMODEL.format("no saved_model.pb in the archive"))
