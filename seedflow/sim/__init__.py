"""The embedded provider simulator: Apikley and Modellix over real HTTP, with no key and no cost.

    with Simulator(SimConfig(latency=0.05)) as sim:
        ...  # point a client at sim.base_url, with any non-empty Bearer key
        sim.inject(Fault.DROP_AFTER_RECORD)   # the next create is recorded, then not answered
        sim.inject(Answer.UNAUTHORIZED, endpoint="poll")   # the next poll: a revoked key
        sim.counters.creates, sim.tasks

Routes (one port serves both protocols):

- Apikley: ``POST /api/v1/jobs/createTask``, ``GET /api/v1/jobs/recordInfo?taskId=ID``,
  callbacks to ``callBackUrl`` (see :mod:`seedflow.sim.apikley` for the quirks served);
- Modellix: ``POST /api/v1/bytedance/seedream-4.0-t2i``, ``GET /api/v1/tasks/ID``;
- result files: ``GET /files/ID/N.png`` (N from 1), PNGs showing the prompt and parameters.

A task's state follows the elapsed fraction of its generation time (``SimConfig.latency``).
Result URLs start with the address the client used (its Host header). A task id describes its
task (:func:`seedflow.sim.wire.new_task`), so any simulator, started later on any port, answers
polls and downloads for it; ``sim.tasks`` and ``sim.counters`` cover only this one's creates.
"""

from seedflow.sim.config import ENDPOINTS, Answer, Fault, SimConfig, parse_rate
from seedflow.sim.core import Counters, TaskView
from seedflow.sim.server import Simulator

__all__ = ["ENDPOINTS", "Answer", "Counters", "Fault", "SimConfig", "Simulator", "TaskView",
           "parse_rate"]
