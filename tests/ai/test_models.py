"""AI.MODELSTORE / MODELSET / MODELGET / MODELDEL / MODELEXECUTE / MODELRUN / _MODELSCAN on ONNX models: replies,
results checked against numpy, and every error text of the spec, over RESP2 and RESP3."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import redis

from inferd.store.keyspace import type_name
from tests.ai import models
from tests.ai.conftest import error_of, get_tensor, raw_reply_line, set_tensor

X = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=np.float32)


def test_store_execute_linear(r, onnx_linear):
    assert r.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", onnx_linear) == b"OK"
    set_tensor(r, "x", X)
    assert r.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y") == b"OK"
    np.testing.assert_allclose(get_tensor(r, "y"), X @ models.WEIGHTS + models.BIAS, rtol=1e-6)


def test_two_inputs_two_outputs_and_timeout(r, onnx_two_inputs):
    r.execute_command("AI.MODELSTORE", "m", "ONNX", "cpu", "BLOB", onnx_two_inputs)
    a, b = X, X + 1
    set_tensor(r, "a", a)
    set_tensor(r, "b", b)
    assert r.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 2, "a", "b", "OUTPUTS", 2, "s", "p",
                             "TIMEOUT", 5000) == b"OK"
    np.testing.assert_array_equal(get_tensor(r, "s"), a + b)
    np.testing.assert_array_equal(get_tensor(r, "p"), a * b)


def test_identity_keeps_int_dtype_and_zero_d(r):
    r.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", models.onnx_identity("INT64"))
    r.execute_command("AI.TENSORSET", "x", "INT64", "VALUES", -42)
    r.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y")
    assert r.execute_command("AI.TENSORGET", "y", "META", "VALUES") == [b"dtype", b"INT64", b"shape", [],
                                                                        b"values", [-42]]


def test_modelget_meta_blob_and_device_as_typed(r, onnx_linear):
    r.execute_command("AI.MODELSTORE", "m", "onnx", "cpu:1", "TAG", "v2", "BATCHSIZE", 4,
                      "MINBATCHSIZE", 2, "MINBATCHTIMEOUT", 10, "BLOB", onnx_linear)
    meta = [b"backend", b"ONNX", b"device", b"cpu:1", b"tag", b"v2", b"batchsize", 4, b"minbatchsize", 2,
            b"inputs", [b"x"], b"outputs", [b"y"], b"minbatchtimeout", 10]
    assert r.execute_command("AI.MODELGET", "m", "META") == meta
    assert r.execute_command("AI.MODELGET", "m", "BLOB") == onnx_linear
    assert r.execute_command("AI.MODELGET", "m") == meta + [b"blob", onnx_linear]
    assert r.execute_command("AI.MODELGET", "m", "META", "BLOB") == meta + [b"blob", onnx_linear]
    assert r.execute_command("AI.MODELGET", "m", "whatever") == meta + [b"blob", onnx_linear]


def test_modelget_chunks_without_empty_trailing_chunk(r, server, onnx_linear):
    size = len(onnx_linear)
    try:
        assert r.execute_command("AI.CONFIG", "MODEL_CHUNK_SIZE", 100) == b"OK"
        r.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", onnx_linear[:150], onnx_linear[150:])
        chunks = r.execute_command("AI.MODELGET", "m", "BLOB")
        assert len(chunks) == size // 100 + (1 if size % 100 else 0)
        assert all(len(c) == 100 for c in chunks[:-1]) and b"".join(chunks) == onnx_linear
        r.execute_command("AI.CONFIG", "MODEL_CHUNK_SIZE", size)
        assert r.execute_command("AI.MODELGET", "m", "BLOB") == [onnx_linear]   # exact multiple: one chunk
    finally:
        r.execute_command("AI.CONFIG", "MODEL_CHUNK_SIZE", 511 * 1024 * 1024)


def test_modeldel_and_type(r, server, onnx_linear):
    r.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", onnx_linear)
    assert server.call(lambda: type_name(server.state.keyspace.dbs[0].get(b"m"))) == "AI__MODEL"
    assert r.type("m") in (b"AI__MODEL", "AI__MODEL")
    assert r.execute_command("AI._MODELSCAN") == [[b"m", b""]]
    assert r.execute_command("AI.MODELDEL", "m") == b"OK"
    assert error_of(r, "AI.MODELGET", "m") == "model key is empty"
    assert error_of(r, "AI.MODELDEL", "m") == "model key is empty"
    assert r.execute_command("AI._MODELSCAN") == []
    r.execute_command("AI.MODELSTORE", "m2", "ONNX", "CPU", "BLOB", onnx_linear)
    assert r.delete("m2") == 1 and r.execute_command("AI._MODELSCAN") == []    # DEL works the same way


def test_replace_is_atomic_and_resets_stats(r, onnx_linear, onnx_two_inputs):
    r.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "TAG", "a", "BLOB", onnx_linear)
    set_tensor(r, "x", X)
    r.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y")
    assert r.execute_command("AI.INFO", "m")[15] == 1
    r.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "TAG", "b", "BLOB", onnx_two_inputs)
    info = r.execute_command("AI.INFO", "m")
    assert info[9] == b"b" and info[15] == 0
    assert r.execute_command("AI.MODELGET", "m", "META")[11] == [b"a", b"b"]


def test_failed_store_changes_nothing(r, onnx_linear):
    r.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "TAG", "keep", "BLOB", onnx_linear)
    assert error_of(r, "AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", b"garbage")
    assert r.execute_command("AI.MODELGET", "m", "META")[5] == b"keep"


def test_pool_threads_spin_for_intra_op_spin_us_and_light_load_spin_us(server, r, onnx_linear):
    def spin(key, which="session"):
        onnx = server.call(lambda: server.state.keyspace.dbs[0].get(key).session)
        session = getattr(onnx, which)
        if session is None:
            return None
        options = session.get_session_options()
        if options.get_session_config_entry("session.intra_op.allow_spinning") == "0":
            return 0
        return int(options.get_session_config_entry("session.intra_op.spin_duration_us"))

    r.execute_command("AI.MODELSTORE", "m5", "ONNX", "CPU", "BLOB", onnx_linear)
    assert (spin(b"m5"), spin(b"m5", "light")) == (5, 100)          # the defaults
    try:
        assert r.config_set("intra-op-spin-us", 0) and r.config_set("light-load-spin-us", 0)
        r.execute_command("AI.MODELSTORE", "m0", "ONNX", "CPU", "BLOB", onnx_linear)
        assert (spin(b"m0"), spin(b"m0", "light")) == (0, None)      # no second session
        assert (spin(b"m5"), spin(b"m5", "light")) == (5, 100)       # stored models keep their sessions
        assert r.config_set("intra-op-spin-us", 40) and r.config_set("light-load-spin-us", 300)
        r.execute_command("AI.MODELSTORE", "m40", "ONNX", "CPU", "BLOB", onnx_linear)
        assert (spin(b"m40"), spin(b"m40", "light")) == (40, 300)
        info = r.info("ai")
        assert (info["ai_intra_op_spin_us"], info["ai_light_load_spin_us"]) == (40, 300)
    finally:
        r.config_set("intra-op-spin-us", 5)
        r.config_set("light-load-spin-us", 100)
    set_tensor(r, "x", X)
    for key in ("m0", "m5", "m40"):
        assert r.execute_command("AI.MODELEXECUTE", key, "INPUTS", 1, "x", "OUTPUTS", 1, "y") == b"OK"
        np.testing.assert_allclose(get_tensor(r, "y"), X @ models.WEIGHTS + models.BIAS, rtol=1e-6)
        onnx = server.call(lambda key=key: server.state.keyspace.dbs[0].get(key.encode()).session)
        np.testing.assert_allclose(server.call(lambda onnx=onnx: onnx.run_light([X]))[0], X @ models.WEIGHTS +
                                   models.BIAS, rtol=1e-6)


def test_memory_usage_counts_the_blob_and_each_session(r, onnx_linear):
    r.execute_command("AI.MODELSTORE", "two", "ONNX", "CPU", "BLOB", onnx_linear)
    try:
        assert r.config_set("light-load-spin-us", 0)
        r.execute_command("AI.MODELSTORE", "one", "ONNX", "CPU", "BLOB", onnx_linear)
    finally:
        r.config_set("light-load-spin-us", 100)
    one, two = r.memory_usage("one"), r.memory_usage("two")
    assert one >= 2 * len(onnx_linear) and two - one == len(onnx_linear)


def test_no_light_session_for_a_model_above_light_load_max_model_bytes(server, r, onnx_linear):
    assert r.info("ai")["ai_light_load_max_model_bytes"] == 128 * 1024 * 1024   # the default
    try:
        assert r.config_set("light-load-max-model-bytes", len(onnx_linear) - 1)
        r.execute_command("AI.MODELSTORE", "big", "ONNX", "CPU", "BLOB", onnx_linear)
        assert r.config_set("light-load-max-model-bytes", len(onnx_linear))
        r.execute_command("AI.MODELSTORE", "fits", "ONNX", "CPU", "BLOB", onnx_linear)
        assert r.config_get("light-load-max-model-bytes") == {"light-load-max-model-bytes": str(len(onnx_linear))}
        with pytest.raises(redis.ResponseError):
            r.config_set("light-load-max-model-bytes", -1)
    finally:
        r.config_set("light-load-max-model-bytes", "128mb")
    assert r.info("ai")["ai_light_load_max_model_bytes"] == 128 * 1024 * 1024
    sessions = server.call(lambda: [server.state.keyspace.dbs[0].get(k).session for k in (b"big", b"fits")])
    assert sessions[0].light is None and sessions[1].light is not None
    set_tensor(r, "x", X)
    np.testing.assert_allclose(server.call(lambda: sessions[0].run_light([X]))[0], X @ models.WEIGHTS + models.BIAS,
                               rtol=1e-6)


def test_no_light_session_with_one_thread_per_op(start_server, onnx_linear):
    srv = start_server(intra_op_parallelism=1)    # no pool thread to keep spinning
    client = srv.client(protocol=2)
    client.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", onnx_linear)
    assert srv.call(lambda: srv.state.keyspace.dbs[0].get(b"m").session.light) is None


def test_light_load_session_threads_apart_from_the_batch_sessions(start_server, onnx_linear):
    # Batches under load on one thread each (two workers side by side), a lone request still on two threads.
    srv = start_server(threads_per_queue=2, intra_op_parallelism=1, light_load_intra_op_parallelism=2)
    client = srv.client(protocol=2)
    assert client.info("ai")["ai_light_load_intra_op_parallelism"] == 2
    client.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", onnx_linear)

    def threads(key):
        onnx = srv.call(lambda: srv.state.keyspace.dbs[0].get(key).session)
        light = onnx.light and onnx.light.get_session_options().intra_op_num_threads
        return onnx.session.get_session_options().intra_op_num_threads, light

    assert threads(b"m") == (1, 2)
    assert client.config_set("light-load-intra-op-parallelism", 0)      # as intra-op-parallelism: no second session
    client.execute_command("AI.MODELSTORE", "one", "ONNX", "CPU", "BLOB", onnx_linear)
    assert threads(b"one") == (1, None) and threads(b"m") == (1, 2)    # stored models keep their sessions
    with pytest.raises(redis.ResponseError):
        client.config_set("light-load-intra-op-parallelism", -1)
    set_tensor(client, "x", X)
    for key in ("m", "one"):
        assert client.execute_command("AI.MODELEXECUTE", key, "INPUTS", 1, "x", "OUTPUTS", 1, "y") == b"OK"
        np.testing.assert_allclose(get_tensor(client, "y"), X @ models.WEIGHTS + models.BIAS, rtol=1e-6)
    onnx = srv.call(lambda: srv.state.keyspace.dbs[0].get(b"m").session)
    np.testing.assert_allclose(srv.call(lambda: onnx.run_light([X]))[0], X @ models.WEIGHTS + models.BIAS, rtol=1e-6)


def test_narrow_session_built_at_its_first_run_on_one_thread(start_server, onnx_linear):
    # The session of a batch that runs beside another (side-batch-min-row-us): built when first needed.
    srv = start_server()
    client = srv.client(protocol=2)
    client.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", onnx_linear)
    onnx = srv.call(lambda: srv.state.keyspace.dbs[0].get(b"m").session)
    assert onnx.narrow_capable and onnx.narrow is None
    before = client.memory_usage("m")
    outputs = srv.call(lambda: onnx.run_narrow([X]))
    np.testing.assert_allclose(outputs[0], X @ models.WEIGHTS + models.BIAS, rtol=1e-6)
    assert onnx.narrow.get_session_options().intra_op_num_threads == 1
    assert client.memory_usage("m") - before == len(onnx_linear)   # its weights held once more

    one = start_server(intra_op_parallelism=1)   # the main session already runs on one thread: no other
    one_client = one.client(protocol=2)
    one_client.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", onnx_linear)
    onnx = one.call(lambda: one.state.keyspace.dbs[0].get(b"m").session)
    np.testing.assert_allclose(one.call(lambda: onnx.run_narrow([X]))[0], X @ models.WEIGHTS + models.BIAS,
                               rtol=1e-6)
    assert onnx.narrow is None

    small = start_server(light_load_max_model_bytes=len(onnx_linear) - 1)   # too large to hold again: the main one
    small_client = small.client(protocol=2)
    small_client.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", onnx_linear)
    onnx = small.call(lambda: small.state.keyspace.dbs[0].get(b"m").session)
    before = small_client.memory_usage("m")
    np.testing.assert_allclose(small.call(lambda: onnx.run_narrow([X]))[0], X @ models.WEIGHTS + models.BIAS,
                               rtol=1e-6)
    assert onnx.narrow is None and onnx.light is None and small_client.memory_usage("m") == before


def test_external_data_refused(r):
    assert error_of(r, "AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", models.onnx_external_data()) == \
        "Initializer tensors with external data is not allowed."


def test_backend_errors_pass_through(r, onnx_linear):
    assert error_of(r, "AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", b"") == "No graph was found in the protobuf."
    r.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", onnx_linear)
    set_tensor(r, "x3", np.ones((2, 3), dtype=np.float32))
    text = error_of(r, "AI.MODELEXECUTE", "m", "INPUTS", 1, "x3", "OUTPUTS", 1, "y")
    assert text.startswith("Got invalid dimensions for input: x") and "\n" not in text
    set_tensor(r, "xd", np.ones((2, 2)), "DOUBLE")
    assert "Unexpected input data type" in error_of(r, "AI.MODELEXECUTE", "m", "INPUTS", 1, "xd", "OUTPUTS", 1, "y")
    assert r.execute_command("AI.INFO", "m")[17] == 2     # errors are charged
    assert r.exists("y") == 0


def test_gpu_device_without_gpu_is_a_clear_error(r, onnx_linear):
    import onnxruntime
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        assert r.execute_command("AI.MODELSTORE", "m", "ONNX", "GPU:0", "BLOB", onnx_linear) == b"OK"
    else:
        assert error_of(r, "AI.MODELSTORE", "m", "ONNX", "GPU:0", "BLOB", onnx_linear) == \
            "device GPU:0 is not available to the ONNX backend"


def test_deprecated_modelset_and_modelrun(r, onnx_two_inputs):
    assert r.execute_command("AI.MODELSET", "m", "ONNX", "CPU", "TAG", "old", "BLOB", onnx_two_inputs) == b"OK"
    set_tensor(r, "a", X)
    set_tensor(r, "b", X)
    assert r.execute_command("AI.MODELRUN", "m", "INPUTS", "a", "b", "OUTPUTS", "s", "p") == b"OK"
    np.testing.assert_array_equal(get_tensor(r, "s"), X + X)
    assert r.execute_command("AI.MODELRUN", "m", "TIMEOUT", 1000, "INPUTS", "a", "b", "OUTPUTS", "s", "p") == b"OK"


def test_runs_refused_inside_multi(r, onnx_linear):
    r.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", onnx_linear)
    set_tensor(r, "x", X)
    pipe = r.pipeline(transaction=True)
    pipe.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y")
    pipe.execute_command("AI.TENSORGET", "x", "META")
    results = pipe.execute(raise_on_error=False)
    assert isinstance(results[0], redis.ResponseError)
    assert str(results[0]) == "Cannot run RedisAI command within a transaction or a LUA script"
    assert results[1] == [b"dtype", b"FLOAT", b"shape", [3, 2]]


STORE_ERRORS = [
    (("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB"), "wrong number of arguments for 'AI.MODELSTORE' command"),
    (("AI.MODELSTORE", "m", "SKLEARN", "CPU", "BLOB", "x"), "unsupported backend"),
    (("AI.MODELSTORE", "m", "ONNX", "bad_device", "BLOB", "x"), "Invalid DEVICE"),
    (("AI.MODELSTORE", "m", "ONNX", "CPU::", "BLOB", "x"), "Invalid DEVICE"),
    (("AI.MODELSTORE", "m", "ONNX", "CPU:1.8", "BLOB", "x"), "Invalid DEVICE"),
    (("AI.MODELSTORE", "m", "ONNX", "CPU:123456", "BLOB", "x"), "Invalid DEVICE"),
    (("AI.MODELSTORE", "m", "ONNX", "CPU:", "BLOB", "x"), "Invalid DEVICE"),
    (("AI.MODELSTORE", "m", "ONNX", "CPU", "BATCHSIZE", "x", "BLOB", "x"), "Invalid argument for BATCHSIZE"),
    (("AI.MODELSTORE", "m", "ONNX", "CPU", "BATCHSIZE", -1, "BLOB", "x"), "Invalid argument for BATCHSIZE"),
    (("AI.MODELSTORE", "m", "ONNX", "CPU", "BATCHSIZE", 2, "MINBATCHSIZE", "y", "BLOB", "x"),
     "Invalid argument for MINBATCHSIZE"),
    (("AI.MODELSTORE", "m", "ONNX", "CPU", "BATCHSIZE", 0, "MINBATCHSIZE", 2, "BLOB", "x"),
     "MINBATCHSIZE specified without BATCHSIZE"),
    (("AI.MODELSTORE", "m", "ONNX", "CPU", "BATCHSIZE", 2, "MINBATCHSIZE", 2, "MINBATCHTIMEOUT", "z", "BLOB", "x"),
     "Invalid argument for MINBATCHTIMEOUT"),
    (("AI.MODELSTORE", "m", "ONNX", "CPU", "BATCHSIZE", 2, "MINBATCHSIZE", 0, "MINBATCHTIMEOUT", 5, "BLOB", "x"),
     "MINBATCHTIMEOUT specified without MINBATCHSIZE"),
    (("AI.MODELSTORE", "m", "ONNX", "CPU", "TAG", "t", "BATCHSIZE", 2), "Insufficient arguments, missing model BLOB"),
    (("AI.MODELSTORE", "m", "ONNX", "CPU", "INPUTS", 1, "a", "BLOB", "x"),
     "INPUTS argument should not be specified for this backend"),
    (("AI.MODELSTORE", "m", "ONNX", "CPU", "TAG", "t", "NOTBLOB", "x"), "Invalid argument, expected BLOB"),
    (("AI.MODELSTORE", "m", "TF", "CPU", "TAG", "t", "BLOB", "x"), "INPUTS not specified for TF"),
    (("AI.MODELSTORE", "m", "TF", "CPU", "INPUTS", 0, "OUTPUTS", 1, "b", "BLOB", "x"),
     "Invalid argument for input_count"),
    (("AI.MODELSTORE", "m", "TF", "CPU", "INPUTS", 3, "a", "b"),
     "number of model inputs does not match the number of given arguments"),
    (("AI.MODELSTORE", "m", "TF", "CPU", "INPUTS", 1, "a", "BLOB", "x"), "OUTPUTS not specified for TF"),
    (("AI.MODELSTORE", "m", "TF", "CPU", "INPUTS", 1, "a", "OUTPUTS", "q", "BLOB", "x"),
     "Invalid argument for output_count"),
    (("AI.MODELSTORE", "m", "TF", "CPU", "INPUTS", 1, "a", "OUTPUTS", 3, "b"),
     "number of model outputs does not match the number of given arguments"),
    (("AI.MODELSET", "m", "TORCH", "BLOB", "x"), "Invalid DEVICE"),
    (("AI.MODELSET", "m", "TFLITE", "CPU", "BATCHSIZE", 2, "BLOB", "x"),
     "Auto-batching not supported by the TFLITE backend"),
    (("AI.MODELSET", "m", "ONNX", "CPU", "MINBATCHTIMEOUT", 5, "BLOB", "x"),
     "MINBATCHTIMEOUT specified without BATCHSIZE"),
    (("AI.MODELSET", "m", "TF", "CPU", "BLOB", "x"), "Insufficient arguments, INPUTS and OUTPUTS not specified"),
    (("AI.MODELSET", "m", "TF", "CPU", "OUTPUTS", "b", "BLOB", "x"), "INPUTS not specified"),
    (("AI.MODELSET", "m", "TF", "CPU", "INPUTS", "a", "BLOB", "x"), "OUTPUTS not specified"),
    (("AI.MODELSET", "m", "ONNX", "CPU", "TAG", "t"), "Insufficient arguments, missing model BLOB"),
]


@pytest.mark.parametrize(("args", "text"), STORE_ERRORS)
def test_store_errors_change_nothing(r, args, text):
    assert error_of(r, *args) == text
    assert r.exists("m") == 0


def test_store_wrongtype_and_float_batchsize(r, onnx_linear):
    r.set("s", "v")
    assert error_of(r, "AI.MODELSTORE", "s", "ONNX", "CPU", "BLOB", onnx_linear).startswith("WRONGTYPE")
    assert r.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BATCHSIZE", "2.0", "BLOB", onnx_linear) == b"OK"
    assert r.execute_command("AI.MODELGET", "m", "META")[7] == 2


def _execute_errors():
    m, x, y = "m", "x", "y"
    return [
        (("AI.MODELEXECUTE", m, "INPUTS", 1, x, "OUTPUTS", 1),
         "wrong number of arguments for 'AI.MODELEXECUTE' command"),
        (("AI.MODELEXECUTE", "nomodel", "INPUTS", 1, x, "OUTPUTS", 1, y), "model key is empty"),
        (("AI.MODELEXECUTE", x, "INPUTS", 1, x, "OUTPUTS", 1, y),
         "WRONGTYPE Operation against a key holding the wrong kind of value"),
        (("AI.MODELEXECUTE", m, "INPUT", 1, x, "OUTPUTS", 1, y), "INPUTS not specified"),
        (("AI.MODELEXECUTE", m, "INPUTS", "a", x, "OUTPUTS", 1, y), "Invalid argument for input_count"),
        (("AI.MODELEXECUTE", m, "INPUTS", 0, x, "OUTPUTS", 1, y), "Input count must be a positive integer"),
        (("AI.MODELEXECUTE", m, "INPUTS", 2, x, x, "OUTPUTS", 1, y),
         "Number of keys given as INPUTS here does not match model definition"),
        (("AI.MODELEXECUTE", m, "INPUTS", 1, x, "OUTPUT", 1, y), "OUTPUTS not specified"),
        (("AI.MODELEXECUTE", m, "INPUTS", 1, x, "OUTPUTS", "b", y), "Invalid argument for output_count"),
        (("AI.MODELEXECUTE", m, "INPUTS", 1, x, "OUTPUTS", -1, y), "Output count must be a positive integer"),
        (("AI.MODELEXECUTE", m, "INPUTS", 1, x, "OUTPUTS", 2, y, "z"),
         "Number of keys given as OUTPUTS here does not match model definition"),
        (("AI.MODELEXECUTE", m, "INPUTS", 1, x, "OUTPUTS", 1, y, "TIMEOUT"), "No value provided for TIMEOUT"),
        (("AI.MODELEXECUTE", m, "INPUTS", 1, x, "OUTPUTS", 1, y, "TIMEOUT", 0), "Invalid value for TIMEOUT"),
        (("AI.MODELEXECUTE", m, "INPUTS", 1, x, "OUTPUTS", 1, y, "TIMEOUT", "abc"), "Invalid value for TIMEOUT"),
        (("AI.MODELEXECUTE", m, "INPUTS", 1, x, "OUTPUTS", 1, y, "EXTRA"), "Invalid argument: EXTRA"),
        (("AI.MODELEXECUTE", m, "INPUTS", 1, "nox", "OUTPUTS", 1, y), "tensor key is empty or in a different shard"),
        (("AI.MODELEXECUTE", m, "INPUTS", 1, "str", "OUTPUTS", 1, y),
         "WRONGTYPE Operation against a key holding the wrong kind of value"),
        (("AI.MODELRUN", m, "INPUTS", x, "OUTPUTS"), "wrong number of arguments for 'AI.MODELRUN' command"),
        (("AI.MODELRUN", m, "INPUT", x, "OUTPUTS", y), "INPUTS not specified"),
        (("AI.MODELRUN", m, "INPUTS", x, x, "OUTPUTS", y),
         "Number of keys given as INPUTS here does not match model definition"),
        (("AI.MODELRUN", m, "INPUTS", x, "OUTPUTS", y, "z"),
         "Number of keys given as OUTPUTS here does not match model definition"),
    ]


@pytest.mark.parametrize(("args", "text"), _execute_errors())
def test_execute_errors_in_spec_order(r, onnx_linear, args, text):
    r.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", onnx_linear)
    set_tensor(r, "x", X)
    r.set("str", "v")
    assert error_of(r, *args) == text
    assert r.exists("y") == 0


def test_execute_input_keys_fewer_than_count(r, onnx_two_inputs):
    r.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", onnx_two_inputs)
    assert error_of(r, "AI.MODELEXECUTE", "m", "INPUTS", 2, "a", "OUTPUTS", 2, "y", "z") == "OUTPUTS not specified"
    assert error_of(r, "AI.MODELEXECUTE", "m", "INPUTS", 2, "a", "b", "OUTPUTS", 2, "y") == \
        "number of output keys to AI.MODELEXECUTE command does not match the number of given arguments"
    assert error_of(r, "AI.MODELEXECUTE", "m", "OUTPUTS", 2, "a", "b", "c", "d") == "INPUTS not specified"
    assert error_of(r, "AI.MODELEXECUTE", "m", "INPUTS", 2, "a", "b", "c", "d") == "OUTPUTS not specified"


def test_execute_error_prefixes_on_the_wire(server, onnx_linear):
    port = server.port
    client = server.client(protocol=2)
    client.execute_command("AI.MODELSTORE", "pm", "ONNX", "CPU", "BLOB", onnx_linear)
    assert raw_reply_line(port, "ai.modelexecute", "pm", "INPUTS") == \
        b"-ERR wrong number of arguments for 'AI.MODELEXECUTE' command"
    assert raw_reply_line(port, "AI.MODELEXECUTE", "pm", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "y") == \
        b"-Number of keys given as INPUTS here does not match model definition"
    assert raw_reply_line(port, "AI.MODELEXECUTE", "pm", "INPUTS", 1, "a", "OUTPUTS", 1, "y", "X") == \
        b"-Invalid argument: X"
    assert raw_reply_line(port, "AI.MODELSTORE", "pm", "ONNX", "CPU", "BLOB", "") == \
        b"-No graph was found in the protobuf."
    assert raw_reply_line(port, "AI.MODELGET", "nomodel") == b"-ERR model key is empty"
    client.execute_command("AI.MODELDEL", "pm")
    client.close()


def test_timedout_is_a_simple_string(r, server, onnx_linear):
    """A request whose TIMEOUT passes while it waits in the queue replies +TIMEDOUT (not an error)."""
    r.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", onnx_linear)
    set_tensor(r, "x", X)
    gate = threading.Event()
    schedulers = server.state.extensions["schedulers"]
    server.call(lambda: schedulers.call("CPU", lambda: gate.wait(30)))   # occupy the CPU worker
    replies: list = []
    protocol = r.connection_pool.connection_kwargs.get("protocol")
    client = server.client(protocol=protocol)
    runner = threading.Thread(target=lambda: replies.append(
        client.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y", "TIMEOUT", 1)))
    runner.start()
    runner.join(5)        # returns at once if the scheduler times queued work out by itself
    gate.set()
    runner.join(30)
    client.close()
    assert replies == [b"TIMEDOUT"]
    assert r.exists("y") == 0


def test_commands_that_wait_are_refused_inside_exec_and_change_nothing(server):
    """MODELSTORE loads off the loop and LOADBACKEND imports a framework: inside EXEC they are refused (RedisAI's
    text) while the rest of the transaction runs, and the connection stays usable."""
    with server.client(protocol=2) as r:
        r.flushall()
        pipe = r.pipeline(transaction=True)
        pipe.set("a", "1")
        pipe.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", models.onnx_linear())
        pipe.execute_command("AI.CONFIG", "LOADBACKEND", "ONNX", "x")
        pipe.execute_command("AI.CONFIG", "MODEL_CHUNK_SIZE", "1000")
        pipe.get("a")
        replies = pipe.execute(raise_on_error=False)
        assert replies[0] is True and replies[3] == b"OK" and replies[4] == b"1"
        for refused in replies[1:3]:
            assert isinstance(refused, redis.ResponseError)
            assert str(refused) == "Cannot run RedisAI command within a transaction or a LUA script"
        assert r.exists("m") == 0
        assert r.ping() is True


def test_model_execution_timeout_stops_an_overrunning_onnx_run(start_server):
    srv = start_server(**{"model-execution-timeout": 1000})
    with srv.client(protocol=2, socket_timeout=60) as r:
        assert r.execute_command("AI.MODELSTORE", "slow", "ONNX", "CPU", "BLOB", models.onnx_slow()) == b"OK"
        r.execute_command("AI.TENSORSET", "x", "FLOAT", 1, 1, "VALUES", 0)
        with pytest.raises(redis.ResponseError, match="Exiting due to terminate flag being set to true"):
            r.execute_command("AI.MODELEXECUTE", "slow", "INPUTS", 1, "x", "OUTPUTS", 1, "y")
        assert r.exists("y") == 0
        info = r.execute_command("AI.INFO", "slow")
        assert dict(zip(info[::2], info[1::2], strict=True))[b"errors"] == 1
        assert r.ping() is True
