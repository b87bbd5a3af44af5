"""Running a parsed DAG: model and script ops go through the device queues, event-driven, with no task per DAG.

Each device gets its model and script ops in DAG order and runs one at a time; an op is submitted as soon as it is
the next one of its device and its inputs exist, so ops on different devices run in parallel. After the first
failing op no other op is submitted (the rest reply ``NA``); ops already running on other devices are awaited
before replying. A TIMEDOUT op makes the whole reply ``+TIMEDOUT``. PERSIST happens only when every op succeeded.

The reply future is the only future: every model op is queued with it (:meth:`Schedulers.enqueue`, a script op with
:meth:`Schedulers.call`) and a callback that takes the op's outcome, so cancelling the reply (the client went away)
drops the DAG's queued runs.
"""
from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from inferd import errors
from inferd.commands.context import settle_reply
from inferd.commands.models import run_deadline
from inferd.commands.scripts import KeyspaceHost, call_of, script_outcome
from inferd.commands.tensors import tensor_reply
from inferd.errors import CommandError
from inferd.resp.encoder import OK, Status
from inferd.scheduler import TIMEDOUT
from inferd.store.tensor import Tensor

if TYPE_CHECKING:
    from inferd.commands.context import Client
    from inferd.commands.dag_plan import Dag, Op

NA = Status(b"NA")


class DagRun:
    """The execution of one DAG; :meth:`start` returns the future of its reply."""

    __slots__ = ("dag", "schedulers", "notify", "client", "host", "reply", "only", "waiting", "running", "failed",
                 "timed_out", "deadline")

    def __init__(self, dag: Dag, schedulers: Any, notify: Callable[[asyncio.Future[Any]], None] | None = None,
                 client: Client | None = None) -> None:
        self.dag = dag
        self.schedulers = schedulers
        self.client = client   # whose database script ops' redis.execute / redisAI.model_execute reach
        self.host: KeyspaceHost | None = None   # made for the first script op (most DAGs have none)
        self.notify = notify   # called with the reply once it is settled (the connection writes it at once)
        self.reply: asyncio.Future[Any] = schedulers.loop.create_future()
        self.waiting: dict[str, deque[Op]] = {}
        self.running: set[str] = set()        # devices with an op queued or running
        self.failed = False
        self.timed_out = False
        self.deadline = run_deadline(dag.timeout_ms) if dag.timeout_ms else None
        runs = [op for op in dag.ops if op.kind == "MODEL" or op.kind == "SCRIPT"]
        # The commonest DAG (LOAD, TENSORSET, one MODELEXECUTE, TENSORGET) has a single op to run, whose inputs
        # all exist once parsed (only model and script ops leave slots empty): it needs no scheduling of its own.
        self.only = runs[0] if len(runs) == 1 else None
        if self.only is None:
            for op in runs:
                self.waiting.setdefault(op.device, deque()).append(op)

    def start(self) -> asyncio.Future[Any]:
        """Submit what can run now; the future resolves to the per-op replies, TIMEDOUT or an error."""
        only = self.only
        if only is None:
            self._advance()
        elif self._submit(only.device, only):   # it ran at once
            self._finish()
        return self.reply

    def _advance(self) -> None:
        """Submit each idle device's next op whose inputs exist; finish when nothing is left to wait for."""
        if self.reply.done():
            return
        slots = self.dag.slots
        progress = True
        while progress and not self.failed:   # again after an op that ran at once: its outputs may be inputs
            progress = False
            for device, ops in self.waiting.items():
                if self.failed:
                    break
                if ops and device not in self.running:
                    for i in ops[0].inputs:
                        if slots[i] is None:
                            break
                    else:
                        progress = self._submit(device, ops.popleft()) or progress
        if self.running:
            return
        if self.failed or not any(self.waiting.values()):
            self._finish()

    def _submit(self, device: str, op: Op) -> bool:
        """Queue ``op``, or run it at once (a lone model op on a lightly loaded queue): True if it ran at once."""
        slots = self.dag.slots
        inputs = [slots[i].array for i in op.inputs]   # type: ignore[union-attr]   # all exist (see _advance)
        if op.run is not None and self.deadline is None:
            try:
                outputs = self.schedulers.run_now(device, op.run.model, inputs)
            except CommandError as exc:
                self._take(op, None, exc)
                return True
            if outputs is not None:
                self._take(op, outputs, None)
                return True
        self.running.add(device)
        if op.script is not None:
            if self.host is None:
                assert self.client is not None   # a DAG with script ops is run for a client
                self.host = KeyspaceHost(self.client)
            call = call_of(op.script, inputs, self.host)
            self.schedulers.call(device, call, reply=self.reply, deadline=self.deadline,
                                 deliver=partial(self._script_done, device, op))
            return False
        assert op.run is not None
        model = op.run.model
        self.schedulers.enqueue(device, self.reply, model, inputs, partial(self._op_done, device, op),
                                deadline=self.deadline)
        return False

    def _script_done(self, device: str, op: Op, result: Any, error: CommandError | None) -> None:
        """A script op's outcome: charged to the script's statistics, then handled as a model op's."""
        assert op.script is not None
        self._op_done(device, op, script_outcome(op.script.script, result, error), error)

    def _op_done(self, device: str, op: Op, outputs: Any, error: CommandError | None) -> None:
        """An op's outcome (the scheduler's ``deliver``; not called once the reply is cancelled)."""
        self.running.discard(device)
        self._take(op, outputs, error)
        if self.only is None:
            self._advance()
        elif not self.reply.done():
            self._finish()

    def _take(self, op: Op, outputs: Any, error: CommandError | None) -> None:
        """Record an op's outcome: its outputs in their slots, or the failure that stops the DAG."""
        if error is not None:
            op.result = error
            self.failed = True
        elif outputs is TIMEDOUT:
            self.timed_out = self.failed = True
        else:
            self._store_outputs(op, outputs)

    def _store_outputs(self, op: Op, outputs: list[Any]) -> None:
        if len(outputs) != len(op.outputs):
            op.result = CommandError(errors.AI_OUTPUT_COUNT_FROM_MODEL)
            self.failed = True
            return
        try:
            tensors = [Tensor.from_array(np.asarray(array)) for array in outputs]
        except CommandError as exc:
            op.result = exc
            self.failed = True
            return
        for slot, tensor in zip(op.outputs, tensors, strict=True):
            self.dag.slots[slot] = tensor
        op.result = OK

    def _finish(self) -> None:
        if self.timed_out:
            settle_reply(self.reply, self.notify, TIMEDOUT)
            return
        replies = [self._op_reply(op) for op in self.dag.ops]
        error = None if self.failed else self._persist()
        settle_reply(self.reply, self.notify, replies, error)

    def _op_reply(self, op: Op) -> Any:
        if op.kind == "TENSORSET":
            return OK
        if op.kind == "TENSORGET":
            tensor = self.dag.slots[op.inputs[0]]
            return NA if tensor is None else tensor_reply(tensor, *op.formats)
        return NA if op.result is None else op.result

    def _persist(self) -> CommandError | None:
        """Write the PERSIST keys, all or none (types are checked again: the keyspace may have changed meanwhile)."""
        if not self.dag.persist:
            return None
        db = self.dag.db
        values = [(key, self.dag.slots[self.dag.names[key]]) for key in self.dag.persist]
        for key, tensor in values:
            existing = db.get(key)
            if tensor is None or (existing is not None and existing.__class__ is not Tensor):
                return CommandError(errors.WRONGTYPE if tensor is not None else errors.DAG_PERSIST_NOT_FOUND)
        for key, tensor in values:
            db.set(key, tensor)
            db.touch(key)
            if db.journal is not None:
                db.journal.value(self.client, db, key)
        return None
