"""ONNX Runtime backend: CPUExecutionProvider, CUDAExecutionProvider for ``GPU``/``GPU:n`` devices.

ONNX-ML operators (scikit-learn models converted with skl2onnx) run through ORT as any other graph. Models whose
initializers point at external data files are refused before ORT sees them, as RedisAI does: a model loaded from
bytes must never read files on the server.
"""
from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import onnxruntime as ort

from inferd import errors
from inferd.backends.base import LoadOptions, check_inputs, one_line
from inferd.errors import CommandError

log = logging.getLogger("inferd.onnx")
_ORT_PREFIX = re.compile(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ")
_CPU = "CPUExecutionProvider"
_CUDA = "CUDAExecutionProvider"


def version() -> str:
    """Onnxruntime's version."""
    return str(ort.__version__)


def ort_message(exc: BaseException) -> str:
    """ORT's error text without the Python binding's ``[ONNXRuntimeError] : n : CODE :`` prefix (as the C API)."""
    return one_line(_ORT_PREFIX.sub("", str(exc)))


class RunWatchdog:
    """Stops ORT runs that pass their deadline (MODEL_EXECUTION_TIMEOUT), as RedisAI's kill switch does.

    Like RedisAI's cron, one daemon thread checks the runs in progress every tenth of the shortest limit and sets
    ``terminate`` on the overdue runs' RunOptions (ORT then fails them with "Exiting due to terminate flag being set
    to true"), so a run is stopped within 10% past its limit. Registering a run never wakes the thread: a wake-up
    per inference would cost more than the check.
    """

    def __init__(self) -> None:
        self._runs: dict[int, tuple[float, ort.RunOptions]] = {}
        self._lock = threading.Lock()
        self._interval = 1.0
        self._thread: threading.Thread | None = None

    def watch(self, options: ort.RunOptions, timeout_s: float) -> None:
        """Watch one run (call :meth:`forget` when it ends)."""
        with self._lock:
            self._runs[id(options)] = (time.monotonic() + timeout_s, options)
            self._interval = min(self._interval, timeout_s / 10)
            if self._thread is None:
                self._thread = threading.Thread(target=self._patrol, name="inferd-onnx-watchdog", daemon=True)
                self._thread.start()

    def forget(self, options: ort.RunOptions) -> None:
        """The run ended."""
        with self._lock:
            self._runs.pop(id(options), None)

    def _patrol(self) -> None:
        while True:
            time.sleep(self._interval)
            now = time.monotonic()
            with self._lock:
                for key, (deadline, options) in list(self._runs.items()):
                    if deadline <= now:
                        options.terminate = True
                        del self._runs[key]


WATCHDOG = RunWatchdog()

# numpy dtype -> ONNX tensor element type, for the numeric types the native thread passes as they are
_ELEMENT_TYPES = {np.dtype(name): number for name, number in (
    ("float32", 1), ("uint8", 2), ("int8", 3), ("uint16", 4), ("int16", 5), ("int32", 6), ("int64", 7), ("bool", 9),
    ("float16", 10), ("float64", 11), ("uint32", 12), ("uint64", 13))}
_DTYPES = {number: dtype for dtype, number in _ELEMENT_TYPES.items()}
_ONNX_TYPES = {f"tensor({name})" for name in ("float", "uint8", "int8", "uint16", "int16", "int32", "int64", "bool",
                                               "float16", "double", "uint32", "uint64")}
_native: Any = None   # inferd.backends._ortrun once initialised; False when it cannot be used


def native_module() -> Any:
    """The C extension running batches on a native thread (``_ortrun``), initialised; None without it."""
    global _native
    if _native is None:
        try:
            from inferd.backends import _ortrun  # type: ignore[attr-defined]
            capi = os.path.join(os.path.dirname(ort.__file__), "capi")
            library = next(os.path.join(capi, name) for name in sorted(os.listdir(capi))
                           if name.startswith("libonnxruntime.so"))
            _ortrun.init(library)
            _native = _ortrun
        except Exception:   # not built (no compiler), or a wheel without the shared library: the loop runs them
            log.info("ONNX: no native run thread (inferd.backends._ortrun)", exc_info=True)
            _native = False
    return _native or None


class NativeRun:
    """A run on a native thread (see :class:`NativeSession`), staged or in progress; what the watchdog stops.

    Setting ``terminate`` (model-execution-timeout) stops the run; the watchdog forgets the run at
    :meth:`NativeSession.finish`.
    """

    __slots__ = ("executor", "id", "watched")

    def __init__(self, executor: Any, run_id: int, watched: bool) -> None:
        self.executor = executor
        self.id = run_id
        self.watched = watched

    @property
    def terminate(self) -> bool:
        return False

    @terminate.setter
    def terminate(self, value: bool) -> None:
        if value:
            self.executor.terminate(self.id)


class NativeSession:
    """A model's session for a device queue's native thread (``onnx-run-thread``, :mod:`inferd.scheduler`).

    An OrtSession built through onnxruntime's C API from the model's bytes, its ops on the calling thread, run by an
    executor (:meth:`executor`: one native thread) on the batch's arrays as they are: that thread holds no GIL, so
    the event loop goes on reading and answering requests during the run, and collects the outputs once the
    executor's file descriptor is readable (:meth:`start`, then :meth:`finish`).
    """

    def __init__(self, native: Any, inputs: list[str], outputs: list[str], timeout_s: float) -> None:
        self.native = native
        self.inputs = inputs
        self.outputs = outputs
        self.timeout_s = timeout_s

    @staticmethod
    def executor() -> Any:
        """A new executor: a native thread, and its ``fd`` to watch; ``close()`` ends it."""
        return native_module().Executor()

    def start(self, executor: Any, inputs: list[Any], spin_us: int = 0, want: int = 0) -> NativeRun | None:
        """Stage a run of ``inputs`` on ``executor``; None (nothing started) when an input's type is not numeric.

        The thread runs it at once, or after the run it has in hand (two at most: see :meth:`extend`), once it holds
        ``want`` rows or is released (:meth:`release`). An input is an array, or a list of arrays alike but for their
        first dim (a batch's requests' rows), which the thread joins along it before the run (no concatenation on the
        loop). After a run with no other staged the thread waits ``spin_us`` awake for the next one before it sleeps
        (``onnx-run-thread-spin-us``).

        Raises CommandError as :meth:`OnnxSession.run` for a wrong count of inputs.
        """
        if len(inputs) != len(self.inputs):
            raise CommandError(errors.AI_INPUTS_VS_MODEL)
        types = [_ELEMENT_TYPES.get((item[0] if item.__class__ is list else item).dtype) for item in inputs]
        if None in types:
            return None
        try:
            run_id = executor.submit(self.native, [item if item.__class__ is list else np.ascontiguousarray(item)
                                                   for item in inputs], types, spin_us, want)
        except (BufferError, ValueError):   # a part not C-contiguous or unlike the others: joined here instead
            run_id = executor.submit(self.native, [np.ascontiguousarray(np.concatenate(item) if item.__class__ is list
                                                                        else item) for item in inputs], types,
                                     spin_us, want)
        run = NativeRun(executor, run_id, self.timeout_s > 0)
        if run.watched:
            WATCHDOG.watch(run, self.timeout_s)   # type: ignore[arg-type]
        return run

    def extend(self, run: NativeRun, inputs: list[list[Any]]) -> bool:
        """Add rows to ``run`` while the thread has not taken it; False (nothing added) once it has.

        Each input's parts (a batch's later requests) go after its own; parts the thread cannot join as they are
        (not C-contiguous, another type or other dims) are not added either.

        Raises CommandError as :meth:`start`.
        """
        if len(inputs) != len(self.inputs):
            raise CommandError(errors.AI_INPUTS_VS_MODEL)
        try:
            return bool(run.executor.extend(run.id, inputs))
        except (BufferError, ValueError):   # not C-contiguous, or another type: the caller runs them apart
            return False

    @staticmethod
    def release(run: NativeRun) -> None:
        """Let ``run``, if still staged, start without the rows it waits for (see :meth:`start`)."""
        run.executor.release(run.id)

    def finish(self, run: NativeRun) -> tuple[list[np.ndarray[Any, Any]], int] | None:
        """The outputs of ``run`` and its µs; None while it is not done. Raises its CommandError."""
        try:
            done = run.executor.collect()
        except Exception as exc:
            self._forget(run)
            raise CommandError(one_line(str(exc))) from None
        if done is None:
            return None
        self._forget(run)
        raw, duration_us = done
        outputs = []
        for name, item in zip(self.outputs, raw, strict=True):
            if item is None:
                raise CommandError(errors.AI_ONNX_NOT_A_TENSOR.format(name))
            data, shape, element = item
            outputs.append(np.frombuffer(data, _DTYPES[element]).reshape(shape))
        return outputs, duration_us

    @staticmethod
    def _forget(run: NativeRun) -> None:
        if run.watched:
            WATCHDOG.forget(run)   # type: ignore[arg-type]
            run.watched = False


class OnnxSession:
    """An ``onnxruntime.InferenceSession``; ORT sessions are safe to run from several threads.

    ``light`` (optional) is a second session of the same model whose pool threads spin longer after a run
    (``light-load-spin-us``); :meth:`run_light` uses it for the runs of a lightly loaded queue (see
    :mod:`inferd.scheduler`). Its spinning keeps a core awake between requests, which on a virtual machine halves a
    small model's round trip at one client, while batches under load keep the short-spinning session and its CPU.

    ``make_narrow`` (a CPU model's) builds a session whose ops run on one thread: :meth:`run_narrow` uses it for a
    batch that runs beside another one of its queue (``side-batch-min-row-us``). It is built at the first such run
    (:attr:`narrow`), so that only a model under that much load holds its weights once more, and only up to
    ``light-load-max-model-bytes``; a session whose ops already run on one thread, or a larger model, runs them on
    the main session.
    """

    def __init__(self, session: ort.InferenceSession, execution_timeout_ms: int = 0,
                 light: ort.InferenceSession | None = None,
                 make_narrow: Callable[[], ort.InferenceSession] | None = None, narrow_capable: bool = False,
                 native: NativeSession | None = None) -> None:
        self.session = session
        self.native = native
        self.light = light
        self.narrow: ort.InferenceSession | None = None
        self.narrow_capable = narrow_capable
        self._make_narrow = make_narrow
        self._narrow_lock = threading.Lock()
        self.timeout_s = execution_timeout_ms / 1000
        self.inputs = [i.name for i in session.get_inputs()]
        self.outputs: list[str] | None = [o.name for o in session.get_outputs()]
        self._string_inputs = {i.name for i in session.get_inputs() if i.type == "tensor(string)"}

    def run_light(self, inputs: list[np.ndarray[Any, Any]]) -> list[np.ndarray[Any, Any]]:
        """:meth:`run` on the light-load session when there is one."""
        return self.run(inputs, self.light or self.session)

    def run_narrow(self, inputs: list[np.ndarray[Any, Any]]) -> list[np.ndarray[Any, Any]]:
        """:meth:`run` on one thread: the narrow session, built now if this is its first run (see the class).

        While another thread builds it, or if building it failed, the run takes the main session.
        """
        session = self.narrow
        if session is None and self._make_narrow is not None and self._narrow_lock.acquire(blocking=False):
            try:
                if self.narrow is None and self._make_narrow is not None:
                    self.narrow = self._make_narrow()
            except Exception:   # e.g. out of memory: the main session still runs the model
                log.warning("ONNX: the one-thread session could not be built; batches keep the main session",
                            exc_info=True)
                self._make_narrow = None
            finally:
                self._narrow_lock.release()
            session = self.narrow
        return self.run(inputs, session)

    def run(self, inputs: list[np.ndarray[Any, Any]], session: ort.InferenceSession | None = None
            ) -> list[np.ndarray[Any, Any]]:
        """Run the graph; ORT errors become their one-line texts."""
        check_inputs(self, inputs)
        feed = {name: (array.astype(object) if name in self._string_inputs else array)
                for name, array in zip(self.inputs, inputs, strict=True)}
        options = None
        if self.timeout_s > 0:
            options = ort.RunOptions()
            options.log_severity_level = 4     # a stopped or failed run is reported to the client, not logged
            WATCHDOG.watch(options, self.timeout_s)
        try:
            results = (session or self.session).run(None, feed, options)
        except Exception as exc:
            raise CommandError(ort_message(exc)) from None
        finally:
            if options is not None:
                WATCHDOG.forget(options)
        for name, result in zip(self.outputs or [], results, strict=False):
            if not isinstance(result, np.ndarray):
                raise CommandError(errors.AI_ONNX_NOT_A_TENSOR.format(name))
        return results  # type: ignore[no-any-return]


def _session_options(options: LoadOptions, spin_us: int, intra_op: int) -> ort.SessionOptions:
    session_options = ort.SessionOptions()
    # ORT's pool threads spin-wait after each parallel section, by default for long enough to cost more CPU than a
    # small model itself; in a server those threads share the cores with the event loop and the other queues. A
    # few microseconds of spinning still bridge the gaps between one run's ops (sleeping at once paid a futex wake
    # per op: slower and, on small models, no cheaper), so idle threads spin ``spin_us`` and then sleep.
    session_options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin_us else "0")
    if spin_us:
        session_options.add_session_config_entry("session.intra_op.spin_duration_us", str(spin_us))
    session_options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    if intra_op > 0:
        session_options.intra_op_num_threads = intra_op
    if options.inter_op_parallelism > 0:
        session_options.inter_op_num_threads = options.inter_op_parallelism
        session_options.execution_mode = ort.ExecutionMode.ORT_PARALLEL
    return session_options


def _light_intra_op(options: LoadOptions) -> int:
    """The light-load session's intra-op threads (0: the backend's default)."""
    return options.light_load_intra_op_parallelism or options.intra_op_parallelism


def _wants_light_session(blob: bytes, options: LoadOptions) -> bool:
    """Whether a model gets the light-load session: a CPU model whose light-load runs use more than one thread.

    Its weights are then held twice, so only up to ``light-load-max-model-bytes`` (memory for latency where it is
    cheap).
    """
    threads = _light_intra_op(options) or os.cpu_count() or 1
    return (options.light_load_spin_us > 0 and options.gpu_index is None and threads > 1
            and len(blob) <= options.light_load_max_bytes)


def load(blob: bytes, options: LoadOptions) -> OnnxSession:
    """Build an InferenceSession from the model bytes, and a second one for light load (see OnnxSession)."""
    if has_external_data(blob):
        raise CommandError(errors.AI_ONNX_EXTERNAL_DATA)
    providers = _providers(options)
    try:
        session = ort.InferenceSession(blob, providers=providers, sess_options=_session_options(
            options, options.intra_op_spin_us, options.intra_op_parallelism))
        light = None
        if _wants_light_session(blob, options):
            light = ort.InferenceSession(blob, providers=providers, sess_options=_session_options(
                options, options.light_load_spin_us, _light_intra_op(options)))
    except Exception as exc:
        raise CommandError(ort_message(exc)) from None
    make_narrow = None   # a model too large to hold again runs its side batches on the main session
    if options.intra_op_parallelism != 1 and len(blob) <= options.light_load_max_bytes:
        make_narrow = partial(ort.InferenceSession, blob, providers=providers,
                              sess_options=_session_options(options, options.intra_op_spin_us, 1))
    return OnnxSession(session, options.execution_timeout_ms, light, make_narrow,
                       narrow_capable=options.gpu_index is None, native=_native_session(blob, session, options))


def _native_session(blob: bytes, session: ort.InferenceSession, options: LoadOptions) -> NativeSession | None:
    """The session for a queue's native thread (``onnx-run-thread``), or None.

    For CPU models whose inputs and outputs are all numeric tensors, up to ``light-load-max-model-bytes`` (the
    weights are held once more).
    """
    if not options.run_thread or options.gpu_index is not None or len(blob) > options.light_load_max_bytes:
        return None
    if any(arg.type not in _ONNX_TYPES for arg in (*session.get_inputs(), *session.get_outputs())):
        return None
    module = native_module()
    if module is None:
        return None
    inputs = [i.name for i in session.get_inputs()]
    outputs = [o.name for o in session.get_outputs()]
    try:
        return NativeSession(module.Session(blob, inputs, outputs, 1), inputs, outputs,
                             options.execution_timeout_ms / 1000)
    except Exception:   # e.g. out of memory: the model's batches run on the loop
        log.warning("ONNX: no session for the native thread; batches run on the loop", exc_info=True)
        return None


_providers_lock = threading.Lock()


def _providers(options: LoadOptions) -> list[Any]:
    gpu = options.gpu_index
    if gpu is None:
        return [_CPU]
    with _providers_lock:
        available = ort.get_available_providers()
    if _CUDA not in available:
        raise CommandError(errors.AI_DEVICE_UNAVAILABLE.format(options.device, "ONNX"))
    return [(_CUDA, {"device_id": gpu}), _CPU]


# ---- external-data check: a minimal protobuf walk over ModelProto (no dependency on the onnx package) ----------
_MODEL_GRAPH = 7
_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_SPARSE_INITIALIZER = 1, 5, 15
_NODE_ATTRIBUTE = 5
_ATTR_TENSOR, _ATTR_GRAPH, _ATTR_TENSORS, _ATTR_GRAPHS, _ATTR_SPARSE, _ATTR_SPARSES = 5, 6, 10, 11, 22, 23
_SPARSE_VALUES, _SPARSE_INDICES = 1, 2
_TENSOR_DATA_LOCATION = 14
_EXTERNAL = 1


def has_external_data(blob: bytes) -> bool:
    """Whether any tensor in the model (initializers, attribute tensors, subgraphs) uses external data."""
    try:
        data = memoryview(blob)
        return any(_graph_external(data[a:b]) for num, _, a, b in _fields(data) if num == _MODEL_GRAPH)
    except (IndexError, ValueError):
        return False   # not a valid protobuf: ORT reports the parse error itself


def _graph_external(graph: memoryview) -> bool:
    for num, _, a, b in _fields(graph):
        if num in (_GRAPH_INITIALIZER,) and _tensor_external(graph[a:b]):
            return True
        if num == _GRAPH_SPARSE_INITIALIZER and _sparse_external(graph[a:b]):
            return True
        if num == _GRAPH_NODE and any(_attribute_external(graph[a:b][c:d]) for n, _, c, d in _fields(graph[a:b])
                                      if n == _NODE_ATTRIBUTE):
            return True
    return False


def _attribute_external(attr: memoryview) -> bool:
    for num, _, a, b in _fields(attr):
        part = attr[a:b]
        if num in (_ATTR_TENSOR, _ATTR_TENSORS) and _tensor_external(part):
            return True
        if num in (_ATTR_GRAPH, _ATTR_GRAPHS) and _graph_external(part):
            return True
        if num in (_ATTR_SPARSE, _ATTR_SPARSES) and _sparse_external(part):
            return True
    return False


def _sparse_external(sparse: memoryview) -> bool:
    return any(_tensor_external(sparse[a:b]) for num, _, a, b in _fields(sparse)
               if num in (_SPARSE_VALUES, _SPARSE_INDICES))


def _tensor_external(tensor: memoryview) -> bool:
    return any(num == _TENSOR_DATA_LOCATION and value == _EXTERNAL for num, value, _, _ in _fields(tensor))


def _fields(buf: memoryview) -> list[tuple[int, int, int, int]]:
    """Top-level fields of a message: (field number, varint value, start, end of a length-delimited payload)."""
    out: list[tuple[int, int, int, int]] = []
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            out.append((num, value, pos, pos))
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > end:
                raise ValueError("truncated")
            out.append((num, 0, pos, pos + length))
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise ValueError("unsupported wire type")
    return out


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")
